"""What the service's routes share: request and answer models, the caller's role and
ownership checks, and running work on the hub's thread.

Request models take each field in its own JSON type only: a number where a number is due
(`strict`: not `true`, not `"5"`, not `5.0`), a boolean where a boolean is, decimal text for
amounts, and a UETR as ISO 20022 writes it (a lowercase version 4 UUID with its hyphens), so
a payment made in JSON can be named in any ISO 20022 message."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Path, Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from samarkand.hub.calendar import HOLIDAYS_MAX, KEEP_DAYS_MAX
from samarkand.hub.durable import CommandInterrupted
from samarkand.hub.settlement import QUEUE_LIMIT_MAX
from samarkand.money import MoneyError, default_registry, format_amount, parse_amount
from samarkand.money.errors import NOT_ALLOWED_AMOUNT
from samarkand.service import errors as E
from samarkand.service.auth import KEY_HEADER, SESSION_HEADER, SIGNER, Principal, Role
from samarkand.service.engine import AnswerNotWritten, Engine, EngineBusy, EngineStopped
from samarkand.settlement.participants import BIC_PATTERN, Directory
from samarkand.settlement.payments import Priority, Reason, Status

BIC_REGEX = BIC_PATTERN.pattern
AMOUNT_REGEX = r"^[0-9]{1,40}(\.[0-9]{1,18})?$"
CURRENCY_REGEX = r"^[A-Z]{3}$"
UETR_REGEX = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
PAIR_REGEX = r"^[A-Z]{3}/[A-Z]{3}$"
PAIRS_MAX = 1_000
XML_TYPES = ("application/xml", "text/xml")
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]*$"  # a name shown to people and in messages

# One registry for the process: building it reads every ISO 4217 currency (about a ms).
REGISTRY = default_registry()

Bic = Annotated[str, Field(pattern=BIC_REGEX, examples=["SMAACN22"])]
Amount = Annotated[
    str, Field(pattern=AMOUNT_REGEX, description="decimal, in major units", examples=["1250.00"])
]
Currency = Annotated[str, Field(pattern=CURRENCY_REGEX, examples=["CNY"])]
Uetr = Annotated[
    str,
    Field(pattern=UETR_REGEX, description="ISO 20022 UUIDv4Identifier",
          examples=["eb6305c9-1f7f-49de-aed0-16487c27b42d"]),
]  # fmt: skip
_UETR = re.compile(UETR_REGEX)


def _uetr_as_written(value: object) -> object:
    """A path's UETR only as ISO 20022 writes it (as a JSON payment's must be): 36 lowercase
    hex digits and hyphens, a version 4 UUID; not `urn:uuid:…`, braces, capitals or bare hex."""
    if not isinstance(value, str) or not _UETR.fullmatch(value):
        raise ValueError(
            "a UETR is written as ISO 20022 writes it: a version 4 UUID in lowercase hex with "
            "hyphens, e.g. eb6305c9-1f7f-49de-aed0-16487c27b42d"
        )
    return value


UetrPath = Annotated[
    uuid.UUID,
    BeforeValidator(_uetr_as_written),
    Path(description="the payment's UETR (ISO 20022 UUIDv4Identifier)"),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PaymentIn(_In):
    uetr: Uetr
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
    # Archived (a past day's, final): its events are its receipt and its final status.
    archived: bool = False


class AckIn(_In):
    upto: int = Field(ge=0, le=2**62, strict=True)


class WebhookIn(_In):
    url: str | None = Field(max_length=2_000, examples=["http://127.0.0.1:9000/hook"])


class Camt054Setting(_In):
    every_settlement: bool = Field(
        strict=True,
        description="a camt.054 for every settlement of the caller's accounts (true), or "
        "only for those made while an ISO 20022 message was processed (false)",
    )


class LiquidityIn(_In):
    currency: Currency
    amount: Amount
    direction: Literal["in", "out"] = "in"


class CreditIn(_In):
    bic: Bic
    currency: Currency
    limit: Amount


class AdmissionIn(_In):
    # A participant is an institution: its 8-character BIC (the directory's), no branch.
    bic: str = Field(
        pattern=r"^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}$",
        description="the institution's 8-character BIC",
        examples=["SMZZCN22"],
    )
    name: str = Field(min_length=1, max_length=140, pattern=NO_CONTROL_CHARACTERS)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    kind: Literal["direct", "central_bank"]
    currency: Currency
    public_key: str | None = Field(
        default=None, max_length=100, description="base64 raw Ed25519 key it will sign with"
    )


TIME_OF_DAY = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
CURRENCY_CUT_OFFS_MAX = 50
DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"

# A moment as ISO 8601 text: a date, a time and a zone (2026-11-28T10:00:00Z, +05:00). Not a
# number, nor a number in a string, which the framework would take as Unix seconds.
_MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"([Zz]|[+-][0-9]{2}:?[0-9]{2})?"
)


def _iso_moment(value: Any) -> Any:
    if type(value) is not str or not _MOMENT.fullmatch(value):
        raise ValueError("give an ISO 8601 date and time with its zone, e.g. 2026-11-28T10:00:00Z")
    return value


Moment = Annotated[dt.datetime, BeforeValidator(_iso_moment)]

# Query parameters as written, not as the framework would read them: a count is decimal digits
# (not "+1", "01", " 1", "1_000" or "1.0"), a day is YYYY-MM-DD (not a date and time, nor
# Unix seconds).
_COUNT = re.compile(r"0|[1-9][0-9]{0,18}")
_DAY = re.compile(DAY_PATTERN)


def _count(value: Any) -> Any:
    if type(value) is str and not _COUNT.fullmatch(value):
        raise ValueError("give a whole number in decimal digits, e.g. 100")
    return value


def _day(value: Any) -> Any:
    if type(value) is str and not _DAY.fullmatch(value):
        raise ValueError("give a day as YYYY-MM-DD, e.g. 2026-11-28")
    return value


QueryCount = Annotated[int, BeforeValidator(_count)]
# A cursor through a sequence (a mailbox, the audit trail): what comes after it is read.
Cursor = Annotated[QueryCount, Query(ge=0, le=2**62)]
# Where a page of a list that moves (the queues) begins: how many of its items to pass over.
Offset = Annotated[QueryCount, Query(ge=0, le=2**62)]
QueryDay = Annotated[dt.date, BeforeValidator(_day)]


class ArchiveIn(_In):
    before: Moment | None = Field(
        default=None,
        description="archive the payments final before this time, with a zone (at most the "
        "opening of the business day under way, the default)",
    )


class OpenDayIn(_In):
    cut_off: Moment = Field(description="the new cut-off of every currency, with a zone")
    resting: list[Annotated[str, Field(pattern=CURRENCY_REGEX)]] = Field(
        default=[], max_length=CURRENCY_CUT_OFFS_MAX, examples=[["IRR"]],
        description="currencies that do not settle on this day (a holiday its central bank "
        "declared): closed from the opening on, a payment in one refused DT01",
    )  # fmt: skip


class ReorderIn(_In):
    to: Literal["front", "back"] = Field(
        description="the front of its priority class (tried next) or the back"
    )


class PriorityIn(_In):
    priority: Literal["normal", "urgent"] = Field(
        description="urgent overtakes the sender's queued normal payments"
    )


CurrencyKey = Annotated[str, Field(pattern=CURRENCY_REGEX)]


def _per_currency(example: dict[str, Any], description: str) -> Any:
    """A calendar's setting of some currencies, keyed by code (none by default)."""
    return Field(
        default={}, max_length=CURRENCY_CUT_OFFS_MAX, examples=[example], description=description
    )


