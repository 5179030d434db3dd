"""Participant routes: payments (JSON and ISO 20022), tracker, cancel, mailbox, webhook,
accounts, liquidity and statements."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from samarkand.hub.messages import read_message
from samarkand.money import format_amount
from samarkand.service import errors as E
from samarkand.service.auth import KEY_HEADER, Principal, Role
from samarkand.service.engine import Engine, EngineBusy, EngineStopped
from samarkand.service.gate import FastPath
from samarkand.service.mailbox import AckBeyondLast
from samarkand.service.messages import NotSender, submit_message_steps
from samarkand.service.shared import (
    CURRENCY_REGEX,
    REGISTRY,
    XML_TYPES,
    AckIn,
    Camt054Setting,
    Cursor,
    EventOut,
    LiquidityIn,
    MovedOut,
    Offset,
    PaymentIn,
    PaymentStatusOut,
    PriorityIn,
    QueryCount,
    QueryDay,
    QueueOut,
    ReorderIn,
    TrackerOut,
    UetrPath,
    WebhookIn,
    cancel_queued,
    iso_time,
    minor_units,
    owns,
    payment_status,
    principal_of,
    queue_page,
    reason_out,
    reorder_queued,
    reprioritise_queued,
    require_debtor,
    require_role,
    run_on_hub,
    unavailable,
)
from samarkand.service.webhook import Pusher, WebhookRefused, check_url
from samarkand.settlement.participants import ParticipantKind
from samarkand.settlement.payments import Method, Payment, Priority, Reason
from samarkand.store import StoreError

READ_THREADS = 2  # ISO 20022 messages parsed and schema-checked at once


def add_participant_routes(app: FastAPI, engine: Engine, pusher: Pusher | None) -> FastPath:
    """Add the participant routes to `app`; return the payment route's fast path."""
    readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="read")
    # ------------------------------------------------------------------ payments

    async def pay(caller: Principal, payment: PaymentIn) -> PaymentStatusOut:
        if caller.role is not Role.PARTICIPANT:
            raise E.ApiError(403, "forbidden", KEY_HEADER, "this route needs the participant role")
        require_debtor(engine, caller.key_id, payment.debtor_agent)
        item = Payment(
            uetr=uuid.UUID(payment.uetr).int,
            debtor_agent=payment.debtor_agent,
            creditor_agent=payment.creditor_agent,
            amount=minor_units(payment.amount, payment.currency, "amount"),
            currency=payment.currency,
            priority=Priority[payment.priority.upper()],
            method=Method(payment.method),
        )
        (answer,) = await asyncio.wrap_future(engine.submit([item]))
        return payment_status(payment.uetr, answer)

    @app.post("/v1/payments", response_model=PaymentStatusOut, tags=["payments"])
    async def submit_payment(request: Request, payment: PaymentIn) -> PaymentStatusOut:
        """Submit one payment (JSON). Answered once it is durable: ACSC settled, ACSP
        accepted and waiting (queue, DNS window), RJCT with the ISO reason."""
        return await pay(principal_of(request), payment)

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
            return 503, json.dumps(E.error_body("unavailable", None, unavailable(error))).encode()
        return 200, answer.model_dump_json().encode()

    @app.post(
        "/v1/messages",
        tags=["payments"],
        responses={
            200: {"content": {"application/xml": {}},
                  "description": "the pacs.002 (camt.056: the camt.029) to the sender"},
            403: {"description": "the message's sender is not the caller's (AGNT)"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/xml": {"schema": {"type": "string"}}},
            }
        },
    )  # fmt: skip
    async def submit_iso_message(request: Request) -> Response:
        """Submit an ISO 20022 message: pacs.008, pacs.009, pacs.004, camt.050 or camt.056
        (a Document, or a BizMsg envelope with its AppHdr). The answer is the response to
        the sender (pacs.002; camt.029 for a camt.056); every response, camt.054 included,
        is also left in its receiver's mailbox. The same message sent again is answered the
        same, byte for byte, and changes nothing."""
        caller = require_role(request, Role.PARTICIPANT)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in XML_TYPES:
            raise E.ApiError(415, "unsupported_media_type", "content-type",
                             "the body must be application/xml")  # fmt: skip
        # Parsed and schema-checked on a reading thread (libxml2 lets go of the GIL), so the
        # hub's thread only decides.
        read = await asyncio.get_running_loop().run_in_executor(
            readers, read_message, await request.body()
        )

        def run(engine: Engine, now: int):
            return submit_message_steps(engine, read, now, caller=caller.key_id)

        try:
            outcome = await asyncio.wrap_future(engine.steps(run))
        except NotSender as error:
            raise E.ApiError(403, "AGNT", error.field, error.message) from None
        if outcome.answer is None:
            problems = [
                {"code": p.code, "field": p.path, "message": p.message}
                for p in outcome.processed.problems[:20]
            ]
            first = problems[0] if problems else {"code": "FF01", "field": "body", "message": ""}
            return JSONResponse(
                E.error_body("invalid_message", first["field"] or "body",
                             f"{first['code']}: {first['message']}", problems=problems),
                400,
            )  # fmt: skip
        return Response(outcome.answer.data, media_type="application/xml")

    @app.get("/v1/payments/{uetr}", response_model=TrackerOut, tags=["payments"])
    async def track(request: Request, uetr: UetrPath) -> TrackerOut:
        """A payment's status and history (debtor or creditor agent only)."""
        caller = require_role(request, Role.PARTICIPANT)

        def run(engine: Engine, _now: int):
            assert engine.durable is not None
            hub = engine.durable.hub
            entry = hub.engine.find(uetr.int)
            if entry is None:
                return None
            payment = entry.payment
            if not (
                owns(hub.directory, caller.key_id, payment.debtor_agent)
                or owns(hub.directory, caller.key_id, payment.creditor_agent)
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
                        at=iso_time(e.at_ns),
                        reason=reason_out(e.reason),
                        detail=e.detail,
                    )
                    for e in entry.history
                ],
                archived=uetr.int not in hub.engine.entries,
            )

        found = await run_on_hub(engine, run)
        if found is None:  # another participant's payment looks exactly like no payment
            raise E.reason_error(Reason.NOT_FOUND, "uetr")
        return found

    @app.post("/v1/payments/{uetr}/cancel", tags=["payments"])
    async def cancel(request: Request, uetr: UetrPath) -> dict[str, str]:
        """Cancel one of the caller's queued payments."""
        return await cancel_queued(engine, uetr, require_role(request, Role.PARTICIPANT).key_id)

    @app.post("/v1/payments/{uetr}/reorder", tags=["payments"])
    async def reorder(request: Request, uetr: UetrPath, move: ReorderIn) -> MovedOut:
        """Move one of the caller's queued payments to the front of its priority class
        (tried next) or to the back: the caller decides which of its payments its liquidity
        pays first. The queue is then tried again from its head, so the payment may settle
        at once (`status`); `place` is its place afterwards (1: tried next; null once
        settled)."""
        caller = require_role(request, Role.PARTICIPANT).key_id
        return await reorder_queued(engine, uetr, caller, move.to)

    @app.put("/v1/payments/{uetr}/priority", tags=["payments"])
    async def priority(request: Request, uetr: UetrPath, change: PriorityIn) -> MovedOut:
        """Change the priority of one of the caller's payments waiting for liquidity or for
        its earliest time: a queued one goes to the back of its new priority class (urgent
        ones are tried before normal ones), and the queue is tried again, so it may settle
        at once (`status`; `place` afterwards, null once settled or while it waits for its
        earliest time). A payment for a DNS window, or one not waiting, is 409."""
        caller = require_role(request, Role.PARTICIPANT).key_id
        return await reprioritise_queued(engine, uetr, caller, change.priority)

    @app.get("/v1/queue", tags=["payments"])
    async def queue(
        request: Request,
        currency: Annotated[str | None, Query(pattern=CURRENCY_REGEX)] = None,
        limit: Annotated[QueryCount, Query(ge=1, le=10_000)] = 1_000,
        offset: Offset = 0,
    ) -> QueueOut:
        """The caller's queued payments (its own and its indirect participants'), by
        currency, each in the order its settlement account tries them (single-currency
        payments, then cross-currency ones; urgent, then normal): at most `limit`, from
        `offset` on (`next_offset` pages on; the queues move meanwhile)."""
        caller = require_role(request, Role.PARTICIPANT).key_id

        def run(engine: Engine, _now: int):
            assert engine.durable is not None
            hub = engine.durable.hub
            participant = hub.directory.get(caller)
            if currency is not None and currency not in hub.directory.ledgers:
                return Reason.CURRENCY_NOT_ALLOWED
            codes = sorted(hub.directory.ledgers) if currency is None else [currency]
            if participant is None:  # a key the directory no longer names: nothing queued
                codes = []
            queued = (
                row
                for code in codes
                for row in hub.engine.queue_of(hub.directory.settlement_account(participant, code))
            )
            return queue_page(queued, offset, limit)

        page = await run_on_hub(engine, run)
        if isinstance(page, Reason):
            raise E.reason_error(page, "currency")
        return page

    # ------------------------------------------------------------------ mailbox

    @app.get("/v1/mailbox", tags=["mailbox"])
    async def mailbox(
        request: Request,
        after: Cursor = 0,
        limit: Annotated[QueryCount, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Messages for the caller after `after`, oldest first; delivered again on every read
        until acknowledged. At most `limit` messages and 16 MiB of bodies (a first message
        larger than that comes alone): read on from the last sequence returned."""
        caller = principal_of(request)

        def run(engine: Engine, _now: int):
            assert engine.mailbox is not None
            return engine.mailbox.read(caller.key_id, after, limit)

        messages, last, acked = await run_on_hub(engine, run)
        return {
            "messages": [
                {
                    "sequence": m.sequence,
                    "kind": m.kind,
                    "created": iso_time(m.created_ns),
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
        caller = principal_of(request)

        def run(engine: Engine, _now: int):
            assert engine.mailbox is not None
            return engine.mailbox.ack(caller.key_id, ack.upto)

        try:
            acked = await run_on_hub(engine, run)
        except AckBeyondLast as error:
            raise E.ApiError(409, "conflict", "upto", str(error)) from None
        return {"acked": acked}

    @app.put("/v1/mailbox/webhook", tags=["mailbox"])
    async def webhook(request: Request, hook: WebhookIn) -> dict[str, str | None]:
        """Have new messages POSTed to a loopback URL (null: stop). A 2xx answer
        acknowledges what was sent; otherwise the push is retried and the messages stay."""
        caller = principal_of(request)
        if pusher is None:
            raise E.ApiError(404, "not_found", None, "this hub pushes no webhooks")
        try:
            url = None if hook.url is None else check_url(hook.url)
        except WebhookRefused as error:
            raise E.ApiError(422, "invalid", "url", str(error)) from None

        def run(engine: Engine, _now: int):
            assert engine.mailbox is not None
            engine.mailbox.set_webhook(caller.key_id, url)

        await run_on_hub(engine, run)
        pusher.register(caller.key_id, url)
        return {"url": url}

    @app.get("/v1/mailbox/camt054", tags=["mailbox"])
    async def camt054_setting(request: Request) -> Camt054Setting:
        """Whether the caller has a camt.054 for every settlement of its accounts (true), or
        only for those made while its ISO 20022 messages, or another's, were processed
        (false, the default)."""
        caller = principal_of(request)

        def run(engine: Engine, _now: int) -> bool:
            return caller.key_id in engine.camt054_all

        return Camt054Setting(every_settlement=await run_on_hub(engine, run))

    @app.put("/v1/mailbox/camt054", tags=["mailbox"])
    async def set_camt054_setting(request: Request, setting: Camt054Setting) -> Camt054Setting:
        """Have a camt.054 for every settlement of the caller's accounts: JSON payments,
        payments released from a queue in a later round or by an operator, DNS windows; one
        camt.054 per round, made from the hub's events (a restart makes them again)."""
        caller = principal_of(request)

        def run(engine: Engine, _now: int) -> None:
            assert engine.mailbox is not None
            engine.mailbox.set_camt054_all(caller.key_id, setting.every_settlement)
            if setting.every_settlement:
                engine.camt054_all.add(caller.key_id)
            else:
                engine.camt054_all.discard(caller.key_id)

        await run_on_hub(engine, run)
        return setting

    @app.get("/v1/hub/key", tags=["mailbox"])
    async def hub_key(request: Request) -> dict[str, str]:
        """The hub's Ed25519 public key (base64 of the 32 raw bytes): every webhook push
        is signed with it, like a request (`samarkand.service.webhook.verify_push`)."""
        principal_of(request)
        if pusher is None:
            raise E.ApiError(404, "not_found", None, "this hub pushes no webhooks")
        return {"key_id": pusher.key_id, "algorithm": "Ed25519", "public_key": pusher.public_key}

    # ------------------------------------------------------------------ accounts

    @app.get("/v1/accounts", tags=["accounts"])
    async def accounts(request: Request) -> dict[str, Any]:
        """The caller's settlement accounts: balance, intraday credit, available."""
        caller = require_role(request, Role.PARTICIPANT)

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

        return {"accounts": await run_on_hub(engine, run)}

    @app.post("/v1/liquidity", tags=["accounts"])
    async def liquidity(request: Request, transfer: LiquidityIn) -> dict[str, str]:
        """A liquidity transfer between the caller's account at its central bank and its
        settlement account at the hub (camt.050): `in` funds the hub account, `out` drains."""
        from samarkand.hub.settlement import Liquidity

        caller = require_role(request, Role.PARTICIPANT)
        minor = minor_units(transfer.amount, transfer.currency, "amount")
        item = Liquidity(caller.key_id, transfer.currency, minor, transfer.direction == "in")

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.liquidity([item], now)[0]

        reason = await run_on_hub(engine, run)
        if reason is not None:
            field = "currency" if reason is Reason.CURRENCY_NOT_ALLOWED else "amount"
            raise E.reason_error(reason, field)
        return {"status": "done"}

    @app.get(
        "/v1/statements/{currency}",
        tags=["accounts"],
        responses={200: {"content": {"application/xml": {}}, "description": "the camt.053"}},
    )
    async def statement(
        request: Request,
        currency: Annotated[str, Path(pattern=CURRENCY_REGEX)],
        date: Annotated[
            QueryDay,
            Query(
                description="the business day, YYYY-MM-DD: the statement spans the time the "
                "hub's recorded days give that date (a day the business calendar opened, from "
                "its opening to the next day's; a day opened by hand, UTC days), so that "
                "consecutive dates' statements meet; a date no day has (a weekend) is empty"
            ),
        ],
    ) -> Response:
        """The camt.053.001.08 statement of the caller's settlement account in `currency`
        for one day."""
        from samarkand.hub.statements import (
            StatementRefused,
            participant_statement,
            render_statement,
        )

        caller = require_role(request, Role.PARTICIPANT)
        day = dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)

        def run(engine: Engine, _now: int):
            assert engine.durable is not None
            try:
                return participant_statement(engine.durable, caller.key_id, currency, day)
            except StatementRefused as refused:
                return refused

        rows = await run_on_hub(engine, run)  # the rows as columns; written out off the hub
        if isinstance(rows, StatementRefused):
            raise E.statement_error(rows)  # the status and field the refusal gives
        document, _ = await asyncio.get_running_loop().run_in_executor(
            readers, render_statement, rows
        )
        return Response(document, media_type="application/xml")

    return submit_payment_fast
