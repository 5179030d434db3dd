"""The fast path of batch apply: runs of simple transfers decided and applied with NumPy.

It gives exactly what the plain path gives (results, balances, journal rows with their
timestamps, pending statuses, expiries) and is a pure speed-up: every event it cannot prove
simple goes to `LedgerState.apply_plain`, which produces the exact outcome one event at a time.

An event is *simple* when all its fields have their narrow dtypes (account ids and user data
may take up to 128 bits: see `CARRIED_WIDE`), its flags are 0 or
`pending`, it is not part of a linked chain, every check before the limit checks passes (so
the plain path would reach them), its id is new, and its ledger is narrow (int64 balances)
with room for the whole run. A *run* is a stretch of consecutive simple events: its limit
checks are running sums per account in event order (`_limits`: bounds settle most accounts,
fixed-point rounds the few left), and its successful events are applied at once: balance
columns, totals, the transfer index, pending statuses, expiries and one block of journal rows.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

import numpy as np

from samarkand.ledger.columns import FIELD_NAMES, NARROW_DTYPES, TransferColumns, column
from samarkand.ledger.journal import BatchRecord, Expiries
from samarkand.ledger.types import (
    BATCH_EVENTS_MAX,
    INT64_MAX,
    NS_PER_SECOND,
    U64_MAX,
    U128_MAX,
    AccountFlags,
    CreateTransferResult,
    PendingStatus,
    Transfer,
    TransferFlags,
)

if TYPE_CHECKING:
    from samarkand.ledger.state import LedgerState

R = CreateTransferResult
LINKED = int(TransferFlags.LINKED)
PENDING = int(TransferFlags.PENDING)
DEBITS_LIMITED = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
CREDITS_LIMITED = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
CLOSED = int(AccountFlags.CLOSED)

RUN_EVENTS_MIN = 16
"""Shorter runs go the plain way: below this NumPy's fixed cost per call outweighs the saving."""

LIMIT_ROUNDS_MAX = 64
"""Fixed-point rounds of limit checks one batch may spend; runs that need more go plain."""

SURE_SEARCHES_MAX = 2
"""Passes over a run looking for sure limit failures (each pass may find more, see `_limits`)."""

CARRIED_WIDE = frozenset({"debit_account_id", "credit_account_id", "user_data"})
"""Columns the fast path takes wide (object arrays of ints up to 128 bits): account ids are
looked up one by one, user data only goes to the journal. The other fields it computes on."""

_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: spreads sequential ids


# ---------------------------------------------------------------------- entry points


def apply_fast(
    state: LedgerState,
    batch: TransferColumns,
    now: int,
    transfers: Sequence[Transfer] | None = None,
) -> tuple[np.ndarray, BatchRecord]:
    """Apply `batch` like `LedgerState.apply_plain` would, vectorising runs of simple events.

    `transfers` are the same events as Transfer values when the caller has them (the plain
    path then sees exactly those objects); otherwise they are made from `batch` on demand.
    """
    count = len(batch)
    results = np.zeros(count, dtype=np.uint8)
    if count > BATCH_EVENTS_MAX:
        results[:] = R.BATCH_TOO_LARGE
        return results, state._record(now, (), None, Expiries())
    expiries = state._expire(now)
    first_timestamp = state._next_timestamps(now, count)
    events = transfers if transfers is not None else _Events(batch)
    if count and not state.accounts:
        state.apply_plain(events, 0, count, first_timestamp, results)  # nothing to look up
    elif count:
        screened = _screen(state, batch, first_timestamp)
        _Batch(state, screened, events, first_timestamp, results).run()
    return results, state._record(now, (), state._close_batch(), expiries)


def exact_columns(transfers: Sequence[Transfer]) -> TransferColumns | None:
    """`transfers` as columns, or None when the plain path should judge them as they are: a
    field that is not an int (a bool or a float must not be silently converted; an IntEnum
    such as a `TransferCode` is an int to both paths), an event that is not a Transfer, a
    batch too large."""
    rows = list(transfers)
    if len(rows) > BATCH_EVENTS_MAX or not set(map(type, rows)) <= {Transfer}:
        return None
    lists = {}
    for name in FIELD_NAMES:
        values = [getattr(t, name) for t in rows]
        if not all(_is_int(kind) for kind in set(map(type, values))):
            return None
        lists[name] = values
    return TransferColumns.build(**lists)


