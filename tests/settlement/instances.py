"""Small queues for the settlement tests: hypothesis strategies, fixtures and brute force."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

from samarkand.settlement import Queue

# Deterministic (same examples every run) and without an example database on disk.
DETERMINISTIC = settings(derandomize=True, database=None, max_examples=300, deadline=None)


@st.composite
def small_queues(
    draw: st.DrawFn,
    *,
    participants: tuple[int, int] = (2, 5),
    payments: tuple[int, int] = (0, 8),
    amount_max: int = 100,
    to_self: bool = False,
) -> tuple[Queue, np.ndarray]:
    """A queue of a few payments between a few participants, and their liquidity.

    Liquidity is often zero (the gridlock case) and otherwise up to about two payments.
    """
    count = draw(st.integers(*participants))
    size = draw(st.integers(*payments))
    party = st.integers(0, count - 1)
    rows = []
    for _ in range(size):
        sender, receiver = draw(party), draw(party)
        if sender == receiver and not to_self:
            receiver = (receiver + 1) % count
        rows.append((sender, receiver, draw(st.integers(1, amount_max))))
    cash = st.one_of(st.just(0), st.integers(0, 2 * amount_max))
    liquidity = np.array([draw(cash) for _ in range(count)], dtype=np.int64)
    return Queue.from_rows(rows, count), liquidity


def scaled(queue: Queue, liquidity: np.ndarray, factor: int) -> tuple[Queue, np.ndarray]:
    """The same queue with every amount and liquidity multiplied by `factor`.

    Liquidity comes back as an object array when it no longer fits int64.
    """
    wide = np.array([int(v) * factor for v in liquidity.tolist()], dtype=object)
    amounts = [int(a) * factor for a in queue.amount.tolist()]
    assert all(a < 2**63 for a in amounts), "scaled amounts must still fit int64"
    queue = Queue(
        sender=queue.sender.copy(),
        receiver=queue.receiver.copy(),
        amount=np.array(amounts, dtype=np.int64),
        participants=queue.participants,
    )
    return queue, wide


def position_list(queue: Queue, liquidity: np.ndarray, chosen: list[int]) -> list[int]:
    """Positions after the payments `chosen` settle, on Python ints (an independent check)."""
    position = [int(v) for v in liquidity.tolist()]
    for i in chosen:
        amount = int(queue.amount[i])
        position[int(queue.sender[i])] -= amount
        position[int(queue.receiver[i])] += amount
    return position


def sender_queues(queue: Queue) -> list[list[int]]:
    """Each participant's queued payments, in queue order."""
    runs: list[list[int]] = [[] for _ in range(queue.participants)]
    for i, sender in enumerate(queue.sender.tolist()):
        runs[sender].append(i)
    return runs


def feasible_prefix_vectors(queue: Queue, liquidity: np.ndarray) -> list[tuple[int, ...]]:
    """Every vector of per-sender prefix lengths whose payments can settle together."""
    runs = sender_queues(queue)
    found = []
    for lengths in itertools.product(*(range(len(run) + 1) for run in runs)):
        chosen = [i for run, length in zip(runs, lengths, strict=True) for i in run[:length]]
        if min(position_list(queue, liquidity, chosen), default=0) >= 0:
            found.append(lengths)
    return found


def best_subset_value(queue: Queue, liquidity: np.ndarray) -> int:
    """The most valuable feasible subset's value, by trying every subset."""
    best = 0
    amounts = queue.amount.tolist()
    for bits in range(1 << queue.size):
        chosen = [i for i in range(queue.size) if bits >> i & 1]
        value = sum(amounts[i] for i in chosen)
        if value > best and min(position_list(queue, liquidity, chosen), default=0) >= 0:
            best = value
    return best


def mask_of(queue: Queue, chosen: list[int]) -> np.ndarray:
    mask = np.zeros(queue.size, dtype=bool)
    mask[chosen] = True
    return mask
