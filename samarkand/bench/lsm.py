"""`samarkand benchmark lsm`: gridlock resolution with FIFO and without it (DESIGN §5, §10).

Four measurements, each against its yardstick in the same run:

- FIFO: `fifo_offset` on 1,000 participants × 100,000 queued payments in gridlock (median of
  several runs; the target is ≤ 100 ms).
- Non-FIFO against the exact optimum: `nonfifo_offset` on seeded medium instances (20–50
  participants, 100–400 payments), divided by `milp_optimum`'s value, over the instances
  where HiGHS proved optimality within its time limit (the target is ≥ 99.5 %).
- Non-FIFO against the LP bound on larger instances, where no exact optimum is at hand.
- Non-FIFO against FIFO on the same instances, and its time on the big instance.

Every set returned is checked feasible with exact integers before it counts. The result is a
flat dict of numbers so that other measurements (e.g. `liquidity_saving_pct`, which needs
the simulated business day) can be added beside these without changing them.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.table import Table

from samarkand.hub.quiet import quiet_stdout
from samarkand.settlement import Queue, ensure_feasible, fifo_offset, nonfifo_offset, settled_value
from samarkand.settlement.optimise import lp_upper_bound, milp_optimum, nonfifo_optimise

NS_PER_MS = 1_000_000
BIG_PARTICIPANTS = 1_000
BIG_QUEUED = 100_000
FIFO_RUNS = 7
NONFIFO_RUNS = 3
MEDIUM_INSTANCES = 12
MILP_TIME_LIMIT_S = 10.0
LARGE_SHAPES = ((200, 5_000), (500, 20_000))  # (participants, payments) for the LP ratio


def gridlock_instance(
    seed: int,
    *,
    participants: int,
    payments: int,
    liquidity_share: tuple[float, float] = (0.05, 0.20),
    tail: str = "lognormal",
    tail_parameter: float | None = None,
) -> tuple[Queue, np.ndarray]:
    """A queue in gridlock and each participant's liquidity, the same for the same seed.

    Participants differ in size (log-normal weights with σ = 1: a few large banks send and
    receive most payments); amounts are heavy-tailed around 10^6 minor units: `tail`
    "lognormal" (σ = `tail_parameter`, default 2) or "pareto" (shape `tail_parameter`,
    default 1.2). Each participant holds a share, drawn uniformly from `liquidity_share`,
    of its gross queued outflow: liquidity is scarce and much of the queue is stuck.
    """
    if participants < 2 or payments < 0:
        raise ValueError("a gridlock needs at least 2 participants and payments >= 0")
    rng = np.random.default_rng(seed)
    weight = rng.lognormal(0.0, 1.0, participants)
    cumulative = np.cumsum(weight / weight.sum())
    cumulative[-1] = 1.0
    sender = np.searchsorted(cumulative, rng.random(payments), side="right")
    receiver = np.searchsorted(cumulative, rng.random(payments), side="right")
    # A payment to oneself is no payment: send it to another participant instead.
    same = sender == receiver
    shift = 1 + rng.integers(0, participants - 1, int(same.sum()))
    receiver[same] = (receiver[same] + shift) % participants
    if tail == "lognormal":
        amount = rng.lognormal(np.log(1e6), tail_parameter or 2.0, payments)
    elif tail == "pareto":
        amount = (rng.pareto(tail_parameter or 1.2, payments) + 1.0) * 1e5
    else:
        raise ValueError(f"unknown tail {tail!r}")
    amount = np.clip(np.rint(amount), 1, 10**15).astype(np.int64)
    gross = np.zeros(participants, dtype=np.int64)
    np.add.at(gross, sender, amount)
    share = rng.uniform(*liquidity_share, participants)
    liquidity = np.floor(gross * share).astype(np.int64)
    queue = Queue(
        sender=sender.astype(np.int64),
        receiver=receiver.astype(np.int64),
        amount=amount,
        participants=participants,
    )
    return queue, liquidity


def medium_instance(seed: int) -> tuple[Queue, np.ndarray]:
    """One of the medium instances the optimum is measured on: 20–50 participants and
    100–400 payments drawn from the seed, log-normal amounts for even seeds, Pareto for odd."""
    rng = np.random.default_rng([seed, 20_50])
    participants = int(rng.integers(20, 51))
    payments = int(rng.integers(100, 401))
    tail = "lognormal" if seed % 2 == 0 else "pareto"
    return gridlock_instance(seed, participants=participants, payments=payments, tail=tail)


@dataclass(frozen=True, slots=True)
class OptimumComparison:
    """Heuristic, FIFO and exact values on one medium instance."""

    seed: int
    heuristic: int  # the heuristic alone
    optimiser: int  # what the engine runs: heuristic, then bounded branch and bound
    fifo: int
    optimum: int
    proven: bool


def compare_with_optimum(seed: int, time_limit_s: float) -> OptimumComparison:
    queue, liquidity = medium_instance(seed)
    heuristic = nonfifo_offset(queue, liquidity)
    fifo = fifo_offset(queue, liquidity)
    with quiet_stdout():
        optimiser = nonfifo_optimise(queue, liquidity)
        optimum, proven = milp_optimum(queue, liquidity, time_limit_s)
    for settled in (heuristic, optimiser, fifo, optimum):
        ensure_feasible(queue, liquidity, settled)
    return OptimumComparison(
        seed=seed,
        heuristic=settled_value(queue, heuristic),
        optimiser=settled_value(queue, optimiser),
        fifo=settled_value(queue, fifo),
        optimum=settled_value(queue, optimum),
        proven=proven,
    )


def run_lsm_benchmark(seed: int, console: Console) -> dict[str, float | int]:
    """Run every measurement, print a short table, and return the numbers."""
    result: dict[str, float | int] = {}
    queue, liquidity = gridlock_instance(seed, participants=BIG_PARTICIPANTS, payments=BIG_QUEUED)
    fifo_ns, fifo = _timed(lambda: fifo_offset(queue, liquidity), FIFO_RUNS)
    ensure_feasible(queue, liquidity, fifo)
    nonfifo_ns, nonfifo = _timed(lambda: nonfifo_offset(queue, liquidity), NONFIFO_RUNS)
    ensure_feasible(queue, liquidity, nonfifo)
    big_fifo_value = settled_value(queue, fifo)
    big_value = settled_value(queue, nonfifo)
    big_bound = lp_upper_bound(queue, liquidity)
    result |= {
        "fifo_ms": fifo_ns / NS_PER_MS,
        "fifo_participants": BIG_PARTICIPANTS,
        "fifo_queued": BIG_QUEUED,
        "fifo_settled_share_pct": 100 * big_fifo_value / int(queue.amount.sum()),
        "nonfifo_ms": nonfifo_ns / NS_PER_MS,
        "nonfifo_big_value_ratio_to_lp": big_value / big_bound,
        "nonfifo_big_gain_over_fifo_pct": 100 * (big_value / big_fifo_value - 1),
    }

    comparisons = [
        compare_with_optimum(seed * 1_000 + k, MILP_TIME_LIMIT_S) for k in range(MEDIUM_INSTANCES)
    ]
    proven = [c for c in comparisons if c.proven and c.optimum > 0]
    ratios = [c.optimiser / c.optimum for c in proven]
    heuristic_ratios = [c.heuristic / c.optimum for c in proven]
    gains = [100 * (c.optimiser / c.fifo - 1) for c in comparisons if c.fifo > 0]
    result |= {
        "nonfifo_value_ratio_to_opt": statistics.fmean(ratios) if ratios else float("nan"),
        "nonfifo_value_ratio_to_opt_min": min(ratios, default=float("nan")),
        "nonfifo_heuristic_ratio_to_opt": (
            statistics.fmean(heuristic_ratios) if heuristic_ratios else float("nan")
        ),
        "nonfifo_heuristic_ratio_to_opt_min": min(heuristic_ratios, default=float("nan")),
        "nonfifo_opt_instances": len(proven),
        "nonfifo_opt_instances_tried": len(comparisons),
        "nonfifo_gain_over_fifo_pct": statistics.fmean(gains) if gains else float("nan"),
    }

    lp_ratios = []
    for k, (participants, payments) in enumerate(LARGE_SHAPES):
        large, cash = gridlock_instance(
            seed * 1_000 + 500 + k, participants=participants, payments=payments
        )
        settled = nonfifo_offset(large, cash)
        ensure_feasible(large, cash, settled)
        lp_ratios.append(settled_value(large, settled) / lp_upper_bound(large, cash))
    lp_ratios.append(result["nonfifo_big_value_ratio_to_lp"])
    result["nonfifo_value_ratio_to_lp"] = statistics.fmean(lp_ratios)
    result["nonfifo_value_ratio_to_lp_min"] = min(lp_ratios)
    console.print(_table(result))
    return result


def _timed(run, runs: int) -> tuple[float, np.ndarray]:
    """Median wall time of `runs` calls in nanoseconds, and the last result."""
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        settled = run()
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times), settled


def _table(result: dict[str, float | int]) -> Table:
    table = Table(title="Liquidity-saving mechanisms")
    table.add_column("measurement")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    rows = [
        (
            f"FIFO offset, {result['fifo_participants']:,} participants × "
            f"{result['fifo_queued']:,} queued",
            f"{result['fifo_ms']:.1f} ms",
            "≤ 100 ms",
        ),
        ("non-FIFO offset, same queue", f"{result['nonfifo_ms']:.0f} ms", "< 1,000 ms"),
        (
            f"non-FIFO / MILP optimum (mean of {result['nonfifo_opt_instances']} proven "
            f"of {result['nonfifo_opt_instances_tried']})",
            f"{100 * result['nonfifo_value_ratio_to_opt']:.2f} %",
            "≥ 99.5 %",
        ),
        (
            "non-FIFO / MILP optimum, worst instance",
            f"{100 * result['nonfifo_value_ratio_to_opt_min']:.2f} %",
            "",
        ),
        (
            "heuristic alone / MILP optimum (mean, worst)",
            f"{100 * result['nonfifo_heuristic_ratio_to_opt']:.2f} %, "
            f"{100 * result['nonfifo_heuristic_ratio_to_opt_min']:.2f} %",
            "",
        ),
        (
            "non-FIFO / LP bound, larger instances (mean)",
            f"{100 * result['nonfifo_value_ratio_to_lp']:.2f} %",
            "",
        ),
        (
            "non-FIFO value over FIFO, medium instances (mean)",
            f"+{result['nonfifo_gain_over_fifo_pct']:.1f} %",
            "",
        ),
        (
            "non-FIFO value over FIFO, big queue",
            f"+{result['nonfifo_big_gain_over_fifo_pct']:.1f} %",
            "",
        ),
    ]
    for row in rows:
        table.add_row(*row)
    return table