def _is_int(kind: type) -> bool:
    """An int or a subclass of it (IntEnum) but not bool: what the plain path takes as an int."""
    return kind is int or (issubclass(kind, int) and not issubclass(kind, bool))


class _Events(Sequence[Transfer]):
    """The batch's events as Transfer values, made only when the plain path asks for one.

    Values are taken as `TransferColumns.to_transfers` takes them (`tolist` semantics), so the
    plain path sees the same values whichever way the batch came in.
    """

    def __init__(self, batch: TransferColumns) -> None:
        self._columns = [getattr(batch, name) for name in FIELD_NAMES]
        self._raw = [c.dtype == object for c in self._columns]
        self._length = len(batch)
        self._made: dict[int, Transfer] = {}

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> Transfer: ...

    @overload
    def __getitem__(self, index: slice) -> list[Transfer]: ...

    def __getitem__(self, index: int | slice) -> Transfer | list[Transfer]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._length))]
        made = self._made.get(index)
        if made is None:
            made = Transfer(
                *(
                    c[index] if raw else c[index].item()
                    for c, raw in zip(self._columns, self._raw, strict=True)
                )
            )
            self._made[index] = made
        return made


# ---------------------------------------------------------------------- screening


@dataclass(slots=True)
class _Screened:
    """The batch in narrow columns, with the account slots and which events are simple."""

    columns: TransferColumns
    simple: np.ndarray  # bool per event
    pending: np.ndarray  # bool per event: flags == pending
    debit_slot: np.ndarray  # int64 per event, 0 where the account is unknown
    credit_slot: np.ndarray
    debit_flags: np.ndarray  # the accounts' flags (uint16 per event)
    credit_flags: np.ndarray
    amount: np.ndarray  # int64 view of the amounts (exact where simple: amount < 2**63)
    id_list: list[int]  # the ids as Python ints (narrowed: 0 where an id does not fit)


def _screen(state: LedgerState, batch: TransferColumns, first_timestamp: int) -> _Screened:
    """Narrow the columns and find the simple events: static checks only, vectorised."""
    count = len(batch)
    simple = np.ones(count, dtype=bool)
    narrow = {}
    for name in FIELD_NAMES:
        values = getattr(batch, name)
        if name in CARRIED_WIDE and values.dtype == object:
            # Up to 128 bits: looked up or carried to the journal as they are, never summed.
            narrow[name] = values
            simple &= _fits_u128(values)
            continue
        narrow[name], fits = _narrow(values, NARROW_DTYPES[name])
        if fits is not None:
            simple &= fits
    c = TransferColumns(**narrow)
    linked = _linked(batch.flags, c.flags)
    simple &= ~linked
    simple[1:] &= ~linked[:-1]  # the event that closes a chain belongs to it
    pending = c.flags == PENDING
    simple &= (c.flags == 0) | pending
    simple &= (c.timestamp == 0) & (c.id != 0) & (c.pending_id == 0)
    simple &= (c.debit_account_id != 0) & (c.credit_account_id != 0)
    simple &= c.debit_account_id != c.credit_account_id
    for ids in (c.debit_account_id, c.credit_account_id):
        if ids.dtype == object:
            simple &= ids != U128_MAX  # ..._ACCOUNT_ID_MUST_NOT_BE_INT_MAX
    simple &= (c.timeout == 0) | pending
    simple &= (c.amount != 0) & (c.amount <= INT64_MAX)
    simple &= (c.ledger != 0) & (c.code != 0)
    debit_slot, credit_slot = _account_slots(state, c, simple)
    ledger = state.slot_ledger
    debit_ledger = ledger[debit_slot]
    simple &= (debit_ledger == ledger[credit_slot]) & (debit_ledger == c.ledger)
    debit_flags = state.slot_flags[debit_slot]
    credit_flags = state.slot_flags[credit_slot]
    simple &= ((debit_flags | credit_flags) & CLOSED) == 0
    timed = pending & (c.timeout != 0)
    if timed.any():
        timestamp = np.arange(count, dtype=np.uint64) + np.uint64(first_timestamp)
        timeout_ns = c.timeout.astype(np.uint64) * np.uint64(NS_PER_SECOND)
        simple &= ~(timed & (timeout_ns > np.uint64(U64_MAX) - timestamp))
    if state.wide_ledgers:
        simple &= ~np.isin(c.ledger, np.array(sorted(state.wide_ledgers), dtype=np.uint64))
    id_list = c.id.tolist()
    simple &= ~_repeated_ids(state, c.id, id_list)
    amount = c.amount.view(np.int64)
    return _Screened(
        c, simple, pending, debit_slot, credit_slot, debit_flags, credit_flags, amount, id_list
    )


