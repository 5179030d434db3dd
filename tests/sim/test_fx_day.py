"""The simulated day's cross-currency payments: their share, providers and tiers, and a run
whose FX statistics add up (value per pair, routes, spread, vehicle use, liquidity saved)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from samarkand.analytics.fx import summarise_fx
from samarkand.analytics.report import fx_markdown
from samarkand.fx.rates import format_rate, parse_rate
from samarkand.ledger.invariants import problems
from samarkand.settlement.payments import FINAL, Status
from samarkand.sim.day import DayConfig, simulate_day
from samarkand.sim.fx import SPREAD_BPS_MAJOR, SPREAD_BPS_MINOR, reference_rate
from samarkand.sim.run import run_day
from samarkand.store import DurableLedger, MemoryStore

CONFIG = DayConfig(payments=3_000, seed=5, cross_currency_pct=20)


@pytest.fixture(scope="module")
def day():
    return simulate_day(CONFIG)


@pytest.fixture(scope="module")
def run(day):
    return run_day(day, DurableLedger.open(MemoryStore()))


def test_the_cross_currency_share_is_exact_and_each_pays_home_to_home(day):
    assert len(day.fx_payments) == 600 and len(day.payments) == 2_400
    assert len(day.fx_arrival_ns) == 600
    assert list(day.fx_arrival_ns) == sorted(day.fx_arrival_ns)
    uetrs = {p.uetr for p in day.payments}
    for intent in day.fx_payments:
        assert intent.uetr not in uetrs
        assert intent.source == day.directory.get(intent.debtor_agent).home_currency
        assert intent.destination == day.directory.get(intent.creditor_agent).home_currency
        assert intent.source != intent.destination and intent.send_amount > 0
    again = simulate_day(CONFIG)
    assert again.fx_payments == day.fx_payments and again.tiers == day.tiers


def test_no_cross_currency_share_means_no_fx_payments():
    quiet = simulate_day(DayConfig(payments=500, cross_currency_pct=0))
    assert quiet.fx_payments == () and len(quiet.payments) == 500


def test_every_provider_posts_both_ways_against_every_other_member_below_the_reference(day):
    currencies = set(day.currencies)
    assert set(day.fx_providers) == currencies
    assert len(day.tiers) == len(currencies) * (len(currencies) - 1) * 2
    for tier in day.tiers:
        assert tier.provider in day.fx_providers.values()
        rate = parse_rate(tier.rate)  # every posted rate is within the allowed precision
        spread = (1 - rate / reference_rate(tier.sell, tier.buy)) * 10_000
        assert SPREAD_BPS_MAJOR <= spread < SPREAD_BPS_MINOR + 10


def test_format_rate_cuts_and_never_rounds_up():
    assert format_rate(Fraction(2, 3)) == "0.6666666666"
    assert format_rate(Fraction(25, 2)) == "12.5"
    assert format_rate(Fraction(7)) == "7"
    assert parse_rate(format_rate(Fraction(1, 7))) <= Fraction(1, 7)


def test_a_run_settles_cross_currency_payments_and_the_statistics_add_up(run, day):
    entries = run.fx_entries()
    assert len(entries) + len(run.fx_refused) >= len(day.fx_payments)
    assert all(e.status in FINAL for e in entries)
    assert problems(run.hub.ledger.state) == []
    for currency in day.currencies:
        clearing = run.hub.engine.clearing_account(currency)
        assert run.hub.ledger.balance(clearing).net_credit == 0
    fx = summarise_fx(run)
    settled = [e for e in entries if e.status is Status.SETTLED]
    assert fx.settled == len(settled) > 0
    assert sum(p.settled for p in fx.pairs) == fx.settled
    assert sum(fx.routes.values()) == fx.settled
    assert fx.vehicle_routes == 0  # USD and EUR are never a step of a route by default
    assert fx.routes["through a third currency"] == sum(fx.through.values())
    assert fx.spread_bps is not None
    assert Decimal(SPREAD_BPS_MAJOR) <= fx.spread_bps <= Decimal(2 * SPREAD_BPS_MINOR)
    for pair in fx.pairs:
        assert pair.sent == sum(
            e.fx.quote.send_amount
            for e in settled
            if (e.fx.quote.source, e.fx.quote.destination) == (pair.source, pair.destination)
        )
    assert 0 < fx.provider_net_usd_cents <= fx.provider_gross_usd_cents
    assert fx.provider_day_net_usd_cents <= fx.provider_net_usd_cents
    assert Decimal(0) <= fx.provider_saved_pct <= fx.provider_day_saved_pct < 100
    text = fx_markdown(fx)
    assert "## Cross-currency payments" in text and f"{fx.settled:,}" in text
