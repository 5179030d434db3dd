"""Currencies from ISO 4217: the participant table, vehicle currencies, bad and withdrawn codes."""

from __future__ import annotations

import csv
import dataclasses
import pickle
from pathlib import Path

import pytest

import samarkand.money
from samarkand.money import Currency, MoneyError, default_registry, iso_currency
from samarkand.money.participants import SCO_PARTICIPANT_CURRENCY_CODES

# Written out by hand, not computed, so the package data is checked against something.
# Codes and minor units: /work/shared/data/sco_participants.csv; numeric codes: ISO 4217.
PARTICIPANTS = """
    CNY 156 2   RUB 643 2   INR 356 2   PKR 586 2   KZT 398 2   KGS 417 2   TJS 972 2
    UZS 860 2   IRR 364 2   BYN 933 2   AFN 971 2   MNT 496 2   AMD  51 2   AZN 944 2
    KHR 116 2   NPR 524 2   LKR 144 2   TRY 949 2   EGP 818 2   QAR 634 2   SAR 682 2
    KWD 414 3   MVR 462 2   MMK 104 2   AED 784 2   BHD  48 3
"""
VEHICLES = "USD 840 2   EUR 978 2"


def _table(text: str) -> dict[str, tuple[int, int]]:
    words = text.split()
    return {words[i]: (int(words[i + 1]), int(words[i + 2])) for i in range(0, len(words), 3)}


def test_table_has_every_participant_of_the_csv() -> None:
    assert len(_table(PARTICIPANTS)) == 26


@pytest.mark.parametrize(
    "code, numeric, exponent", [(c, *v) for c, v in _table(PARTICIPANTS).items()]
)
def test_participant_currency_numeric_exponent_and_ledger(
    code: str, numeric: int, exponent: int
) -> None:
    currency = default_registry().get(code)
    assert (currency.code, currency.numeric, currency.exponent) == (code, numeric, exponent)
    assert currency.iso_exponent == exponent
    assert currency.ledger == numeric
    assert currency.settlement_allowed is True


def test_a_few_participants_explicitly() -> None:
    registry = default_registry()
    expected = {"CNY": (156, 2), "RUB": (643, 2), "INR": (356, 2), "IRR": (364, 2),
                "KGS": (417, 2), "BYN": (933, 2), "UZS": (860, 2)}  # fmt: skip
    for code, (numeric, exponent) in expected.items():
        currency = registry.get(code)
        assert (currency.numeric, currency.exponent) == (numeric, exponent)
        assert currency.ledger == numeric


def test_registry_carries_exactly_participants_and_vehicles() -> None:
    expected = set(_table(PARTICIPANTS)) | set(_table(VEHICLES))
    assert {currency.code for currency in default_registry()} == expected
    assert len(default_registry()) == 28


@pytest.mark.parametrize("code, numeric, exponent", [(c, *v) for c, v in _table(VEHICLES).items()])
def test_vehicle_currencies_present_but_not_for_settlement(
    code: str, numeric: int, exponent: int
) -> None:
    registry = default_registry()
    currency = registry.get(code)
    assert (currency.numeric, currency.exponent) == (numeric, exponent)
    assert currency.settlement_allowed is False
    assert code not in registry.settlement_codes()
    with pytest.raises(MoneyError) as caught:
        registry.settlement_currency(code)
    assert (caught.value.code, caught.value.field) == ("AM03", "currency")


def test_iso_currency_reads_iso_and_never_allows_settlement() -> None:
    cny = iso_currency("CNY")
    assert cny == Currency("CNY", 156, 2, 2, "Yuan Renminbi", False)
    assert iso_currency("CLF").exponent == 4  # not carried by the hub, but ISO knows it


@pytest.mark.parametrize(
    "code", ["XYZ", "CN", "cny", "CNYY", " CNY", "CNY\n", "ＣＮＹ", "", 123, None]
)
def test_iso_currency_refuses_bad_codes(code: object) -> None:
    with pytest.raises(MoneyError) as caught:
        iso_currency(code)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.field) == ("AM11", "currency")


@pytest.mark.parametrize("code", ["BYR", "RUR"])
def test_withdrawn_codes_are_refused_and_named_as_possibly_historic(code: str) -> None:
    # iso4217 ships ISO's current list only, so "withdrawn" cannot be told from "unknown".
    for lookup in (iso_currency, default_registry().get):
        with pytest.raises(MoneyError) as caught:
            lookup(code)
        assert caught.value.code == "AM11"
        assert "withdrawn/historic" in caught.value.reason
        assert code in caught.value.reason


@pytest.mark.parametrize("code", ["XAU", "XDR", "XTS", "XXX"])
def test_codes_without_minor_units_cannot_hold_amounts(code: str) -> None:
    with pytest.raises(MoneyError) as caught:
        iso_currency(code)
    assert caught.value.code == "AM11"
    assert "no minor unit" in caught.value.reason


def test_currency_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        iso_currency("CNY").exponent = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    "changes",
    [{"code": "cny"}, {"numeric": 0}, {"numeric": 1000}, {"numeric": True}, {"exponent": -1},
     {"exponent": 5}, {"iso_exponent": 5}, {"name": ""}, {"settlement_allowed": 1}],
)  # fmt: skip
def test_currency_refuses_broken_invariants(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError) as caught:
        dataclasses.replace(iso_currency("CNY"), **changes)  # type: ignore[arg-type]
    assert not isinstance(caught.value, MoneyError)  # a bug in the caller, not bad input


def test_money_error_reads_well_and_pickles() -> None:
    error = MoneyError("amount", "12.345 has 3 decimals but CNY allows 2", "AM12")
    assert str(error) == "amount: 12.345 has 3 decimals but CNY allows 2 (AM12)"
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.field, copy.reason, copy.code) == ("amount", error.reason, "AM12")


def test_money_error_refuses_an_unknown_reason_code() -> None:
    with pytest.raises(ValueError, match="AM99"):
        MoneyError("amount", "whatever", "AM99")


def test_participant_codes_match_the_packaged_csv() -> None:
    # The registry hard-codes the codes so it reads no file; this test is where drift shows.
    path = Path(samarkand.money.__file__).parent.parent / "data" / "sco_participants.csv"
    if not path.exists():
        pytest.skip(f"{path} not present")
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert tuple(row["currency_iso4217"] for row in rows) == SCO_PARTICIPANT_CURRENCY_CODES
    registry = default_registry()
    for row in rows:
        currency = registry.get(row["currency_iso4217"])
        assert currency.iso_exponent == int(row["currency_minor_units"]), row["country_name"]