def _narrow(values: np.ndarray, dtype: type[np.generic]) -> tuple[np.ndarray, np.ndarray | None]:
    """`values` in `dtype`, and which events' values fit it exactly (None: all do)."""
    if values.dtype == dtype:
        return values, None
    count = len(values)
    if values.dtype.kind in "ui":
        values = column(values, dtype)
        if values.dtype == dtype:
            return values, None
    if values.dtype != object:
        # bool, float, ...: not ints, so the plain path judges them.
        return np.zeros(count, dtype=dtype), np.zeros(count, dtype=bool)
    highest = int(np.iinfo(np.dtype(dtype)).max)
    items = values.tolist()
    fits = [type(v) is int and 0 <= v <= highest for v in items]
    narrowed = np.array([v if f else 0 for v, f in zip(items, fits, strict=True)], dtype=dtype)
    return narrowed, np.array(fits, dtype=bool)


def _fits_u128(values: np.ndarray) -> np.ndarray:
    """Which values of an object column are ints of 0..2**128 - 1 (bools and floats are not)."""
    return np.fromiter(
        (type(v) is int and 0 <= v <= U128_MAX for v in values.tolist()),
        dtype=bool,
        count=len(values),
    )


def _linked(raw_flags: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Which events carry the linked bit, judged as `state.chains` judges it."""
    if raw_flags.dtype == flags.dtype:
        return (flags & LINKED) != 0
    return np.array(
        [isinstance(v, int) and bool(v & LINKED) for v in raw_flags.tolist()], dtype=bool
    )


def _account_slots(
    state: LedgerState, c: TransferColumns, simple: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Slots of the debit and credit accounts; an unknown account makes its event not simple."""
    count = len(c)
    ids = (c.debit_account_id, c.credit_account_id)
    if any(column.dtype == object for column in ids):
        # Ids beyond 64 bits (a ledger number in the high half): one dict look-up each.
        # Only ints are looked up: a float or bool would hash like the int it equals.
        get = state.account_slot.get
        slots = np.fromiter(
            (get(i, -1) if type(i) is int else -1 for column in ids for i in column.tolist()),
            dtype=np.int64,
            count=2 * count,
        )
    elif not len(state.lookup_ids):  # every account has an id beyond 64 bits
        simple[:] = False
        return np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64)
    else:
        index = state._fast_account_index
        if index is None or index.source is not state.lookup_ids:
            index = AccountIndex(state.lookup_ids, state.lookup_slots)
            state._fast_account_index = index
        slots = index.find(np.concatenate(ids))
    found = slots >= 0
    simple &= found[:count] & found[count:]
    slots[~found] = 0
    return slots[:count], slots[count:]


def _repeated_ids(state: LedgerState, ids: np.ndarray, id_list: list[int]) -> np.ndarray:
    """Events whose id is already applied or appears earlier in the batch: the plain path
    answers them (exists, exists with different …, or a fresh apply if the first failed)."""
    count = len(ids)
    repeated = np.zeros(count, dtype=bool)
    if count > 1 and not bool((ids[1:] > ids[:-1]).all()):
        order = np.argsort(ids, kind="stable")
        ranked = ids[order]
        repeated[order[1:][ranked[1:] == ranked[:-1]]] = True
    applied = state.transfer_row
    if applied:
        if not applied.keys().isdisjoint(id_list):
            repeated |= np.fromiter((i in applied for i in id_list), dtype=bool, count=count)
    return repeated


