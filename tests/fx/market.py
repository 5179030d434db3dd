"""Readable rate books for the FX tests: one tier per line of text.

    provider  sell buy  rate      [min max [liquidity [valid_from valid_until]]]
    PROVCNBJ  CNY  RUB  13.45     1 100000  5000000

Amounts are minor units; omitted fields default to a wide band, deep liquidity and a tier
valid from 0 to VALID_UNTIL_NS. '#' starts a comment.
"""

from __future__ import annotations

from dataclasses import replace

from samarkand.fx import PostResult, Quote, QuoteRefusal, RateBook, RateTier, parse_rate
from samarkand.money import default_registry

BIG = 10**30
VALID_UNTIL_NS = 10**18
NOW = 1_000
TTL_NS = 30_000_000_000  # 30 s


def tiers(text: str) -> list[RateTier]:
    found = []
    for line in text.splitlines():
        fields = line.split("#")[0].split()
        if not fields:
            continue
        provider, sell, buy, rate, *rest = fields
        numbers = [int(n) for n in rest]
        low, high, liquidity, start, end = (
            numbers + [1, BIG, BIG, 0, VALID_UNTIL_NS][len(numbers) :]
        )
        found.append(
            RateTier(provider, sell, buy, low, high, parse_rate(rate), liquidity, start, end)
        )
    return found


def book(text: str, *, exponent_overrides=None, **policy) -> RateBook:
    registry = default_registry(exponent_overrides=exponent_overrides)
    rate_book = RateBook(registry, **policy)
    for tier in tiers(text):
        assert rate_book.post(tier) in (PostResult.POSTED, PostResult.REPLACED)
    return rate_book


def unnumbered(answer: Quote | QuoteRefusal) -> Quote | QuoteRefusal:
    """`answer` with its hops' commitment numbers left out: they number the tiers in the
    order they were posted, which the route, amounts and rates must not depend on."""
    if isinstance(answer, QuoteRefusal):
        return answer
    return replace(answer, hops=tuple(replace(hop, commitment=0) for hop in answer.hops))
