"""The HTTP service: participant and operator routes over the hub's engine thread.

`create_app(engine, verifier)` builds the FastAPI application; `samarkand serve` runs it on
uvicorn on a loopback address. Every `/v1/` route is signed (see `auth`); participants see
and act on their own payments, accounts and mailbox only; operator routes need the operator
role, intraday credit and admission approvals the central bank role.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from samarkand.money import MoneyError, default_registry, format_amount, parse_amount
from samarkand.service import errors as E
from samarkand.service.auth import Principal, Role, Verifier, admitted_key, parse_public_key
from samarkand.service.engine import Engine, EngineBusy, EngineStopped
from samarkand.service.gate import Gate
from samarkand.service.mailbox import AckBeyondLast
from samarkand.service.messages import submit_message
from samarkand.service.webhook import Pusher, WebhookRefused, check_url
from samarkand.settlement.participants import (
    BIC_PATTERN,
    Directory,
    ParticipantKind,
    ParticipantStatus,
)
from samarkand.settlement.payments import Method, Payment, Priority, Reason, Status
from samarkand.store import StoreError

BIC_REGEX = BIC_PATTERN.pattern
AMOUNT_REGEX = r"^[0-9]{1,40}(\.[0-9]{1,18})?$"
CURRENCY_REGEX = r"^[A-Z]{3}$"
XML_TYPES = ("application/xml", "text/xml")

# One registry for the process: building it reads every ISO 4217 currency (about a ms).
REGISTRY = default_registry()

Bic = Annotated[str, Field(pattern=BIC_REGEX, examples=["SMAACN22"])]
Amount = Annotated[
    str, Field(pattern=AMOUNT_REGEX, description="decimal, in major units", examples=["1250.00"])
]
Currency = Annotated[str, Field(pattern=CURRENCY_REGEX, examples=["CNY"])]
UetrPath = Annotated[uuid.UUID, Path(description="the payment's UETR")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PaymentIn(_In):
    uetr: uuid.UUID
    debtor_agent: Bic
    creditor_agent: Bic
    amount: Amount
    currency: Currency
    priority: Literal["normal", "urgent"] = "normal"
    method: Literal["rtgs", "dns"] = "rtgs"


class ReasonOut(BaseModel):
    code: str
    text: str


class PaymentStatusOut(BaseModel):
    uetr: str
    status: Literal["ACSC", "ACSP", "RJCT"]
    reason: ReasonOut | None = None


class EventOut(BaseModel):
    status: str
    at: str
    reason: ReasonOut | None = None
    detail: str = ""


class TrackerOut(BaseModel):
    uetr: str
    debtor_agent: str
    creditor_agent: str
    amount: str
    currency: str
    status: str
    events: list[EventOut]


class AckIn(_In):
    upto: int = Field(ge=0, le=2**62)


class WebhookIn(_In):
    url: str | None = Field(max_length=2_000, examples=["http://127.0.0.1:9000/hook"])


class LiquidityIn(_In):
    currency: Currency
    amount: Amount
    direction: Literal["in", "out"] = "in"


class CreditIn(_In):
    bic: Bic
    currency: Currency
    limit: Amount


class AdmissionIn(_In):
    bic: Bic
    name: str = Field(min_length=1, max_length=140)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    kind: Literal["direct", "central_bank"]
    currency: Currency
    public_key: str | None = Field(
        default=None, max_length=100, description="base64 raw Ed25519 key it will sign with"
    )


class OpenDayIn(_In):
    cut_off: dt.datetime = Field(description="the new cut-off of every currency, with a zone")


def _reason(reason: Reason | None) -> ReasonOut | None:
    return None if reason is None else ReasonOut(code=reason.iso, text=reason.text)


def _iso_time(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns // 10**9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _minor(text: str, code: str, field: str) -> int:
    try:
        money = REGISTRY.get(code)
    except MoneyError as error:
        raise E.ApiError(422, "invalid", "currency", str(error)) from None
    try:
        return parse_amount(text, money, field=field)
    except MoneyError as error:
        raise E.ApiError(422, "invalid", field, str(error)) from None


def _unavailable(error: Exception) -> str:
    """What a caller is told when the hub cannot take requests (never the store's details)."""
    if isinstance(error, EngineBusy | EngineStopped):
        return str(error)
    return "the hub's store failed: the request was not done; the operator must reopen the hub"


def _principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:  # the gate authenticates every /v1/ path before a route runs
        raise E.ApiError(401, "unauthenticated", None, "not authenticated")
    return principal


def _require(request: Request, *roles: Role) -> Principal:
    principal = _principal(request)
    if principal.role not in roles:
        names = " or ".join(r.value for r in roles)
        raise E.ApiError(403, "forbidden", None, f"this route needs the {names} role")
    return principal


def _owns(directory: Directory, caller: str, agent: str) -> bool:
    """`caller` acts for `agent`: it is the agent, or the direct participant it settles via."""
    if agent == caller:
        return True
    settling = directory.settling_participant(agent)
    return settling is not None and settling.bic == caller


async def _run(engine: Engine, function: Callable[[Engine, int], Any]) -> Any:
    return await asyncio.wrap_future(engine.call(function))


def create_app(engine: Engine, verifier: Verifier, pusher: Pusher | None = None) -> Any:
    """The ASGI application: the FastAPI routes behind the gate (body limit + signatures)."""
    app = FastAPI(
        title="Samarkand hub",
        version="1",
        description=(
            "Cross-border interbank payments in national currencies. Every /v1/ request is "
            "signed with Ed25519: headers X-Samarkand-Key, X-Samarkand-Timestamp (ms), "
            "X-Samarkand-Nonce and X-Samarkand-Signature over METHOD\\nPATH?QUERY\\n"
            "TIMESTAMP\\nNONCE\\nhex(sha256(body))."
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.add_exception_handler(E.ApiError, E.api_error)
    app.add_exception_handler(RequestValidationError, E.validation_error)
    app.add_exception_handler(StarletteHTTPException, E.http_error)
    app.add_exception_handler(Exception, E.unexpected_error)

    @app.exception_handler(EngineBusy)
    @app.exception_handler(EngineStopped)
    @app.exception_handler(StoreError)
    async def _busy(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(E.error_body("unavailable", None, _unavailable(error)), 503)

    def directory() -> Directory:
        assert engine.durable is not None
        return engine.durable.hub.directory

    # ------------------------------------------------------------------ health

    @app.get("/health", tags=["service"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    # ------------------------------------------------------------------ payments

    async def pay(caller: Principal, payment: PaymentIn) -> PaymentStatusOut:
        if caller.role is not Role.PARTICIPANT:
            raise E.ApiError(403, "forbidden", None, "this route needs the participant role")
        if not _owns(directory(), caller.key_id, payment.debtor_agent):
            raise E.ApiError(
                403, "forbidden", "debtor_agent", "only the debtor agent submits its payments"
            )
        item = Payment(
            uetr=payment.uetr.int,
            debtor_agent=payment.debtor_agent,
            creditor_agent=payment.creditor_agent,
            amount=_minor(payment.amount, payment.currency, "amount"),
            currency=payment.currency,
            priority=Priority[payment.priority.upper()],
            method=Method(payment.method),
        )
        ((reason, status),) = await asyncio.wrap_future(engine.submit([item]))
        code = "RJCT" if reason is not None else "ACSC" if status is Status.SETTLED else "ACSP"
        return PaymentStatusOut(uetr=str(payment.uetr), status=code, reason=_reason(reason))

    @app.post("/v1/payments", response_model=PaymentStatusOut, tags=["payments"])
    async def submit_payment(request: Request, payment: PaymentIn) -> PaymentStatusOut:
        """Submit one payment (JSON). Answered once it is durable: ACSC settled, ACSP
        accepted and waiting (queue, DNS window), RJCT with the ISO reason."""
        return await pay(_principal(request), payment)

    async def submit_payment_fast(
        caller: Principal, content_type: str, body: bytes
    ) -> tuple[int, bytes] | None:
        """The same route without the framework's per-request work, for a well-formed
        request; anything else (to be refused) takes the full route, which words the error."""
        if content_type.split(";")[0].strip().lower() != "application/json":
            return None
        try:
            payment = PaymentIn.model_validate_json(body)
            answer = await pay(caller, payment)
        except (ValidationError, E.ApiError):
            return None  # refused before anything ran: the full route words the refusal
        except (EngineBusy, EngineStopped, StoreError) as error:
            return 503, json.dumps(E.error_body("unavailable", None, _unavailable(error))).encode()
        return 200, answer.model_dump_json().encode()

    @app.post(
        "/v1/messages",
        tags=["payments"],
        responses={200: {"content": {"application/xml": {}}, "description": "the pacs.002"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/xml": {"schema": {"type": "string"}}},
            }
        },
    )
    async def submit_iso_message(request: Request) -> Response:
        """Submit an ISO 20022 pacs.008.001.08 message (one or many transactions); the answer
        is its pacs.002, also left in the sender's mailbox."""
        caller = _require(request, Role.PARTICIPANT)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in XML_TYPES:
            raise E.ApiError(415, "unsupported_media_type", "content-type",
                             "the body must be application/xml")  # fmt: skip
        data = await request.body()
        digest = hashlib.sha256(data).hexdigest()

        def run(engine: Engine, now: int):
            return submit_message(engine, data, now, sender=caller.key_id, digest=digest)

        outcome = await _run(engine, run)
        if outcome.report is None:
            problems = [
                {"code": p.code, "field": p.path, "message": p.message}
                for p in outcome.file_problems[:20]
            ]
            first = problems[0] if problems else {"code": "FF01", "field": "body", "message": ""}
            return JSONResponse(
                E.error_body("invalid_message", first["field"],
                             f"{first['code']}: {first['message']}", problems=problems),
                400,
            )  # fmt: skip
        return Response(outcome.report, media_type="application/xml")

    @app.get("/v1/payments/{uetr}", response_model=TrackerOut, tags=["payments"])
    async def track(request: Request, uetr: UetrPath) -> TrackerOut:
        """A payment's status and history (debtor or creditor agent only)."""
        caller = _require(request, Role.PARTICIPANT)

        def run(engine: Engine, _now: int):
            assert engine.durable is not None
            hub = engine.durable.hub
            entry = hub.engine.entries.get(uetr.int)
            if entry is None:
                return None
            payment = entry.payment
            if not (
                _owns(hub.directory, caller.key_id, payment.debtor_agent)
                or _owns(hub.directory, caller.key_id, payment.creditor_agent)
            ):
                return None
            money = REGISTRY.get(payment.currency)
            return TrackerOut(
                uetr=str(uetr),
                debtor_agent=payment.debtor_agent,
                creditor_agent=payment.creditor_agent,
                amount=format_amount(payment.amount, money),
                currency=payment.currency,
                status=entry.status.value,
                events=[
                    EventOut(
                        status=e.status.value,
                        at=_iso_time(e.at_ns),
                        reason=_reason(e.reason),
                        detail=e.detail,
                    )
                    for e in entry.history
                ],
            )

        found = await _run(engine, run)
        if found is None:  # another participant's payment looks exactly like no payment
            raise E.reason_error(Reason.NOT_FOUND, "uetr")
        return found

    @app.post("/v1/payments/{uetr}/cancel", tags=["payments"])
    async def cancel(request: Request, uetr: UetrPath) -> dict[str, str]:
        """Cancel one of the caller's queued payments."""
        return await cancel_queued(uetr, _require(request, Role.PARTICIPANT).key_id)

    async def cancel_queued(uetr: uuid.UUID, by_participant: str | None) -> dict[str, str]:
        """Cancel a queued payment: a participant's own (another's is NOT_FOUND), or any
        payment on the operator's decision (`by_participant` None)."""

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            entry = engine.durable.hub.engine.entries.get(uetr.int)
            debtor = None if entry is None else entry.payment.debtor_agent
            if debtor is None or (
                by_participant is not None
                and not _owns(engine.durable.hub.directory, by_participant, debtor)
            ):
                return Reason.NOT_FOUND
            return engine.durable.cancel(uetr.int, debtor, now)

        reason = await _run(engine, run)
        if reason is not None:
            raise E.reason_error(reason, "uetr")
        return {"uetr": str(uetr), "status": "cancelled"}

    # ------------------------------------------------------------------ mailbox

    @app.get("/v1/mailbox", tags=["mailbox"])
    async def mailbox(
        request: Request,
        after: Annotated[int, Query(ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Messages for the caller after `after`, oldest first; delivered again on every read
        until acknowledged."""
        caller = _principal(request)

        def run(engine: Engine, _now: int):
            assert engine.mailbox is not None
            return engine.mailbox.read(caller.key_id, after, limit)

        messages, last, acked = await _run(engine, run)
        return {
            "messages": [
                {
                    "sequence": m.sequence,
                    "kind": m.kind,
                    "created": _iso_time(m.created_ns),
                    "body": m.body.decode(),
                }
                for m in messages
            ],
            "last": last,
            "acked": acked,
        }

    @app.post("/v1/mailbox/ack", tags=["mailbox"])
    async def mailbox_ack(request: Request, ack: AckIn) -> dict[str, int]:
        """Acknowledge every message up to `upto`: they are never delivered again."""
        caller = _principal(request)

        def run(engine: Engine, _now: int):
            assert engine.mailbox is not None
            return engine.mailbox.ack(caller.key_id, ack.upto)

        try:
            acked = await _run(engine, run)
        except AckBeyondLast as error:
            raise E.ApiError(409, "conflict", "upto", str(error)) from None
        return {"acked": acked}

    @app.put("/v1/mailbox/webhook", tags=["mailbox"])
    async def webhook(request: Request, hook: WebhookIn) -> dict[str, str | None]:
        """Have new messages POSTed to a loopback URL (null: stop). A 2xx answer
        acknowledges what was sent; otherwise the push is retried and the messages stay."""
        caller = _principal(request)
        if pusher is None:
            raise E.ApiError(404, "not_found", None, "this hub pushes no webhooks")
        try:
            url = None if hook.url is None else check_url(hook.url)
        except WebhookRefused as error:
            raise E.ApiError(422, "invalid", "url", str(error)) from None

        def run(engine: Engine, _now: int):
            assert engine.mailbox is not None
            engine.mailbox.set_webhook(caller.key_id, url)

        await _run(engine, run)
        pusher.register(caller.key_id, url)
        return {"url": url}

    # ------------------------------------------------------------------ accounts

    @app.get("/v1/accounts", tags=["accounts"])
    async def accounts(request: Request) -> dict[str, Any]:
        """The caller's settlement accounts: balance, intraday credit, available."""
        caller = _require(request, Role.PARTICIPANT)

        def run(engine: Engine, _now: int):
            assert engine.durable is not None
            hub = engine.durable.hub
            participant = hub.directory.get(caller.key_id)
            rows = []
            if participant is None or participant.kind is not ParticipantKind.DIRECT:
                return rows
            state = engine.durable.durable_ledger.state
            for code in sorted(hub.directory.central_bank_of):
                account_id = hub.directory.settlement_account(participant, code)
                account = state.account(account_id)
                if account is None:
                    continue
                money = REGISTRY.get(code)
                balance = state.balance(account_id).net_credit
                rows.append(
                    {
                        "currency": code,
                        "account": str(account_id),
                        "balance": format_amount(balance, money),
                        "credit_limit": format_amount(account.limit, money),
                        "available": format_amount(hub.engine.available(account_id), money),
                    }
                )
            return rows

        return {"accounts": await _run(engine, run)}

    @app.post("/v1/liquidity", tags=["accounts"])
    async def liquidity(request: Request, transfer: LiquidityIn) -> dict[str, str]:
        """A liquidity transfer between the caller's account at its central bank and its
        settlement account at the hub (camt.050): `in` funds the hub account, `out` drains."""
        from samarkand.hub.settlement import Liquidity

        caller = _require(request, Role.PARTICIPANT)
        minor = _minor(transfer.amount, transfer.currency, "amount")
        item = Liquidity(caller.key_id, transfer.currency, minor, transfer.direction == "in")

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.liquidity([item], now)[0]

        reason = await _run(engine, run)
        if reason is not None:
            raise E.reason_error(reason, "amount")
        return {"status": "done"}

    @app.get(
        "/v1/statements/{currency}",
        tags=["accounts"],
        responses={200: {"content": {"application/xml": {}}, "description": "the camt.053"}},
    )
    async def statement(
        request: Request,
        currency: Annotated[str, Path(pattern=CURRENCY_REGEX)],
        date: Annotated[dt.date, Query(description="the business day (UTC)")],
    ) -> Response:
        """The camt.053.001.08 statement of the caller's settlement account in `currency`
        for one day."""
        from samarkand.hub.statements import StatementRefused, settlement_statement

        caller = _require(request, Role.PARTICIPANT)
        if not dt.date(1970, 1, 1) <= date <= dt.date(2262, 4, 10):
            raise E.ApiError(422, "invalid", "date", "the date must be in 1970..2262")
        day = dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)

        def run(engine: Engine, _now: int):
            assert engine.durable is not None
            hub = engine.durable.hub
            participant = hub.directory.get(caller.key_id)
            if participant is None or currency not in hub.directory.central_bank_of:
                return None
            account_id = hub.directory.settlement_account(participant, currency)
            try:
                return settlement_statement(engine.durable, account_id, day)[0]
            except StatementRefused:
                return None

        document = await _run(engine, run)
        if document is None:
            raise E.ApiError(404, "not_found", "currency",
                             f"no settlement account of {caller.key_id} in {currency}")  # fmt: skip
        return Response(document, media_type="application/xml")

    # ------------------------------------------------------------------ operator

    @app.get("/v1/operator/participants", tags=["operator"])
    async def participants(request: Request) -> dict[str, Any]:
        _require(request, Role.OPERATOR, Role.CENTRAL_BANK)

        def run(engine: Engine, _now: int):
            return [
                {
                    "bic": p.bic,
                    "name": p.name,
                    "country": p.country,
                    "kind": p.kind.value,
                    "currency": p.home_currency,
                    "status": p.status.value,
                    "via": p.via,
                }
                for p in directory()
            ]

        return {"participants": await _run(engine, run)}

    async def _set_status(request: Request, bic: str, status: ParticipantStatus) -> dict:
        _require(request, Role.OPERATOR)

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.set_participant_status(bic, status, now)

        problem = await _run(engine, run)
        if problem is not None:
            raise E.ApiError(404, "not_found", "bic", problem)
        return {"bic": bic, "status": status.value}

    @app.post("/v1/operator/participants/{bic}/suspend", tags=["operator"])
    async def suspend(request: Request, bic: Annotated[str, Path(pattern=BIC_REGEX)]) -> dict:
        """Suspend a participant: its new payments are refused (AG01)."""
        return await _set_status(request, bic, ParticipantStatus.SUSPENDED)

    @app.post("/v1/operator/participants/{bic}/unsuspend", tags=["operator"])
    async def unsuspend(request: Request, bic: Annotated[str, Path(pattern=BIC_REGEX)]) -> dict:
        return await _set_status(request, bic, ParticipantStatus.ACTIVE)

    @app.put("/v1/operator/credit", tags=["operator"])
    async def set_credit(request: Request, credit: CreditIn) -> dict[str, str]:
        """Intraday credit of a participant in a currency: only that currency's central
        bank sets it."""
        caller = _require(request, Role.CENTRAL_BANK)
        limit = _minor(credit.limit, credit.currency, "limit")

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.set_credit(
                credit.bic, credit.currency, limit, now, by_central_bank=caller.key_id
            )

        reason = await _run(engine, run)
        if reason is not None:
            raise E.reason_error(reason, "limit")
        return {"bic": credit.bic, "currency": credit.currency, "limit": credit.limit}

    @app.get("/v1/operator/queue", tags=["operator"])
    async def queued(
        request: Request, limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000
    ) -> dict[str, Any]:
        """Queued payments, in settlement order per sender."""
        _require(request, Role.OPERATOR)

        def run(engine: Engine, _now: int):
            assert engine.durable is not None
            hub = engine.durable.hub
            rows = []
            for entry in hub.engine.queued():
                if len(rows) >= limit:
                    break
                payment = entry.payment
                rows.append(
                    {
                        "uetr": str(uuid.UUID(int=payment.uetr)),
                        "debtor_agent": payment.debtor_agent,
                        "creditor_agent": payment.creditor_agent,
                        "amount": format_amount(payment.amount, REGISTRY.get(payment.currency)),
                        "currency": payment.currency,
                        "priority": payment.priority.name.lower(),
                        "received": _iso_time(entry.received_ns),
                    }
                )
            return rows

        return {"queued": await _run(engine, run)}

    @app.post("/v1/operator/payments/{uetr}/cancel", tags=["operator"])
    async def operator_cancel(request: Request, uetr: UetrPath) -> dict[str, str]:
        """Cancel a queued payment on the operator's decision."""
        _require(request, Role.OPERATOR)
        return await cancel_queued(uetr, None)

    @app.post("/v1/operator/windows/{currency}/close", tags=["operator"])
    async def close_window(
        request: Request, currency: Annotated[str, Path(pattern=CURRENCY_REGEX)]
    ) -> dict[str, Any]:
        """Close the currency's deferred net settlement window now: net positions settle;
        a participant that cannot pay in its net debit is unwound (AM04)."""
        _require(request, Role.OPERATOR)

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            if currency not in engine.durable.hub.directory.central_bank_of:
                return None
            return engine.durable.close_window(currency, now)

        result = await _run(engine, run)
        if result is None:
            raise E.reason_error(Reason.CURRENCY_NOT_ALLOWED, "currency")
        settled, defaulted = result
        return {"settled": settled, "defaulted_accounts": [str(a) for a in defaulted]}

    @app.post("/v1/operator/end-of-day", tags=["operator"])
    async def end_of_day(request: Request) -> dict[str, int]:
        """Close the business day: what is still queued is rejected (AB03)."""
        _require(request, Role.OPERATOR)

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.end_of_day(now)

        return {"rejected": await _run(engine, run)}

    @app.post("/v1/operator/open-day", tags=["operator"])
    async def open_day(request: Request, day: OpenDayIn) -> dict[str, str]:
        """Open the next business day with a new cut-off for every currency."""
        _require(request, Role.OPERATOR)
        if day.cut_off.tzinfo is None:
            raise E.ApiError(422, "invalid", "cut_off", "the cut-off needs a time zone")
        cut_off_ns = int(day.cut_off.timestamp()) * 10**9

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            hub = engine.durable.hub
            if cut_off_ns <= now:
                return "the cut-off is not in the future"
            if hub.engine.queues or hub.engine.warehouse or hub.engine.dns_pending:
                return "payments are still queued: run end-of-day first"
            engine.durable.open_day(dict.fromkeys(hub.engine.cut_off_ns, cut_off_ns))
            return None

        problem = await _run(engine, run)
        if problem is not None:
            raise E.ApiError(409, "conflict", "cut_off", problem)
        return {"cut_off": _iso_time(cut_off_ns)}

    @app.post("/v1/operator/admissions", tags=["operator"])
    async def propose(request: Request, admission: AdmissionIn) -> dict[str, Any]:
        """Propose a participant. A new country (its central bank with a new currency) needs
        the approval of every member's central bank; a bank of a member country, the approval
        of that country's central bank."""
        _require(request, Role.OPERATOR)
        if admission.public_key is not None:
            try:
                parse_public_key(admission.public_key)
            except ValueError as error:
                raise E.ApiError(422, "invalid", "public_key", str(error)) from None

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.propose_admission(
                bic=admission.bic,
                name=admission.name,
                country=admission.country,
                kind=ParticipantKind(admission.kind),
                currency=admission.currency,
                now=now,
                public_key=admission.public_key,
            )

        result = await _run(engine, run)
        if isinstance(result, str):
            raise E.ApiError(409, "conflict", "bic", result)
        return result

    @app.get("/v1/operator/admissions", tags=["operator"])
    async def admissions(request: Request) -> dict[str, Any]:
        _require(request, Role.OPERATOR, Role.CENTRAL_BANK)

        def run(engine: Engine, _now: int):
            assert engine.durable is not None
            return engine.durable.admissions()

        return {"admissions": await _run(engine, run)}

    @app.post("/v1/operator/admissions/{proposal}/approve", tags=["operator"])
    async def approve(
        request: Request, proposal: Annotated[int, Path(ge=1, le=2**31)]
    ) -> dict[str, Any]:
        """A central bank approves a proposed admission with its own signed request."""
        caller = _require(request, Role.CENTRAL_BANK)

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.approve_admission(proposal, caller.key_id, now)

        result = await _run(engine, run)
        if isinstance(result, tuple):
            status, message = result
            raise E.ApiError(status, E.http_code(status), "proposal", message)
        key = admitted_key(result)
        if key is not None:
            verifier.add(key)
        return result

    return Gate(app, verifier, fast_paths={("POST", "/v1/payments"): submit_payment_fast})
