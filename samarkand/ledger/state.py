"""The ledger state machine: accounts, balances and the exact (plain) path of batch apply.

Pure: no I/O, no clock. `now` comes in with every batch and the engine derives every
timestamp from it, so the same batches at the same times give the same journal.

Balances of a ledger live in int64 NumPy columns while the ledger's totals provably fit
(Σ posted + Σ pending + the largest limit ≤ 2**63 - 1 bounds every account's fields and every
sum the checks form). When a batch could break that bound the ledger is widened for good:
its accounts move to Python ints, which hold any amount up to 2**128 - 1 exactly.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Sequence

import numpy as np

from samarkand.ledger import fast as fast_path
from samarkand.ledger.columns import TransferColumns
from samarkand.ledger.fast import AccountIndex, apply_fast, exact_columns
from samarkand.ledger.journal import BatchRecord, Expiries, Journal
from samarkand.ledger.types import (
    ACCOUNT_FLAGS_KNOWN,
    BATCH_EVENTS_MAX,
    INT64_MAX,
    NS_PER_SECOND,
    TRANSFER_FLAGS_KNOWN,
    TRANSFER_FLAGS_PHASE,
    U16_MAX,
    U32_MAX,
    U64_MAX,
    U128_MAX,
    Account,
    AccountFlags,
    Balance,
    CreateAccountResult,
    CreateTransferResult,
    LimitChange,
    PendingStatus,
    SetLimitResult,
    Transfer,
    TransferFlags,
)

R = CreateTransferResult
A = CreateAccountResult
L = SetLimitResult

LINKED = int(TransferFlags.LINKED)
PENDING = int(TransferFlags.PENDING)
POST = int(TransferFlags.POST_PENDING)
VOID = int(TransferFlags.VOID_PENDING)
DEBITS_LIMITED = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
CREDITS_LIMITED = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
CLOSED = int(AccountFlags.CLOSED)

# Index of each value in the list form of an account's balances.
DP, DPO, CP, CPO, LIMIT = range(5)

_TRANSFER_RANGES = (
    ("id", U128_MAX),
    ("debit_account_id", U128_MAX),
    ("credit_account_id", U128_MAX),
    ("amount", U128_MAX),
    ("ledger", U32_MAX),
    ("code", U16_MAX),
    ("flags", U16_MAX),
    ("pending_id", U128_MAX),
    ("timeout", U32_MAX),
    ("user_data", U128_MAX),
)
_ACCOUNT_RANGES = (
    ("id", U128_MAX),
    ("ledger", U32_MAX),
    ("code", U16_MAX),
    ("flags", U16_MAX),
    ("user_data", U128_MAX),
    ("limit", U128_MAX),
)


def _in_range(value: object, highest: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= highest


class LedgerState:
    """Accounts, balances, the journal and the status of every pending transfer."""

    def __init__(self, capacity: int = 1024) -> None:
        self.accounts: list[Account] = []
        self.account_slot: dict[int, int] = {}
        self.slot_ledger = np.zeros(capacity, dtype=np.uint32)
        self.slot_flags = np.zeros(capacity, dtype=np.uint16)
        self.debits_pending = np.zeros(capacity, dtype=np.int64)
        self.debits_posted = np.zeros(capacity, dtype=np.int64)
        self.credits_pending = np.zeros(capacity, dtype=np.int64)
        self.credits_posted = np.zeros(capacity, dtype=np.int64)
        self.limit = np.zeros(capacity, dtype=np.int64)
        self.wide: dict[int, list[int]] = {}
        self.wide_ledgers: set[int] = set()
        self.ledger_slots: dict[int, list[int]] = {}
        # ledger -> [Σ credits posted, Σ credits pending, largest limit]
        self.ledger_totals: dict[int, list[int]] = {}
        self.journal = Journal()
        self.transfer_row: dict[int, int] = {}
        self.pending_status: dict[int, int] = {}
        self.pending_expires_at: dict[int, int] = {}
        self.expiry_heap: list[tuple[int, int]] = []
        self.timestamp = 0
        self.batches = 0
        # Sorted account ids (uint64) and their slots: the fast path's account lookup.
        self.lookup_ids = np.zeros(0, dtype=np.uint64)
        self.lookup_slots = np.zeros(0, dtype=np.int64)
        self.lookup_complete = True
        self._fast_account_index: AccountIndex | None = None
        self.fast_events = 0  # events the fast path decided with NumPy (a count for tests)
        # Rows applied in the batch under way, before they join the journal.
        self._batch_parts: list[TransferColumns | list[Transfer]] = []
        self._batch_starts: list[int] = []
        self._batch_length = 0

    # ------------------------------------------------------------------ queries

    def account(self, account_id: int) -> Account | None:
        slot = self.account_slot.get(account_id)
        return None if slot is None else self.accounts[slot]

    def balance(self, account_id: int) -> Balance:
        slot = self.account_slot[account_id]
        values = self._get(slot)
        return Balance(values[DP], values[DPO], values[CP], values[CPO])

    def transfer(self, transfer_id: int) -> Transfer | None:
        row = self.transfer_row.get(transfer_id)
        return None if row is None else self._row(row)

    def pending(self, transfer_id: int) -> PendingStatus | None:
        status = self.pending_status.get(transfer_id)
        return None if status is None else PendingStatus(status)

    def ledgers(self) -> list[int]:
        return sorted(self.ledger_slots)

    # ------------------------------------------------------------------ balances

    def _get(self, slot: int) -> list[int]:
        wide = self.wide.get(slot)
        if wide is not None:
            return list(wide)
        return [
            int(self.debits_pending[slot]),
            int(self.debits_posted[slot]),
            int(self.credits_pending[slot]),
            int(self.credits_posted[slot]),
            int(self.limit[slot]),
        ]

    def _put(self, slot: int, values: list[int]) -> None:
        if slot in self.wide:
            self.wide[slot] = values
            return
        self.debits_pending[slot] = values[DP]
        self.debits_posted[slot] = values[DPO]
        self.credits_pending[slot] = values[CP]
        self.credits_posted[slot] = values[CPO]
        self.limit[slot] = values[LIMIT]

    def _make_room(self, ledger: int, extra: int) -> None:
        """Widen `ledger` if adding `extra` could push a value past int64."""
        if ledger in self.wide_ledgers:
            return
        posted, pending, limit = self.ledger_totals[ledger]
        if posted + pending + limit + extra > INT64_MAX:
            self.widen(ledger)

    def widen(self, ledger: int) -> None:
        if ledger in self.wide_ledgers:
            return
        for slot in self.ledger_slots.get(ledger, ()):
            self.wide[slot] = self._get(slot)
            self.debits_pending[slot] = 0
            self.debits_posted[slot] = 0
            self.credits_pending[slot] = 0
            self.credits_posted[slot] = 0
            self.limit[slot] = 0
        self.wide_ledgers.add(ledger)

    def _grow(self, needed: int) -> None:
        capacity = len(self.slot_ledger)
        if needed <= capacity:
            return
        capacity = max(needed, capacity * 2)
        for name in (
            "slot_ledger",
            "slot_flags",
            "debits_pending",
            "debits_posted",
            "credits_pending",
            "credits_posted",
            "limit",
        ):
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    # ------------------------------------------------------------------ rows

    def _row(self, row: int) -> Transfer:
        if row < len(self.journal):
            return self.journal.row(row)
        offset = row - len(self.journal)
        for start, part in zip(
            reversed(self._batch_starts), reversed(self._batch_parts), strict=True
        ):
            if offset >= start:
                if isinstance(part, list):
                    return part[offset - start]
                return part.transfer_at(offset - start)
        raise IndexError(row)

    def _append_row(self, transfer: Transfer) -> None:
        if not self._batch_parts or not isinstance(self._batch_parts[-1], list):
            self._batch_parts.append([])
            self._batch_starts.append(self._batch_length)
        part = self._batch_parts[-1]
        assert isinstance(part, list)
        part.append(transfer)
        self.transfer_row[transfer.id] = len(self.journal) + self._batch_length
        self._batch_length += 1

    def _append_columns(self, columns: TransferColumns) -> int:
        """Add applied rows of the batch under way; return the row number of the first."""
        first = len(self.journal) + self._batch_length
        self._batch_parts.append(columns)
        self._batch_starts.append(self._batch_length)
        self._batch_length += len(columns)
        return first

    def _drop_rows(self, keep: int) -> None:
        """Forget rows of the batch under way beyond the first `keep` (a failed chain)."""
        while self._batch_length > keep:
            part = self._batch_parts[-1]
            assert isinstance(part, list), "only plain rows are ever rolled back"
            transfer = part.pop()
            del self.transfer_row[transfer.id]
            self._batch_length -= 1
            if not part:
                self._batch_parts.pop()
                self._batch_starts.pop()

    def _close_batch(self) -> TransferColumns:
        parts = [
            TransferColumns.from_transfers(p) if isinstance(p, list) else p
            for p in self._batch_parts
        ]
        applied = TransferColumns.concat(parts)
        self.journal.append(applied)
        self._batch_parts = []
        self._batch_starts = []
        self._batch_length = 0
        return applied

    # ------------------------------------------------------------------ time

    def _next_timestamps(self, now: int, count: int) -> int:
        if type(now) is not int or now < 0 or now > U64_MAX - count - 1:
            raise ValueError(f"now must be a non-negative int nanosecond count, got {now!r}")
        first = max(now, self.timestamp + 1)
        self.timestamp = first + count - 1 if count else self.timestamp
        return first

    def _expire(self, now: int) -> Expiries:
        # Refuse a bad `now` before popping the heap: a raise after would lose those expiries.
        self._next_timestamps(now, 0)
        due: list[int] = []
        heap = self.expiry_heap
        while heap and heap[0][0] <= now:
            expires_at, pending_id = heapq.heappop(heap)
            # A pending rolled back with its chain leaves its entry behind; when its id comes
            # back pending with the same expiry, both entries match: release it only once.
            if (
                self.pending_status.get(pending_id) == PendingStatus.PENDING
                and self.pending_expires_at.get(pending_id) == expires_at
                and (not due or due[-1] != pending_id)
            ):
                due.append(pending_id)
        if not due:
            return Expiries()
        first = self._next_timestamps(now, len(due))
        for pending_id in due:
            pending = self._row(self.transfer_row[pending_id])
            self._release(pending, None)
            self.pending_status[pending_id] = PendingStatus.EXPIRED
        return Expiries(tuple(due), tuple(range(first, first + len(due))))

    # ------------------------------------------------------------------ accounts

    def create_accounts(
        self, accounts: Sequence[Account], now: int
    ) -> tuple[list[CreateAccountResult], BatchRecord]:
        """Create accounts; one result per event, linked chains all or nothing."""
        if len(accounts) > BATCH_EVENTS_MAX:
            return [A.BATCH_TOO_LARGE] * len(accounts), self._record(now, (), None, Expiries())
        first = self._next_timestamps(now, len(accounts))
        results = [A.OK] * len(accounts)
        created: list[Account] = []
        for start, end, chain_open in chains([a.flags for a in accounts]):
            keep = len(created)
            for index in range(start, end + 1):
                if chain_open and index == end:
                    result = A.LINKED_EVENT_CHAIN_OPEN
                else:
                    result = self._create_account(accounts[index], first + index, created)
                results[index] = result
                if result != A.OK:
                    self._undo_accounts(created, keep)
                    for other in range(start, end + 1):
                        if other != index:
                            results[other] = A.LINKED_EVENT_FAILED
                    break
        self._rebuild_lookup()
        return results, self._record(now, tuple(created), None, Expiries())

    def _create_account(
        self, account: Account, timestamp: int, created: list[Account]
    ) -> CreateAccountResult:
        for name, highest in _ACCOUNT_RANGES:
            if not _in_range(getattr(account, name), highest):
                return A.VALUE_OUT_OF_RANGE
        if account.timestamp != 0:
            return A.TIMESTAMP_MUST_BE_ZERO
        if account.flags & ~ACCOUNT_FLAGS_KNOWN:
            return A.RESERVED_FLAG
        if account.id == 0:
            return A.ID_MUST_NOT_BE_ZERO
        if account.id == U128_MAX:
            return A.ID_MUST_NOT_BE_INT_MAX
        existing = self.account(account.id)
        if existing is not None:
            return _account_exists(account, existing)
        if account.flags & DEBITS_LIMITED and account.flags & CREDITS_LIMITED:
            return A.FLAGS_ARE_MUTUALLY_EXCLUSIVE
        if account.ledger == 0:
            return A.LEDGER_MUST_NOT_BE_ZERO
        if account.code == 0:
            return A.CODE_MUST_NOT_BE_ZERO
        # Plain ints in the record (an AccountCode is an int subclass): it is what a store
        # writes and what its checks after reading expect.
        stored = Account(
            int(account.id),
            int(account.ledger),
            int(account.code),
            int(account.flags) & ~int(AccountFlags.LINKED),
            int(account.user_data),
            int(account.limit),
            timestamp,
        )
        self._add_account(stored)
        created.append(stored)
        return A.OK

    def _add_account(self, account: Account) -> None:
        slot = len(self.accounts)
        self._grow(slot + 1)
        self.accounts.append(account)
        self.account_slot[account.id] = slot
        self.slot_ledger[slot] = account.ledger
        self.slot_flags[slot] = account.flags
        self.ledger_slots.setdefault(account.ledger, []).append(slot)
        totals = self.ledger_totals.setdefault(account.ledger, [0, 0, 0])
        if account.limit > totals[2]:
            totals[2] = account.limit
        self._make_room(account.ledger, 0)
        if account.ledger in self.wide_ledgers:
            self.wide[slot] = [0, 0, 0, 0, account.limit]
        else:
            self.limit[slot] = account.limit

    def _undo_accounts(self, created: list[Account], keep: int) -> None:
        while len(created) > keep:
            account = created.pop()
            slot = self.account_slot.pop(account.id)
            assert slot == len(self.accounts) - 1
            self.accounts.pop()
            self.ledger_slots[account.ledger].pop()
            self.wide.pop(slot, None)
            self.limit[slot] = 0
            self.slot_flags[slot] = 0
            self.slot_ledger[slot] = 0
            # ledger_totals' largest limit may stay high: it only ever widens sooner.

    def _rebuild_lookup(self) -> None:
        ids = [a.id for a in self.accounts]
        self.lookup_complete = all(i <= U64_MAX for i in ids)
        narrow = [(i, s) for s, i in enumerate(ids) if i <= U64_MAX]
        narrow.sort()
        self.lookup_ids = np.array([i for i, _ in narrow], dtype=np.uint64)
        self.lookup_slots = np.array([s for _, s in narrow], dtype=np.int64)

    # ------------------------------------------------------------------ limits

    def set_limits(
        self, changes: Sequence[LimitChange], now: int
    ) -> tuple[list[SetLimitResult], BatchRecord]:
        """Change the intraday credit of accounts; one result per change, each on its own.

        A limit may rise to any value, or fall as far as what the account already uses (its
        debits beyond its credits, or the mirror for the other flag) and no further: so no
        account is ever beyond its limit, and the invariants can still check that from
        balances alone. Changes to one account apply in batch order; the last one stays.
        The account's record carries its current limit, so creating the same account again
        with its first limit answers EXISTS_WITH_DIFFERENT_LIMIT once the limit has changed.
        """
        if len(changes) > BATCH_EVENTS_MAX:
            return [L.BATCH_TOO_LARGE] * len(changes), self._record(now, (), None, Expiries())
        first = self._next_timestamps(now, len(changes))
        results: list[SetLimitResult] = []
        applied: list[LimitChange] = []
        for index, change in enumerate(changes):
            result = self._check_limit(change)
            if result == L.OK:
                stamped = LimitChange(int(change.account_id), int(change.limit), first + index)
                self._set_limit(self.account_slot[stamped.account_id], stamped.limit)
                applied.append(stamped)
            results.append(result)
        return results, self._record(now, (), None, Expiries(), tuple(applied))

    def _check_limit(self, change: LimitChange) -> SetLimitResult:
        if not (_in_range(change.account_id, U128_MAX) and _in_range(change.limit, U128_MAX)):
            return L.VALUE_OUT_OF_RANGE
        if change.timestamp != 0:
            return L.TIMESTAMP_MUST_BE_ZERO
        slot = self.account_slot.get(change.account_id)
        if slot is None:
            return L.ACCOUNT_NOT_FOUND
        flags = int(self.slot_flags[slot])
        if not flags & (DEBITS_LIMITED | CREDITS_LIMITED):
            return L.ACCOUNT_NOT_LIMITED
        values = self._get(slot)
        if flags & DEBITS_LIMITED:
            used = values[DP] + values[DPO] - values[CPO]
        else:
            used = values[CP] + values[CPO] - values[DPO]
        if used > change.limit:
            return L.LIMIT_BELOW_USE
        return L.OK

    def _set_limit(self, slot: int, limit: int) -> None:
        """Give the account at `slot` the limit `limit` (replay uses this too)."""
        account = self.accounts[slot]
        totals = self.ledger_totals[account.ledger]
        # Room first: a limit beyond what int64 columns can bound widens the ledger before it
        # is written. The largest limit never falls: as a bound it need only be high enough.
        if limit > totals[2]:
            totals[2] = limit
        self._make_room(account.ledger, 0)
        values = self._get(slot)
        values[LIMIT] = limit
        self._put(slot, values)
        self.accounts[slot] = dataclasses.replace(account, limit=limit)

    # ------------------------------------------------------------------ transfers

    def apply(
        self, batch: Sequence[Transfer] | TransferColumns, now: int, fast: bool = True
    ) -> tuple[np.ndarray, BatchRecord]:
        """Apply a batch of transfers.

        Returns one CreateTransferResult per event (a uint8 array) and the batch's journal
        record. Expiries due at `now` are released first. `fast` (the default) vectorises
        runs of simple transfers (`samarkand.ledger.fast`) with exactly the plain path's
        outcome; `fast=False` forces the plain path, one event at a time.
        """
        # A batch shorter than the shortest vectorised run would go plain event by event
        # anyway: skip building its columns (the fast path's fixed cost per batch).
        if fast and len(batch) >= fast_path.RUN_EVENTS_MIN:
            if isinstance(batch, TransferColumns):
                return apply_fast(self, batch, now)
            batch = list(batch)
            exact = exact_columns(batch)
            if exact is not None:
                return apply_fast(self, exact, now, transfers=batch)
        count = len(batch)
        results = np.zeros(count, dtype=np.uint8)
        if count > BATCH_EVENTS_MAX:
            results[:] = R.BATCH_TOO_LARGE
            return results, self._record(now, (), None, Expiries())
        expiries = self._expire(now)
        first = self._next_timestamps(now, count)
        if isinstance(batch, TransferColumns):
            transfers = batch.to_transfers()
        else:
            transfers = list(batch)
        self.apply_plain(transfers, 0, count, first, results)
        return results, self._record(now, (), self._close_batch(), expiries)

    def apply_plain(
        self,
        transfers: Sequence[Transfer],
        start: int,
        stop: int,
        first_timestamp: int,
        results: np.ndarray,
    ) -> None:
        """Apply events start..stop-1 one by one; a chain that begins there ends there too."""
        flags = [t.flags for t in transfers[start:stop]]
        for chain_start, chain_end, chain_open in chains(
            flags, last_of_batch=stop == len(transfers)
        ):
            first, last = start + chain_start, start + chain_end
            if first == last and not chain_open:
                results[first] = self._create_transfer(
                    transfers[first], first_timestamp + first, None
                )
                continue
            undo: list[tuple] = []
            rows_before = self._batch_length
            for index in range(first, last + 1):
                if chain_open and index == last:
                    result = R.LINKED_EVENT_CHAIN_OPEN
                else:
                    result = self._create_transfer(transfers[index], first_timestamp + index, undo)
                results[index] = result
                if result != R.OK:
                    self._undo(undo)
                    self._drop_rows(rows_before)
                    for other in range(first, last + 1):
                        if other != index:
                            results[other] = R.LINKED_EVENT_FAILED
                    break

    def _undo(self, undo: list[tuple]) -> None:
        for entry in reversed(undo):
            kind = entry[0]
            if kind == "balance":
                _, slot, values = entry
                self._put(slot, values)
            elif kind == "totals":
                _, ledger, values = entry
                self.ledger_totals[ledger] = values
            elif kind == "pending":
                _, pending_id, status, expires_at = entry
                if status is None:
                    self.pending_status.pop(pending_id, None)
                    self.pending_expires_at.pop(pending_id, None)
                else:
                    self.pending_status[pending_id] = status
                    if expires_at is not None:
                        self.pending_expires_at[pending_id] = expires_at

    def _create_transfer(
        self, t: Transfer, timestamp: int, undo: list[tuple] | None
    ) -> CreateTransferResult:
        for name, highest in _TRANSFER_RANGES:
            if not _in_range(getattr(t, name), highest):
                return R.VALUE_OUT_OF_RANGE
        if t.timestamp != 0:
            return R.TIMESTAMP_MUST_BE_ZERO
        if t.flags & ~TRANSFER_FLAGS_KNOWN:
            return R.RESERVED_FLAG
        if t.id == 0:
            return R.ID_MUST_NOT_BE_ZERO
        if t.id == U128_MAX:
            return R.ID_MUST_NOT_BE_INT_MAX
        row = self.transfer_row.get(t.id)
        if row is not None:
            return self._transfer_exists(t, self._row(row))
        phase = t.flags & TRANSFER_FLAGS_PHASE
        if phase & (phase - 1):
            return R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
        if phase & (POST | VOID):
            return self._post_or_void(t, timestamp, undo)
        if t.debit_account_id == 0:
            return R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO
        if t.debit_account_id == U128_MAX:
            return R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX
        if t.credit_account_id == 0:
            return R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO
        if t.credit_account_id == U128_MAX:
            return R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX
        if t.debit_account_id == t.credit_account_id:
            return R.ACCOUNTS_MUST_BE_DIFFERENT
        if t.pending_id != 0:
            return R.PENDING_ID_MUST_BE_ZERO
        if t.timeout != 0 and not phase & PENDING:
            return R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
        if t.amount == 0:
            return R.AMOUNT_MUST_NOT_BE_ZERO
        if t.ledger == 0:
            return R.LEDGER_MUST_NOT_BE_ZERO
        if t.code == 0:
            return R.CODE_MUST_NOT_BE_ZERO
        debit_slot = self.account_slot.get(t.debit_account_id)
        if debit_slot is None:
            return R.DEBIT_ACCOUNT_NOT_FOUND
        credit_slot = self.account_slot.get(t.credit_account_id)
        if credit_slot is None:
            return R.CREDIT_ACCOUNT_NOT_FOUND
        debit_account = self.accounts[debit_slot]
        credit_account = self.accounts[credit_slot]
        if debit_account.ledger != credit_account.ledger:
            return R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER
        if t.ledger != debit_account.ledger:
            return R.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS
        if int(self.slot_flags[debit_slot]) & CLOSED:
            return R.DEBIT_ACCOUNT_ALREADY_CLOSED
        if int(self.slot_flags[credit_slot]) & CLOSED:
            return R.CREDIT_ACCOUNT_ALREADY_CLOSED
        self._make_room(t.ledger, t.amount)
        debit = self._get(debit_slot)
        credit = self._get(credit_slot)
        amount = t.amount
        pending = bool(phase & PENDING)
        if pending:
            if debit[DP] + amount > U128_MAX:
                return R.OVERFLOWS_DEBITS_PENDING
            if credit[CP] + amount > U128_MAX:
                return R.OVERFLOWS_CREDITS_PENDING
        else:
            if debit[DPO] + amount > U128_MAX:
                return R.OVERFLOWS_DEBITS_POSTED
            if credit[CPO] + amount > U128_MAX:
                return R.OVERFLOWS_CREDITS_POSTED
        if debit[DP] + debit[DPO] + amount > U128_MAX:
            return R.OVERFLOWS_DEBITS
        if credit[CP] + credit[CPO] + amount > U128_MAX:
            return R.OVERFLOWS_CREDITS
        expires_at = 0
        if pending and t.timeout:
            expires_at = timestamp + t.timeout * NS_PER_SECOND
            if expires_at > U64_MAX:
                return R.OVERFLOWS_TIMEOUT
        debit_flags = int(self.slot_flags[debit_slot])
        credit_flags = int(self.slot_flags[credit_slot])
        if debit_flags & DEBITS_LIMITED and (
            debit[DP] + debit[DPO] + amount > debit[CPO] + debit[LIMIT]
        ):
            return R.EXCEEDS_CREDITS
        if credit_flags & CREDITS_LIMITED and (
            credit[CP] + credit[CPO] + amount > credit[DPO] + credit[LIMIT]
        ):
            return R.EXCEEDS_DEBITS
        if undo is not None:
            undo.append(("balance", debit_slot, list(debit)))
            undo.append(("balance", credit_slot, list(credit)))
            undo.append(("totals", t.ledger, list(self.ledger_totals[t.ledger])))
        totals = self.ledger_totals[t.ledger]
        if pending:
            debit[DP] += amount
            credit[CP] += amount
            totals[1] += amount
        else:
            debit[DPO] += amount
            credit[CPO] += amount
            totals[0] += amount
        self._put(debit_slot, debit)
        self._put(credit_slot, credit)
        if pending:
            if undo is not None:
                undo.append(("pending", t.id, None, None))
            self.pending_status[t.id] = PendingStatus.PENDING
            if expires_at:
                self.pending_expires_at[t.id] = expires_at
                heapq.heappush(self.expiry_heap, (expires_at, t.id))
        self._append_row(
            Transfer(
                t.id,
                t.debit_account_id,
                t.credit_account_id,
                amount,
                t.ledger,
                t.code,
                int(t.flags) & ~LINKED,
                0,
                t.timeout,
                t.user_data,
                timestamp,
            )
        )
        return R.OK

    def _post_or_void(
        self, t: Transfer, timestamp: int, undo: list[tuple] | None
    ) -> CreateTransferResult:
        if t.pending_id == 0:
            return R.PENDING_ID_MUST_NOT_BE_ZERO
        if t.pending_id == U128_MAX:
            return R.PENDING_ID_MUST_NOT_BE_INT_MAX
        if t.pending_id == t.id:
            return R.PENDING_ID_MUST_BE_DIFFERENT
        if t.timeout != 0:
            return R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
        row = self.transfer_row.get(t.pending_id)
        if row is None:
            return R.PENDING_TRANSFER_NOT_FOUND
        p = self._row(row)
        if not p.flags & PENDING:
            return R.PENDING_TRANSFER_NOT_PENDING
        if t.debit_account_id and t.debit_account_id != p.debit_account_id:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID
        if t.credit_account_id and t.credit_account_id != p.credit_account_id:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID
        if t.ledger and t.ledger != p.ledger:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_LEDGER
        if t.code and t.code != p.code:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_CODE
        post = bool(t.flags & POST)
        if post and t.amount > p.amount:
            return R.EXCEEDS_PENDING_TRANSFER_AMOUNT
        if not post and t.amount not in (0, p.amount):
            return R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT
        status = self.pending_status[p.id]
        if status == PendingStatus.POSTED:
            return R.PENDING_TRANSFER_ALREADY_POSTED
        if status == PendingStatus.VOIDED:
            return R.PENDING_TRANSFER_ALREADY_VOIDED
        if status == PendingStatus.EXPIRED:
            return R.PENDING_TRANSFER_EXPIRED
        amount = (t.amount or p.amount) if post else p.amount
        debit_slot = self.account_slot[p.debit_account_id]
        credit_slot = self.account_slot[p.credit_account_id]
        if post:
            debit = self._get(debit_slot)
            credit = self._get(credit_slot)
            if debit[DPO] + amount > U128_MAX:
                return R.OVERFLOWS_DEBITS_POSTED
            if credit[CPO] + amount > U128_MAX:
                return R.OVERFLOWS_CREDITS_POSTED
        if undo is not None:
            undo.append(("balance", debit_slot, self._get(debit_slot)))
            undo.append(("balance", credit_slot, self._get(credit_slot)))
            undo.append(("totals", p.ledger, list(self.ledger_totals[p.ledger])))
            undo.append(("pending", p.id, PendingStatus.PENDING, self.pending_expires_at.get(p.id)))
        self._release(p, amount if post else None)
        self.pending_status[p.id] = PendingStatus.POSTED if post else PendingStatus.VOIDED
        self._append_row(
            Transfer(
                t.id,
                p.debit_account_id,
                p.credit_account_id,
                amount,
                p.ledger,
                p.code,
                int(t.flags) & ~LINKED,
                p.id,
                0,
                t.user_data or p.user_data,
                timestamp,
            )
        )
        return R.OK

    def _release(self, p: Transfer, posted: int | None) -> None:
        """Release a pending transfer's amount, posting `posted` of it when given."""
        debit_slot = self.account_slot[p.debit_account_id]
        credit_slot = self.account_slot[p.credit_account_id]
        debit = self._get(debit_slot)
        credit = self._get(credit_slot)
        totals = self.ledger_totals[p.ledger]
        debit[DP] -= p.amount
        credit[CP] -= p.amount
        totals[1] -= p.amount
        if posted is not None:
            debit[DPO] += posted
            credit[CPO] += posted
            totals[0] += posted
        self._put(debit_slot, debit)
        self._put(credit_slot, credit)

    def _transfer_exists(self, t: Transfer, e: Transfer) -> CreateTransferResult:
        if (t.flags & ~LINKED) != (e.flags & ~LINKED):
            return R.EXISTS_WITH_DIFFERENT_FLAGS
        if t.flags & (POST | VOID):
            if t.pending_id != e.pending_id:
                return R.EXISTS_WITH_DIFFERENT_PENDING_ID
            if t.timeout != e.timeout:
                return R.EXISTS_WITH_DIFFERENT_TIMEOUT
            if t.debit_account_id and t.debit_account_id != e.debit_account_id:
                return R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID
            if t.credit_account_id and t.credit_account_id != e.credit_account_id:
                return R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID
            pending_amount = self._row(self.transfer_row[e.pending_id]).amount
            if t.flags & POST:
                asked = t.amount or pending_amount
            else:
                asked = t.amount or pending_amount
            if asked != e.amount:
                return R.EXISTS_WITH_DIFFERENT_AMOUNT
            if t.user_data and t.user_data != e.user_data:
                return R.EXISTS_WITH_DIFFERENT_USER_DATA
            if t.ledger and t.ledger != e.ledger:
                return R.EXISTS_WITH_DIFFERENT_LEDGER
            if t.code and t.code != e.code:
                return R.EXISTS_WITH_DIFFERENT_CODE
            return R.EXISTS
        if t.pending_id != e.pending_id:
            return R.EXISTS_WITH_DIFFERENT_PENDING_ID
        if t.timeout != e.timeout:
            return R.EXISTS_WITH_DIFFERENT_TIMEOUT
        if t.debit_account_id != e.debit_account_id:
            return R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID
        if t.credit_account_id != e.credit_account_id:
            return R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID
        if t.amount != e.amount:
            return R.EXISTS_WITH_DIFFERENT_AMOUNT
        if t.user_data != e.user_data:
            return R.EXISTS_WITH_DIFFERENT_USER_DATA
        if t.ledger != e.ledger:
            return R.EXISTS_WITH_DIFFERENT_LEDGER
        if t.code != e.code:
            return R.EXISTS_WITH_DIFFERENT_CODE
        return R.EXISTS

    # ------------------------------------------------------------------ records

    def _record(
        self,
        now: int,
        accounts: tuple[Account, ...],
        transfers: TransferColumns | None,
        expiries: Expiries,
        limits: tuple[LimitChange, ...] = (),
    ) -> BatchRecord:
        self.batches += 1
        return BatchRecord(
            sequence=self.batches,
            now=now,
            accounts=accounts,
            transfers=transfers if transfers is not None else TransferColumns.empty(),
            expiries=expiries,
            timestamp=self.timestamp,
            limits=limits,
        )


