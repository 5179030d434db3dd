"""The numbers of a simulated business day: what settled, how fast, with how much liquidity."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from samarkand.settlement.payments import Status
from samarkand.sim.rates import UNITS_PER_USD_MILLI
from samarkand.sim.run import DayRun

NS_PER_SECOND = 1_000_000_000


def usd_cents(amount: int, currency: str, exponent: int) -> int:
    """An amount in minor units as whole US cents at the scenario's sizing rates (display and
    cross-currency totals only; never used to settle)."""
    return amount * 100_000 // (UNITS_PER_USD_MILLI[currency] * 10**exponent)


@dataclass(slots=True)
class CurrencyDay:
    currency: str
    exponent: int
    received: int = 0
    settled: int = 0
    settled_value: int = 0  # minor units
    rejected: int = 0
    by_mechanism: Counter[str] = field(default_factory=Counter)
    used: int = 0  # liquidity drawn down, minor units
    upper_bound: int = 0  # pure gross need of the settled payments
    lower_bound: int = 0


@dataclass(slots=True)
class DaySummary:
    payments: int
    settled: int
    rejected: int
    settled_value_usd_cents: int
    received_value_usd_cents: int
    currencies: list[CurrencyDay]
    delay_percentiles_s: dict[str, float]  # over settled payments, 0 for those settled at once
    queued_delay_percentiles_s: dict[str, float]  # over those that waited
    queued_share_pct: float
    used_usd_cents: int
    upper_bound_usd_cents: int
    lower_bound_usd_cents: int
    gridlocks_resolved: int
    lsm_runs: int
    rejections: Counter[str]
    by_mechanism: Counter[str]

    @property
    def liquidity_saving_pct(self) -> float | None:
        if not self.upper_bound_usd_cents:
            return None
        return (
            100.0
            * (self.upper_bound_usd_cents - self.used_usd_cents)
            / (self.upper_bound_usd_cents)
        )

    @property
    def saving_ceiling_pct(self) -> float | None:
        """The most any mechanism could save on this day: settling everything with only the
        end-of-day net debits (the lower bound)."""
        if not self.upper_bound_usd_cents:
            return None
        return (
            100.0
            * (self.upper_bound_usd_cents - self.lower_bound_usd_cents)
            / (self.upper_bound_usd_cents)
        )


def summarise(run: DayRun) -> DaySummary:
    from samarkand.money import default_registry
    from samarkand.sim.day import liquidity_bounds

    registry = default_registry()
    per = {c: CurrencyDay(c, registry.get(c).exponent) for c in run.day.currencies}
    entries = run.entries()
    rejections: Counter[str] = Counter()
    settled_entries = []
    for entry in entries:
        day = per[entry.payment.currency]
        day.received += 1
        if entry.status is Status.SETTLED:
            day.settled += 1
            day.settled_value += entry.amount
            day.by_mechanism[entry.via] += 1
            settled_entries.append(entry)
        elif entry.status is Status.REJECTED:
            day.rejected += 1
            reason = entry.history[-1].reason
            rejections[f"{reason.iso} {reason.text}" if reason else "?"] += 1
    lower, _ = liquidity_bounds([e.payment for e in settled_entries], run.day.directory)
    for (bic, currency), value in run.used.items():
        per[currency].used += value
        per[currency].upper_bound += run.upper_bound_settled.get((bic, currency), 0)
        per[currency].lower_bound += lower.get((bic, currency), 0)

    delays = np.array([e.settled_ns - e.received_ns for e in settled_entries], dtype=np.int64)
    waited = delays[delays > 0]

    def usd(currency_day: CurrencyDay, amount: int) -> int:
        return usd_cents(amount, currency_day.currency, currency_day.exponent)

    by_mechanism: Counter[str] = Counter()
    for day in per.values():
        by_mechanism.update(day.by_mechanism)
    return DaySummary(
        payments=len(entries),
        settled=sum(d.settled for d in per.values()),
        rejected=sum(d.rejected for d in per.values()),
        settled_value_usd_cents=sum(usd(d, d.settled_value) for d in per.values()),
        received_value_usd_cents=sum(usd(per[e.payment.currency], e.amount) for e in entries),
        currencies=list(per.values()),
        delay_percentiles_s=_percentiles(delays),
        queued_delay_percentiles_s=_percentiles(waited),
        queued_share_pct=100.0 * len(waited) / len(delays) if len(delays) else 0.0,
        used_usd_cents=sum(usd(d, d.used) for d in per.values()),
        upper_bound_usd_cents=sum(usd(d, d.upper_bound) for d in per.values()),
        lower_bound_usd_cents=sum(usd(d, d.lower_bound) for d in per.values()),
        gridlocks_resolved=run.hub.engine.stats.gridlocks_resolved,
        lsm_runs=run.hub.engine.stats.lsm_runs,
        rejections=rejections,
        by_mechanism=by_mechanism,
    )


def _percentiles(delays_ns: np.ndarray) -> dict[str, float]:
    if not len(delays_ns):
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    values = np.percentile(delays_ns, [50, 90, 99]) / NS_PER_SECOND
    return {
        "p50": float(values[0]),
        "p90": float(values[1]),
        "p99": float(values[2]),
        "max": float(delays_ns.max()) / NS_PER_SECOND,
    }