class AccountIndex:
    """Account slots by id, looked up for a whole batch of ids at once.

    Dense ids (the usual 1..N) index a table directly; other ids go through an open-addressing
    hash table (id 0 marks an empty cell: no account has id 0). A binary search
    (np.searchsorted) costs ~0.6 ms per 8,190 ids on 10,000 accounts, the hash table a sixth
    of that and the direct table a thirtieth.
    """

    def __init__(self, ids: np.ndarray, slots: np.ndarray) -> None:
        self.source = ids
        self._low = np.uint64(ids.min())
        span = int(ids.max()) - int(self._low) + 1
        self._direct: np.ndarray | None = None
        if span <= 4 * len(ids):
            self._span = np.uint64(span)
            self._direct = np.full(span + 1, -1, dtype=np.int64)  # the last cell: not found
            self._direct[(ids - self._low).view(np.int64)] = slots
            return
        bits = max(4, (2 * len(ids) - 1).bit_length())  # at most half full
        self._shift = np.uint64(64 - bits)
        self._mask = np.int64((1 << bits) - 1)
        self._keys = np.zeros(1 << bits, dtype=np.uint64)
        self._slots = np.full(1 << bits, -1, dtype=np.int64)
        position = self._home(ids)
        waiting = np.arange(len(ids))
        while len(waiting):
            cell = position[waiting]
            free = self._keys[cell] == 0
            # Several ids may claim one free cell in a round: one wins, the others probe on.
            self._keys[cell[free]] = ids[waiting[free]]
            won = np.zeros(len(waiting), dtype=bool)
            won[free] = self._keys[cell[free]] == ids[waiting[free]]
            self._slots[cell[won]] = slots[waiting[won]]
            waiting = waiting[~won]
            position[waiting] = (position[waiting] + 1) & self._mask

    def _home(self, ids: np.ndarray) -> np.ndarray:
        return ((ids * _FIBONACCI) >> self._shift).view(np.int64)

    def find(self, ids: np.ndarray) -> np.ndarray:
        """Slot of each id, -1 where no account has it.

        Empty cells hold id 0 and slot -1, so a probe ends on an empty cell with -1 (an id 0
        too: it "finds" the first empty cell).
        """
        if self._direct is not None:
            offset = ids - self._low  # ids below the lowest wrap around to huge offsets
            np.minimum(offset, self._span, out=offset)
            return self._direct[offset.view(np.int64)]
        cell = self._home(ids)
        key = self._keys[cell]
        result = self._slots[cell]
        missed = key != ids
        if not missed.any():
            return result
        result[missed] = -1
        probing = np.flatnonzero(missed & (key != 0))
        cell = cell[probing]
        while len(probing):
            cell = (cell + 1) & self._mask
            key = self._keys[cell]
            hit = key == ids[probing]
            result[probing[hit]] = self._slots[cell[hit]]
            going_on = ~hit & (key != 0)
            probing, cell = probing[going_on], cell[going_on]
        return result


# ---------------------------------------------------------------------- the batch


