"""Operator routes: the directory, suspension, intraday credit (central banks), the queue,
cancellation, settlement windows, the business day, admissions, and the hub's settings: the
register of FX providers, vehicle-currency corridors, one currency's cut-off, the queue limit
and a view of them all."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Generator
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from samarkand.hub.calendar import BusinessCalendar, minutes_of, time_text
from samarkand.hub.durable import WINDOW_FIRST_PROBLEM
from samarkand.hub.messages import HUB_BIC, participant_bic
from samarkand.money import MoneyError, format_amount
from samarkand.service import errors as E
from samarkand.service.auth import SIGNER, Role, Verifier, admitted_key, parse_public_key
from samarkand.service.engine import ARCHIVE_SLICE, Engine, next_calendar_day
from samarkand.service.shared import (
    BIC_REGEX,
    CURRENCY_REGEX,
    REGISTRY,
    AdmissionIn,
    ArchiveIn,
    CalendarIn,
    CorridorIn,
    CreditIn,
    Cursor,
    CutOffIn,
    MovedOut,
    Offset,
    OpenDayIn,
    PriorityIn,
    ProviderIn,
    QueryCount,
    QueueLimitIn,
    QueueOut,
    ReorderIn,
    UetrPath,
    WindowScheduleIn,
    cancel_queued,
    hub_directory,
    iso_time,
    minor_units,
    proposal_routes,
    queue_page,
    reorder_queued,
    reprioritise_queued,
    require_role,
    run_on_hub,
)
from samarkand.service.webhook import Pusher
from samarkand.service.zones import time_zone
from samarkand.settlement.participants import (
    ParticipantKind,
    ParticipantStatus,
    account_parts,
)
from samarkand.settlement.payments import Reason

OPEN_DAY_AHEAD_NS = 7 * 24 * 3_600 * 10**9  # a business day opened at most this far ahead
_NOT_PARTICIPANTS = (Role.OPERATOR, Role.HUB)
# The field of `PUT /v1/operator/credit` each refusal is about (else the limit).
_CREDIT_FIELDS = {
    Reason.CURRENCY_NOT_ALLOWED: "currency",
    Reason.NOT_CENTRAL_BANK: "currency",  # not the caller's currency
    Reason.NO_SETTLEMENT_ACCOUNT: "bic",
}


class CurrencyOut(BaseModel):
    currency: str
    central_bank: str
    cut_off: str
    # Closed at its cut-off by the hub's clock (or by end-of-day after it) until the next
    # open-day, or until its cut-off moves later: what waited in it was rejected AB03.
    day_closed: bool
    # It does not settle on this business day (a holiday or weekend its calendar gives it).
    resting: bool
    dns_waiting: int  # payments waiting for the currency's next DNS window
    window_every_seconds: int | None = None  # DNS windows closed on the hub's clock
    next_window: str | None = None  # the next of them


class ArchiveOut(BaseModel):
    payments: int  # payments archived now
    events: int  # events dropped from memory now
    archived: int  # payments archived in all
    before: str  # what was final before this is archived


class OpenDayOut(BaseModel):
    cut_off: str  # every currency's, but a resting one's
    resting: list[str]  # currencies that do not settle on the day opened


class CalendarSetOut(BaseModel):
    opens: str  # HH:MM on the zone's clock (at or after cut_off: the evening before)
    cut_off: str  # HH:MM
    time_zone: str
    weekdays: list[int]  # 1 (Monday) to 7 (Sunday)
    holidays: list[str]  # YYYY-MM-DD
    currency_cut_offs: dict[str, str]  # currencies with a cut-off of their own, HH:MM
    currency_weekdays: dict[str, list[int]]  # currencies that settle on fewer weekdays
    currency_holidays: dict[str, list[str]]  # currencies' own holidays, YYYY-MM-DD
    keep_days: int | None  # past business days kept whole in memory (None: all)


class CalendarOut(BaseModel):
    calendar: CalendarSetOut | None  # None: only the operator's open-day opens a day
    day_closed: bool  # every currency's day is closed: the next day may open
    # The day the hub's clock opens next, once every currency's day is closed (its opening
    # and every currency's cut-off, UTC); None without a calendar or while a day is open.
    next_opening: str | None
    next_cut_off: str | None  # the calendar's cut-off, of every currency without its own
    next_cut_offs: dict[str, str] | None  # each currency's
    # The currencies that do not settle on that day (their own holiday or weekend).
    next_resting: list[str] | None


class ParticipantLiquidityOut(BaseModel):
    bic: str
    balance: str  # its settlement account's
    credit_line: str  # intraday credit its central bank grants
    available: str  # what it can pay now
    queued: int  # its payments queued
    queued_value: str
    shortfall: str  # what more it needs for its whole queue to settle (offsetting aside)


class LiquidityOut(BaseModel):
    currency: str
    balances: str  # of every direct participant's settlement account, together
    credit_lines: str
    queued: int
    queued_value: str
    shortfall: str
    participants: list[ParticipantLiquidityOut]  # those with payments queued, most short first


class ProviderOut(BaseModel):
    bic: str
    pairs: list[str] | None  # None: every pair of its currencies
    tiers: int  # its standing tiers


class CorridorOut(BaseModel):
    source: str
    destination: str


class FxConfigOut(BaseModel):
    provider_policy: str  # "register": only registered providers post tiers; "open": any
    providers: list[ProviderOut]
    vehicle_currencies: list[str]
    vehicle_corridors: list[CorridorOut]


class ConfigurationOut(BaseModel):
    currencies: list[CurrencyOut]
    queue_limit: int
    fx: FxConfigOut


class EngineStatusOut(BaseModel):
    rounds: int  # rounds the hub's thread ran since the service started
    submit_commands: int  # durable submit commands they made
    payment_requests: int  # single-payment requests they took
    round_size_mean: float  # requests per round, over the last rounds (up to 10,000)
    waiting: int  # requests waiting for the hub's thread now
    rounds_unwritten: int  # rounds whose mailbox transaction is not committed yet
    under_way: int  # work taken a turn per round, not done yet (ISO 20022 messages of many batches)
    hub_broken: bool  # a command was cut off by a store failure: the hub is being reopened
    hub_reopened: int  # times the hub was opened again after such a failure
    ticks: int  # times the hub's clock ran for a payment waiting for a time, or a window
    day_closes: int  # currencies' days closed by the hub's clock at their cut-offs
    day_opens: int  # business days opened by the hub's clock on its calendar
    archives: int  # archives of past days' payments run by the hub's clock (`keep_days`)
    offsetting_runs: int  # liquidity-saving runs on queues that changed (at most one a second)
    non_fifo_runs: int  # of those, the runs with the non-FIFO search (one in 15 minutes)
    snapshots: int  # snapshots of the hub written in the background while it ran


class HubStatusOut(BaseModel):
    commands: int  # commands in the hub's log
    events: int  # status events since the log began
    events_kept: int  # of those, the ones in memory (the others archived)
    # Payments of past days kept as columns, out of memory as objects (`/v1/operator/archive`)
    archived: int
    archived_before: str | None  # the latest archive ran up to then
    payments: dict[str, int]  # payments by status
    queued: dict[str, int]  # payments waiting in each currency's queues
    queued_fx: int  # cross-currency payments waiting
    warehoused: int  # payments waiting for their earliest settlement time
    dns_waiting: dict[str, int]  # payments waiting for each currency's next DNS window


class MailboxStatusOut(BaseModel):
    unacknowledged: dict[str, int]  # messages waiting, per participant that has any
    webhooks: int  # participants pushed to
    pushed: int  # messages taken by webhooks since the service started
    push_failures: int  # pushes not taken since the service started


class StatusOut(BaseModel):
    engine: EngineStatusOut
    hub: HubStatusOut
    mailboxes: MailboxStatusOut


def _pair_text(pair: tuple[str, str]) -> str:
    return f"{pair[0]}/{pair[1]}"


def _seconds_ns(moment: Any, field: str) -> int:
    """A zoned time as the hub's nanoseconds (whole seconds, as the business day's)."""
    if moment.tzinfo is None:
        raise E.ApiError(422, "invalid", field, "the time needs a time zone")
    return int(moment.timestamp()) * 10**9


def _calendar_out(engine: Engine, now: int) -> CalendarOut:
    assert engine.durable is not None
    hub = engine.durable.hub
    calendar = hub.calendar
    day = next_calendar_day(hub, now)
    return CalendarOut(
        calendar=None
        if calendar is None
        else CalendarSetOut(
            opens=time_text(calendar.opens),
            cut_off=time_text(calendar.cut_off),
            time_zone=calendar.zone,
            weekdays=list(calendar.weekdays),
            holidays=list(calendar.holidays),
            currency_cut_offs={code: time_text(m) for code, m in calendar.currency_cut_offs},
            currency_weekdays={code: list(days) for code, days in calendar.currency_weekdays},
            currency_holidays={code: list(days) for code, days in calendar.currency_holidays},
            keep_days=calendar.keep_days,
        ),
        day_closed=hub.engine.day_closed,
        next_opening=None if day is None else iso_time(day.opening),
        next_cut_off=None if day is None else iso_time(day.cut_off),
        next_cut_offs=None
        if day is None
        else {code: iso_time(day.cut_off_of(code)) for code in sorted(hub.engine.cut_off_ns)},
        next_resting=None
        if day is None
        else [code for code in day.resting if code in hub.engine.cut_off_ns],
    )


def _liquidity_view(engine: Engine, currency: str, limit: int) -> LiquidityOut:
    """`GET /v1/operator/liquidity/{currency}`'s answer, read on the hub's thread: a pass
    over the direct participants' accounts (each queue's count and value are kept by the
    engine as payments join and leave it)."""
    assert engine.durable is not None
    hub = engine.durable.hub
    settlement, state = hub.engine, engine.durable.durable_ledger.state
    money = REGISTRY.get(currency)
    totals = dict.fromkeys(("balances", "credit", "queued", "queued_value", "shortfall"), 0)
    rows = []
    for participant in hub.directory.direct():
        account_id = hub.directory.settlement_account(participant, currency)
        account = state.account(account_id)
        if account is None:
            continue
        balance = state.balance(account_id).net_credit
        available = settlement.available(account_id)
        count, queued = settlement.queued_on(account_id)
        shortfall = max(0, queued - available)
        for name, value in (("balances", balance), ("credit", account.limit),
                            ("queued", count), ("queued_value", queued),
                            ("shortfall", shortfall)):  # fmt: skip
            totals[name] += value
        if count:
            rows.append((shortfall, queued, participant.bic, balance, account.limit,
                         available, count))  # fmt: skip
    rows.sort(key=lambda row: (-row[0], -row[1], row[2]))
    amount = functools.partial(format_amount, currency=money)
    return LiquidityOut(
        currency=currency,
        balances=amount(totals["balances"]),
        credit_lines=amount(totals["credit"]),
        queued=totals["queued"],
        queued_value=amount(totals["queued_value"]),
        shortfall=amount(totals["shortfall"]),
        participants=[
            ParticipantLiquidityOut(
                bic=bic,
                balance=amount(balance),
                credit_line=amount(credit),
                available=amount(available),
                queued=count,
                queued_value=amount(value),
                shortfall=amount(short),
            )
            for short, value, bic, balance, credit, available, count in rows[:limit]
        ],
    )


def add_operator_routes(
    app: FastAPI, engine: Engine, verifier: Verifier, pusher: Pusher | None = None
) -> None:
    """Add the operator and central-bank routes to `app`."""
    # ------------------------------------------------------------------ operator

    @app.get("/v1/operator/participants", tags=["operator"])
    async def participants(request: Request) -> dict[str, Any]:
        require_role(request, Role.OPERATOR, Role.CENTRAL_BANK)

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
                for p in hub_directory(engine)
            ]

        return {"participants": await run_on_hub(engine, run)}

    async def _set_status(request: Request, bic: str, status: ParticipantStatus) -> Any:
        require_role(request, Role.OPERATOR)

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.set_participant_status(bic, status, now)

        result = await run_on_hub(engine, run)
        if isinstance(result, tuple):
            code, message = result
            raise E.ApiError(code, E.http_code(code), "bic", message)
        if result is None:
            return {"bic": bic, "status": status.value}
        proposed = {"bic": bic, "status": ("pending" if result["status"] == "pending"
                                           else status.value), "change": result}  # fmt: skip
        return JSONResponse(proposed, status_code=202 if result["status"] == "pending" else 200)

    status_responses: dict[int | str, dict[str, Any]] = {
        202: {"description": "a member's central bank: its change is proposed, to be applied "
                             "once every other member's central bank approves it"},
        409: {"description": "a change of this participant's status is already proposed"},
    }  # fmt: skip

    @app.post("/v1/operator/participants/{bic}/suspend", tags=["operator"],
              responses=status_responses)  # fmt: skip
    async def suspend(request: Request, bic: Annotated[str, Path(pattern=BIC_REGEX)]) -> Any:
        """Suspend a participant: its new payments are refused (AG01). A member's central
        bank is suspended only once the central bank of every other member approves it
        (`POST /v1/operator/status-changes/{id}/approve`): the answer is then 202 with the
        proposed change."""
        return await _set_status(request, bic, ParticipantStatus.SUSPENDED)

    @app.post("/v1/operator/participants/{bic}/unsuspend", tags=["operator"],
              responses=status_responses)  # fmt: skip
    async def unsuspend(request: Request, bic: Annotated[str, Path(pattern=BIC_REGEX)]) -> Any:
        """Reinstate a participant; a member's central bank, as it is suspended: once every
        other member's central bank approves."""
        return await _set_status(request, bic, ParticipantStatus.ACTIVE)

    proposal_routes(
        app, engine, "/v1/operator/status-changes", "status_changes", "status change",
        listed="Proposed and applied suspensions and reinstatements of members' central banks.",
        approving="A member's central bank approves a proposed suspension or reinstatement "
        "of another member's central bank, with its own signed request.",
    )  # fmt: skip

    @app.put("/v1/operator/credit", tags=["operator"])
    async def set_credit(request: Request, credit: CreditIn) -> dict[str, str]:
        """Intraday credit of a participant in a currency: only that currency's central
        bank sets it."""
        caller = require_role(request, Role.CENTRAL_BANK)
        limit = minor_units(credit.limit, credit.currency, "limit")

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.set_credit(
                credit.bic, credit.currency, limit, now, by_central_bank=caller.key_id
            )

        reason = await run_on_hub(engine, run)
        if reason is not None:
            raise E.reason_error(reason, _CREDIT_FIELDS.get(reason, "limit"))
        return {"bic": credit.bic, "currency": credit.currency, "limit": credit.limit}

    @app.get("/v1/operator/queue", tags=["operator"])
    async def queued(
        request: Request,
        limit: Annotated[QueryCount, Query(ge=1, le=10_000)] = 1_000,
        offset: Offset = 0,
    ) -> QueueOut:
        """Queued payments, by sender's settlement account, each in the order it is tried
        (single-currency payments, then cross-currency ones; urgent, then normal): at most
        `limit`, from `offset` on (`next_offset` pages on; the queues move meanwhile)."""
        require_role(request, Role.OPERATOR)

        def run(engine: Engine, _now: int):
            assert engine.durable is not None
            settlement = engine.durable.hub.engine
            senders = sorted(settlement.queues.keys() | settlement.fx_queues.keys())
            queued = (row for sender in senders for row in settlement.queue_of(sender))
            return queue_page(queued, offset, limit)

        return await run_on_hub(engine, run)

    @app.get("/v1/operator/liquidity/{currency}", tags=["operator"])
    async def liquidity(
        request: Request,
        currency: Annotated[str, Path(pattern=CURRENCY_REGEX)],
        limit: Annotated[QueryCount, Query(ge=1, le=10_000)] = 100,
    ) -> LiquidityOut:
        """Liquidity in one currency, to watch its queues and gridlock: the totals of the
        direct participants' settlement accounts (balances, intraday credit, what waits in
        their queues), then each participant with payments queued, those whose queued
        payments exceed the liquidity available to them first (`shortfall`: what liquidity
        or credit would let its whole queue settle, offsetting aside). The operator sees
        every currency, a central bank its own."""
        caller = require_role(request, Role.OPERATOR, Role.CENTRAL_BANK)

        def run(engine: Engine, _now: int):
            assert engine.durable is not None
            hub = engine.durable.hub
            central_bank = hub.directory.central_bank_of.get(currency)
            if central_bank is None:
                return Reason.CURRENCY_NOT_ALLOWED
            if caller.role is Role.CENTRAL_BANK and central_bank.bic != caller.key_id:
                return None
            return _liquidity_view(engine, currency, limit)

        view = await run_on_hub(engine, run)
        if isinstance(view, Reason):
            raise E.reason_error(view, "currency")
        if view is None:
            raise E.ApiError(403, "AGNT", "currency", "a central bank sees its own currency only")
        return view

    @app.get("/v1/operator/audit", tags=["operator"])
    async def audit(
        request: Request,
        after: Cursor = 0,
        limit: Annotated[QueryCount, Query(ge=1, le=10_000)] = 1_000,
    ) -> dict[str, Any]:
        """The hub's governance, oldest first: every setup, suspension, status change,
        admission and approval, key set or revoked, credit line, cancellation, reordering,
        priority change, window, day and setting, with the command's place in the hub's log
        (`sequence`: page on with `after`), its business time (`at`; null for the setup) and
        the key id that asked for it (`by`; null where none was logged). Replayed from the
        log, so it outlives restarts."""
        require_role(request, Role.OPERATOR, Role.CENTRAL_BANK)

        def run(engine: Engine, _now: int):
            assert engine.durable is not None
            return engine.durable.audit(after, limit)

        entries = await run_on_hub(engine, run)
        return {
            "entries": [
                {"sequence": e.sequence, "op": e.op, "by": e.by,
                 "at": None if e.at_ns is None else iso_time(e.at_ns), "arguments": e.arguments}
                for e in entries
            ],
            "next": entries[-1].sequence if entries else after,
        }  # fmt: skip

    @app.post("/v1/operator/payments/{uetr}/cancel", tags=["operator"])
    async def operator_cancel(request: Request, uetr: UetrPath) -> dict[str, str]:
        """Cancel a queued payment on the operator's decision."""
        require_role(request, Role.OPERATOR)
        return await cancel_queued(engine, uetr, None)

    @app.post("/v1/operator/payments/{uetr}/reorder", tags=["operator"])
    async def operator_reorder(request: Request, uetr: UetrPath, move: ReorderIn) -> MovedOut:
        """Move a queued payment to the front or the back of its priority class, on the
        operator's decision."""
        require_role(request, Role.OPERATOR)
        return await reorder_queued(engine, uetr, None, move.to)

    @app.put("/v1/operator/payments/{uetr}/priority", tags=["operator"])
    async def operator_priority(request: Request, uetr: UetrPath, change: PriorityIn) -> MovedOut:
        """Change a waiting payment's priority on the operator's decision."""
        require_role(request, Role.OPERATOR)
        return await reprioritise_queued(engine, uetr, None, change.priority)

    @app.post("/v1/operator/windows/{currency}/close", tags=["operator"])
    async def close_window(
        request: Request, currency: Annotated[str, Path(pattern=CURRENCY_REGEX)]
    ) -> dict[str, Any]:
        """Close the currency's deferred net settlement window now: net positions settle;
        a participant that cannot pay in its net debit is unwound (AM04)."""
        require_role(request, Role.OPERATOR)

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            if currency not in engine.durable.hub.directory.central_bank_of:
                return None
            return engine.durable.close_window(currency, now)

        result = await run_on_hub(engine, run)
        if result is None:
            raise E.reason_error(Reason.CURRENCY_NOT_ALLOWED, "currency")
        settled, defaulted = result
        return {"settled": settled, "defaulted_accounts": [str(a) for a in defaulted]}

    @app.put("/v1/operator/windows/{currency}", tags=["operator"])
    async def schedule_windows(
        request: Request, currency: Annotated[str, Path(pattern=CURRENCY_REGEX)],
        schedule: WindowScheduleIn,
    ) -> dict[str, Any]:  # fmt: skip
        """Close the currency's DNS window every `every_seconds` (60 to 86,400), on the hub's
        own clock, the first that long from now or at `first` (within the day ahead: daily
        windows at 10:00 and every 4 hours from 08:00 are both such beats); 0: only when the
        operator closes it."""
        require_role(request, Role.OPERATOR)
        every_ns = schedule.every_seconds * 10**9
        first = schedule.first
        first_ns = None if first is None else _seconds_ns(first, "first")

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            problem = engine.durable.schedule_windows(currency, every_ns, now, first_ns)
            scheduled = engine.durable.hub.engine.window_schedule.get(currency)
            return problem, scheduled

        problem, scheduled = await run_on_hub(engine, run)
        if isinstance(problem, Reason):
            raise E.reason_error(problem, "currency")
        if problem is not None:
            field = "first" if problem == WINDOW_FIRST_PROBLEM else "every_seconds"
            raise E.ApiError(422, "invalid", field, problem)
        return {
            "currency": currency,
            "every_seconds": schedule.every_seconds,
            "next_close": None if scheduled is None else iso_time(scheduled[1]),
        }

    @app.post("/v1/operator/end-of-day", tags=["operator"])
    async def end_of_day(request: Request) -> dict[str, int]:
        """Close the business day of every currency at once: what is still queued is
        rejected (AB03). (The hub's clock closes each currency's day at its own cut-off.)"""
        require_role(request, Role.OPERATOR)

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.end_of_day(now)

        return {"rejected": await run_on_hub(engine, run)}

    @app.post("/v1/operator/open-day", tags=["operator"])
    async def open_day(request: Request, day: OpenDayIn) -> OpenDayOut:
        """Open the next business day with a new cut-off for every currency: later than
        now, at most 7 days ahead (a long weekend or holidays in between); the currencies
        of `resting` do not settle on it. The hub then writes its snapshot in the
        background, so that a crash replays the new day's commands only."""
        require_role(request, Role.OPERATOR)
        if day.cut_off.tzinfo is None:
            raise E.ApiError(422, "invalid", "cut_off", "the cut-off needs a time zone")
        cut_off_ns = int(day.cut_off.timestamp()) * 10**9
        resting = sorted(set(day.resting))

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            hub = engine.durable.hub
            unknown = [code for code in resting if code not in hub.engine.cut_off_ns]
            if unknown:
                return E.ApiError(
                    422,
                    "invalid",
                    "resting",
                    f"{unknown[0]}: the hub does not settle this currency",
                )
            if cut_off_ns <= now:
                return "the cut-off is not in the future"
            if cut_off_ns > now + OPEN_DAY_AHEAD_NS:
                return "the cut-off is more than 7 days ahead: open the day nearer to it"
            if hub.engine.waiting:
                return "payments are still queued: run end-of-day first"
            cut_offs = dict.fromkeys(hub.engine.cut_off_ns, cut_off_ns)
            engine.durable.open_day(cut_offs, now, resting=resting)
            engine.snapshot_soon()  # a crash from now on replays this day only
            return None

        problem = await run_on_hub(engine, run)
        if isinstance(problem, E.ApiError):
            raise problem
        if problem is not None:
            raise E.ApiError(409, "conflict", "cut_off", problem)
        return OpenDayOut(cut_off=iso_time(cut_off_ns), resting=resting)

    @app.post("/v1/operator/archive", tags=["operator"])
    async def archive(request: Request, body: ArchiveIn) -> ArchiveOut:
        """Archive the payments that were final before `before` (default: the opening of
        the business day under way): they leave memory as objects and are kept as columns,
        so their UETRs stay taken (a resend is DUPL) and the tracker, cancellation requests
        and returns still find them, with their receipt and final status. Only past days'
        payments are archived; not while an ISO 20022 message is under way. Done in slices
        of the hub's rounds (other requests go on between them), answered once all are."""
        require_role(request, Role.OPERATOR)
        before_ns = None
        if body.before is not None:
            if body.before.tzinfo is None:
                raise E.ApiError(422, "invalid", "before", "the time needs a time zone")
            before_ns = int(body.before.timestamp()) * 10**9
        signer = SIGNER.get()

        def run(engine: Engine, now: int) -> Generator[None, int, ArchiveOut | str]:
            assert engine.durable is not None
            settlement = engine.durable.hub.engine
            if engine.under_way > 1:  # this archive is one
                return "an ISO 20022 message is under way: archive once it is answered"
            before = settlement.opened_ns if before_ns is None else before_ns
            if before is None:
                return "no business day was opened with its time: give `before`"
            payments = events = 0
            while True:
                with engine.durable.acting(signer):
                    done = engine.durable.archive(before, now, ARCHIVE_SLICE)
                if isinstance(done, str):  # refused before anything was archived
                    return done
                payments, events = payments + done[0], events + done[1]
                if done[2]:
                    return ArchiveOut(
                        payments=payments,
                        events=events,
                        archived=len(settlement.archived),
                        before=iso_time(before),
                    )
                now = yield  # the next slice in a later round

        answer = await asyncio.wrap_future(engine.steps(run))
        if isinstance(answer, str):
            raise E.ApiError(409, "conflict", "before", answer)
        return answer

    @app.get("/v1/operator/calendar", tags=["operator"])
    async def calendar(request: Request) -> CalendarOut:
        """The hub's business calendar, and the day its clock opens next."""
        require_role(request, Role.OPERATOR)
        return await run_on_hub(engine, _calendar_out)

    @app.put("/v1/operator/calendar", tags=["operator"])
    async def set_calendar(request: Request, body: CalendarIn) -> CalendarOut:
        """Open business days on the hub's clock: once every currency's day is closed (at
        its cut-off, or by end-of-day), the next working day opens at `opens` with every
        currency's cut-off at `cut_off`, on the zone's wall clock, on `weekdays` and not on
        `holidays`; the hub then writes its snapshot, as open-day does. A day opened already
        (by the clock or the operator) is not opened again. Replaces any calendar."""
        require_role(request, Role.OPERATOR)
        try:
            time_zone(body.time_zone)
        except ValueError as error:
            raise E.ApiError(422, "invalid", "time_zone", str(error)) from None
        calendar = BusinessCalendar(
            minutes_of(body.opens),
            minutes_of(body.cut_off),
            body.time_zone,
            tuple(body.weekdays),
            tuple(sorted(set(body.holidays))),
            tuple(sorted((code, minutes_of(t)) for code, t in body.currency_cut_offs.items())),
            tuple(sorted((code, tuple(days)) for code, days in body.currency_weekdays.items())),
            tuple(
                sorted(
                    (code, tuple(sorted(set(days))))
                    for code, days in body.currency_holidays.items()
                )
            ),
            body.keep_days,
        )

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.set_calendar(calendar, now) or _calendar_out(engine, now)

        answer = await run_on_hub(engine, run)
        if isinstance(answer, tuple):
            raise E.ApiError(422, "invalid", *answer)
        return answer

    @app.delete("/v1/operator/calendar", tags=["operator"])
    async def drop_calendar(request: Request) -> CalendarOut:
        """No calendar: only the operator's open-day opens a day."""
        require_role(request, Role.OPERATOR)

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            engine.durable.set_calendar(None, now)
            return _calendar_out(engine, now)

        return await run_on_hub(engine, run)

    @app.post("/v1/operator/admissions", tags=["operator"])
    async def propose(request: Request, admission: AdmissionIn) -> dict[str, Any]:
        """Propose a participant. A new country (its central bank with a new currency) needs
        the approval of every member's central bank; a bank of a member country, the approval
        of that country's central bank."""
        require_role(request, Role.OPERATOR)
        _not_reserved(admission.bic)
        if admission.bic[4:6] != admission.country:
            raise E.ApiError(422, "invalid", "country",
                             f"{admission.bic} is a BIC of {admission.bic[4:6]}, "
                             f"not of {admission.country}")  # fmt: skip
        try:
            REGISTRY.get(admission.currency)
        except MoneyError:
            raise E.ApiError(
                422, "invalid", "currency",
                f"currency {admission.currency} is not one the hub can carry",
            ) from None  # fmt: skip
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

        result = await run_on_hub(engine, run)
        if isinstance(result, str):
            raise E.ApiError(409, "conflict", "bic", result)
        return result

    def _not_reserved(bic: str) -> None:
        """Refuse a BIC that names the hub itself or a caller that is no participant: admitted,
        `OPERATOR` (a valid BIC) would be a central bank the operator's key cannot approve
        for, holding every later all-member proposal up for good."""
        if bic == participant_bic(HUB_BIC):
            raise E.ApiError(409, "conflict", "bic", f"{bic} is the hub's own BIC")
        entry = verifier.keys.get(bic)
        if bic in verifier.revoked or (entry is not None and entry.role in _NOT_PARTICIPANTS):
            raise E.ApiError(
                409, "conflict", "bic", f"{bic} is the key id of a caller that is no participant"
            )

    def admitted(view: dict[str, Any]) -> None:
        key = admitted_key(view)
        if key is not None:
            verifier.add(key)  # the participant signs with its admission's key from now on

    proposal_routes(
        app, engine, "/v1/operator/admissions", "admissions", "admission",
        listed="Proposed and admitted participants.",
        approving="A central bank approves a proposed admission with its own signed request.",
        then=admitted, approve_name="approve",
    )  # fmt: skip

    # ------------------------------------------------------------------ settings

    @app.get("/v1/operator/status", response_model=StatusOut, tags=["operator"])
    async def status(request: Request) -> StatusOut:
        """What the service is doing: the hub thread's rounds and what waits for it, the
        payments by status and what waits in queues, the messages participants have not
        acknowledged, and the webhook pushes. Read on the hub's thread: the payments by status
        as the engine keeps them, the rest counted when asked."""
        require_role(request, Role.OPERATOR)

        def run(engine: Engine, _now: int) -> StatusOut:
            assert engine.durable is not None and engine.mailbox is not None
            hub = engine.durable.hub
            settlement = hub.engine
            by_status = {s.value: n for s, n in settlement.stats.by_status.items() if n}
            currency_of = {ledger: code for code, ledger in hub.directory.ledgers.items()}
            queued: dict[str, int] = {}
            for account, (urgent, normal) in settlement.queues.items():
                if urgent or normal:
                    code = currency_of.get(account_parts(account)[0], "?")
                    queued[code] = queued.get(code, 0) + len(urgent) + len(normal)
            sizes = engine.stats.round_sizes
            return StatusOut(
                engine=EngineStatusOut(
                    rounds=engine.stats.rounds,
                    submit_commands=engine.stats.submit_commands,
                    payment_requests=engine.stats.payment_requests,
                    round_size_mean=round(sum(sizes) / len(sizes), 2) if sizes else 0.0,
                    waiting=engine.waiting,
                    rounds_unwritten=engine.rounds_unwritten,
                    under_way=engine.under_way,
                    hub_broken=engine.durable.broken,
                    hub_reopened=engine.reopened,
                    ticks=engine.stats.ticks,
                    day_closes=engine.stats.day_closes,
                    day_opens=engine.stats.day_opens,
                    archives=engine.stats.archives,
                    offsetting_runs=engine.stats.offsetting_runs,
                    non_fifo_runs=engine.stats.non_fifo_runs,
                    snapshots=engine.stats.snapshots,
                ),
                hub=HubStatusOut(
                    commands=engine.durable.commands,
                    events=len(hub.events),
                    events_kept=len(hub.events.kept),
                    archived=len(settlement.archived),
                    archived_before=iso_time(settlement.archived_before)
                    if settlement.archived_before
                    else None,
                    payments=dict(sorted(by_status.items())),
                    queued=dict(sorted(queued.items())),
                    queued_fx=sum(len(u) + len(n) for u, n in settlement.fx_queues.values()),
                    warehoused=len(settlement.warehouse),
                    dns_waiting={c: len(w) for c, w in sorted(settlement.dns_pending.items()) if w},
                ),
                mailboxes=MailboxStatusOut(
                    unacknowledged=dict(sorted(engine.mailbox.backlogs().items())),
                    webhooks=0 if pusher is None else len(pusher.urls),
                    pushed=0 if pusher is None else pusher.delivered,
                    push_failures=0 if pusher is None else pusher.failures,
                ),
            )

        return await run_on_hub(engine, run)

    @app.get("/v1/operator/configuration", response_model=ConfigurationOut, tags=["operator"])
    async def configuration(request: Request) -> ConfigurationOut:
        """The hub's settings: each currency's cut-off, central bank and DNS payments waiting
        for its window; the queue limit; the FX provider policy and register, the
        vehicle-only currencies and the corridors allowed to route through them."""
        require_role(request, Role.OPERATOR)

        def run(engine: Engine, _now: int) -> ConfigurationOut:
            assert engine.durable is not None
            hub = engine.durable.hub
            tiers: dict[str, int] = {}
            for tier in hub.book.tiers():
                tiers[tier.provider] = tiers.get(tier.provider, 0) + 1
            providers = hub.providers
            return ConfigurationOut(
                currencies=[
                    CurrencyOut(
                        currency=code,
                        central_bank=hub.directory.central_bank_of[code].bic,
                        cut_off=iso_time(cut_off),
                        day_closed=code in hub.engine.closed,
                        resting=code in hub.engine.resting,
                        dns_waiting=len(hub.engine.dns_pending.get(code, ())),
                        **_window_fields(hub.engine.window_schedule.get(code)),
                    )
                    for code, cut_off in sorted(hub.engine.cut_off_ns.items())
                    if code in hub.directory.central_bank_of
                ],
                queue_limit=hub.engine.queue_limit,
                fx=FxConfigOut(
                    provider_policy="open" if providers is None else "register",
                    providers=[
                        ProviderOut(
                            bic=bic,
                            pairs=None if pairs is None else sorted(map(_pair_text, pairs)),
                            tiers=tiers.get(bic, 0),
                        )
                        for bic, pairs in sorted((providers or {}).items())
                    ],
                    vehicle_currencies=sorted(hub.book.vehicle_only),
                    vehicle_corridors=[
                        CorridorOut(source=a, destination=b)
                        for a, b in sorted(hub.book.allowed_vehicle_corridors)
                    ],
                ),
            )

        return await run_on_hub(engine, run)

    @app.put("/v1/operator/fx/providers/{bic}", tags=["operator"])
    async def register_provider(
        request: Request, bic: Annotated[str, Path(pattern=BIC_REGEX)], provider: ProviderIn
    ) -> dict[str, Any]:
        """Register a direct participant as an FX provider, on the listed currency pairs (both
        ways) or on every pair of its currencies; registering it again replaces its pairs
        and withdraws its standing tiers on pairs it is no longer registered for."""
        require_role(request, Role.OPERATOR)
        pairs = None
        if provider.pairs is not None:
            pairs = [(text[:3], text[4:]) for text in provider.pairs]

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            hub = engine.durable.hub
            if hub.directory.get(bic) is None:
                return E.ApiError(404, "not_found", "bic", f"no participant {bic}")
            if hub.providers is None:
                return _OPEN_POLICY
            return engine.durable.register_provider(bic, pairs, now)

        result = await run_on_hub(engine, run)
        if isinstance(result, E.ApiError):
            raise result
        if isinstance(result, Reason):
            raise E.reason_error(result, "bic" if result is Reason.PROVIDER_NOT_DIRECT else "pairs")
        shown = None if pairs is None else sorted({_pair_text(tuple(sorted(p))) for p in pairs})
        return {"bic": bic, "pairs": shown, "withdrawn_tiers": result}

    @app.delete("/v1/operator/fx/providers/{bic}", tags=["operator"])
    async def deregister_provider(
        request: Request, bic: Annotated[str, Path(pattern=BIC_REGEX)]
    ) -> dict[str, Any]:
        """Take a provider off the register: its standing tiers are withdrawn at once, its
        new tiers refused AG01. Quotes already issued on its rates still bind a payment until
        they expire (suspend the participant to stop those too)."""
        require_role(request, Role.OPERATOR)

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            if engine.durable.hub.providers is None:
                return _OPEN_POLICY
            return engine.durable.deregister_provider(bic, now)

        result = await run_on_hub(engine, run)
        if isinstance(result, E.ApiError):
            raise result
        if isinstance(result, Reason):
            raise E.ApiError(404, "not_found", "bic", f"{bic} is not a registered FX provider")
        return {"bic": bic, "withdrawn_tiers": result}

    @app.put("/v1/operator/fx/corridors/{source}/{destination}", tags=["operator"])
    async def vehicle_corridor(
        request: Request,
        source: Annotated[str, Path(pattern=CURRENCY_REGEX)],
        destination: Annotated[str, Path(pattern=CURRENCY_REGEX)],
        corridor: CorridorIn,
    ) -> dict[str, Any]:
        """Allow or forbid routes from `source` to `destination` through a vehicle-only
        currency (USD, EUR). One direction: the way back is its own corridor. Quotes already
        issued keep their routes."""
        require_role(request, Role.OPERATOR)

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            settled = engine.durable.hub.directory.ledgers
            # The path's currency at fault: the source if the hub does not settle it.
            at_fault = "source" if source not in settled else "destination"
            changed = engine.durable.set_vehicle_corridor(
                source, destination, corridor.vehicle_allowed, now
            )
            return changed, at_fault

        result, at_fault = await run_on_hub(engine, run)
        if isinstance(result, Reason):
            raise E.reason_error(result, at_fault)
        return {
            "source": source,
            "destination": destination,
            "vehicle_allowed": corridor.vehicle_allowed,
            "changed": result,
        }

    @app.put("/v1/operator/cut-offs/{currency}", tags=["operator"])
    async def set_cut_off(
        request: Request, currency: Annotated[str, Path(pattern=CURRENCY_REGEX)], moved: CutOffIn
    ) -> dict[str, str]:
        """Move one currency's cut-off within the day: later than now, at most 24 hours
        ahead. From then on its payments are refused TM01; at the cut-off the hub's clock
        closes the currency's day, and what still waits in it is rejected AB03. A currency
        whose day closed opens again until its new cut-off."""
        require_role(request, Role.OPERATOR)
        cut_off_ns = _seconds_ns(moved.cut_off, "cut_off")

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.set_cut_off(currency, cut_off_ns, now)

        problem = await run_on_hub(engine, run)
        if isinstance(problem, Reason):
            raise E.reason_error(problem, "currency")
        if problem is not None:
            raise E.ApiError(409, "conflict", "cut_off", problem)
        return {"currency": currency, "cut_off": iso_time(cut_off_ns)}

    @app.put("/v1/operator/queue-limit", tags=["operator"])
    async def set_queue_limit(request: Request, limit: QueueLimitIn) -> dict[str, int]:
        """How many payments may wait in each currency's queues (and in the cross-currency
        queues together); past it a payment is refused AG01. Lowering it below what waits
        refuses new payments only."""
        require_role(request, Role.OPERATOR)

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            return engine.durable.set_queue_limit(limit.limit, now)

        problem = await run_on_hub(engine, run)
        if problem is not None:
            raise E.ApiError(422, "invalid", "limit", problem)
        return {"limit": limit.limit}


_OPEN_POLICY = E.ApiError(
    409,
    "conflict",
    "bic",
    "this hub was configured without a register of FX providers: any active direct "
    "participant posts tiers",
)


def _window_fields(scheduled: tuple[int, int] | None) -> dict[str, Any]:
    if scheduled is None:
        return {}
    every_ns, next_ns = scheduled
    return {"window_every_seconds": every_ns // 10**9, "next_window": iso_time(next_ns)}
