"""The cross-currency numbers of a simulated day: value converted per pair, routes, spreads
against the reference rates, vehicle-currency use and the provider liquidity saved.

Exact arithmetic: amounts are ints of minor units, rates `Fraction`s; spreads come out as
`Decimal` basis points, rounded to a tenth for display only. Values in US dollars use the
scenario's illustrative reference rates (`samarkand.sim.rates`), as the rest of the report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from samarkand.analytics.day import usd_cents
from samarkand.fx.routing import Quote
from samarkand.money import default_registry
from samarkand.settlement.engine import Entry
from samarkand.settlement.payments import Status
from samarkand.sim.fx import reference_rate
from samarkand.sim.run import DayRun

DIRECT = "direct"
THROUGH_THIRD = "through a third currency"


@dataclass(slots=True)
class PairDay:
    source: str
    destination: str
    settled: int = 0
    sent: int = 0  # minor units of source
    delivered: int = 0  # minor units of destination
    usd_cents: int = 0


@dataclass(slots=True)
class FxSummary:
    payments: int = 0  # cross-currency payments the day held
    quoted: int = 0
    settled: int = 0
    rejected: int = 0
    settled_usd_cents: int = 0
    pairs: list[PairDay] = field(default_factory=list)  # most value first
    routes: Counter[str] = field(default_factory=Counter)  # DIRECT / THROUGH_THIRD
    through: Counter[str] = field(default_factory=Counter)  # intermediate currencies
    vehicle_routes: int = 0  # routes through a vehicle-only currency (USD, EUR)
    spread_bps: Decimal | None = None  # value-weighted, against the reference rates
    by_mechanism: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    provider_gross_usd_cents: int = 0  # what providers paid out, leg by leg
    provider_net_usd_cents: int = 0  # what they needed, offsetting sets counted on net
    provider_day_net_usd_cents: int = 0  # their net outflow over the whole day

    @property
    def provider_saved_pct(self) -> Decimal | None:
        """1 - provider net outflow needed / provider gross outflow, in per cent."""
        return _saved(self.provider_net_usd_cents, self.provider_gross_usd_cents)

    @property
    def provider_day_saved_pct(self) -> Decimal | None:
        """The same against the day's net: what offsetting everything at once would save."""
        return _saved(self.provider_day_net_usd_cents, self.provider_gross_usd_cents)


def _saved(net: int, gross: int) -> Decimal | None:
    if not gross:
        return None
    return (Decimal(100) * (gross - net) / gross).quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def summarise_fx(run: DayRun) -> FxSummary:
    registry = default_registry()
    engine = run.hub.engine
    currency_of = engine.currency_of_ledger

    def usd(amount: int, currency: str) -> int:
        return usd_cents(amount, currency, registry.get(currency).exponent)

    summary = FxSummary(payments=len(run.day.fx_payments), quoted=len(run.fx_quotes))
    pairs: dict[tuple[str, str], PairDay] = {}
    weighted = Fraction(0)
    weight = 0
    day_net: dict[int, int] = {}
    vehicles = run.hub.book.vehicle_only
    for reason in run.fx_refused.values():
        summary.refusals[f"{reason.iso} {reason.text}"] += 1
    for entry in run.fx_entries():
        if entry.status is Status.REJECTED:
            summary.rejected += 1
            reason = entry.history[-1].reason
            summary.refusals[f"{reason.iso} {reason.text}" if reason else "?"] += 1
        if entry.status is not Status.SETTLED or entry.fx is None:
            continue
        quote = entry.fx.quote
        assert isinstance(quote, Quote)
        summary.settled += 1
        summary.by_mechanism[entry.via] += 1
        value = usd(quote.send_amount, quote.source)
        summary.settled_usd_cents += value
        pair = pairs.setdefault(
            (quote.source, quote.destination), PairDay(quote.source, quote.destination)
        )
        pair.settled += 1
        pair.sent += quote.send_amount
        pair.delivered += quote.deliver_amount
        pair.usd_cents += value
        middle = [hop.buy for hop in quote.hops[:-1]]
        summary.routes[THROUGH_THIRD if middle else DIRECT] += 1
        summary.through.update(middle)
        summary.vehicle_routes += bool(set(middle) & vehicles)
        reference = reference_rate(quote.source, quote.destination)
        weighted += (1 - quote.effective_rate / reference) * 10_000 * value
        weight += value
        _add_provider_net(entry, day_net)
    summary.pairs = sorted(pairs.values(), key=lambda p: (-p.usd_cents, p.source, p.destination))
    if weight:
        exact = weighted / weight
        summary.spread_bps = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
            Decimal("0.1"), ROUND_HALF_EVEN
        )
    stats = engine.stats
    summary.provider_gross_usd_cents = sum(
        usd(v, currency_of[ledger]) for ledger, v in stats.fx_provider_gross.items()
    )
    summary.provider_net_usd_cents = sum(
        usd(v, currency_of[ledger]) for ledger, v in stats.fx_provider_net.items()
    )
    summary.provider_day_net_usd_cents = sum(
        usd(-net, currency_of[account >> 64]) for account, net in day_net.items() if net < 0
    )
    return summary


def _add_provider_net(entry: Entry, day_net: dict[int, int]) -> None:
    """Add what the entry's legs move on every provider account, paid or received."""
    assert entry.fx is not None
    for leg in entry.fx.legs:
        if leg.provider_pays:
            day_net[leg.debit_account_id] = day_net.get(leg.debit_account_id, 0) - leg.amount
        if leg.provider_receives:
            day_net[leg.credit_account_id] = day_net.get(leg.credit_account_id, 0) + leg.amount
