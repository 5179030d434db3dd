"""Properties of quotes over random markets: exact hops, no value from nowhere, no shortfall."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from samarkand.fx import Quote, QuoteRefusal, QuoteResult, RateBook, RateTier, quote
from samarkand.money import default_registry

from .market import unnumbered

# Mixed exponents: IRR in whole rials (0), most at 2, KWD at 3.
CODES = ("CNY", "RUB", "KZT", "IRR", "KWD", "INR")
REGISTRY = default_registry(exponent_overrides={"IRR": 0})
PROVIDERS = ("PROVAAAA", "PROVBBBB", "PROVCCCC")
# Rough worth of one major unit, in CNY: rates scatter ±10 % around the ratios of these, so
# that routes of several hops stay comparable instead of collapsing to zero.
WORTH = {
    "CNY": Fraction(1), "RUB": Fraction(1, 13), "KZT": Fraction(1, 70),
    "IRR": Fraction(1, 5871), "KWD": Fraction(23), "INR": Fraction(1, 12),
}  # fmt: skip
NOW = 10
AMOUNT_RELATED = {
    QuoteResult.NO_ROUTE,
    QuoteResult.AMOUNT_OUTSIDE_TIERS,
    QuoteResult.INSUFFICIENT_PROVIDER_LIQUIDITY,
}


@st.composite
def tier_strategy(draw) -> RateTier:
    sell, buy = draw(st.permutations(CODES))[:2]
    low = draw(st.integers(1, 10**4))
    return RateTier(
        provider=draw(st.sampled_from(PROVIDERS)),
        sell=sell,
        buy=buy,
        min_amount=low,
        max_amount=low + draw(st.one_of(st.just(10**14), st.integers(0, 10**14))),
        rate=rate_near(WORTH[sell] / WORTH[buy] * Fraction(draw(st.integers(90, 110)), 100)),
        liquidity=draw(st.one_of(st.just(10**20), st.integers(0, 10**18))),
        valid_from_ns=0,
        valid_until_ns=100,
    )


def rate_near(value: Fraction) -> Fraction:
    """``value`` cut to the 10 decimals a posted rate may carry (never to zero)."""
    return Fraction(max(1, (value * 10**10).__floor__()), 10**10)


def make_book(tiers: list[RateTier]) -> RateBook:
    rates = RateBook(REGISTRY)
    for tier in tiers:
        rates.post(tier)
    return rates


def scale(sell: str, buy: str) -> Fraction:
    return Fraction(10) ** (REGISTRY.get(buy).exponent - REGISTRY.get(sell).exponent)


def check_hops(rates: RateBook, result: Quote) -> None:
    """Every hop is one standing tier's exact floor, inside its band and liquidity."""
    assert result.hops[0].sell_amount == result.send_amount
    assert result.hops[-1].buy_amount == result.deliver_amount
    unfloored = Fraction(result.send_amount)
    for index, hop in enumerate(result.hops):
        exact = hop.sell_amount * hop.rate * scale(hop.sell, hop.buy)
        assert hop.buy_amount == exact.__floor__() > 0
        assert any(
            o.tier.provider == hop.provider
            and o.tier.rate == hop.rate
            and o.min_amount <= hop.sell_amount <= o.max_amount
            and hop.buy_amount <= o.liquidity
            for o in rates.offers(hop.sell, hop.buy)
        )
        if index:
            assert hop.sell_amount == result.hops[index - 1].buy_amount
        unfloored *= hop.rate * scale(hop.sell, hop.buy)
    assert result.deliver_amount <= unfloored  # rounding never creates value
    currencies = [result.source] + [hop.buy for hop in result.hops]
    assert len(set(currencies)) == len(currencies) <= 4
    assert not {"USD", "EUR"} & set(currencies)


def floor_chain(result: Quote, amount: int) -> int:
    for hop in result.hops:
        amount = (amount * hop.rate * scale(hop.sell, hop.buy)).__floor__()
    return amount


pairs = st.permutations(CODES).map(lambda codes: codes[:2])


@settings(max_examples=200, deadline=None)
@given(st.lists(tier_strategy(), min_size=8, max_size=40), pairs, st.integers(1, 10**9))
def test_send_quote_is_exact_and_beats_every_direct_tier(tiers, pair, amount) -> None:
    rates = make_book(tiers)
    source, destination = pair
    result = quote(rates, source=source, destination=destination, send_amount=amount,
                   now=NOW, quote_id=1, ttl_ns=5)  # fmt: skip
    if isinstance(result, QuoteRefusal):
        assert result.result in AMOUNT_RELATED | {QuoteResult.FORBIDDEN_VEHICLE}
        return
    check_hops(rates, result)
    for offer in rates.offers(*pair):  # no single standing tier would have delivered more
        if offer.min_amount <= amount <= offer.max_amount:
            direct = (amount * offer.tier.rate * scale(*pair)).__floor__()
            if 0 < direct <= offer.liquidity:
                assert result.deliver_amount >= direct


