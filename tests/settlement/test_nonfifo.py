"""Non-FIFO offsetting (the bank clearing problem): feasible always, near the optimum."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samarkand.bench.lsm import (
    OptimumComparison,
    compare_with_optimum,
    gridlock_instance,
    medium_instance,
)
from samarkand.hub.quiet import quiet_stdout
from samarkand.settlement import (
    Queue,
    ensure_feasible,
    fifo_offset,
    is_feasible,
    nonfifo_offset,
    repair,
    settled_value,
)
from samarkand.settlement.optimise import lp_upper_bound, milp_optimum, nonfifo_optimise
from tests.settlement.instances import (
    DETERMINISTIC,
    best_subset_value,
    scaled,
    small_queues,
)

A, B, C, D = 0, 1, 2, 3
MEDIUM_SEEDS = range(8)
MILP_TIME_LIMIT_S = 10.0
TARGET_RATIO = 0.995  # DESIGN §10: non-FIFO settlement ≥ 99.5 % of the exact optimum
REACHED_RATIO = 0.975  # what the heuristic reaches on MEDIUM_SEEDS today (0.988): a floor


def value_of(queue: Queue, liquidity: list[int], **options: int) -> int:
    cash = np.array(liquidity, dtype=np.int64)
    settled = nonfifo_offset(queue, cash, **options)
    ensure_feasible(queue, cash, settled)
    return settled_value(queue, settled)


# --- small cases by hand -------------------------------------------------------------


def test_without_fifo_a_smaller_later_payment_may_settle() -> None:
    queue = Queue.from_rows([(A, B, 100), (A, C, 10), (B, C, 5)], participants=3)
    assert value_of(queue, [60, 5, 0]) == 15  # FIFO settles 5 only
    assert settled_value(queue, fifo_offset(queue, np.array([60, 5, 0]))) == 5


def test_value_counts_not_the_first_or_largest_payment() -> None:
    # A can pay 100: its largest payment (60) alone, or both others (50 + 50).
    queue = Queue.from_rows([(A, B, 60), (A, C, 50), (A, D, 50)], participants=4)
    assert value_of(queue, [100, 0, 0, 0]) == 100


def test_an_exchange_that_no_single_payment_can_start() -> None:
    # B's 1,324,100 to A needs A's 922,279 back, which A can pay only once B's has arrived.
    rows = [
        (A, C, 1_426_658),
        (B, A, 1_432_906),
        (A, C, 847_658),
        (A, B, 922_279),
        (B, A, 1_324_100),
        (A, C, 2_523_850),
        (B, C, 319_116),
        (A, C, 307_663),
        (B, A, 1_610_798),
    ]
    queue = Queue.from_rows(rows, participants=3)
    liquidity = [798_944, 448_762, 0]
    assert value_of(queue, liquidity) == 3_401_700
    assert best_subset_value(queue, np.array(liquidity)) == 3_401_700


def test_a_payment_to_oneself_always_settles() -> None:
    queue = Queue.from_rows([(A, A, 500), (A, B, 10)], participants=2)
    assert value_of(queue, [0, 0]) == 500


def test_an_empty_queue_and_a_zero_budget() -> None:
    assert nonfifo_offset(Queue.from_rows([], 2), np.zeros(2, dtype=np.int64)).shape == (0,)
    queue, liquidity = medium_instance(3)
    settled = nonfifo_offset(queue, liquidity, budget_iterations=0)
    ensure_feasible(queue, liquidity, settled)
    assert settled_value(queue, settled) >= settled_value(queue, fifo_offset(queue, liquidity))
    with pytest.raises(ValueError):
        nonfifo_offset(queue, liquidity, budget_iterations=-1)


def test_the_same_input_gives_the_same_set() -> None:
    queue, liquidity = medium_instance(5)
    first = nonfifo_offset(queue, liquidity)
    assert nonfifo_offset(queue, liquidity).tolist() == first.tolist()
    again, cash = medium_instance(5)  # the generator too is deterministic by seed
    assert nonfifo_offset(again, cash).tolist() == first.tolist()


# --- properties ----------------------------------------------------------------------


@DETERMINISTIC
@given(small_queues(payments=(0, 10), to_self=True))
def test_the_heuristic_is_feasible_and_never_beats_the_brute_force_optimum(instance) -> None:
    queue, liquidity = instance
    settled = nonfifo_offset(queue, liquidity)
    ensure_feasible(queue, liquidity, settled)
    value = settled_value(queue, settled)
    assert settled_value(queue, fifo_offset(queue, liquidity)) <= value
    assert value <= best_subset_value(queue, liquidity)


def test_the_heuristic_finds_the_optimum_of_small_heavy_tailed_gridlocks() -> None:
    found, tried = 0, 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        queue, liquidity = gridlock_instance(
            seed,
            participants=int(rng.integers(3, 7)),
            payments=int(rng.integers(6, 13)),
            tail="lognormal" if seed % 2 == 0 else "pareto",
        )
        value = settled_value(queue, nonfifo_offset(queue, liquidity))
        best = best_subset_value(queue, liquidity)
        assert value <= best
        found += value == best
        tried += 1
    assert found >= 0.9 * tried, f"optimal on {found} of {tried}"


@settings(derandomize=True, database=None, max_examples=100, deadline=None)
@given(small_queues(payments=(1, 8)))
def test_huge_amounts_take_the_exact_path_to_the_same_set(instance) -> None:
    queue, liquidity = instance
    factor = (2**63 - 1) // int(queue.amount.max())
    wide_queue, wide_liquidity = scaled(queue, liquidity, factor)
    settled = nonfifo_offset(wide_queue, wide_liquidity)
    ensure_feasible(wide_queue, wide_liquidity, settled)
    assert settled_value(wide_queue, settled) == factor * settled_value(
        queue, nonfifo_offset(queue, liquidity)
    )


@DETERMINISTIC
@given(small_queues(payments=(0, 10)), st.randoms(use_true_random=False))
def test_repair_makes_any_set_feasible_without_losing_what_could_stay(instance, random) -> None:
    queue, liquidity = instance
    wanted = np.array([random.random() < 0.7 for _ in range(queue.size)], dtype=bool)
    settled = repair(queue, liquidity, wanted)
    ensure_feasible(queue, liquidity, settled)
    if is_feasible(queue, liquidity, wanted):
        assert (settled >= wanted).all(), "a feasible set only grows"


# --- against the exact optimum and the LP bound ----------------------------------------


@settings(derandomize=True, database=None, max_examples=60, deadline=None)
@given(small_queues(payments=(0, 9)))
def test_milp_is_optimal_and_the_lp_bound_bounds_it(instance) -> None:
    queue, liquidity = instance
    settled, proven = milp_optimum(queue, liquidity, time_limit_s=5.0)
    ensure_feasible(queue, liquidity, settled)
    best = best_subset_value(queue, liquidity)
    assert proven
    assert settled_value(queue, settled) == best
    assert lp_upper_bound(queue, liquidity) >= best


@pytest.fixture(scope="module")
def comparisons() -> list[OptimumComparison]:
    return [compare_with_optimum(seed, MILP_TIME_LIMIT_S) for seed in MEDIUM_SEEDS]


def ratios(comparisons: list[OptimumComparison]) -> list[float]:
    return [c.heuristic / c.optimum for c in comparisons if c.proven and c.optimum]


@pytest.mark.slow
def test_milp_proves_most_medium_gridlocks_optimal(comparisons) -> None:
    # A busy machine may stop HiGHS at its time limit; the ratios count proven ones only.
    assert sum(c.proven for c in comparisons) >= len(comparisons) - 2


@pytest.mark.slow
def test_lp_bound_then_milp_then_heuristic_then_fifo(comparisons) -> None:
    for c in comparisons:
        queue, liquidity = medium_instance(c.seed)
        assert lp_upper_bound(queue, liquidity) >= c.optimum >= c.heuristic >= c.fifo


@pytest.mark.slow
def test_the_heuristic_stays_near_the_optimum(comparisons, record_property) -> None:
    found = ratios(comparisons)
    record_property("nonfifo_ratio_mean", statistics.fmean(found))
    record_property("nonfifo_ratio_min", min(found))
    assert statistics.fmean(found) >= REACHED_RATIO, f"mean {statistics.fmean(found):.4f}"
    assert min(found) >= 0.95, f"worst {min(found):.4f}"


@pytest.mark.slow
@pytest.mark.slow
def test_the_optimiser_reaches_the_design_target(comparisons) -> None:
    """What the engine runs (heuristic, then HiGHS's branch and bound stopped after a fixed
    number of nodes) reaches DESIGN §10's 99.5 % of the proven optimum, on average and on
    every instance, and never settles less than the heuristic alone."""
    proven = [c for c in comparisons if c.proven and c.optimum]
    assert proven
    found = [c.optimiser / c.optimum for c in proven]
    assert statistics.fmean(found) >= TARGET_RATIO, f"mean {statistics.fmean(found):.4f}"
    assert min(found) >= TARGET_RATIO, f"worst {min(found):.4f}"
    assert all(c.optimum >= c.optimiser >= c.heuristic for c in comparisons)


def test_the_optimiser_is_deterministic_and_feasible() -> None:
    queue, liquidity = medium_instance(3)
    with quiet_stdout():
        first = nonfifo_optimise(queue, liquidity)
        second = nonfifo_optimise(queue, liquidity)
    ensure_feasible(queue, liquidity, first)
    assert np.array_equal(first, second)


@pytest.mark.xfail(
    strict=True,
    reason="DESIGN §10 asks ≥ 99.5 % of the optimum; the heuristic alone reaches about "
    "98-99 % on these seeds and about 96-97 % on harder ones, so the optimiser adds a "
    "bounded branch and bound (samarkand benchmark lsm)",
)
def test_the_heuristic_reaches_the_design_target(comparisons) -> None:
    found = ratios(comparisons)
    assert statistics.fmean(found) >= TARGET_RATIO, f"mean {statistics.fmean(found):.4f}"
