"""Liquidity saved on the simulated business day, for `samarkand benchmark lsm`.

The day runs through the hub on an in-memory store (durability does not change what
settles). Baseline, from the same day's payments: pure gross settlement, each payment on
arrival, needs the upper bound; the saving is `1 - used / upper bound`, on the payments that
settled. The ceiling `1 - lower / upper bound` says how much any mechanism could save.
"""

from __future__ import annotations

import time

from samarkand.analytics.day import summarise
from samarkand.sim.day import DayConfig, simulate_day
from samarkand.sim.run import RunConfig, run_day
from samarkand.store import DurableLedger, MemoryStore


def measure_liquidity_saving(config: DayConfig, run_config: RunConfig | None = None) -> dict:
    run_config = run_config or RunConfig()
    day = simulate_day(config)
    started = time.perf_counter()
    run = run_day(day, DurableLedger.open(MemoryStore()), run_config)
    elapsed = time.perf_counter() - started
    summary = summarise(run)
    trade_only = summarise(
        run_day(
            simulate_day(DayConfig(**{**_fields(config), "interbank_pct": 0})),
            DurableLedger.open(MemoryStore()),
            run_config,
        )
    )
    return {
        "liquidity_saving_pct": _round(summary.liquidity_saving_pct),
        "liquidity_saving_ceiling_pct": _round(summary.saving_ceiling_pct),
        "liquidity_saving_trade_only_pct": _round(trade_only.liquidity_saving_pct),
        "liquidity_saving_trade_only_ceiling_pct": _round(trade_only.saving_ceiling_pct),
        "day_payments": summary.payments,
        "day_settled_pct": round(100.0 * summary.settled / summary.payments, 3)
        if summary.payments
        else None,
        "day_settled_value_pct": round(
            100.0 * summary.settled_value_usd_cents / summary.received_value_usd_cents, 3
        )
        if summary.received_value_usd_cents
        else None,
        "day_queued_pct": round(summary.queued_share_pct, 3),
        "day_delay_p99_s": summary.delay_percentiles_s["p99"],
        "day_gridlocks_resolved": summary.gridlocks_resolved,
        "day_run_s": round(elapsed, 3),
        "day_interbank_pct": config.interbank_pct,
        "day_liquidity_pct": config.liquidity_pct,
    }


def _fields(config: DayConfig) -> dict:
    return {name: getattr(config, name) for name in DayConfig.__dataclass_fields__}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
