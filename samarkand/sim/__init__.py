"""Scenarios: participants, trade-calibrated payment flows and liquidity for simulated days."""