class _Batch:
    """Walk the batch: plain stretches one event at a time, simple runs vectorised."""

    def __init__(
        self,
        state: LedgerState,
        screened: _Screened,
        events: Sequence[Transfer],
        first_timestamp: int,
        results: np.ndarray,
    ) -> None:
        self.state = state
        self.s = screened
        self.events = events
        self.first_timestamp = first_timestamp
        self.results = results
        self.limit_rounds = LIMIT_ROUNDS_MAX
        self.wide_ledgers = len(state.wide_ledgers)
        self._find_changes()

    def _find_changes(self) -> None:
        simple = self.s.simple
        self.changes = np.flatnonzero(simple[1:] != simple[:-1]) + 1

    def _stretch_end(self, cursor: int) -> int:
        """End of the stretch of events as simple (or not) as the one at `cursor`."""
        at = int(np.searchsorted(self.changes, cursor, side="right"))
        return int(self.changes[at]) if at < len(self.changes) else len(self.s.simple)

    def run(self) -> None:
        count = len(self.s.simple)
        cursor = 0
        while cursor < count:
            stop = self._stretch_end(cursor)
            if not self.s.simple[cursor] or stop - cursor < RUN_EVENTS_MIN:
                self._plain(cursor, stop)
                cursor = stop
                continue
            cursor, plain_next = _Run(self, cursor, stop).apply()
            if plain_next:
                self._plain(cursor, cursor + 1)
                cursor += 1

    def _plain(self, start: int, stop: int) -> None:
        """Events start..stop-1 by the exact plain path (never cutting a chain)."""
        self.state.apply_plain(self.events, start, stop, self.first_timestamp, self.results)
        if len(self.state.wide_ledgers) != self.wide_ledgers:
            # A plain event widened a ledger: its later events are no longer simple.
            self.wide_ledgers = len(self.state.wide_ledgers)
            wide = np.array(sorted(self.state.wide_ledgers), dtype=np.uint64)
            self.s.simple[stop:] &= ~np.isin(self.s.columns.ledger[stop:], wide)
            self._find_changes()


class _Run:
    """Consecutive simple events start..stop-1, decided and applied together."""

    def __init__(self, batch: _Batch, start: int, stop: int) -> None:
        self.batch = batch
        self.state = batch.state
        self.start = start
        self.stop = stop

    def apply(self) -> tuple[int, bool]:
        """Apply a prefix of the run; return where it ended and whether the event there must
        go plain (it could push its ledger past int64)."""
        stop = self._room()
        plain_next = stop < self.stop
        outcome = _limits(
            self.state, self.batch.s, slice(self.start, stop), self.batch.limit_rounds
        )
        failed = None
        if outcome is not None:
            failed, debit_broken, known, rounds = outcome
            self.batch.limit_rounds -= rounds
            if not known:  # the batch spent its rounds: the plain path decides this stretch
                self.batch._plain(self.start, self.stop)
                return self.stop, False
            if known < stop - self.start:
                stop, plain_next = self.start + known, False
                failed, debit_broken = failed[:known], debit_broken[:known]
            codes = np.where(debit_broken, R.EXCEEDS_CREDITS, R.EXCEEDS_DEBITS).astype(np.uint8)
            self.batch.results[self.start : stop][failed] = codes[failed]
            if not failed.any():
                failed = None
        _commit(self.batch, self.start, stop, failed)
        self.state.fast_events += stop - self.start
        return stop, plain_next

    def _room(self) -> int:
        """Where the run must stop so that no ledger needs widening (`_make_room`'s bound).

        The plain path widens a ledger when Σ posted + Σ pending + largest limit + amount
        passes int64; bounding the whole run's sum bounds every event's check in it.
        """
        s = self.batch.s
        ledger = s.columns.ledger[self.start : self.stop]
        amount = s.amount[self.start : self.stop]
        first_ledger = int(ledger[0])
        if bool((ledger == first_ledger).all()):
            groups: list[tuple[int, np.ndarray | None]] = [(first_ledger, None)]
        else:
            groups = [(int(value), ledger == value) for value in np.unique(ledger)]
        stop = self.stop
        for value, members in groups:
            posted, pending, limit = self.state.ledger_totals[value]
            room = INT64_MAX - posted - pending - limit
            part = amount if members is None else amount[members]
            if int(part.max()) * len(part) <= room:
                continue
            running = itertools.accumulate(part.tolist())
            crossing = next((i for i, total in enumerate(running) if total > room), None)
            if crossing is None:
                continue
            where = crossing if members is None else int(np.flatnonzero(members)[crossing])
            stop = min(stop, self.start + where)
        return stop


# ---------------------------------------------------------------------- limits


