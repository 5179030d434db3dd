"""The set of currencies a hub carries, looked up by ISO code or by ledger number.

The registry is immutable once built, so it can be shared by every stage of a batch without
locks or defensive copies. Lookups raise ``MoneyError`` because codes come from messages:
an unknown code is bad input (AM11), a carried currency that the operator has not enabled
for settlement is a policy refusal (AM03).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .currency import Currency, check_code_form, is_iso_code
from .errors import INVALID_CURRENCY, NOT_ALLOWED_CURRENCY, MoneyError


class CurrencyRegistry:
    """Currencies by code and by ledger number; iteration is in code order (deterministic)."""

    __slots__ = ("_by_code", "_by_ledger")

    def __init__(self, currencies: Iterable[Currency]) -> None:
        by_code: dict[str, Currency] = {}
        by_ledger: dict[int, Currency] = {}
        for currency in currencies:
            if not isinstance(currency, Currency):
                raise TypeError(f"CurrencyRegistry takes Currency values, not {currency!r}")
            # Two entries for one code or one ledger would make lookups depend on order.
            if currency.code in by_code:
                raise ValueError(f"currency {currency.code} is listed twice")
            if currency.ledger in by_ledger:
                other = by_ledger[currency.ledger].code
                raise ValueError(f"{currency.code} and {other} share ledger {currency.ledger}")
            by_code[currency.code] = currency
            by_ledger[currency.ledger] = currency
        self._by_code = dict(sorted(by_code.items()))
        self._by_ledger = by_ledger

    def get(self, code: str) -> Currency:
        """Return the carried currency for ``code``; MoneyError AM11 if malformed or not carried."""
        check_code_form(code)
        currency = self._by_code.get(code)
        if currency is None:
            if is_iso_code(code):
                reason = f"{code} is an ISO 4217 currency, but this hub does not carry it"
            else:
                reason = f"{code} is not a current ISO 4217 code (unknown, or withdrawn/historic)"
            raise MoneyError("currency", reason, INVALID_CURRENCY)
        return currency

    def by_ledger(self, ledger: int) -> Currency:
        """Return the currency whose ledger number is ``ledger``; MoneyError AM11 otherwise."""
        if not isinstance(ledger, int) or isinstance(ledger, bool):
            reason = f"ledger must be an int, not {type(ledger).__name__}"
            raise MoneyError("ledger", reason, INVALID_CURRENCY)
        currency = self._by_ledger.get(ledger)
        if currency is None:
            raise MoneyError("ledger", f"no currency has ledger {ledger}", INVALID_CURRENCY)
        return currency

    def settlement_currency(self, code: str) -> Currency:
        """Like ``get``, but MoneyError AM03 when the currency is not enabled for settlement."""
        currency = self.get(code)
        if not currency.settlement_allowed:
            reason = f"{code} is carried by this hub but not allowed for settlement"
            raise MoneyError("currency", reason, NOT_ALLOWED_CURRENCY)
        return currency

    def settlement_codes(self) -> tuple[str, ...]:
        """The codes enabled for settlement, sorted."""
        return tuple(code for code, c in self._by_code.items() if c.settlement_allowed)

    def __iter__(self) -> Iterator[Currency]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self._by_code

    def __repr__(self) -> str:
        return f"CurrencyRegistry({', '.join(self._by_code)})"
