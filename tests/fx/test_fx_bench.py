"""The FX quoting benchmark's market is deterministic by seed, and its quotes are sound."""

from __future__ import annotations

from samarkand.bench.fx_quotes import measure, synthetic_market, synthetic_requests


def test_market_is_deterministic_by_seed() -> None:
    first = synthetic_market(currencies=20, providers=100, seed=3)
    again = synthetic_market(currencies=20, providers=100, seed=3)
    other = synthetic_market(currencies=20, providers=100, seed=4)
    assert list(first.tiers()) == list(again.tiers())
    assert list(first.tiers()) != list(other.tiers())
    assert len({t.provider for t in first.tiers()}) == 100
    assert len({t.sell for t in first.tiers()} | {t.buy for t in first.tiers()}) == 22
    assert synthetic_requests(first, count=50, seed=3) == synthetic_requests(
        again, count=50, seed=3
    )


def test_measure_runs_small() -> None:
    result = measure(currencies=20, providers=100, seed=1, quotes=50)
    assert result["quotes"] == 50 and result["quotes_per_s"] > 0
    assert result["quoted_share"] > 0.5
