"""Properties over many inputs: round trips are exact, bad input only ever raises MoneyError."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from samarkand.money import (
    AMOUNT_MAX,
    Currency,
    MoneyError,
    default_registry,
    format_amount,
    format_amounts,
    parse_amount,
    to_minor,
)

# Deterministic (same examples every run) and without an example database on disk.
DETERMINISTIC = settings(derandomize=True, database=None, max_examples=300)

CURRENCIES: list[Currency] = [
    *default_registry(),
    *default_registry(exponent_overrides={"IRR": 0, "UZS": 0, "CNY": 4}),
]
currencies = st.sampled_from(CURRENCIES)
amounts = st.integers(min_value=1, max_value=AMOUNT_MAX)
amount_like_text = st.from_regex(r"-?[0-9]{0,42}(\.[0-9]{0,6})?", fullmatch=True)
# Text in parse_amount's grammar, within its 40 characters: the texts Decimal reads alike.
plain_decimal_text = st.from_regex(
    r"-?([0-9]{1,40}|[0-9]{0,39}\.[0-9]{1,6})", fullmatch=True
).filter(lambda text: len(text) <= 40)


@DETERMINISTIC
@given(amounts, currencies)
def test_format_then_parse_is_identity(minor: int, currency: Currency) -> None:
    text = format_amount(minor, currency)
    assert parse_amount(text, currency) == minor
    assert to_minor(Decimal(text), currency) == minor


@DETERMINISTIC
@given(st.sampled_from([1, 2, 9, 10, 99, 100, 101, AMOUNT_MAX - 1, AMOUNT_MAX]), currencies)
def test_round_trip_at_the_edges(minor: int, currency: Currency) -> None:
    assert parse_amount(format_amount(minor, currency), currency) == minor


@DETERMINISTIC
@given(st.integers(min_value=-AMOUNT_MAX, max_value=AMOUNT_MAX), currencies)
def test_format_always_has_exactly_exponent_decimals(minor: int, currency: Currency) -> None:
    text = format_amount(minor, currency)
    whole, point, fraction = text.lstrip("-").partition(".")
    assert len(fraction) == currency.exponent and (point == ".") == (currency.exponent > 0)
    assert whole and whole.isdigit() and (whole == "0" or not whole.startswith("0"))
    assert text.startswith("-") == (minor < 0)


@DETERMINISTIC
@given(st.one_of(st.text(), amount_like_text), currencies)
def test_parse_raises_only_money_error(text: str, currency: Currency) -> None:
    try:
        minor = parse_amount(text, currency)
    except MoneyError as error:
        assert error.code in {"AM01", "AM02", "AM12"}
    else:
        assert 1 <= minor <= AMOUNT_MAX


@DETERMINISTIC
@given(plain_decimal_text, currencies)
def test_to_minor_agrees_with_parse(text: str, currency: Currency) -> None:
    assert _outcome(to_minor, Decimal(text), currency) == _outcome(parse_amount, text, currency)


def _outcome(convert: Callable[[Any, Currency], int], value: object, currency: Currency) -> object:
    """The minor units, or the reason code of the refusal."""
    try:
        return convert(value, currency)
    except MoneyError as error:
        return error.code


@DETERMINISTIC
@given(st.decimals(allow_nan=True, allow_infinity=True), currencies)
def test_to_minor_raises_only_money_error(value: Decimal, currency: Currency) -> None:
    try:
        minor = to_minor(value, currency)
    except MoneyError as error:
        assert error.code in {"AM01", "AM02", "AM12"}
    else:
        assert 1 <= minor <= AMOUNT_MAX
        assert Decimal(format_amount(minor, currency)) == value


@DETERMINISTIC
@given(st.lists(st.integers(min_value=-AMOUNT_MAX, max_value=AMOUNT_MAX), max_size=8), currencies)
def test_a_column_formats_as_each_amount_alone(minors: list[int], currency: Currency) -> None:
    assert format_amounts(minors, currency) == [format_amount(m, currency) for m in minors]


@DETERMINISTIC
@given(st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=8), currencies)
def test_a_column_of_payment_sized_amounts_formats_as_each_alone(
    minors: list[int], currency: Currency
) -> None:
    assert format_amounts(minors, currency) == [format_amount(m, currency) for m in minors]
