"""Liquidity-saving mechanisms over one currency's queued payments (DESIGN §5).

Multilateral offsetting asks which queued payments can settle together now, given what each
participant can pay (balance plus intraday credit). A set is *feasible* when no participant
ends with a negative position: liquidity + what it receives − what it sends ≥ 0.

- `fifo_offset`: under FIFO a set is a prefix of each sender's queue. The union of feasible
  prefix-sets is feasible, so the largest one is unique; the Bech–Soramäki removal loop finds
  it exactly.
- `nonfifo_offset`: without FIFO any subset may settle, and finding the one of greatest value
  is the NP-hard bank clearing problem; a heuristic under a work budget (removal loop,
  add-back, force-in moves, exact neighbourhood search). `samarkand.settlement.optimise`
  holds the LP bound and the exact MILP it is measured against.
- `positions`, `is_feasible`, `ensure_feasible`, `settled_value`: exact integer checks, used
  on every result here, in the tests and in the benchmark.

Pure functions: no I/O, no clock, no randomness. Amounts are int64 minor units, but sums of
them may not fit (IRR): the vectorised path runs only where every sum provably fits int64,
and an exact path on Python ints (object arrays) takes the rest. The non-FIFO heuristic
works on Python ints throughout.
"""

from __future__ import annotations

import heapq
import operator
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# Every intermediate sum of the vectorised path is at most twice the total queued amount, so a
# queue whose total stays below 2**62 cannot overflow int64.
VECTORISED_TOTAL_MAX = 2**62 - 1
# Improvement work of the non-FIFO heuristic per start, by default (see nonfifo_offset).
BUDGET_ITERATIONS_DEFAULT = 700


class InfeasibleSettlement(AssertionError):
    """A mechanism returned a set that leaves a participant negative: a bug, never an outcome."""


@dataclass(frozen=True, slots=True)
class Queue:
    """Queued payments of one currency as columns, in queue order.

    Within each sender, array order is that sender's FIFO order (priority already folded
    into the order by the caller). The columns are kept as read-only views.
    """

    sender: np.ndarray  # int64 participant index 0..participants-1
    receiver: np.ndarray  # int64
    amount: np.ndarray  # int64 minor units > 0; their sums may exceed int64
    participants: int

    def __post_init__(self) -> None:
        columns = {}
        for name in ("sender", "receiver", "amount"):
            column = np.asarray(getattr(self, name))
            if column.ndim != 1 or column.dtype != np.int64:
                raise ValueError(f"Queue.{name} must be a 1-D int64 array, got {column.dtype}")
            view = column.view()
            view.flags.writeable = False
            object.__setattr__(self, name, view)
            columns[name] = view
        size = columns["amount"].size
        if columns["sender"].size != size or columns["receiver"].size != size:
            raise ValueError("Queue columns differ in length")
        participants = operator.index(self.participants)
        if participants < 0:
            raise ValueError(f"Queue.participants must be >= 0: {participants}")
        object.__setattr__(self, "participants", participants)
        if size:
            for name in ("sender", "receiver"):
                low, high = int(columns[name].min()), int(columns[name].max())
                if low < 0 or high >= participants:
                    raise ValueError(
                        f"Queue.{name} holds a participant outside 0..{participants - 1}"
                    )
            if int(columns["amount"].min()) <= 0:
                raise ValueError("Queue.amount must be > 0")

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, int, int]], participants: int) -> Queue:
        """A queue from (sender, receiver, amount) rows in queue order: for fixtures."""
        columns = np.array(list(rows), dtype=np.int64).reshape(-1, 3)
        return cls(
            sender=columns[:, 0].copy(),
            receiver=columns[:, 1].copy(),
            amount=columns[:, 2].copy(),
            participants=participants,
        )

    @property
    def size(self) -> int:
        return int(self.amount.size)

    def total_bound(self) -> int:
        """An upper bound of the total queued amount, computed without overflow."""
        return int(self.amount.max()) * self.size if self.size else 0