class CalendarIn(_In):
    opens: str = Field(
        pattern=TIME_OF_DAY, examples=["08:00"],
        description="when a business day opens, HH:MM on the zone's clock (at or after "
        "cut_off: on the evening before, as a day that opens at 19:30 for an 18:00 cut-off)",
    )  # fmt: skip
    cut_off: str = Field(
        pattern=TIME_OF_DAY, examples=["18:00"],
        description="every currency's cut-off, HH:MM on the zone's clock",
    )  # fmt: skip
    time_zone: str = Field(
        min_length=1, max_length=64, examples=["Asia/Tashkent"],
        description="the zone of both times, by its name in the tz database",
    )  # fmt: skip
    weekdays: list[Annotated[int, Field(ge=1, le=7, strict=True)]] = Field(
        default=[1, 2, 3, 4, 5], min_length=1, max_length=7,
        description="the days the hub works, 1 (Monday) to 7 (Sunday)",
    )  # fmt: skip
    holidays: list[Annotated[str, Field(pattern=DAY_PATTERN, examples=["2027-01-01"])]] = Field(
        default=[], max_length=HOLIDAYS_MAX,
        description="dates (YYYY-MM-DD) the hub does not work, whatever their weekday",
    )  # fmt: skip
    currency_cut_offs: dict[CurrencyKey, Annotated[str, Field(pattern=TIME_OF_DAY)]] = (
        _per_currency(
            {"RUB": "16:00"},
            "currencies with a cut-off of their own, HH:MM on the zone's clock, on the same "
            "date as cut_off and after the day opens",
        )
    )
    currency_weekdays: dict[
        CurrencyKey,
        Annotated[
            list[Annotated[int, Field(ge=1, le=7, strict=True)]],
            Field(min_length=1, max_length=7),
        ],
    ] = _per_currency(
        {"IRR": [1, 2, 3]},
        "currencies that settle on fewer weekdays than the hub works (their country's "
        "weekend), 1 (Monday) to 7 (Sunday), each among weekdays",
    )
    keep_days: int | None = Field(
        default=None, ge=0, le=KEEP_DAYS_MAX, strict=True, examples=[5],
        description="how many past business days the hub keeps whole in memory: when a day "
        "opens, the payments finished before the oldest kept are archived (null: none)",
    )  # fmt: skip
    currency_holidays: dict[
        CurrencyKey,
        Annotated[list[Annotated[str, Field(pattern=DAY_PATTERN)]], Field(max_length=HOLIDAYS_MAX)],
    ] = _per_currency(
        {"CNY": ["2027-02-08"]},
        "currencies with holidays of their own (YYYY-MM-DD): on those days the hub opens for "
        "the other currencies, and a payment in the resting one is refused DT01",
    )


