"""Approximate units of each national currency per US dollar, for sizing simulated amounts.

These turn a trade flow measured in dollars into plausible payment sizes in each currency.
They are rough late-2025 levels (IRR at the central bank's official rate), rounded; they are
never used to settle anything. Stored as exact integers: thousandths of a unit per dollar.
"""

UNITS_PER_USD_MILLI: dict[str, int] = {
    "CNY": 7_100,
    "RUB": 80_000,
    "INR": 88_000,
    "PKR": 281_000,
    "KZT": 520_000,
    "KGS": 87_400,
    "TJS": 9_300,
    "UZS": 12_000_000,
    "IRR": 42_000_000,
    "BYN": 3_000,
    "AFN": 66_000,
    "MNT": 3_400_000,
    "AMD": 385_000,
    "AZN": 1_700,
    "KHR": 4_010_000,
    "NPR": 141_000,
    "LKR": 300_000,
    "TRY": 42_000,
    "EGP": 47_500,
    "USD": 1_000,
    "EUR": 860,
}
