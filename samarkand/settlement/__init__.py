"""Settlement: the RTGS queue's liquidity-saving mechanisms and the optimiser (DESIGN §5)."""

from samarkand.settlement.lsm import (
    InfeasibleSettlement,
    Queue,
    ensure_feasible,
    fifo_offset,
    is_feasible,
    nonfifo_offset,
    positions,
    repair,
    settled_value,
)

__all__ = [
    "InfeasibleSettlement",
    "Queue",
    "ensure_feasible",
    "fifo_offset",
    "is_feasible",
    "nonfifo_offset",
    "positions",
    "repair",
    "settled_value",
]