class ProviderIn(_In):
    pairs: list[Annotated[str, Field(pattern=PAIR_REGEX, examples=["CNY/RUB"])]] | None = Field(
        default=None,
        min_length=1,
        max_length=PAIRS_MAX,
        description="currency pairs it may post tiers on, both ways (`CNY/RUB` is also "
        "RUB/CNY); null: every pair of currencies it holds accounts in",
    )


class CorridorIn(_In):
    vehicle_allowed: bool = Field(
        strict=True,
        description="whether routes from source to destination may convert through a "
        "vehicle-only currency (USD, EUR)",
    )


class CutOffIn(_In):
    cut_off: Moment = Field(
        description="the currency's new cut-off, with a zone: later than now, at most 24 h ahead"
    )


class WindowScheduleIn(_In):
    every_seconds: int = Field(
        ge=0, le=86_400, strict=True,
        description="close the DNS window this often (60 to 86,400 s); 0: only when asked",
    )  # fmt: skip
    first: Moment | None = Field(
        default=None,
        description="the first close, with a zone: later than now, at most 24 h ahead (the "
        "beat then keeps that time of day); default every_seconds from now",
    )


class QueueLimitIn(_In):
    limit: int = Field(
        ge=1,
        le=QUEUE_LIMIT_MAX,
        strict=True,
        description="payments that may wait in each currency's queues (and in the "
        "cross-currency queues together)",
    )


def require_debtor(engine: Engine, caller: str, debtor_agent: str) -> None:
    """Only the debtor agent (or the direct participant it settles via) submits a payment."""
    if not owns(hub_directory(engine), caller, debtor_agent):
        raise E.ApiError(
            403, "forbidden", "debtor_agent", "only the debtor agent submits its payments"
        )


def payment_status(uetr: uuid.UUID | str, answer: tuple[Reason | None, Any]) -> PaymentStatusOut:
    """A submitted payment's answer: RJCT with the reason, ACSC settled, ACSP waiting."""
    reason, status = answer
    code = "RJCT" if reason is not None else "ACSC" if status is Status.SETTLED else "ACSP"
    return PaymentStatusOut(uetr=str(uetr), status=code, reason=reason_out(reason))


def reason_out(reason: Reason | None) -> ReasonOut | None:
    return None if reason is None else ReasonOut(code=reason.iso, text=reason.text)


