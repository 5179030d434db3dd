"""Money for the Samarkand hub: currencies from ISO 4217 and exact minor-unit amounts.

Amounts are ints of minor units beside a ``Currency``; decimal text and ``Decimal`` appear
only at the edges (``parse_amount``, ``to_minor``, ``format_amount``). Bad input raises
``MoneyError`` carrying the ISO 20022 reason code. Standard library and ``iso4217`` only;
no I/O, clock, environment or randomness. See README.md beside this file for the policies.
"""

from .amount import AMOUNT_MAX, format_amount, format_amounts, parse_amount, to_minor
from .currency import Currency, iso_currency
from .errors import MoneyError
from .participants import default_registry
from .registry import CurrencyRegistry

__all__ = [
    "AMOUNT_MAX",
    "Currency",
    "CurrencyRegistry",
    "MoneyError",
    "default_registry",
    "format_amount",
    "format_amounts",
    "iso_currency",
    "parse_amount",
    "to_minor",
]