def _limits(
    state: LedgerState, s: _Screened, run: slice, rounds_max: int
) -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """Which events of a run break a limit; None when none does.

    Returns (failed, debit side broken, known, rounds): the outcome is exact for the first
    `known` events (none when it would take rounds beyond `rounds_max`).

    An account's *exposure* is what its flag bounds by its limit: debits (posted and pending)
    minus posted credits for debits_must_not_exceed_credits, credits minus posted debits for
    the mirror flag; its *headroom* is the limit minus the exposure.
    An event fails when its amount exceeds the headroom of its checked side (debit side first,
    for the result code), given the events before it that succeeded.

    Three steps, each skipped when the one before settles everything: events that fail even
    if every relief in the run came first are *sure* failures; an account the other events
    cannot overdraw even if all of them landed is *slack*; the few *tight* accounts left get
    running sums in event order, solved by fixed-point rounds (`_rounds`). Sure failures
    never land, so their relief does not count: finding them again without it may find more
    (an account whose only hope was a credit that itself fails), and fewer accounts are tight.
    """
    debit_slot, credit_slot = s.debit_slot[run], s.credit_slot[run]
    debit_flags, credit_flags = s.debit_flags[run], s.credit_flags[run]
    amount, posted = s.amount[run], ~s.pending[run]
    debit_is_checked = (debit_flags & DEBITS_LIMITED) != 0
    credit_is_checked = (credit_flags & CREDITS_LIMITED) != 0
    debit_checked = np.flatnonzero(debit_is_checked)
    credit_checked = np.flatnonzero(credit_is_checked)
    if not (len(debit_checked) or len(credit_checked)):
        return None
    capacity, count = len(state.slot_flags), len(amount)
    debit_accounts, credit_accounts = debit_slot[debit_checked], credit_slot[credit_checked]
    debit_amount, credit_amount = amount[debit_checked], amount[credit_checked]
    debit_headroom = _headroom(state, debit_accounts, debits_limited=True)
    credit_headroom = _headroom(state, credit_accounts, debits_limited=False)
    # Relief: a posted amount on the side the flag does not bound lowers the exposure.
    # Worst: the checked side's amounts, all landing.
    legs = (
        (debit_slot, ((debit_flags & CREDITS_LIMITED) != 0) & posted, debit_is_checked),
        (credit_slot, ((credit_flags & DEBITS_LIMITED) != 0) & posted, credit_is_checked),
    )
    relief = np.zeros(capacity, dtype=np.int64)
    worst = np.zeros(capacity, dtype=np.int64)
    for slot, relieves, checked in legs:
        np.add.at(relief, slot[relieves], amount[relieves])
        np.add.at(worst, slot[checked], amount[checked])
    sure = np.zeros(count, dtype=bool)
    for _ in range(SURE_SEARCHES_MAX):
        debit_sure = debit_amount > debit_headroom + relief[debit_accounts]
        credit_sure = credit_amount > credit_headroom + relief[credit_accounts]
        found = np.zeros(count, dtype=bool)
        found[debit_checked[debit_sure]] = True
        found[credit_checked[credit_sure]] = True
        # Less relief only ever finds more: take the new ones' relief and worst case back.
        new = np.flatnonzero(found & ~sure)
        sure = found
        for slot, relieves, checked in legs:
            back = new[relieves[new]]
            np.subtract.at(relief, slot[back], amount[back])
            back = new[checked[new]]
            np.subtract.at(worst, slot[back], amount[back])
        # A sure failure on the credit side still needs its debit check, for the result code.
        undecided = np.where(sure[debit_checked] & ~debit_sure, debit_amount, 0)
        debit_tight = worst[debit_accounts] + undecided > debit_headroom
        credit_tight = worst[credit_accounts] > credit_headroom
        if not (len(new) and (debit_tight.any() or credit_tight.any())):
            break
    debit_broken = np.zeros(count, dtype=bool)
    debit_broken[debit_checked[debit_sure]] = True
    if not (debit_tight.any() or credit_tight.any()):
        return (sure, debit_broken, count, 0) if sure.any() else None
    if rounds_max <= 0:
        return sure, debit_broken, 0, 0
    tight = np.zeros(capacity, dtype=bool)
    tight[debit_accounts[debit_tight]] = True
    tight[credit_accounts[credit_tight]] = True
    return _rounds(state, s, run, tight, sure, debit_broken, rounds_max)


