"""Currencies as the hub sees them, built from ISO 4217 (the ``iso4217`` package).

A ``Currency`` is an immutable value: its alphabetic code, its ISO numeric code (which is also
the ledger number of that currency in the hub, so ledgers never need a lookup table), the
number of decimals the hub uses for it, the number ISO 4217 gives, and whether the operator
allows settlement in it.

Exponent policy (IRR, UZS, PKR). ISO 4217 gives the Iranian rial 2 decimals, although prices
are quoted without decimals and often in toman (10 IRR); the Uzbek tiyin (UZS) is unused in
practice; CLDR shows the Pakistani rupee (PKR) with 0 decimals. By default the hub keeps the ISO
exponent for every currency, IRR, UZS and PKR included: every amount an ISO 20022 message may
legally carry is then representable exactly and round-trips byte for byte, and the resulting
large totals are no problem because ledger amounts go up to ``2**128 - 1`` minor units. An
operator who wants whole units only passes ``exponent_overrides={"IRR": 0}`` to
``default_registry``; then "1.5" IRR is rejected (AM12) and "15" IRR is 15 minor units.
Overrides may set any exponent from 0 to ``EXPONENT_MAX``; ``iso_exponent`` keeps the ISO value.

The ``iso4217`` package reads its bundled table once, when it is first imported; this module
itself does no I/O and keeps no mutable state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import iso4217

from .errors import INVALID_CURRENCY, MoneyError, preview

EXPONENT_MAX = 4  # the largest exponent in ISO 4217 (CLF, UYW); also the cap for overrides
NUMERIC_MAX = 999  # ISO 4217 numeric codes have three digits

_ALPHABETIC_CODE = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True, slots=True)
class Currency:
    """One currency the hub may carry; ``exponent`` is what the hub uses, ``iso_exponent`` ISO's.

    Construction checks the invariants, because a wrong exponent or ledger number would
    silently misstate every amount in that currency.
    """

    code: str
    numeric: int
    exponent: int
    iso_exponent: int
    name: str
    settlement_allowed: bool

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _ALPHABETIC_CODE.fullmatch(self.code):
            raise ValueError(f"Currency.code must be three uppercase letters: {self.code!r}")
        if not _is_int(self.numeric) or not 1 <= self.numeric <= NUMERIC_MAX:
            raise ValueError(f"Currency.numeric must be an int in 1..999: {self.numeric!r}")
        for label, value in (("exponent", self.exponent), ("iso_exponent", self.iso_exponent)):
            if not _is_int(value) or not 0 <= value <= EXPONENT_MAX:
                raise ValueError(f"Currency.{label} must be an int in 0..4: {value!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Currency.name must be a non-empty str: {self.name!r}")
        if not isinstance(self.settlement_allowed, bool):
            allowed = self.settlement_allowed
            raise ValueError(f"Currency.settlement_allowed must be a bool: {allowed!r}")

    @property
    def ledger(self) -> int:
        """The hub's ledger number for this currency: by design, its ISO 4217 numeric code."""
        return self.numeric


def _is_int(value: object) -> bool:
    """True for real ints; ``bool`` is an int subclass but never a count or a code."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_code_form(code: object, *, field: str = "currency") -> str:
    """Return ``code`` if it is three uppercase ASCII letters, else raise MoneyError AM11.

    Lowercase is refused rather than folded: ISO 20022 defines the code as ``[A-Z]{3}``, and a
    hub that accepts 'cny' invites two spellings of one currency into logs and keys.
    """
    if not isinstance(code, str):
        reason = f"currency code must be a str, not {type(code).__name__}"
        raise MoneyError(field, reason, INVALID_CURRENCY)
    if not _ALPHABETIC_CODE.fullmatch(code):
        hint = ""
        if _ALPHABETIC_CODE.fullmatch(code.upper()):
            hint = f" such as {code.upper()!r}"
        reason = (
            f"{preview(code)} is not an ISO 4217 alphabetic code; "
            f"expected three uppercase letters{hint}"
        )
        raise MoneyError(field, reason, INVALID_CURRENCY)
    return code


def iso_currency(code: str) -> Currency:
    """Return the ISO 4217 currency for ``code``, not enabled for settlement.

    Raises MoneyError AM11 for a malformed code, for a code absent from the current ISO 4217
    list, and for codes without minor units (gold, SDR, the test code XTS), which cannot
    hold an amount. The ``iso4217`` package carries only the current list, not the list of
    withdrawn codes, so it cannot tell 'unknown' from 'withdrawn' (BYR, RUR): the reason
    says so instead of guessing.
    """
    check_code_form(code)
    try:
        entry = iso4217.Currency(code)
    except ValueError:
        reason = (
            f"{code} is not in the current ISO 4217 list (published {iso4217.__published__}): "
            "unknown, or withdrawn/historic"
        )
        raise MoneyError("currency", reason, INVALID_CURRENCY) from None
    exponent = entry.exponent
    if exponent is None:
        reason = f"{code} ({entry.currency_name}) has no minor unit in ISO 4217, so holds no amount"
        raise MoneyError("currency", reason, INVALID_CURRENCY)
    return Currency(
        code=code,
        numeric=entry.number,
        exponent=exponent,
        iso_exponent=exponent,
        name=entry.currency_name,
        settlement_allowed=False,
    )


def is_iso_code(code: str) -> bool:
    """True when ``code`` is a current ISO 4217 code that can hold an amount."""
    try:
        iso_currency(code)
    except MoneyError:
        return False
    return True
