"""CurrencyRegistry lookups and the operator policy of default_registry (settlement, exponents)."""

from __future__ import annotations

import dataclasses

import pytest

from samarkand.money import (
    CurrencyRegistry,
    MoneyError,
    default_registry,
    format_amount,
    iso_currency,
    parse_amount,
)


@pytest.mark.parametrize("code", ["XYZ", "CN", "cny", "Cny", "CNY ", 123, None, b"CNY"])
def test_get_refuses_unknown_and_malformed_codes(code: object) -> None:
    with pytest.raises(MoneyError) as caught:
        default_registry().get(code)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.field) == ("AM11", "currency")


def test_lowercase_error_names_the_expected_form() -> None:
    with pytest.raises(MoneyError) as caught:
        default_registry().get("cny")
    assert "three uppercase letters" in caught.value.reason
    assert "'CNY'" in caught.value.reason


def test_iso_currency_not_carried_says_so() -> None:
    with pytest.raises(MoneyError) as caught:
        default_registry().get("JPY")
    assert caught.value.code == "AM11"
    assert "does not carry" in caught.value.reason


def test_unknown_code_says_unknown() -> None:
    with pytest.raises(MoneyError) as caught:
        default_registry().get("XYZ")
    assert "unknown" in caught.value.reason


def test_by_ledger_finds_by_iso_numeric() -> None:
    registry = default_registry()
    assert registry.by_ledger(156).code == "CNY"
    assert registry.by_ledger(48).code == "BHD"
    for currency in registry:
        assert registry.by_ledger(currency.ledger) is currency


@pytest.mark.parametrize("ledger", [0, 392, -156, True, "156", 156.0])
def test_by_ledger_refuses_unknown_ledgers(ledger: object) -> None:
    with pytest.raises(MoneyError) as caught:
        default_registry().by_ledger(ledger)  # type: ignore[arg-type]
    assert caught.value.code == "AM11"


def test_settlement_currency_returns_national_currencies() -> None:
    assert default_registry().settlement_currency("RUB").code == "RUB"


def test_settlement_codes_are_sorted_national_currencies() -> None:
    codes = default_registry().settlement_codes()
    assert codes == tuple(sorted(codes))
    assert len(codes) == 26
    assert "USD" not in codes and "EUR" not in codes and "CNY" in codes


def test_enabling_vehicle_currencies_is_exact() -> None:
    registry = default_registry(settlement_allowed=["CNY", "USD", "EUR"])
    assert registry.settlement_codes() == ("CNY", "EUR", "USD")
    assert registry.settlement_currency("USD").code == "USD"
    assert registry.settlement_currency("EUR").settlement_allowed is True
    with pytest.raises(MoneyError) as caught:
        registry.settlement_currency("RUB")  # not in the exact set any more
    assert caught.value.code == "AM03"
    assert "RUB" in registry  # still carried


@pytest.mark.parametrize("allowed", [["CNY", "XYZ"], ["JPY"], ["cny"], "USD", [7]])
def test_settlement_allowed_refuses_codes_not_carried(allowed: object) -> None:
    with pytest.raises(MoneyError) as caught:
        default_registry(settlement_allowed=allowed)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.field) == ("AM11", "settlement_allowed")


def test_contains_iter_len() -> None:
    registry = default_registry()
    assert "CNY" in registry and "cny" not in registry and 156 not in registry
    codes = [currency.code for currency in registry]
    assert codes == sorted(codes) and len(codes) == len(registry) == 28


def test_registry_refuses_duplicate_codes_and_ledgers() -> None:
    cny = iso_currency("CNY")
    with pytest.raises(ValueError, match="twice"):
        CurrencyRegistry([cny, cny])
    fake = dataclasses.replace(iso_currency("RUB"), numeric=156)
    with pytest.raises(ValueError, match="share ledger 156"):
        CurrencyRegistry([cny, fake])


def test_irr_default_keeps_iso_exponent_two() -> None:
    irr = default_registry().get("IRR")
    assert (irr.exponent, irr.iso_exponent) == (2, 2)
    assert parse_amount("1.5", irr) == 150
    assert parse_amount("15", irr) == 1500
    assert format_amount(150, irr) == "1.50"


def test_irr_override_to_zero_decimals() -> None:
    irr = default_registry(exponent_overrides={"IRR": 0}).get("IRR")
    assert (irr.exponent, irr.iso_exponent, irr.numeric) == (0, 2, 364)
    assert parse_amount("15", irr) == 15
    assert format_amount(15, irr) == "15"
    with pytest.raises(MoneyError) as caught:
        parse_amount("1.5", irr)
    assert caught.value.code == "AM12"
    assert str(caught.value) == "amount: 1.5 has 1 decimal but IRR allows 0 (AM12)"


def test_overrides_touch_only_the_named_currencies() -> None:
    registry = default_registry(exponent_overrides={"UZS": 0, "PKR": 0})
    assert registry.get("UZS").exponent == 0 and registry.get("PKR").exponent == 0
    assert registry.get("IRR").exponent == 2 and registry.get("CNY").exponent == 2
    assert registry.get("UZS").settlement_allowed is True


@pytest.mark.parametrize(
    "overrides", [{"IRR": -1}, {"IRR": 5}, {"IRR": True}, {"IRR": "0"}, {"XYZ": 0}, {"irr": 0}]
)
def test_bad_exponent_overrides_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(MoneyError) as caught:
        default_registry(exponent_overrides=overrides)  # type: ignore[arg-type]
    assert caught.value.field == "exponent_overrides"


def test_override_up_to_four_is_allowed() -> None:
    assert default_registry(exponent_overrides={"CNY": 4}).get("CNY").exponent == 4
