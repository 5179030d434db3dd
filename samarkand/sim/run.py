"""Run a simulated business day through the hub: RTGS, queues, LSM, DNS windows, cut-off.

The clock is simulated: the day advances in steps (one minute by default); each step submits
the payments that arrived in it, releases timed payments, and runs multilateral offsetting;
the non-FIFO optimiser runs on a slower timer, DNS windows close on their schedule, and the
day ends at cut-off. Same day and same settings give the same journal.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

from samarkand.analytics.liquidity import drawdowns
from samarkand.fx.routing import Quote
from samarkand.hub.durable import DurableHub
from samarkand.hub.settlement import Liquidity, QuoteRequest, SettlementHub
from samarkand.settlement.engine import Entry
from samarkand.settlement.payments import FxPayment, Payment, Reason, Status
from samarkand.sim.day import SimulatedDay, upper_bound_need
from samarkand.store import DurableLedger

NS_PER_MINUTE = 60 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class RunConfig:
    step_minutes: int = 1
    non_fifo_every_minutes: int = 15  # 0: never
    dns_windows: tuple[str, ...] = ("10:00", "12:00", "14:00", "16:00")  # UTC, before cut-off
    credit_pct: int = 50  # share of each bank's home-currency opening liquidity granted as
    # intraday credit by its central bank instead of funded

    def validate(self) -> None:
        if not 1 <= self.step_minutes <= 60:
            raise ValueError("RunConfig.step_minutes: expected 1..60")
        if not 0 <= self.non_fifo_every_minutes <= 24 * 60:
            raise ValueError("RunConfig.non_fifo_every_minutes: expected 0..1440")
        if not 0 <= self.credit_pct <= 100:
            raise ValueError("RunConfig.credit_pct: expected 0..100")
        for window in self.dns_windows:
            hours, _, minutes = window.partition(":")
            if not (
                hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60
            ):
                raise ValueError(f"RunConfig.dns_windows: {window!r} is not HH:MM")


@dataclass(slots=True)
class DayRun:
    """What a run produced, for the summary and the report."""

    day: SimulatedDay
    hub: SettlementHub
    journal_start_row: int  # first journal row of the day's payments (after opening funding)
    queue_series: list[tuple[int, int]] = field(default_factory=list)  # (ns, queued payments)
    used: dict[tuple[str, str], int] = field(default_factory=dict)  # liquidity drawn down
    upper_bound_settled: dict[tuple[str, str], int] = field(default_factory=dict)
    fx_quotes: dict[int, Quote] = field(default_factory=dict)  # uetr -> the quote it cited
    fx_refused: dict[int, Reason] = field(default_factory=dict)  # uetr -> why no quote/payment

    def fx_entries(self) -> list[Entry]:
        entries = self.hub.engine.entries
        return [entries[f.uetr] for f in self.day.fx_payments if f.uetr in entries]

    def entries(self) -> list[Entry]:
        return [
            self.hub.engine.entries[p.uetr]
            for p in self.day.payments
            if p.uetr in self.hub.engine.entries
        ]


class _InMemory:
    """A settlement hub driven like a `DurableHub`, whose intraday credit comes with
    `open_accounts`: the same day runs either way."""

    def __init__(self, hub: SettlementHub, credit: dict[tuple[str, str], int]) -> None:
        self.hub = hub
        self._credit = credit

    def open_accounts(self, now: int) -> int:
        return self.hub.open_accounts(now, self._credit)

    def __getattr__(self, name: str):
        return getattr(self.hub, name)


def run_day(
    day: SimulatedDay,
    target: DurableLedger | DurableHub,
    config: RunConfig = RunConfig(),
    progress: Callable[[int], None] | None = None,
) -> DayRun:
    """Run `day` on a ledger (the hub's payment state then lives in memory only) or through
    a `DurableHub` (every command logged before it runs: the whole day survives a crash)."""
    config.validate()
    cut_offs = dict.fromkeys(day.currencies, day.cut_off_ns)
    credit, funding = _opening_liquidity(day, config.credit_pct)
    if isinstance(target, DurableHub):
        target.configure(day.directory, cut_off_ns=cut_offs, credit=credit)
        hub = target
        ledger = target.durable_ledger
    else:
        hub = _InMemory(SettlementHub(day.directory, target, cut_off_ns=cut_offs), credit)
        ledger = target
    hub.open_accounts(day.start_ns - 2 * 60 * NS_PER_MINUTE)
    refused = [r for r in hub.liquidity(funding, day.start_ns - 60 * NS_PER_MINUTE) if r]
    if refused:
        raise RuntimeError(f"opening liquidity refused: {refused[:3]}")
    if day.tiers:
        refused_tiers = [
            r for r in hub.post_tiers(day.tiers, day.start_ns - 30 * NS_PER_MINUTE) if r
        ]
        if refused_tiers:
            raise RuntimeError(f"FX tiers refused: {refused_tiers[:3]}")
    run = DayRun(day, hub.hub, journal_start_row=len(ledger.state.journal))

    windows = sorted(
        day.start_ns - day.start_ns % (24 * 60 * NS_PER_MINUTE) + _minutes(w) * NS_PER_MINUTE
        for w in config.dns_windows
    )
    windows = [w for w in windows if day.start_ns < w < day.cut_off_ns]
    arrivals = day.arrival_ns
    step_ns = config.step_minutes * NS_PER_MINUTE
    done = fx_done = 0
    now = day.start_ns
    minute = 0
    while now < day.cut_off_ns:
        now = min(now + step_ns, day.cut_off_ns - 1)
        minute += config.step_minutes
        upto = bisect.bisect_right(arrivals, now)
        if upto > done:
            hub.submit(day.payments[done:upto], now)
            if progress is not None:
                progress(upto - done)
            done = upto
        fx_upto = bisect.bisect_right(day.fx_arrival_ns, now)
        if fx_upto > fx_done:
            submit_cross_currency(hub, run, day.fx_payments[fx_done:fx_upto], now)
            fx_done = fx_upto
        hub.tick(now)
        hub.optimise(
            now,
            non_fifo=bool(config.non_fifo_every_minutes)
            and minute % config.non_fifo_every_minutes == 0,
        )
        while windows and windows[0] <= now:
            windows.pop(0)
            for currency in day.currencies:
                hub.close_window(currency, now)
        run.queue_series.append((now, sum(run.hub.engine.queued_per_ledger.values())))
        if now >= day.cut_off_ns - 1:
            break
    if fx_done < len(day.fx_payments):
        submit_cross_currency(hub, run, day.fx_payments[fx_done:], day.cut_off_ns - 1)
    if done < len(day.payments):  # arrivals at the very end of the day
        hub.submit(day.payments[done:], day.cut_off_ns - 1)
        if progress is not None:
            progress(len(day.payments) - done)
    hub.end_of_day(day.cut_off_ns)
    run.queue_series.append((day.cut_off_ns, 0))
    _measure_liquidity(run, ledger)
    return run


def fx_requests(intents) -> list[QuoteRequest]:
    return [QuoteRequest(f.debtor_agent, f.source, f.destination, f.send_amount) for f in intents]


def fx_payments(intents, quotes) -> list[FxPayment]:
    """The payments citing the quotes given (a refused quote request sends no payment)."""
    return [
        FxPayment(f.uetr, f.debtor_agent, f.creditor_agent, q.id, f.priority)
        for f, q in zip(intents, quotes, strict=True)
        if isinstance(q, Quote)
    ]


def submit_cross_currency(hub, run: DayRun, intents, now: int) -> None:
    """Two commands: the quote requests of the step, then the payments citing the quotes."""
    quotes = hub.request_quotes(fx_requests(intents), now)
    for intent, found in zip(intents, quotes, strict=True):
        if isinstance(found, Quote):
            run.fx_quotes[intent.uetr] = found
        else:
            run.fx_refused[intent.uetr] = found
    payments = fx_payments(intents, quotes)
    if payments:
        for payment, reason in zip(payments, hub.submit_fx(payments, now), strict=True):
            if reason is not None:
                run.fx_refused[payment.uetr] = reason


def _opening_liquidity(
    day: SimulatedDay, credit_pct: int
) -> tuple[dict[tuple[str, str], int], list[Liquidity]]:
    """Split each bank's opening liquidity: in its home currency `credit_pct` % is intraday
    credit from its central bank, the rest is funded; foreign currencies are all funded."""
    credit: dict[tuple[str, str], int] = {}
    funding: list[Liquidity] = []
    for (bic, currency), amount in sorted(day.opening_balance.items()):
        participant = day.directory.get(bic)
        assert participant is not None
        granted = amount * credit_pct // 100 if participant.home_currency == currency else 0
        if granted:
            credit[(bic, currency)] = granted
        if amount - granted > 0:
            funding.append(Liquidity(bic, currency, amount - granted))
    return credit, funding


def _measure_liquidity(run: DayRun, ledger: DurableLedger) -> None:
    """Liquidity each bank drew down over the day, and the pure-gross need of the payments
    that actually settled (in arrival order), for a like-for-like saving."""
    directory = run.day.directory
    accounts = {
        directory.settlement_account(p, currency): (p.bic, currency)
        for p in directory.direct()
        for currency in run.day.currencies
    }
    rows = ledger.state.journal.columns().take(slice(run.journal_start_row, None))
    for account, drawn in drawdowns(rows, accounts).items():
        run.used[accounts[account]] = drawn
    settled = [
        p
        for p in run.day.payments
        if run.hub.engine.entries.get(p.uetr) is not None
        and run.hub.engine.entries[p.uetr].status is Status.SETTLED
    ]
    # A settled cross-currency payment moved its legs: each counts as a payment in its
    # currency for the pure gross need, as it did for the liquidity drawn down.
    for entry in run.fx_entries():
        if entry.status is Status.SETTLED and entry.fx is not None:
            settled.extend(
                Payment(0, leg.debtor, leg.creditor, leg.amount, leg.currency)
                for leg in entry.fx.legs
            )
    run.upper_bound_settled = upper_bound_need(settled, directory)


def _minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    return int(hours) * 60 + int(minutes)


__all__ = ["DayRun", "RunConfig", "run_day"]
