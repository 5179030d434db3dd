"""parse_amount, to_minor and format_amount on hand-picked cases, good and bad."""

from __future__ import annotations

from decimal import Decimal

import pytest

from samarkand.money import (
    AMOUNT_MAX,
    MoneyError,
    default_registry,
    format_amount,
    parse_amount,
    to_minor,
)

REGISTRY = default_registry()
CNY = REGISTRY.get("CNY")
KWD = REGISTRY.get("KWD")  # 3 decimals
IRR_WHOLE = default_registry(exponent_overrides={"IRR": 0}).get("IRR")


@pytest.mark.parametrize(
    "text, minor",
    [("1234.56", 123456), ("12.5", 1250), ("12", 1200), ("12.50", 1250), (".5", 50),
     ("0.01", 1), ("007", 700), ("1", 100)],
)  # fmt: skip
def test_parse_good_amounts_cny(text: str, minor: int) -> None:
    assert parse_amount(text, CNY) == minor


def test_parse_three_decimal_currency() -> None:
    assert parse_amount("1.234", KWD) == 1234
    assert parse_amount("1.2", KWD) == 1200


def _refusal(text: object, currency=CNY) -> MoneyError:  # type: ignore[no-untyped-def]
    with pytest.raises(MoneyError) as caught:
        parse_amount(text, currency)  # type: ignore[arg-type]
    assert caught.value.field == "amount"
    return caught.value


def test_too_many_decimals_names_currency_and_allowed_count() -> None:
    error = _refusal("12.345")
    assert error.code == "AM12"
    assert str(error) == "amount: 12.345 has 3 decimals but CNY allows 2 (AM12)"


def test_trailing_zero_decimals_are_refused_too() -> None:
    assert _refusal("12.500").code == "AM12"
    assert "KWD allows 3" in _refusal("1.0000", KWD).reason


@pytest.mark.parametrize("text", ["0", "0.00", "000", ".0", "0.0"])
def test_zero_is_am01(text: str) -> None:
    assert _refusal(text).code == "AM01"


@pytest.mark.parametrize("text", ["-5", "-0.01", "-0"])
def test_negative_is_am12_must_be_positive(text: str) -> None:
    error = _refusal(text)
    assert error.code == "AM12"
    assert "must be positive" in error.reason


@pytest.mark.parametrize(
    "text",
    ["1e5", "1E5", " 1", "1 ", "1,000", "1_000", "", ".", "5.", "NaN", "nan", "Infinity", "inf",
     "+5", "--5", "1.2.3", "١٢", "１２", "0x10", "12\n", "\t12", "1 000", "- 5", "5-"],
)  # fmt: skip
def test_malformed_text_is_am12(text: str) -> None:
    assert _refusal(text).code == "AM12"


@pytest.mark.parametrize("value", [Decimal("12.5"), 12, 12.5, None, b"12", True])
def test_non_str_is_am12_naming_the_type(value: object) -> None:
    error = _refusal(value)
    assert error.code == "AM12"
    assert type(value).__name__ in error.reason


def test_text_longer_than_forty_characters_is_refused() -> None:
    assert parse_amount("0" * 36 + "1.00", CNY) == 100  # exactly 40 characters
    error = _refusal("0" * 37 + "1.00")
    assert error.code == "AM12" and "41 characters" in error.reason


def test_amount_max_is_accepted_and_one_more_is_am02() -> None:
    assert parse_amount("3402823669209384634633746074317682114.55", CNY) == AMOUNT_MAX
    assert parse_amount("340282366920938463463374607431768211.455", KWD) == AMOUNT_MAX
    assert parse_amount("340282366920938463463374607431768211455", IRR_WHOLE) == AMOUNT_MAX
    assert _refusal("3402823669209384634633746074317682114.56").code == "AM02"
    assert _refusal("340282366920938463463374607431768211456", IRR_WHOLE).code == "AM02"
    assert _refusal("9" * 40).code == "AM02"


def test_field_name_is_passed_through() -> None:
    with pytest.raises(MoneyError) as caught:
        parse_amount("x", CNY, field="IntrBkSttlmAmt")
    assert str(caught.value).startswith("IntrBkSttlmAmt: ")


@pytest.mark.parametrize(
    "minor, currency, text",
    [(123456, CNY, "1234.56"), (1, CNY, "0.01"), (100, CNY, "1.00"), (5, KWD, "0.005"),
     (1234, IRR_WHOLE, "1234"), (-123456, CNY, "-1234.56"), (-1, CNY, "-0.01"), (0, CNY, "0.00"),
     (AMOUNT_MAX, CNY, "3402823669209384634633746074317682114.55"),
     (-AMOUNT_MAX, KWD, "-340282366920938463463374607431768211.455")],
)  # fmt: skip
def test_format_amount(minor: int, currency: object, text: str) -> None:
    assert format_amount(minor, currency) == text  # type: ignore[arg-type]


@pytest.mark.parametrize("minor", [12.5, "1250", Decimal(1250), True, None])
def test_format_amount_refuses_non_int_as_a_bug(minor: object) -> None:
    with pytest.raises(TypeError):
        format_amount(minor, CNY)  # type: ignore[arg-type]


def test_format_amount_refuses_magnitudes_no_ledger_holds() -> None:
    for minor in (AMOUNT_MAX + 1, -AMOUNT_MAX - 1, 10**5000):
        with pytest.raises(ValueError):
            format_amount(minor, CNY)


@pytest.mark.parametrize(
    "value, minor",
    [("1234.56", 123456), ("12.50", 1250), ("12", 1200), ("1E+2", 10000), ("1.2E+1", 1200),
     ("3402823669209384634633746074317682114.55", AMOUNT_MAX)],
)  # fmt: skip
def test_to_minor_good(value: str, minor: int) -> None:
    assert to_minor(Decimal(value), CNY) == minor


@pytest.mark.parametrize(
    "value, code",
    [("12.500", "AM12"), ("1E-3", "AM12"), ("-5", "AM12"), ("-0", "AM12"), ("NaN", "AM12"),
     ("sNaN", "AM12"), ("Infinity", "AM12"), ("-Infinity", "AM12"), ("0", "AM01"),
     ("0.00", "AM01"), ("0E+1000000", "AM01"), ("3402823669209384634633746074317682114.56", "AM02"),
     ("1E+999999999", "AM02"), ("1." + "0" * 100_000, "AM12"), ("1" * 100_000, "AM02")],
)  # fmt: skip
def test_to_minor_refusals(value: str, code: str) -> None:
    with pytest.raises(MoneyError) as caught:
        to_minor(Decimal(value), CNY, field="InstdAmt")
    assert (caught.value.code, caught.value.field) == (code, "InstdAmt")
    assert len(str(caught.value)) < 300  # huge input is never echoed whole


@pytest.mark.parametrize("value", ["12.5", 12, 12.5, None, True])
def test_to_minor_refuses_non_decimal(value: object) -> None:
    with pytest.raises(MoneyError) as caught:
        to_minor(value, CNY)  # type: ignore[arg-type]
    assert caught.value.code == "AM12"
    assert type(value).__name__ in caught.value.reason


def test_to_minor_ignores_the_decimal_context() -> None:
    # The default context has 28 digits of precision; a 39-digit amount must stay exact.
    assert to_minor(Decimal("3402823669209384634633746074317682114.55"), CNY) == AMOUNT_MAX