# --- exact checks ------------------------------------------------------------------------


def positions(queue: Queue, liquidity: np.ndarray, settled: np.ndarray) -> list[int]:
    """Each participant's position after `settled` settles, exactly, as Python ints."""
    result = _liquidity_ints(queue, liquidity)
    mask = _mask(queue, settled)
    if queue.total_bound() <= VECTORISED_TOTAL_MAX:
        # Each net flow is at most the total queued amount in size: int64 holds it exactly.
        flow = np.zeros(queue.participants, dtype=np.int64)
        np.add.at(flow, queue.receiver[mask], queue.amount[mask])
        np.subtract.at(flow, queue.sender[mask], queue.amount[mask])
        return [cash + net for cash, net in zip(result, flow.tolist(), strict=True)]
    for i in np.flatnonzero(mask).tolist():
        amount = int(queue.amount[i])
        result[int(queue.sender[i])] -= amount
        result[int(queue.receiver[i])] += amount
    return result


def is_feasible(queue: Queue, liquidity: np.ndarray, settled: np.ndarray) -> bool:
    return min(positions(queue, liquidity, settled), default=0) >= 0


def ensure_feasible(queue: Queue, liquidity: np.ndarray, settled: np.ndarray) -> None:
    """Raise `InfeasibleSettlement` unless `settled` is feasible; survives `python -O`."""
    short = [p for p, value in enumerate(positions(queue, liquidity, settled)) if value < 0]
    if short:
        raise InfeasibleSettlement(f"participants left negative: {short[:10]}")


def settled_value(queue: Queue, settled: np.ndarray) -> int:
    """Σ amounts of the settled payments, exactly."""
    return sum(queue.amount[_mask(queue, settled)].tolist())


# --- FIFO: Bech–Soramäki -----------------------------------------------------------------


def fifo_offset(queue: Queue, liquidity: np.ndarray) -> np.ndarray:
    """The largest feasible set of queue prefixes (unique), as a bool mask over the queue.

    The removal loop starts from every queued payment. A participant whose position is
    negative drops as many of its last payments as its deficit needs, counting on its current
    inflows; inflows only shrink as others drop theirs, so no payment of the maximal set is
    ever dropped, and the loop stops at it.
    """
    capped = _capped_liquidity(queue, liquidity)
    if queue.size == 0:
        return np.zeros(0, dtype=bool)
    # Sort by sender, stably: each sender's queue becomes one contiguous run, in FIFO order.
    sender_key = queue.sender.astype(np.int16) if queue.participants <= 2**15 else queue.sender
    order = np.argsort(sender_key, kind="stable")  # a radix sort on int16
    return _largest_prefixes(queue, capped, order)


def _largest_prefixes(queue: Queue, liquidity: list[int], order: np.ndarray) -> np.ndarray:
    """The removal loop over the sender queues that `order` lists sender by sender."""
    participants, size = queue.participants, queue.size
    dtype = object if queue.total_bound() > VECTORISED_TOTAL_MAX else np.int64
    sender_sorted = queue.sender[order]
    receiver_sorted = queue.receiver[order]
    amount_sorted = queue.amount[order].astype(dtype)
    count = np.bincount(queue.sender, minlength=participants).astype(np.int64)
    start = np.zeros(participants, dtype=np.int64)
    np.cumsum(count[:-1], out=start[1:])
    # cumulative[k] = Σ of the first k sorted amounts: strictly increasing, as amounts > 0.
    cumulative = np.zeros(size + 1, dtype=dtype)
    np.cumsum(amount_sorted, out=cumulative[1:])
    cash = np.array(liquidity, dtype=dtype)
    inflow = np.zeros(participants, dtype=dtype)
    np.add.at(inflow, receiver_sorted, amount_sorted)
    end = start + count  # each sender's kept prefix is sorted positions start..end-1
    outflow = cumulative[end] - cumulative[start]
    for _ in range(size + 1):  # every round drops at least one payment
        deficit = np.flatnonzero(cash + inflow - outflow < 0)
        if deficit.size == 0:
            break
        first = start[deficit]
        # capacity < outflow, so the target stays below cumulative[end]: no overflow.
        target = cumulative[first] + (cash[deficit] + inflow[deficit])
        new_end = np.searchsorted(cumulative, target, side="right") - 1
        dropped = _ranges(new_end, end[deficit] - new_end)
        np.subtract.at(inflow, receiver_sorted[dropped], amount_sorted[dropped])
        end[deficit] = new_end
        outflow[deficit] = cumulative[new_end] - cumulative[first]
    else:
        raise AssertionError("FIFO removal loop did not converge")
    settled_sorted = np.arange(size) < end[sender_sorted]
    settled = np.empty(size, dtype=bool)
    settled[order] = settled_sorted
    return settled


