"""Exact rates from decimal text, and the invariants of tiers and reference rates."""

from __future__ import annotations

from fractions import Fraction

import pytest

from samarkand.fx import (
    RATE_DECIMALS_MAX,
    RateError,
    RateProblem,
    RateTier,
    ReferenceRate,
    parse_rate,
)
from samarkand.fx.rates import base_one_rate
from samarkand.money import MoneyError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13.45", Fraction(269, 20)),
        ("5871.2345678901", Fraction(58_712_345_678_901, 10**10)),
        ("0.0000000001", Fraction(1, 10**10)),
        ("0.50000000000000", Fraction(1, 2)),  # trailing zeros are not significant
        (".5", Fraction(1, 2)),
        ("420000", Fraction(420_000)),
        ("007.10", Fraction(71, 10)),
    ],
)
def test_parse_rate_is_exact(text: str, expected: Fraction) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0.12345678901", RateProblem.TOO_MANY_DECIMALS),
        ("1.00000000001", RateProblem.TOO_MANY_DECIMALS),
        ("0", RateProblem.NOT_POSITIVE),
        ("0.0000000000", RateProblem.NOT_POSITIVE),
        ("-1.5", RateProblem.NOT_POSITIVE),
        ("1e3", RateProblem.MALFORMED),
        ("1,5", RateProblem.MALFORMED),
        (" 1.5", RateProblem.MALFORMED),
        ("+1.5", RateProblem.MALFORMED),
        ("NaN", RateProblem.MALFORMED),
        ("", RateProblem.MALFORMED),
        ("5.", RateProblem.MALFORMED),
        ("١٢", RateProblem.MALFORMED),  # Arabic-Indic digits
        (1.5, RateProblem.MALFORMED),
        ("1" * 41, RateProblem.TOO_LONG),
    ],
)
def test_parse_rate_refuses(text: object, problem: RateProblem) -> None:
    with pytest.raises(RateError) as caught:
        parse_rate(text, "tier.rate")  # type: ignore[arg-type]
    assert caught.value.problem is problem
    assert str(caught.value).startswith("tier.rate: ")


def test_rate_decimals_max() -> None:
    assert RATE_DECIMALS_MAX == 10


def tier(**changes) -> RateTier:
    fields = dict(
        provider="PROVCNBJXXX", sell="CNY", buy="RUB", min_amount=1, max_amount=100,
        rate=Fraction(27, 2), liquidity=0, valid_from_ns=0, valid_until_ns=1,
    )  # fmt: skip
    fields.update(changes)
    return RateTier(**fields)


def test_tier_accepts_a_valid_offer() -> None:
    offer = tier()
    assert offer.is_valid_at(0) and not offer.is_valid_at(1)


@pytest.mark.parametrize(
    "changes",
    [
        {"provider": "PROV"},
        {"provider": "provcnbj"},
        {"buy": "CNY"},
        {"min_amount": 0},
        {"min_amount": 101},
        {"max_amount": 2**128},
        {"liquidity": -1},
        {"liquidity": True},
        {"min_amount": 1.0},
        {"rate": 13.5},
        {"rate": Fraction(0)},
        {"valid_until_ns": 0},
        {"valid_from_ns": -1},
    ],
)
def test_tier_refuses_a_broken_offer(changes) -> None:
    with pytest.raises(ValueError):
        tier(**changes)


def test_tier_refuses_a_malformed_currency_code() -> None:
    with pytest.raises(MoneyError):
        tier(sell="cny")


def test_reference_rate() -> None:
    rate = ReferenceRate("USD", "RUB", parse_rate("92.5"), as_of_ns=5)
    assert rate.rate == Fraction(185, 2)
    with pytest.raises(ValueError):
        ReferenceRate("RUB", "RUB", Fraction(1), 5)
    with pytest.raises(ValueError):
        ReferenceRate("USD", "RUB", Fraction(-1), 5)


@pytest.mark.parametrize(
    ("rate", "text"),
    [(Fraction(25, 2), "12.5"), (Fraction(19, 6), "3.1666666667"), (Fraction(1, 3), "0.3333333333"),
     (Fraction(244, 3), "81.333333333"), (Fraction(200000000005, 10**11), "2.0000000000"),
     (Fraction(200000000015, 10**11), "2.0000000002"), (Fraction(7), "7")],
)  # fmt: skip
def test_a_rate_as_a_base_one_rate_is_exact_or_rounded_half_even_to_11_digits(rate, text):
    assert base_one_rate(rate) == text
    assert len(text.replace(".", "").lstrip("0")) <= 11 or Fraction(text) == rate
