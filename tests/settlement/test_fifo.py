"""FIFO multilateral offsetting: the largest feasible set of queue prefixes, found exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from samarkand.settlement import (
    InfeasibleSettlement,
    Queue,
    ensure_feasible,
    fifo_offset,
    is_feasible,
    settled_value,
)
from samarkand.settlement.lsm import VECTORISED_TOTAL_MAX
from tests.settlement.instances import (
    DETERMINISTIC,
    feasible_prefix_vectors,
    scaled,
    sender_queues,
    small_queues,
)

A, B, C, D = 0, 1, 2, 3


def settled_rows(queue: Queue, liquidity: list[int]) -> list[int]:
    return np.flatnonzero(fifo_offset(queue, np.array(liquidity, dtype=np.int64))).tolist()


def prefix_lengths(queue: Queue, settled: np.ndarray) -> tuple[int, ...]:
    """Per sender, how many of its payments settled, checking they form a prefix."""
    lengths = []
    for run in sender_queues(queue):
        flags = settled[run].tolist()
        length = sum(flags)
        assert flags == [True] * length + [False] * (len(run) - length), "not a prefix"
        lengths.append(length)
    return tuple(lengths)


# --- classic gridlocks ---------------------------------------------------------------


def test_a_ring_settles_in_full_without_liquidity() -> None:
    ring = Queue.from_rows([(A, B, 100), (B, C, 100), (C, A, 100)], participants=3)
    assert settled_rows(ring, [0, 0, 0]) == [0, 1, 2]


def test_a_ring_with_one_payment_too_big_settles_nothing() -> None:
    # A owes 150 but receives 100: short by 50, it drops its payment, and the ring unravels.
    ring = Queue.from_rows([(A, B, 150), (B, C, 100), (C, A, 100)], participants=3)
    assert settled_rows(ring, [0, 0, 0]) == []
    assert settled_rows(ring, [49, 0, 0]) == []
    assert settled_rows(ring, [50, 0, 0]) == [0, 1, 2]  # liquidity covering the gap frees it


def test_a_later_smaller_payment_never_settles_ahead_of_an_earlier_one() -> None:
    # A can pay 60: not its first payment (100), so not its second (10) either.
    queue = Queue.from_rows([(A, B, 100), (A, C, 10), (B, C, 5)], participants=3)
    assert settled_rows(queue, [60, 5, 0]) == [2]
    assert settled_rows(queue, [100, 5, 0]) == [0, 2]
    assert settled_rows(queue, [110, 5, 0]) == [0, 1, 2]


def test_a_payment_blocked_at_the_head_holds_back_its_sender_only() -> None:
    queue = Queue.from_rows(
        [(A, B, 500), (A, B, 1), (B, C, 30), (C, D, 20), (D, B, 10)], participants=4
    )
    # B, C and D form a chain funded by B's own 30; A's head payment is stuck.
    assert settled_rows(queue, [100, 30, 0, 0]) == [2, 3, 4]


def test_bilateral_offsetting_is_the_two_party_case() -> None:
    queue = Queue.from_rows([(A, B, 70), (B, A, 50), (B, A, 30)], participants=2)
    assert settled_rows(queue, [0, 0]) == []  # A receives 80 only if B pays 80 first
    assert settled_rows(queue, [0, 10]) == [0, 1, 2]  # B: −80 + 70 + 10 = 0
    assert settled_rows(queue, [20, 0]) == [0, 1]  # A: −70 + 50 + 20 = 0; B: −50 + 70 > 0


def test_an_empty_queue_settles_nothing() -> None:
    empty = Queue.from_rows([], participants=3)
    assert fifo_offset(empty, np.zeros(3, dtype=np.int64)).shape == (0,)


def test_bad_input_is_refused() -> None:
    queue = Queue.from_rows([(A, B, 1)], participants=2)
    with pytest.raises(ValueError):
        fifo_offset(queue, np.array([-1, 0], dtype=np.int64))
    with pytest.raises(ValueError):
        fifo_offset(queue, np.array([0], dtype=np.int64))
    with pytest.raises(ValueError):
        Queue.from_rows([(A, B, 0)], participants=2)
    with pytest.raises(ValueError):
        Queue.from_rows([(A, 2, 5)], participants=2)
    with pytest.raises(ValueError):
        Queue(
            sender=np.zeros(1, dtype=np.int32),
            receiver=np.zeros(1, dtype=np.int64),
            amount=np.ones(1, dtype=np.int64),
            participants=1,
        )


def test_queue_columns_are_read_only() -> None:
    queue = Queue.from_rows([(A, B, 1)], participants=2)
    with pytest.raises(ValueError):
        queue.amount[0] = 2


def test_the_feasibility_check_catches_a_negative_position() -> None:
    queue = Queue.from_rows([(A, B, 10)], participants=2)
    too_much = np.array([True])
    assert not is_feasible(queue, np.array([9, 0]), too_much)
    with pytest.raises(InfeasibleSettlement):
        ensure_feasible(queue, np.array([9, 0]), too_much)
    ensure_feasible(queue, np.array([10, 0]), too_much)


# --- the exact maximum ---------------------------------------------------------------


@DETERMINISTIC
@given(small_queues())
def test_fifo_settles_the_unique_largest_feasible_set_of_prefixes(instance) -> None:
    queue, liquidity = instance
    settled = fifo_offset(queue, liquidity)
    ensure_feasible(queue, liquidity, settled)
    feasible = feasible_prefix_vectors(queue, liquidity)
    maximal = [
        v for v in feasible if not any(w != v and all(map(int.__ge__, w, v)) for w in feasible)
    ]
    assert len(maximal) == 1, "the union of feasible prefix sets is feasible: one maximum"
    assert prefix_lengths(queue, settled) == maximal[0]


@DETERMINISTIC
@given(small_queues(to_self=True))
def test_a_payment_to_oneself_takes_its_turn_in_the_queue(instance) -> None:
    queue, liquidity = instance
    settled = fifo_offset(queue, liquidity)
    feasible = feasible_prefix_vectors(queue, liquidity)
    assert prefix_lengths(queue, settled) == max(feasible, key=sum)


# --- the exact path for amounts whose sums overflow int64 -----------------------------


@DETERMINISTIC
@given(small_queues(payments=(1, 8)))
def test_the_exact_path_settles_what_the_fast_path_settles(instance) -> None:
    queue, liquidity = instance
    factor = (2**63 - 1) // int(queue.amount.max())  # the largest amount nears int64's top
    wide_queue, wide_liquidity = scaled(queue, liquidity, factor)
    assert wide_queue.total_bound() > VECTORISED_TOTAL_MAX  # takes the exact path
    fast = fifo_offset(queue, liquidity)
    exact = fifo_offset(wide_queue, wide_liquidity)
    assert exact.tolist() == fast.tolist()
    ensure_feasible(wide_queue, wide_liquidity, exact)
    assert settled_value(wide_queue, exact) == settled_value(queue, fast) * factor


def test_a_ring_of_near_int64_amounts_settles_exactly() -> None:
    big = 2**63 - 1
    ring = Queue.from_rows([(A, B, big), (B, C, big), (C, A, big), (A, C, big)], participants=3)
    liquidity = np.array([big, 0, 0], dtype=np.int64)
    settled = fifo_offset(ring, liquidity)
    assert settled.tolist() == [True, True, True, True]
    assert settled_value(ring, settled) == 4 * big  # beyond int64, exact
    assert fifo_offset(ring, np.array([big - 1, 0, 0])).tolist() == [True, True, True, False]