@settings(max_examples=200, deadline=None)
@given(st.lists(tier_strategy(), min_size=8, max_size=40), pairs, st.integers(1, 10**9))
def test_deliver_quote_never_falls_short_and_asks_no_more_than_needed(tiers, pair, target):
    rates = make_book(tiers)
    source, destination = pair
    result = quote(rates, source=source, destination=destination, deliver_amount=target,
                   now=NOW, quote_id=1, ttl_ns=5)  # fmt: skip
    if isinstance(result, QuoteRefusal):
        assert result.result in AMOUNT_RELATED | {QuoteResult.FORBIDDEN_VEHICLE}
        return
    check_hops(rates, result)
    assert result.deliver_amount >= target
    assert floor_chain(result, result.send_amount) == result.deliver_amount
    assert floor_chain(result, result.send_amount - 1) < target  # minimal on its route


@settings(max_examples=50, deadline=None)
@given(st.lists(tier_strategy(), min_size=8, max_size=40), pairs, st.integers(1, 10**9))
def test_quotes_are_deterministic(tiers, pair, amount) -> None:
    source, destination = pair
    answers = [
        quote(
            make_book(order),
            source=source,
            destination=destination,
            send_amount=amount,
            now=NOW,
            quote_id=1,
            ttl_ns=5,
        )  # fmt: skip
        for order in (tiers, tiers[::-1])
    ]
    # Reversing the posting order changes which duplicate (same key) survives; compare only
    # when no tier key repeats.
    keys = [(t.provider, t.sell, t.buy, t.min_amount, t.max_amount) for t in tiers]
    if len(set(keys)) == len(keys):
        assert unnumbered(answers[0]) == unnumbered(answers[1])


def reference_send(rates: RateBook, source: str, destination: str, amount: int) -> int:
    """Every simple route of at most three hops, without pruning: the most delivered."""
    from samarkand.fx.routing import _sell_hop

    best = 0
    middles = [c for c in CODES if c not in (source, destination)]
    routes = [[source, destination]] + [[source, m, destination] for m in middles]
    routes += [[source, m, n, destination] for m in middles for n in middles if m != n]
    for currencies in routes:
        carried: int | None = amount
        for sell, buy in zip(currencies, currencies[1:], strict=False):
            hop = _sell_hop(rates.offers(sell, buy), carried, NOW, True)
            carried = None if hop is None else hop[0]
            if carried is None:
                break
        if carried is not None:
            best = max(best, carried)
    return best


@settings(max_examples=200, deadline=None)
@given(st.lists(tier_strategy(), min_size=8, max_size=40), pairs, st.integers(1, 10**9))
def test_pruned_search_finds_what_exhaustive_search_finds(tiers, pair, amount) -> None:
    rates = make_book(tiers)
    source, destination = pair
    result = quote(rates, source=source, destination=destination, send_amount=amount,
                   now=NOW, quote_id=1, ttl_ns=5)  # fmt: skip
    expected = reference_send(rates, source, destination, amount)
    assert (result.deliver_amount if isinstance(result, Quote) else 0) == expected


def reference_deliver(rates: RateBook, source: str, destination: str, target: int) -> int | None:
    """Every simple route of at most three hops, without pruning: the least source needed."""
    from samarkand.fx.routing import _buy_hop, _execute

    best = None
    middles = [c for c in CODES if c not in (source, destination)]
    routes = [[source, destination]] + [[source, m, destination] for m in middles]
    routes += [[source, m, n, destination] for m in middles for n in middles if m != n]
    for currencies in routes:
        needed, path = target, []
        for sell, buy in reversed(list(zip(currencies, currencies[1:], strict=False))):
            hop = _buy_hop(rates.offers(sell, buy), needed, NOW, True)
            if hop is None:
                break
            needed, path = hop[0], [hop[1], *path]
        else:
            if _execute(tuple(path), needed, NOW, True) is not None:
                best = needed if best is None else min(best, needed)
    return best


@settings(max_examples=200, deadline=None)
@given(st.lists(tier_strategy(), min_size=8, max_size=40), pairs, st.integers(1, 10**9))
def test_pruned_deliver_search_finds_what_exhaustive_search_finds(tiers, pair, target) -> None:
    rates = make_book(tiers)
    source, destination = pair
    result = quote(rates, source=source, destination=destination, deliver_amount=target,
                   now=NOW, quote_id=1, ttl_ns=5)  # fmt: skip
    expected = reference_deliver(rates, source, destination, target)
    assert (result.send_amount if isinstance(result, Quote) else None) == expected