def chains(flags: Sequence[object], last_of_batch: bool = True) -> list[tuple[int, int, bool]]:
    """Split events into chains: (first, last, open) for each run joined by the linked flag.

    Bit 0 is `linked` for accounts and transfers alike. A chain still open at the end of
    the batch is reported as open; `last_of_batch=False` means the caller guarantees the
    range ends where a chain ends.
    """
    spans: list[tuple[int, int, bool]] = []
    start = 0
    count = len(flags)
    for index, value in enumerate(flags):
        linked = isinstance(value, int) and value & LINKED
        if not linked or index == count - 1:
            spans.append((start, index, bool(linked) and last_of_batch))
            start = index + 1
    return spans


def _account_exists(a: Account, e: Account) -> CreateAccountResult:
    if (a.flags & ~int(AccountFlags.LINKED)) != e.flags:
        return A.EXISTS_WITH_DIFFERENT_FLAGS
    if a.user_data != e.user_data:
        return A.EXISTS_WITH_DIFFERENT_USER_DATA
    if a.ledger != e.ledger:
        return A.EXISTS_WITH_DIFFERENT_LEDGER
    if a.code != e.code:
        return A.EXISTS_WITH_DIFFERENT_CODE
    if a.limit != e.limit:
        return A.EXISTS_WITH_DIFFERENT_LIMIT
    return A.EXISTS
