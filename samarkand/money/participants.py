"""The hub's default currencies: those of the SCO participant countries, plus USD and EUR.

National currencies settle by default. USD and EUR are carried as "vehicle" currencies
(for quotes and reporting) but are not enabled for settlement unless the operator says so,
because the hub exists to settle in national currencies. Exponents follow ISO 4217 unless
overridden; see the policy in ``samarkand.money.currency``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping

from .currency import EXPONENT_MAX, Currency, check_code_form, iso_currency
from .errors import INVALID_CURRENCY, MoneyError, preview
from .registry import CurrencyRegistry

# Source: /work/shared/data/sco_participants.csv (copied unchanged to samarkand/data/), column
# currency_iso4217, in file order: members, observers, then dialogue partners. Hard-coded so
# that building the registry reads no file; tests pin each code's numeric code and exponent
# and compare this list with the CSV.
SCO_PARTICIPANT_CURRENCY_CODES: tuple[str, ...] = (
    # members
    "CNY", "RUB", "INR", "PKR", "KZT", "KGS", "TJS", "UZS", "IRR", "BYN",
    # observers
    "AFN", "MNT",
    # dialogue partners
    "AMD", "AZN", "KHR", "NPR", "LKR", "TRY", "EGP", "QAR", "SAR", "KWD", "MVR", "MMK", "AED",
    "BHD",
)  # fmt: skip

VEHICLE_CURRENCY_CODES: tuple[str, ...] = ("USD", "EUR")


def default_registry(
    *,
    settlement_allowed: Iterable[str] | None = None,
    exponent_overrides: Mapping[str, int] | None = None,
) -> CurrencyRegistry:
    """Build the hub's registry from ISO 4217, applying the operator's policy.

    ``settlement_allowed``, when given, is the exact set of codes enabled for settlement
    (default: every national currency, not USD or EUR). ``exponent_overrides`` maps a code to
    the exponent the hub uses instead of ISO's, 0..4. A code that the hub does not carry, or a
    bad exponent, raises MoneyError (AM11) naming the parameter, so a mistyped policy fails at
    start-up instead of silently doing nothing.

    Without either, the one standard registry, built once (a registry is never changed
    after it is made): messages and their answers look currencies up by it many times a
    second.
    """
    if settlement_allowed is None and exponent_overrides is None:
        return _standard_registry()
    return _registry(settlement_allowed, exponent_overrides)


@functools.cache
def _standard_registry() -> CurrencyRegistry:
    return _registry(None, None)


def _registry(
    settlement_allowed: Iterable[str] | None, exponent_overrides: Mapping[str, int] | None
) -> CurrencyRegistry:
    codes = SCO_PARTICIPANT_CURRENCY_CODES + VEHICLE_CURRENCY_CODES
    allowed = _checked_settlement_allowed(settlement_allowed, codes)
    overrides = _checked_exponent_overrides(exponent_overrides, codes)
    currencies: list[Currency] = []
    for code in codes:
        currency = iso_currency(code)
        currency = dataclasses.replace(
            currency,
            exponent=overrides.get(code, currency.iso_exponent),
            settlement_allowed=code in allowed,
        )
        currencies.append(currency)
    return CurrencyRegistry(currencies)


def _checked_settlement_allowed(
    settlement_allowed: Iterable[str] | None, codes: tuple[str, ...]
) -> frozenset[str]:
    field = "settlement_allowed"
    if settlement_allowed is None:
        return frozenset(SCO_PARTICIPANT_CURRENCY_CODES)
    # A lone string is iterable too: "USD" would mean {"U", "S", "D"}.
    if isinstance(settlement_allowed, str):
        shown = preview(settlement_allowed)
        reason = f"expected a collection of codes, not the single string {shown}"
        raise MoneyError(field, reason, INVALID_CURRENCY)
    allowed = frozenset(settlement_allowed)
    for code in sorted(allowed, key=repr):
        _check_carried(code, codes, field)
    return allowed


def _checked_exponent_overrides(
    exponent_overrides: Mapping[str, int] | None, codes: tuple[str, ...]
) -> dict[str, int]:
    field = "exponent_overrides"
    if exponent_overrides is None:
        return {}
    if not isinstance(exponent_overrides, Mapping):
        reason = f"expected a mapping of code to exponent, not {type(exponent_overrides).__name__}"
        raise MoneyError(field, reason, INVALID_CURRENCY)
    overrides = dict(exponent_overrides)
    for code, exponent in sorted(overrides.items(), key=repr):
        _check_carried(code, codes, field)
        if isinstance(exponent, bool) or not isinstance(exponent, int):
            reason = f"exponent for {code} must be an int, not {type(exponent).__name__}"
            raise MoneyError(field, reason, INVALID_CURRENCY)
        if not 0 <= exponent <= EXPONENT_MAX:
            reason = f"exponent for {code} must be 0..{EXPONENT_MAX}, not {exponent}"
            raise MoneyError(field, reason, INVALID_CURRENCY)
    return overrides


def _check_carried(code: object, codes: tuple[str, ...], field: str) -> None:
    check_code_form(code, field=field)
    if code not in codes:
        reason = f"{code} is not a currency this hub carries ({', '.join(sorted(codes))})"
        raise MoneyError(field, reason, INVALID_CURRENCY)
