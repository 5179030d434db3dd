"""The bank clearing problem solved exactly or bounded, with SciPy's HiGHS (DESIGN §5).

Maximise Σ amount·x over x ∈ {0, 1} (one per queued payment) subject to, for every
participant p: Σ_{sender = p} amount·x − Σ_{receiver = p} amount·x ≤ liquidity[p].

- `lp_upper_bound`: the LP relaxation (0 ≤ x ≤ 1). Its optimum bounds every feasible set's
  value from above; the bound returned is certified by weak duality from the solver's dual
  prices, so it stays a bound whatever the solver's tolerances.
- `milp_optimum`: the integer program itself, under a time limit; the set it returns is
  checked exactly, and repaired should the solver's float tolerance have let a participant
  go negative by a minor unit.

- `nonfifo_optimise`: the non-FIFO optimiser the engine runs: the fast heuristic
  (`lsm.nonfifo_offset`), then, on queues small enough, HiGHS's branch and bound stopped
  after a fixed number of nodes (a work limit, not a time limit, so the same queue always
  gives the same set); the better of the two exact-checked sets wins.

`lp_upper_bound` and `milp_optimum` are the yardsticks; they are slow on large queues.
Floats appear here only as solver input and dual prices, never as settled money: every
returned value is an exact int.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from samarkand.settlement.lsm import (
    Queue,
    is_feasible,
    nonfifo_offset,
    positions,
    repair,
    settled_value,
)

if TYPE_CHECKING:
    from scipy.sparse import csr_array

# SciPy is imported where HiGHS is called, not with this module: importing it takes about a
# second, which every command and every start of the service would pay for a search that
# most of them never run.

# Branch-and-bound nodes the optimiser lets HiGHS explore (deterministic work limit), the
# largest queue it hands to HiGHS, and a wall-clock cap that only a pathological queue meets.
OPTIMISER_NODE_LIMIT = 50
OPTIMISER_SIZE_MAX = 2_000
OPTIMISER_TIME_CAP_S = 10.0

# The weak-duality bound is evaluated in float64; this relative margin (far above float64's
# rounding over a million terms) keeps it a bound after rounding.
BOUND_MARGIN_RELATIVE = 1e-9


def lp_upper_bound(queue: Queue, liquidity: np.ndarray) -> int:
    """An upper bound of the best settleable value: the LP relaxation's optimum, certified.

    From the LP's dual prices y ≥ 0 (one per participant), weak duality gives the bound
    Σ_p liquidity[p]·y[p] + Σ_i amount[i]·max(0, 1 − y[sender] + y[receiver]) for any
    y ≥ 0, and it equals the LP optimum at the optimal y.
    """
    if queue.size == 0:
        return 0
    from scipy.optimize import linprog

    cash, scale = _scaled_problem(queue, liquidity)
    matrix = _constraint_matrix(queue, scale)
    result = linprog(
        -queue.amount / scale,
        A_ub=matrix,
        b_ub=cash / scale,
        bounds=(0, 1),
        method="highs",
    )
    if result.status != 0:
        raise RuntimeError(f"LP relaxation not solved: {result.message}")
    price = np.maximum(-result.ineqlin.marginals, 0.0)
    amount = queue.amount.astype(np.float64)
    slack = np.maximum(0.0, 1.0 - price[queue.sender] + price[queue.receiver])
    bound = math.fsum((cash * price).tolist()) + math.fsum((amount * slack).tolist())
    return math.ceil(bound * (1 + BOUND_MARGIN_RELATIVE))


def nonfifo_optimise(
    queue: Queue,
    liquidity: np.ndarray,
    *,
    budget_iterations: int | None = None,
    node_limit: int = OPTIMISER_NODE_LIMIT,
    size_max: int = OPTIMISER_SIZE_MAX,
) -> np.ndarray:
    """The most valuable settleable set found by the heuristic and a bounded branch and bound.

    HiGHS's MIP code may print diagnostic lines on file descriptor 1 by itself; callers that
    own a terminal silence it (the hub does).
    """
    options = {} if budget_iterations is None else {"budget_iterations": budget_iterations}
    best = nonfifo_offset(queue, liquidity, **options)
    if queue.size == 0 or queue.size > size_max:
        return best
    exact, _ = milp_optimum(queue, liquidity, OPTIMISER_TIME_CAP_S, node_limit=node_limit)
    if settled_value(queue, exact) > settled_value(queue, best):
        return exact
    return best


def milp_optimum(
    queue: Queue, liquidity: np.ndarray, time_limit_s: float, *, node_limit: int | None = None
) -> tuple[np.ndarray, bool]:
    """The best settleable set by branch and bound, and whether HiGHS proved it optimal.

    HiGHS stops by default at a relative gap of 1e-4, which lets a set 0.01 % below the
    optimum pass as optimal; this asks for a gap of zero, so proven means optimal up to the
    solver's float tolerances. A set the solver's feasibility tolerance let slip below zero
    is repaired exactly and then counts as not proven.
    """
    if time_limit_s <= 0:
        raise ValueError(f"time_limit_s must be > 0: {time_limit_s}")
    if queue.size == 0:
        return np.zeros(0, dtype=bool), True
    from scipy.optimize import Bounds, LinearConstraint, milp

    cash, scale = _scaled_problem(queue, liquidity)
    matrix = _constraint_matrix(queue, scale)
    result = milp(
        -queue.amount / scale,
        integrality=np.ones(queue.size),
        bounds=Bounds(0, 1),
        constraints=LinearConstraint(matrix, -np.inf, cash / scale),
        options={"time_limit": time_limit_s, "mip_rel_gap": 0.0}
        | ({} if node_limit is None else {"node_limit": node_limit}),
    )
    if result.x is None:
        return np.zeros(queue.size, dtype=bool), False
    settled = result.x > 0.5
    proven = result.status == 0
    if not is_feasible(queue, liquidity, settled):
        # The solver's feasibility tolerance let a position dip below zero: repair exactly.
        settled = repair(queue, liquidity, settled)
        proven = False
    return settled, proven


def _scaled_problem(queue: Queue, liquidity: np.ndarray) -> tuple[np.ndarray, float]:
    """Liquidity as floats (capped at each sender's gross outflow) and a power-of-two scale.

    Dividing by a power of two is exact in floating point and brings the largest amount
    near 1, which keeps HiGHS well conditioned for amounts up to any size.
    """
    checked = positions(queue, liquidity, np.zeros(queue.size, dtype=bool))  # ints, >= 0
    gross = np.zeros(queue.participants, dtype=np.float64)
    np.add.at(gross, queue.sender, queue.amount.astype(np.float64))
    cash = np.minimum(np.array(checked, dtype=np.float64), gross)
    scale = math.ldexp(1.0, int(queue.amount.max()).bit_length())
    return cash, scale


def _constraint_matrix(queue: Queue, scale: float) -> csr_array:
    """One row per participant: +amount where it sends, −amount where it receives."""
    from scipy.sparse import csr_array

    columns = np.arange(queue.size)
    amount = queue.amount / scale
    return csr_array(
        (
            np.concatenate([amount, -amount]),
            (np.concatenate([queue.sender, queue.receiver]), np.concatenate([columns, columns])),
        ),
        shape=(queue.participants, queue.size),
    )
