"""The simulated day's FX: providers, their tiers seeded from the reference rates, and the
cross-currency payments (the importer's bank pays in its currency, the exporter's bank is paid
in its own).

Providers. In each member country the largest direct bank (the first of the country in the
directory) is an FX provider: it posts a tier for its home currency against every other member
currency, both ways. So every pair has two providers, the home banks of both sides.

Rates. Each tier is the reference cross rate (`samarkand.sim.rates`, illustrative) less a
spread that reflects how deep the pair is: between two of the three currencies with the most
intra-SCO trade (MAJOR) 8 bps; a major against a minor one 25 bps; two minor ones 150 bps. The
home bank of the less traded currency of the pair adds 5 bps: the other is the pair's market
maker both ways, so flows in opposite directions meet at one provider and can offset. A thin
corridor is then cheaper through a third national currency (two hops of 25 bps), which is
what the router finds. Rates are cut (never rounded up) to the 10 fraction digits a posted
rate may carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from samarkand.fx.book import RateBook
from samarkand.fx.rates import RateTier, format_rate
from samarkand.fx.routing import Quote, quote
from samarkand.hub.settlement import TierPost
from samarkand.money import AMOUNT_MAX, default_registry
from samarkand.settlement.participants import Directory, ParticipantKind
from samarkand.settlement.payments import Payment, Priority
from samarkand.sim.data import Country, trade_flows
from samarkand.sim.rates import UNITS_PER_USD_MILLI

MAJOR_COUNT = 3
SPREAD_BPS_MAJOR = 8
SPREAD_BPS_MIXED = 25
SPREAD_BPS_MINOR = 150
SPREAD_BPS_SECOND_PROVIDER = 5
RATE_DIGITS = 10


@dataclass(frozen=True, slots=True)
class FxIntent:
    """A cross-currency payment of the day, before its quote: send `send_amount` of
    `source` from `debtor_agent`, to be delivered in `destination` to `creditor_agent`."""

    uetr: int
    debtor_agent: str
    creditor_agent: str
    source: str
    destination: str
    send_amount: int
    priority: Priority


def reference_rate(source: str, destination: str) -> Fraction:
    """Units of `destination` per unit of `source` (major units), from the reference table."""
    return Fraction(UNITS_PER_USD_MILLI[destination], UNITS_PER_USD_MILLI[source])


def currency_ranking(countries: Sequence[Country]) -> list[str]:
    """Member currencies, most intra-member trade (both directions) first."""
    by_iso = {c.iso2: c.currency for c in countries}
    volume: dict[str, int] = dict.fromkeys(by_iso.values(), 0)
    for flow in trade_flows():
        for iso in (flow.exporter, flow.importer):
            if iso in by_iso and flow.exporter in by_iso and flow.importer in by_iso:
                volume[by_iso[iso]] += flow.value_usd_thousands
    return sorted(volume, key=lambda c: (-volume[c], c))


def market_maker(providers: dict[str, str], ranking: Sequence[str], a: str, b: str) -> str:
    """The cheaper provider of a pair: the home bank of its more traded currency."""
    return providers[min(a, b, key=ranking.index)]


def fx_providers(directory: Directory, countries: Sequence[Country]) -> dict[str, str]:
    """Currency -> the BIC of its provider: the first direct bank of the country."""
    providers: dict[str, str] = {}
    for country in countries:
        for participant in directory:
            if participant.kind is ParticipantKind.DIRECT and participant.country == country.iso2:
                providers[country.currency] = participant.bic
                break
    return providers


def spread_bps(source: str, destination: str, majors: frozenset[str]) -> int:
    count = (source in majors) + (destination in majors)
    return (SPREAD_BPS_MINOR, SPREAD_BPS_MIXED, SPREAD_BPS_MAJOR)[count]


def provider_tiers(
    providers: dict[str, str],
    ranking: Sequence[str],
    valid_from_ns: int,
    valid_until_ns: int,
) -> list[TierPost]:
    """Every provider's tier on each pair of its home currency with another member one."""
    majors = frozenset(ranking[:MAJOR_COUNT])
    tiers = []
    for home, provider in sorted(providers.items()):
        for other in sorted(providers):
            if other == home:
                continue
            for source, destination in ((home, other), (other, home)):
                spread = spread_bps(source, destination, majors)
                if provider != market_maker(providers, ranking, source, destination):
                    spread += SPREAD_BPS_SECOND_PROVIDER
                rate = reference_rate(source, destination) * Fraction(10_000 - spread, 10_000)
                tiers.append(
                    TierPost(
                        provider,
                        source,
                        destination,
                        1,
                        AMOUNT_MAX,
                        format_rate(rate, RATE_DIGITS),
                        AMOUNT_MAX,
                        valid_from_ns,
                        valid_until_ns,
                    )
                )
    return tiers


def route_legs_as_payments(
    intents: Sequence[FxIntent], tiers: Sequence[TierPost], now: int
) -> list[Payment]:
    """The legs each intent will settle as, priced now on `tiers` the way the hub prices
    it (the tiers stand all day and their liquidity never binds, so the hub finds the same
    route): for sizing the day's liquidity. Legs between one agent and itself are left out."""
    book = RateBook(default_registry())
    for post in tiers:
        tier = post.tier()
        if not isinstance(tier, RateTier):
            raise ValueError(f"a simulated tier is refused: {tier} ({post})")
        book.post(tier)
    legs: list[Payment] = []
    for number, intent in enumerate(intents, start=1):
        found = quote(
            book,
            source=intent.source,
            destination=intent.destination,
            send_amount=intent.send_amount,
            now=now,
            quote_id=number,
            ttl_ns=1,
        )
        if not isinstance(found, Quote):
            continue
        payers = [intent.debtor_agent] + [hop.provider for hop in found.hops]
        payees = [hop.provider for hop in found.hops] + [intent.creditor_agent]
        amounts = [hop.sell_amount for hop in found.hops] + [found.deliver_amount]
        currencies = [hop.sell for hop in found.hops] + [found.destination]
        for payer, payee, amount, currency in zip(payers, payees, amounts, currencies, strict=True):
            if payer != payee:
                legs.append(Payment(intent.uetr, payer, payee, amount, currency))
    return legs
