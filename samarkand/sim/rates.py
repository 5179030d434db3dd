"""Approximate units of each national currency per US dollar (data/fx_reference_rates.csv).

They size simulated amounts (a trade flow measured in dollars becomes plausible payment sizes
in each currency), seed the simulated FX providers' tiers, and stand in for the central banks'
reference rates in the statistics. They are rough, illustrative late-2025 levels (IRR at the
central bank's official rate), rounded; no central bank published them, and they never settle
anything. Held as exact integers: thousandths of a unit per dollar.
"""

from __future__ import annotations

from decimal import Decimal

from samarkand.sim.data import _rows


def _load() -> dict[str, int]:
    rates: dict[str, int] = {}
    for row in _rows("fx_reference_rates.csv"):
        milli = Decimal(row["units_per_usd"]) * 1000
        if milli != milli.to_integral_value() or milli <= 0:
            raise ValueError(f"fx_reference_rates.csv: {row['currency']} finer than 0.001")
        rates[row["currency"]] = int(milli)
    return rates


UNITS_PER_USD_MILLI: dict[str, int] = _load()