def _rounds(
    state: LedgerState,
    s: _Screened,
    run: slice,
    tight: np.ndarray,
    sure: np.ndarray,
    debit_broken: np.ndarray,
    rounds_max: int,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The exact outcome on the tight accounts, by fixed-point rounds (see `_limits`).

    Whether an event succeeds depends on which earlier ones did, so the statuses are a fixed
    point: guess, evaluate every event against the guess, repeat. If a guess agrees with its
    evaluation on the first q events, those q are exact and so is the evaluation of event q:
    every round fixes at least one more event, and a guess that equals its evaluation is the
    answer. Starting from the sure failures, independent failures settle in one round.
    """
    debit_slot, credit_slot = s.debit_slot[run], s.credit_slot[run]
    debit_flags, credit_flags = s.debit_flags[run], s.credit_flags[run]
    amount, posted = s.amount[run], ~s.pending[run]
    # The entries that move a tight account's exposure: the checked side adds the amount,
    # a posted amount on the other side takes it off.
    debit_checked = (debit_flags & DEBITS_LIMITED) != 0
    credit_checked = (credit_flags & CREDITS_LIMITED) != 0
    debit_moves = tight[debit_slot] & (
        debit_checked | (((debit_flags & CREDITS_LIMITED) != 0) & posted)
    )
    credit_moves = tight[credit_slot] & (
        credit_checked | (((credit_flags & DEBITS_LIMITED) != 0) & posted)
    )
    debit_events = np.flatnonzero(debit_moves)
    credit_events = np.flatnonzero(credit_moves)
    event = np.concatenate((debit_events, credit_events))
    slot = np.concatenate((debit_slot[debit_events], credit_slot[credit_events]))
    checked = np.concatenate((debit_checked[debit_events], credit_checked[credit_events]))
    on_debit = np.arange(len(event)) < len(debit_events)
    count = len(amount)
    # An event touches an account once (debit and credit accounts differ): slot, then event.
    order = np.argsort(slot * count + event)
    event, slot, checked, on_debit = event[order], slot[order], checked[order], on_debit[order]
    delta = np.where(checked, amount[event], -amount[event])
    headroom = _headroom(state, slot, debits_limited=(state.slot_flags[slot] & DEBITS_LIMITED) != 0)
    first = np.r_[True, slot[1:] != slot[:-1]]
    segment_start = np.maximum.accumulate(np.where(first, np.arange(len(slot)), 0))
    failed = sure
    known = 0
    rounds = 0
    while rounds < rounds_max:
        rounds += 1
        moved = np.where(failed[event], 0, delta)
        # int64 sums may wrap across segments; the differences within one are exact.
        before = np.cumsum(moved) - moved
        before -= before[segment_start]
        broken = checked & (before + delta > headroom)
        evaluated = sure.copy()
        evaluated[event[broken]] = True
        differ = np.flatnonzero(evaluated != failed)
        failed = evaluated
        if not len(differ):
            known = count
            break
        known = int(differ[0]) + 1
    debit_broken = debit_broken.copy()
    debit_broken[event[broken & on_debit]] = True
    return failed, debit_broken, known, rounds


def _headroom(
    state: LedgerState, slot: np.ndarray, debits_limited: bool | np.ndarray
) -> np.ndarray:
    """Limit minus exposure of limited accounts at their slots (see `_limits`)."""
    if debits_limited is True:
        exposure = (
            state.debits_pending[slot] + state.debits_posted[slot] - state.credits_posted[slot]
        )
    elif debits_limited is False:
        exposure = (
            state.credits_pending[slot] + state.credits_posted[slot] - state.debits_posted[slot]
        )
    else:
        debits = state.debits_pending[slot] + state.debits_posted[slot]
        credits = state.credits_pending[slot] + state.credits_posted[slot]
        exposure = np.where(
            debits_limited, debits - state.credits_posted[slot], credits - state.debits_posted[slot]
        )
    return state.limit[slot] - exposure


# ---------------------------------------------------------------------- commit


def _commit(batch: _Batch, start: int, stop: int, failed: np.ndarray | None) -> None:
    """Apply the events start..stop-1 that did not fail: balances, totals, the transfer
    index, pending statuses and expiries, and their journal rows."""
    state, s = batch.state, batch.s
    if failed is None:
        index: slice | np.ndarray = slice(start, stop)
        count = stop - start
        positions = np.arange(start, stop, dtype=np.uint64)
        ids = s.id_list[start:stop]
    else:
        index = start + np.flatnonzero(~failed)
        count = len(index)
        positions = index.astype(np.uint64)
        ids = [s.id_list[i] for i in index.tolist()]
    if not count:
        return
    c = s.columns
    debit_slot, credit_slot = s.debit_slot[index], s.credit_slot[index]
    amount, pending = s.amount[index], s.pending[index]
    ledger = c.ledger[index]
    has_pending = bool(pending.any())
    if has_pending:
        posted = ~pending
        np.add.at(state.debits_posted, debit_slot[posted], amount[posted])
        np.add.at(state.credits_posted, credit_slot[posted], amount[posted])
        np.add.at(state.debits_pending, debit_slot[pending], amount[pending])
        np.add.at(state.credits_pending, credit_slot[pending], amount[pending])
    else:
        np.add.at(state.debits_posted, debit_slot, amount)
        np.add.at(state.credits_posted, credit_slot, amount)
    _add_totals(state, ledger, amount, pending if has_pending else None)
    timestamp = positions + np.uint64(batch.first_timestamp)
    rows = TransferColumns(
        id=c.id[index],
        debit_account_id=c.debit_account_id[index],
        credit_account_id=c.credit_account_id[index],
        amount=c.amount[index],
        ledger=ledger,
        code=c.code[index],
        flags=c.flags[index],  # 0 or pending: no linked bit to mask
        pending_id=np.zeros(count, dtype=np.uint64),
        timeout=c.timeout[index],
        user_data=c.user_data[index],
        timestamp=timestamp,
    )
    if isinstance(index, slice):
        # Slices are views: the journal must not share memory with the caller's batch.
        rows = TransferColumns(**{name: getattr(rows, name).copy() for name in FIELD_NAMES})
    for name in CARRIED_WIDE:
        values = getattr(rows, name)
        if values.dtype == object:
            # Narrow when the rows that landed all fit, as the plain path's journal rows are.
            setattr(rows, name, column(values, NARROW_DTYPES[name]))
    first_row = state._append_columns(rows)
    state.transfer_row.update(zip(ids, range(first_row, first_row + count), strict=True))
    if has_pending:
        _open_pending(state, rows, pending)


def _add_totals(
    state: LedgerState, ledger: np.ndarray, amount: np.ndarray, pending: np.ndarray | None
) -> None:
    """Add the run's amounts to its ledgers' running totals (posted, pending)."""
    first_ledger = int(ledger[0])
    single = bool((ledger == first_ledger).all())
    values = [first_ledger] if single else np.unique(ledger).tolist()
    for value in values:
        mine = amount if single else amount[ledger == value]
        totals = state.ledger_totals[value]
        if pending is None:
            totals[0] += int(mine.sum())
        else:
            waits = pending if single else pending[ledger == value]
            totals[0] += int(mine[~waits].sum())
            totals[1] += int(mine[waits].sum())


def _open_pending(state: LedgerState, rows: TransferColumns, pending: np.ndarray) -> None:
    ids = rows.id[pending].tolist()
    state.pending_status.update(dict.fromkeys(ids, PendingStatus.PENDING))
    timed = pending & (rows.timeout != 0)
    if not timed.any():
        return
    expires = rows.timestamp[timed] + rows.timeout[timed].astype(np.uint64) * np.uint64(
        NS_PER_SECOND
    )
    entries = list(zip(expires.tolist(), rows.id[timed].tolist(), strict=True))
    state.pending_expires_at.update((i, at) for at, i in entries)
    heap = state.expiry_heap
    if len(entries) > len(heap) // 8:
        heap.extend(entries)
        heapq.heapify(heap)
    else:
        for entry in entries:
            heapq.heappush(heap, entry)