def iso_time(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns // 10**9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# The most digits an amount taken in has before its decimal point: an amount is below
# 10**18 units of its currency, as an ISO 20022 amount must be (ActiveCurrencyAndAmount: 18
# digits in all), so a JSON request asks for no more than a message can. The ledger's 128-bit
# counters of what an account was debited and credited only grow: amounts this size take
# more than 10**16 transfers to fill one, where two amounts near AMOUNT_MAX did (the second
# settled by the engine, then refused by the ledger: a 500, and a payment reported settled
# that was never posted).
AMOUNT_DIGITS_MAX = 18


def minor_units(text: str, code: str, field: str, currency_field: str = "currency") -> int:
    """The minor units of the amount `text` in `code`; 422 naming `field` (AM02 above
    `AMOUNT_DIGITS_MAX` digits before the point), or `currency_field` for a currency the hub
    does not know."""
    try:
        money = REGISTRY.get(code)
    except MoneyError as error:
        raise E.ApiError(422, "invalid", currency_field, str(error)) from None
    try:
        minor = parse_amount(text, money, field=field)
        if minor >= 10 ** (AMOUNT_DIGITS_MAX + money.exponent):
            reason = f"{text} has more than {AMOUNT_DIGITS_MAX} digits before the point"
            raise MoneyError(field, reason, NOT_ALLOWED_AMOUNT)
    except MoneyError as error:
        raise E.ApiError(422, "invalid", field, str(error)) from None
    return minor


def unavailable(error: Exception) -> str:
    """What a caller is told when the hub cannot take requests (never the store's details)."""
    if isinstance(error, EngineBusy | EngineStopped):
        return str(error)
    if isinstance(error, CommandInterrupted | AnswerNotWritten):
        return (
            "the hub's store failed while the request ran: what it did is kept (and completed "
            "once the hub has opened its store again, which it does by itself); send it again "
            "for its outcome: a payment already taken is refused DUPL, a message is answered"
        )
    return "the hub's store failed: the request was not done; send it again"


def principal_of(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:  # the gate authenticates every /v1/ path before a route runs
        raise E.ApiError(401, "unauthenticated", None, "not authenticated")
    return principal


def require_role(request: Request, *roles: Role) -> Principal:
    principal = principal_of(request)
    if principal.role not in roles:
        names = " or ".join(r.value for r in roles)
        raise E.ApiError(403, "forbidden", KEY_HEADER, f"this route needs the {names} role")
    return principal


def keyed(principal: Principal, what: str) -> Principal:
    """`principal`, whose request was signed with its key itself: one that came in a session
    may not do `what` (a session's secret, were it stolen, must not give the key away)."""
    if principal.session is not None:
        raise E.ApiError(
            403, "forbidden", SESSION_HEADER,
            f"{what} takes a request signed with the key itself, not one in a session",
        )  # fmt: skip
    return principal


def owns(directory: Directory, caller: str, agent: str) -> bool:
    """`caller` acts for `agent`: it is the agent, or the direct participant it settles via."""
    if agent == caller:
        return True
    settling = directory.settling_participant(agent)
    return settling is not None and settling.bic == caller


async def run_on_hub(engine: Engine, function: Callable[[Engine, int], Any]) -> Any:
    """`function` on the hub's thread; the governance commands it logs name the request's
    signer (the audit trail's "by": `samarkand.service.auth.SIGNER`)."""
    signer = SIGNER.get()
    if signer is None:
        return await asyncio.wrap_future(engine.call(function))

    def acting(engine: Engine, now: int) -> Any:
        assert engine.durable is not None
        with engine.durable.acting(signer):
            return function(engine, now)

    return await asyncio.wrap_future(engine.call(acting))


def hub_directory(engine: Engine) -> Directory:
    assert engine.durable is not None
    return engine.durable.hub.directory


class QueuedOut(BaseModel):
    uetr: str
    debtor_agent: str
    creditor_agent: str
    amount: str  # what the debtor pays (in the source currency, for a cross-currency payment)
    currency: str
    priority: str  # urgent or normal
    place: int  # in its priority class of its sender's queue (1: tried next)
    cross_currency: bool
    received: str


class QueueOut(BaseModel):
    queued: list[QueuedOut]  # in the order each sender's settlement account tries them
    next_offset: int | None  # the `offset` of the next page; None: this was the last


def queue_page(queued: Iterable[tuple[Any, int]], offset: int, limit: int) -> QueueOut:
    """The page of `queued` (entries and their places, in order) from `offset`, at most
    `limit`: the rows skipped are not made, only passed over."""
    page = list(itertools.islice(queued, offset, offset + limit + 1))
    more = len(page) > limit
    return QueueOut(
        queued=[queued_row(entry, place) for entry, place in page[:limit]],
        next_offset=offset + limit if more else None,
    )


class MovedOut(BaseModel):
    uetr: str
    status: str  # queued, or settled once its queue was tried again
    priority: str  # urgent or normal
    place: int | None  # afterwards (1: tried next); None: settled, or waiting for its time


def queued_row(entry: Any, place: int) -> QueuedOut:
    """A queued payment as the queue routes show it."""
    payment = entry.payment
    return QueuedOut(
        uetr=str(uuid.UUID(int=payment.uetr)),
        debtor_agent=payment.debtor_agent,
        creditor_agent=payment.creditor_agent,
        amount=format_amount(payment.amount, REGISTRY.get(payment.currency)),
        currency=payment.currency,
        priority=payment.priority.name.lower(),
        place=place,
        cross_currency=entry.fx is not None,
        received=iso_time(entry.received_ns),
    )


async def _act_on_queued(
    engine: Engine,
    uetr: uuid.UUID,
    by_participant: str | None,
    act: Callable[[Any, str, int], Reason | None],
) -> MovedOut:
    """`act(durable hub, debtor agent, now)` on a queued payment: a participant's own
    (another's is NOT_FOUND, as an unknown one), or any payment on the operator's decision
    (`by_participant` None). A refusal raises its reason's error; else the payment as it is
    afterwards: its status, priority and place in its queue's priority class."""

    def run(engine: Engine, now: int):
        assert engine.durable is not None
        settlement = engine.durable.hub.engine
        entry = settlement.find(uetr.int)
        debtor = None if entry is None else entry.payment.debtor_agent
        if debtor is None or (
            by_participant is not None
            and not owns(engine.durable.hub.directory, by_participant, debtor)
        ):
            return Reason.NOT_FOUND
        assert entry is not None
        reason = act(engine.durable, debtor, now)
        if reason is not None:
            return reason
        return MovedOut(
            uetr=str(uetr),
            status=entry.status.value,
            priority=entry.priority.name.lower(),
            place=settlement.queue_place(entry),
        )

    done = await run_on_hub(engine, run)
    if isinstance(done, Reason):
        raise E.reason_error(done, "uetr")
    return done


async def cancel_queued(
    engine: Engine, uetr: uuid.UUID, by_participant: str | None
) -> dict[str, str]:
    """Cancel a queued payment: a participant's own (another's is NOT_FOUND), or any
    payment on the operator's decision (`by_participant` None)."""
    await _act_on_queued(
        engine, uetr, by_participant, lambda hub, debtor, now: hub.cancel(uetr.int, debtor, now)
    )
    return {"uetr": str(uetr), "status": "cancelled"}


async def reorder_queued(
    engine: Engine, uetr: uuid.UUID, by_participant: str | None, to: str
) -> MovedOut:
    """Move a queued payment to the front or the back of its priority class in its
    sender's queue (as `cancel_queued`, whose payment it may act on); then the queue is
    tried again from its head, so the payment may settle at once."""

    def move(hub: Any, debtor: str, now: int) -> Reason | None:
        return hub.reorder(uetr.int, debtor, to_front=to == "front", now=now)

    return await _act_on_queued(engine, uetr, by_participant, move)


async def reprioritise_queued(
    engine: Engine, uetr: uuid.UUID, by_participant: str | None, priority: str
) -> MovedOut:
    """Change the priority of a payment waiting for liquidity or for its earliest time (as
    `cancel_queued`, whose payment it may act on): a queued one goes to the back of its new
    priority class, and the queue is tried again, so it may settle at once."""
    chosen = Priority[priority.upper()]

    def change(hub: Any, debtor: str, now: int) -> Reason | None:
        return hub.reprioritise(uetr.int, debtor, chosen, now)

    return await _act_on_queued(engine, uetr, by_participant, change)


def proposal_routes(
    app: FastAPI,
    engine: Engine,
    path: str,
    name: str,
    kind: str,
    *,
    listed: str,
    approving: str,
    then: Callable[[dict[str, Any]], None] | None = None,
    approve_name: str | None = None,
    keyed_approval: bool = False,
) -> None:
    """`GET path` (the operator and central banks) and `POST path/{proposal}/approve` (a
    central bank, by its signed request) of the proposals of `kind` that central banks
    approve (`DurableHub.proposals`, `DurableHub.approve`); `then` takes an approval's
    view. `keyed_approval`: an approval must be signed with the key itself (`keyed`)."""

    async def list_them(request: Request) -> dict[str, Any]:
        require_role(request, Role.OPERATOR, Role.CENTRAL_BANK)
        return {name: await run_on_hub(engine, lambda e, _now: e.durable.proposals(kind))}

    async def approve(
        request: Request, proposal: Annotated[int, Path(ge=1, le=2**31)]
    ) -> dict[str, Any]:
        caller = require_role(request, Role.CENTRAL_BANK)
        if keyed_approval:
            keyed(caller, f"approving a {kind}")

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.approve(kind, proposal, caller.key_id, now)

        result = await run_on_hub(engine, run)
        if isinstance(result, tuple):
            status, message = result
            raise E.ApiError(status, E.http_code(status), "proposal", message)
        if then is not None:
            then(result)
        return result

    app.add_api_route(path, list_them, methods=["GET"], tags=["operator"], name=name,
                      description=listed)  # fmt: skip
    app.add_api_route(
        path + "/{proposal}/approve", approve, methods=["POST"], tags=["operator"],
        name=approve_name or f"approve_{name.removesuffix('s')}", description=approving,
    )  # fmt: skip
