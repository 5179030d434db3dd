"""Exact conversion between decimal amounts (text or Decimal) and integer minor units.

Inside the hub an amount is a positive int of minor units (fen, kopeks, paisa) next to its
``Currency``; decimal text exists only at the edges, in messages and on screens. Nothing
here uses float, and nothing does Decimal arithmetic either (its context could round):
digits are moved, never computed.

Decimals policy. An amount with more fraction digits than the currency's exponent is
rejected (AM12), even when the extra digits are zeros: "12.500" CNY has 3 fraction digits
where CNY allows 2. ISO 20022 amount types restrict ``fractionDigits`` and the CBPR+ usage
rules require the amount to match the currency's minor units, so a strict hub refuses what a
strict counterpart would refuse, instead of quietly normalising it. Fewer decimals are fine:
"12.5" CNY is 1250 and "12" is 1200.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from .currency import Currency
from .errors import INVALID_AMOUNT, NOT_ALLOWED_AMOUNT, ZERO_AMOUNT, MoneyError, clip, preview

AMOUNT_MAX = 2**128 - 1  # largest amount the ledger holds, in minor units
AMOUNT_TEXT_LENGTH_MAX = 40  # enough for AMOUNT_MAX at any exponent 0..4, with the point
_AMOUNT_MAX_DIGITS = len(str(AMOUNT_MAX))  # 39: any amount of 10**39 or more is too large

# Digits, or optional digits then '.' then digits. No sign, exponent, space or separator.
# [0-9] rather than \d: \d also matches Arabic-Indic and other Unicode digits.
_PLAIN_DECIMAL = re.compile(r"[0-9]+|[0-9]*\.[0-9]+")


def parse_amount(text: str, currency: Currency, *, field: str = "amount") -> int:
    """Return the minor units of a plain decimal string such as "1234.56" (CNY: 123456).

    Accepted: digits, or optional digits, '.', digits; at most 40 characters. Refused with
    MoneyError: anything but a str, a sign ('-5' is AM12 "must be positive"), an exponent
    ('1e3'), spaces, thousands separators, 'NaN', '', '.', '5.' (all AM12); more fraction
    digits than the currency's exponent (AM12, see the module's decimals policy); zero
    (AM01); more than AMOUNT_MAX minor units (AM02).
    """
    if not isinstance(text, str):
        reason = f"amount must be decimal text (str), not {type(text).__name__}"
        raise MoneyError(field, reason, INVALID_AMOUNT)
    if not text:
        raise MoneyError(field, "empty text is not an amount", INVALID_AMOUNT)
    if len(text) > AMOUNT_TEXT_LENGTH_MAX:
        reason = f"{preview(text)} has {len(text)} characters, more than {AMOUNT_TEXT_LENGTH_MAX}"
        raise MoneyError(field, reason, INVALID_AMOUNT)
    if text[0] == "-" and _PLAIN_DECIMAL.fullmatch(text[1:]):
        raise MoneyError(field, f"{text} must be positive", INVALID_AMOUNT)
    if not _PLAIN_DECIMAL.fullmatch(text):
        reason = f"{preview(text)} is not a plain decimal number like 1234.56"
        raise MoneyError(field, reason, INVALID_AMOUNT)
    whole, _, fraction = text.partition(".")
    _check_decimals(len(fraction), text, currency, field)
    minor = int(whole + fraction) * 10 ** (currency.exponent - len(fraction))
    return _checked_minor(minor, text, currency, field)


def to_minor(value: Decimal, currency: Currency, *, field: str = "amount") -> int:
    """Return the minor units of an exact Decimal, with the same rules as ``parse_amount``.

    Used by message codecs that already hold a Decimal. Refused with MoneyError: anything but
    a Decimal, NaN and infinities, any negative sign (including -0) (AM12); too many fraction
    digits (AM12, so Decimal("12.500") is refused for CNY); zero (AM01); above AMOUNT_MAX (AM02).
    """
    if not isinstance(value, Decimal):
        reason = f"amount must be a Decimal, not {type(value).__name__}"
        raise MoneyError(field, reason, INVALID_AMOUNT)
    if not value.is_finite():
        raise MoneyError(field, f"{value} is not a finite amount", INVALID_AMOUNT)
    shown = clip(str(value))
    if value.is_signed():
        raise MoneyError(field, f"{shown} must be positive", INVALID_AMOUNT)
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # only NaN and infinities have a letter here
        raise AssertionError(f"finite Decimal with exponent {exponent!r}")
    # Checked before any int() of the digits: both bound the number of digits to convert.
    _check_decimals(max(0, -exponent), shown, currency, field)
    if value.is_zero():
        raise MoneyError(field, f"{shown} is zero", ZERO_AMOUNT)
    if value.adjusted() + currency.exponent >= _AMOUNT_MAX_DIGITS:
        raise _above_max(shown, currency, field)
    coefficient = int("".join(map(str, digits)))
    minor = coefficient * 10 ** (exponent + currency.exponent)
    return _checked_minor(minor, shown, currency, field)


def format_amount(minor: int, currency: Currency) -> str:
    """Return ``minor`` as decimal text with exactly ``currency.exponent`` decimals.

    123456 CNY is "1234.56"; with exponent 0 it is "123456". Balances may be negative and
    format with a leading '-'. A non-int (or bool) is a TypeError and a magnitude above
    AMOUNT_MAX a ValueError: both are bugs in the caller, since the ledger holds neither.
    """
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise TypeError(f"minor units must be an int, not {type(minor).__name__}")
    if abs(minor) > AMOUNT_MAX:
        raise ValueError(f"{minor} minor units is beyond AMOUNT_MAX; no ledger holds that")
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor))
    if currency.exponent == 0:
        return sign + digits
    digits = digits.rjust(currency.exponent + 1, "0")
    return f"{sign}{digits[: -currency.exponent]}.{digits[-currency.exponent :]}"


def format_amounts(minors: Sequence[int], currency: Currency) -> list[str]:
    """``format_amount`` of each of ``minors``: the checks once for the column, then one
    integer division per amount (a bulk message's notices format thousands)."""
    if not all(type(minor) is int for minor in minors):
        return [format_amount(minor, currency) for minor in minors]  # raises for the bad one
    if not minors or min(minors) < 0 or max(minors) > AMOUNT_MAX:
        return [format_amount(minor, currency) for minor in minors]
    exponent = currency.exponent
    if exponent == 0:
        return list(map(str, minors))
    template, scale = f"%d.%0{exponent}d", 10**exponent
    return [template % divmod(minor, scale) for minor in minors]


def _check_decimals(fraction_digits: int, shown: str, currency: Currency, field: str) -> None:
    if fraction_digits > currency.exponent:
        noun = "decimal" if fraction_digits == 1 else "decimals"
        reason = (
            f"{shown} has {fraction_digits} {noun} but {currency.code} allows {currency.exponent}"
        )
        raise MoneyError(field, reason, INVALID_AMOUNT)


def _checked_minor(minor: int, shown: str, currency: Currency, field: str) -> int:
    if minor == 0:
        raise MoneyError(field, f"{shown} is zero", ZERO_AMOUNT)
    if minor > AMOUNT_MAX:
        raise _above_max(shown, currency, field)
    return minor


def _above_max(shown: str, currency: Currency, field: str) -> MoneyError:
    largest = format_amount(AMOUNT_MAX, currency)
    reason = f"{shown} is above the largest amount the ledger holds ({largest} {currency.code})"
    return MoneyError(field, reason, NOT_ALLOWED_AMOUNT)