def _ranges(begin: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Concatenated ranges begin[k] .. begin[k]+length[k]-1."""
    total = int(length.sum())
    shift = begin - (np.cumsum(length) - length)
    return np.arange(total, dtype=np.int64) + np.repeat(shift, length)


# --- non-FIFO: the bank clearing problem -------------------------------------------------

# A drop that leaves its receiver short counts that shortfall this many times over: the
# receiver must then drop at least as much again, and often more.
CASCADE_WEIGHT = 4
# A participant in deficit weighs at most this many candidate drops on each side of its deficit.
DROP_CANDIDATES_MAX = 8
# Exact neighbourhood search: participants per neighbourhood, payments left free in it, and
# branch-and-bound nodes per search.
NEIGHBOURHOOD_PARTICIPANTS = 4
NEIGHBOURHOOD_PAYMENTS_MAX = 160
NEIGHBOURHOOD_NODES_MAX = 5_000
# The improvement budget counts work, so that it bounds time whatever the queue's size: one
# iteration per move tried, plus one per this many payments a move toggles or nodes a
# neighbourhood search visits.
TOGGLES_PER_ITERATION = 4
NODES_PER_ITERATION = 100
# A force-in move that needs more drops than this to repair is abandoned.
MOVE_DROPS_MAX = 64
# Queues up to this size get every start improved; larger ones only the most valuable start.
THOROUGH_SIZE_MAX = 10_000


def nonfifo_offset(
    queue: Queue,
    liquidity: np.ndarray,
    *,
    budget_iterations: int = BUDGET_ITERATIONS_DEFAULT,
) -> np.ndarray:
    """A feasible set of high settled value, any subset allowed, as a bool mask.

    1. Starts: every payment, repaired by the removal loop (a participant in deficit drops
       the payment that covers its deficit at least estimated cost, counting the shortfall
       it pushes onto its receiver); and, for queues up to THOROUGH_SIZE_MAX, the FIFO set
       and the largest feasible set of prefixes of each sender's queue sorted largest first.
       Each start is topped up by the add-back: settle the largest waiting payment whose
       sender can pay it, until none can.
    2. Force-in moves: settle one waiting payment (largest first), let its receiver pay on,
       repair the deficits it causes, add back, and keep the move only if the value grew.
    3. Exact neighbourhood search: around a large waiting payment, free every payment sent
       by the few participants the largest waiting payments link to it, and settle them in
       the best way with all else fixed (branch and bound on exact integers).
    4. Force-in moves again with what is left of the budget.

    `budget_iterations` bounds the improvement work of each start, whatever the queue's
    size: a move costs 1 plus 1 per TOGGLES_PER_ITERATION payments it toggles, a
    neighbourhood search 1 plus 1 per NODES_PER_ITERATION nodes. The best start wins; it
    never settles less than FIFO, is checked feasible exactly, and depends only on the
    arguments.
    """
    if budget_iterations < 0:
        raise ValueError(f"budget_iterations must be >= 0: {budget_iterations}")
    capped = _capped_liquidity(queue, liquidity)
    if queue.size == 0:
        return np.zeros(0, dtype=bool)
    fifo = fifo_offset(queue, liquidity)
    starts = [np.ones(queue.size, dtype=bool)]
    if queue.size <= THOROUGH_SIZE_MAX:
        largest_first = np.lexsort((-queue.amount, queue.sender))
        starts += [fifo, _largest_prefixes(queue, capped, largest_first)]
    best: _Clearing | None = None
    for start in starts:
        clearing = _Clearing(queue, capped, start)
        clearing.remove_deficits(frozenset(), drops_max=queue.size)
        clearing.add_back(range(queue.participants))
        spent = clearing.improve(budget_iterations // 3)
        spent += clearing.search_neighbourhoods(budget_iterations - spent)
        clearing.improve(budget_iterations - spent)
        if best is None or clearing.value > best.value:
            best = clearing
    assert best is not None
    settled = best.settled_mask()
    if best.value < settled_value(queue, fifo):
        settled = fifo  # never with THOROUGH_SIZE_MAX queues, which improve FIFO itself
    ensure_feasible(queue, liquidity, settled)
    return settled


def repair(queue: Queue, liquidity: np.ndarray, settled: np.ndarray) -> np.ndarray:
    """A feasible set near `settled`: drop payments until no participant is negative, the
    way `nonfifo_offset` repairs its moves, then add back whatever can settle again."""
    clearing = _Clearing(queue, _capped_liquidity(queue, liquidity), _mask(queue, settled))
    if not clearing.remove_deficits(frozenset(), drops_max=queue.size):
        raise AssertionError("a repair without pinned payments cannot fail")
    clearing.add_back(range(queue.participants))
    return clearing.settled_mask()


class _Clearing:
    """Mutable working state of the non-FIFO heuristic, on exact Python ints, with an undo log.

    A payment to oneself leaves every position unchanged, so it always settles and takes no
    part in the moves.
    """

    def __init__(self, queue: Queue, liquidity: list[int], settled: np.ndarray) -> None:
        self.amount: list[int] = queue.amount.tolist()
        self.sender: list[int] = queue.sender.tolist()
        self.receiver: list[int] = queue.receiver.tolist()
        self.participants = queue.participants
        to_self = queue.sender == queue.receiver
        settled = settled | to_self
        self.settled = bytearray(settled.astype(np.uint8).tobytes())
        self.position = positions(queue, np.array(liquidity, dtype=object), settled)
        self.value = settled_value(queue, settled)
        # Per participant, its outgoing payments as sorted (amount, index) pairs: those now
        # settled (what it may drop) and those waiting (what it may add back); and the
        # payments it sends and those it receives, largest first.
        self.paying: list[list[tuple[int, int]]] = []
        self.waiting: list[list[tuple[int, int]]] = []
        self.sending: list[list[int]] = []
        self.receiving: list[list[int]] = []
        index = np.arange(queue.size)
        for column, runs in ((queue.sender, self.sending), (queue.receiver, self.receiving)):
            order = np.lexsort((index, queue.amount, column))  # the (amount, index) order
            order = order[~to_self[order]]
            bounds = np.cumsum(np.bincount(column[order], minlength=self.participants))
            runs.extend(run.tolist() for run in np.split(order, bounds[:-1]))
        for run in self.sending:
            pairs = [(self.amount[i], i) for i in run]
            self.paying.append([pair for pair in pairs if self.settled[pair[1]]])
            self.waiting.append([pair for pair in pairs if not self.settled[pair[1]]])
        for runs in (self.sending, self.receiving):
            for run in runs:
                run.reverse()  # largest first
        self.log: list[int] | None = None  # payments toggled since the last checkpoint

    def settled_mask(self) -> np.ndarray:
        return np.frombuffer(bytes(self.settled), dtype=np.uint8).astype(bool)

    def _toggle(self, i: int) -> None:
        """Settle payment i if it waits, unsettle it if settled."""
        amount, sender, receiver = self.amount[i], self.sender[i], self.receiver[i]
        key = (amount, i)
        if self.settled[i]:
            source, target, sign = self.paying[sender], self.waiting[sender], -1
        else:
            source, target, sign = self.waiting[sender], self.paying[sender], 1
        del source[bisect_left(source, key)]
        insort(target, key)
        self.settled[i] ^= 1
        self.position[sender] -= sign * amount
        self.position[receiver] += sign * amount
        self.value += sign * amount
        if self.log is not None:
            self.log.append(i)

    def _rollback(self, log: list[int]) -> None:
        for i in reversed(log):
            self._toggle(i)

    # -- repair and add-back ------------------------------------------------------------

    def remove_deficits(
        self, pinned: frozenset[int], drops_max: int, short: Iterable[int] | None = None
    ) -> bool:
        """Drop payments until no participant is negative.

        False if that would take more than `drops_max` drops, or a drop of a `pinned` one.
        `short` names the participants that may be negative (default: look at everyone).
        """
        position = self.position
        todo = deque(p for p in short or range(self.participants) if position[p] < 0)
        drops = 0
        while todo:
            p = todo.popleft()
            while position[p] < 0:
                i = self._cheapest_drop(p, pinned)
                drops += 1
                if i < 0 or drops > drops_max:
                    return False
                self._toggle(i)
                receiver = self.receiver[i]
                if position[receiver] < 0 <= position[receiver] + self.amount[i]:
                    todo.append(receiver)  # it just went negative
        return True

    def _cheapest_drop(self, p: int, pinned: frozenset[int]) -> int:
        """The settled payment of p whose drop covers p's deficit at least estimated cost.

        The cost of dropping amount a is a, plus CASCADE_WEIGHT times the shortfall it
        leaves at its receiver, per unit of deficit covered. Only the payments nearest the
        deficit in size are weighed: the smallest that cover it, and the largest below it.
        """
        deficit = -self.position[p]
        choices = self.paying[p]
        split = bisect_left(choices, (deficit, -1))
        window = choices[split : split + DROP_CANDIDATES_MAX]
        window += choices[max(0, split - DROP_CANDIDATES_MAX) : split]
        best, best_cost = -1, 0.0
        for amount, i in window:
            if i in pinned:
                continue
            room = max(self.position[self.receiver[i]], 0)
            # A float score to rank candidates, never money: the drop itself is exact.
            cost = (amount + CASCADE_WEIGHT * max(amount - room, 0)) / min(amount, deficit)
            if best < 0 or cost < best_cost:
                best, best_cost = i, cost
        return best

    def add_back(self, touched: Iterable[int]) -> None:
        """Settle the largest waiting payment whose sender can pay it, until none can.

        Only participants whose position grew can have become able to pay: `touched` names
        them, and each settlement touches its receiver.
        """
        position, waiting = self.position, self.waiting
        heap: list[tuple[int, int, int]] = []

        def offer(p: int) -> None:
            choices = waiting[p]
            k = bisect_right(choices, (position[p], len(self.amount))) - 1
            if k >= 0:
                amount, i = choices[k]
                heapq.heappush(heap, (-amount, i, p))

        for p in touched:
            offer(p)
        while heap:
            negative, i, p = heapq.heappop(heap)
            if self.settled[i] or position[p] < -negative:
                offer(p)  # stale: its sender's position fell or it settled already
                continue
            self._toggle(i)
            offer(p)
            offer(self.receiver[i])

    # -- force-in moves -----------------------------------------------------------------

    def improve(self, budget: int) -> int:
        """Force in waiting payments, largest first, keeping each move that adds value.

        Passes repeat while one improves and the budget lasts; returns the work spent.
        """
        spent = 0
        improved = True
        while improved and spent < budget:
            improved = False
            candidates = [i for _, i in sorted(self._all_waiting(), reverse=True)]
            for i in candidates:
                if spent >= budget:
                    break
                if not self.settled[i]:
                    better, work = self._force_in(i)
                    improved |= better
                    spent += work
        return spent

    def _all_waiting(self) -> list[tuple[int, int]]:
        return [pair for waiting in self.waiting for pair in waiting]

    def _force_in(self, i: int) -> tuple[bool, int]:
        """Try one force-in move; whether it was kept, and its work (payments toggled)."""
        before = self.value
        self.log = []
        self._toggle(i)
        self.add_back([self.receiver[i]])  # a cycle back to the sender may cover it
        ok = self.remove_deficits(frozenset((i,)), MOVE_DROPS_MAX, [self.sender[i]])
        if ok:
            self.add_back({self.sender[j] for j in self.log})
        log, self.log = self.log, None
        work = 1 + len(log) // TOGGLES_PER_ITERATION
        if ok and self.value > before:
            return True, work
        self._rollback(log)
        return False, work

    # -- exact neighbourhood search -----------------------------------------------------

    def search_neighbourhoods(self, budget: int) -> int:
        """Around each large waiting payment, settle the neighbourhood's payments optimally.

        Passes repeat while one improves and the budget lasts; returns the work spent.
        """
        spent = 0
        improved = True
        while improved and spent < budget:
            improved = False
            for _, i in sorted(self._all_waiting(), reverse=True):
                if spent >= budget:
                    break
                if not self.settled[i]:
                    better, work = self._settle_best(self._neighbourhood(i))
                    improved |= better
                    spent += work
        return spent

    def _neighbourhood(self, i: int) -> list[int]:
        """Participants linked to payment i by the largest waiting payments, i's ends first."""
        group = [self.sender[i], self.receiver[i]]
        while len(group) < NEIGHBOURHOOD_PARTICIPANTS:
            link, other = 0, -1
            for p in group:
                for amount, j in reversed(self.waiting[p]):
                    if amount <= link:
                        break
                    if self.receiver[j] not in group:
                        link, other = amount, self.receiver[j]
                        break
                for j in self.receiving[p]:
                    if self.amount[j] <= link:
                        break
                    if not self.settled[j] and self.sender[j] not in group:
                        link, other = self.amount[j], self.sender[j]
                        break
            if other < 0:
                break
            group.append(other)
        return group

    def _settle_best(self, group: list[int]) -> tuple[bool, int]:
        """Settle the payments sent by `group` as well as possible, the others held fixed.

        Returns whether the settlement changed, and the work (branch-and-bound nodes).
        """
        free = sorted(
            (i for p in group for i in self.sending[p][:NEIGHBOURHOOD_PAYMENTS_MAX]),
            key=lambda i: (-self.amount[i], i),
        )[:NEIGHBOURHOOD_PAYMENTS_MAX]
        ends = sorted({self.sender[i] for i in free} | {self.receiver[i] for i in free})
        local = {p: k for k, p in enumerate(ends)}
        base = [self.position[p] for p in ends]
        for i in free:
            if self.settled[i]:
                base[local[self.sender[i]]] += self.amount[i]
                base[local[self.receiver[i]]] -= self.amount[i]
        current = [bool(self.settled[i]) for i in free]
        better, nodes = _best_subset(
            [self.amount[i] for i in free],
            [local[self.sender[i]] for i in free],
            [local[self.receiver[i]] for i in free],
            base,
            current,
        )
        work = 1 + nodes // NODES_PER_ITERATION
        if better is None:
            return False, work
        self.log = []
        for i, settle in zip(free, better, strict=True):
            if settle != bool(self.settled[i]):
                self._toggle(i)
        log, self.log = self.log, None
        self.add_back({self.sender[i] for i in log} | {self.receiver[i] for i in log})
        return True, work


def _best_subset(
    amount: list[int],
    sender: list[int],
    receiver: list[int],
    base: list[int],
    current: list[bool],
) -> tuple[list[bool] | None, int]:
    """The most valuable feasible choice of the free payments if better than `current`, and
    the nodes searched.

    Exact depth-first branch and bound over payments sorted largest first, settle-first,
    within NEIGHBOURHOOD_NODES_MAX nodes (after which the best found so far stands).
    `base[p]` is participant p's position with every free payment unsettled. Two exact
    integer quantities per participant prune: `reach`, its position if every undecided
    payment to it settled and none from it (a branch that drives it below zero is
    infeasible), and `left`, what it may still send; the value still to gain is at most
    Σ_p min(left[p], reach[p]).
    """
    size, ends = len(amount), len(base)
    left = [0] * ends
    reach = list(base)
    for k in range(size):
        left[sender[k]] += amount[k]
        reach[receiver[k]] += amount[k]

    def term(p: int) -> int:
        return min(left[p], reach[p]) if reach[p] > 0 else 0

    incumbent = sum(a for a, settle in zip(amount, current, strict=True) if settle)
    best: list[list[bool] | None] = [None]
    best_value = [incumbent]
    bound = [sum(term(p) for p in range(ends))]
    choice = [False] * size
    nodes = [0]

    def terms(s: int, r: int) -> int:
        # term(s) + term(r), inlined: this runs at every node.
        reach_s, reach_r = reach[s], reach[r]
        total = 0
        if reach_s > 0:
            left_s = left[s]
            total += left_s if left_s < reach_s else reach_s
        if reach_r > 0:
            left_r = left[r]
            total += left_r if left_r < reach_r else reach_r
        return total

    def branch(k: int, value: int) -> None:
        nodes[0] += 1
        if k == size:
            if value > best_value[0]:
                best_value[0], best[0] = value, choice[:]
            return
        if nodes[0] > NEIGHBOURHOOD_NODES_MAX or value + bound[0] <= best_value[0]:
            return
        a, s, r = amount[k], sender[k], receiver[k]
        before = bound[0] - terms(s, r)
        left[s] -= a
        # Settling lowers the sender's reach; not settling takes the receiver's hope.
        if reach[s] >= a:
            reach[s] -= a
            bound[0] = before + terms(s, r)
            choice[k] = True
            branch(k + 1, value + a)
            reach[s] += a
        if reach[r] >= a:
            reach[r] -= a
            bound[0] = before + terms(s, r)
            choice[k] = False
            branch(k + 1, value)
            reach[r] += a
        left[s] += a
        bound[0] = before + terms(s, r)

    branch(0, 0)
    return best[0], nodes[0]


# --- helpers -----------------------------------------------------------------------------


def _mask(queue: Queue, settled: np.ndarray) -> np.ndarray:
    mask = np.asarray(settled)
    if mask.dtype != bool or mask.shape != (queue.size,):
        raise ValueError(f"a settled mask must be bool of shape ({queue.size},)")
    return mask


def _liquidity_ints(queue: Queue, liquidity: np.ndarray) -> list[int]:
    values = np.asarray(liquidity)
    if values.shape != (queue.participants,):
        raise ValueError(f"liquidity must have shape ({queue.participants},)")
    result = [int(v) for v in values.tolist()]
    if result and min(result) < 0:
        raise ValueError("liquidity must be >= 0")
    return result


def _capped_liquidity(queue: Queue, liquidity: np.ndarray) -> list[int]:
    """Liquidity as Python ints, each capped at the total queued amount.

    No participant can pay more than everything queued, so the cap changes no outcome, and
    it keeps liquidity within the sums the vectorised path is sized for.
    """
    values = _liquidity_ints(queue, liquidity)
    if queue.total_bound() > VECTORISED_TOTAL_MAX:
        total = sum(queue.amount.tolist())  # Python ints: exact beyond int64
    else:
        total = int(queue.amount.sum())
    return [min(v, total) for v in values]
