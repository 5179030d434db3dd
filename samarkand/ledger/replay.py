"""Rebuild the ledger state from its journal: the journal is the source of truth.

Balances are sums, so the order of rows does not matter for them: posted balances are the
sum of every posting row (plain transfers and posts), pending balances the sum of the
pending transfers that are still pending. NumPy sums them when the values provably fit in
int64; otherwise exact Python ints do.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

from samarkand.ledger.columns import TransferColumns
from samarkand.ledger.journal import Expiries
from samarkand.ledger.state import PENDING, POST, VOID, LedgerState
from samarkand.ledger.types import (
    INT64_MAX,
    NS_PER_SECOND,
    Account,
    LimitChange,
    PendingStatus,
)


def rebuild(
    accounts: Sequence[Account],
    transfers: TransferColumns,
    expiries: Expiries,
    *,
    batches: int = 0,
    timestamp: int = 0,
    limits: Sequence[LimitChange] = (),
) -> LedgerState:
    """The state that `accounts`, then `transfers` and `expiries` in journal order, produce.

    `limits` are the limit changes in journal order: each account ends with the limit of its
    last change. They are set before the balances are summed, and like the sums they count
    toward the bound that keeps a ledger in int64 columns. Replay does not check them against
    use again: whoever rebuilds checks the result (`invariants`: no account beyond its limit).
    """
    state = LedgerState(capacity=max(1024, len(accounts)))
    for account in accounts:
        state._add_account(account)
    for change in limits:
        slot = state.account_slot.get(change.account_id)
        if slot is None:
            raise ValueError("journal changes the limit of an account that does not exist")
        state._set_limit(slot, change.limit)
    state._rebuild_lookup()
    state.journal.append(transfers)
    ids = transfers.id.tolist()
    state.transfer_row = dict(zip(ids, range(len(ids)), strict=True))
    if len(state.transfer_row) != len(ids):
        raise ValueError("journal holds a transfer id twice")

    flags = transfers.flags.astype(np.int64)
    pending_rows = np.flatnonzero(flags & PENDING)
    status = dict.fromkeys(transfers.id[pending_rows].tolist(), int(PendingStatus.PENDING))
    resolved = np.flatnonzero(flags & (POST | VOID))
    for pending_id, row_flags in zip(
        transfers.pending_id[resolved].tolist(), flags[resolved].tolist(), strict=True
    ):
        status[pending_id] = PendingStatus.POSTED if row_flags & POST else PendingStatus.VOIDED
    for pending_id in expiries.pending_id:
        status[pending_id] = PendingStatus.EXPIRED
    state.pending_status = status

    still_pending = np.array(
        [status[i] == PendingStatus.PENDING for i in transfers.id[pending_rows].tolist()],
        dtype=bool,
    )
    open_rows = pending_rows[still_pending] if len(pending_rows) else pending_rows
    posting_rows = np.flatnonzero((flags & (PENDING | VOID)) == 0)

    slots = _slots(state, transfers)
    _sum_into(state, slots, transfers.amount, posting_rows, posted=True)
    _sum_into(state, slots, transfers.amount, open_rows, posted=False)

    timeouts = transfers.timeout[open_rows].tolist()
    stamps = transfers.timestamp[open_rows].tolist()
    for pending_id, timeout, stamp in zip(
        transfers.id[open_rows].tolist(), timeouts, stamps, strict=True
    ):
        if timeout:
            expires_at = stamp + timeout * NS_PER_SECOND
            state.pending_expires_at[pending_id] = expires_at
            state.expiry_heap.append((expires_at, pending_id))
    heapq.heapify(state.expiry_heap)

    last = [
        timestamp,
        *(a.timestamp for a in accounts[-1:]),
        *(c.timestamp for c in limits[-1:]),
        *expiries.timestamp[-1:],
    ]
    if len(transfers):
        last.append(int(transfers.timestamp.max()))
    state.timestamp = max(last)
    state.batches = batches
    return state


def _slots(state: LedgerState, transfers: TransferColumns) -> tuple[np.ndarray, np.ndarray]:
    """Account slots of each row's debit and credit accounts."""
    result = []
    for column in (transfers.debit_account_id, transfers.credit_account_id):
        if column.dtype != object and state.lookup_complete and len(state.lookup_ids):
            position = np.searchsorted(state.lookup_ids, column)
            position = np.minimum(position, len(state.lookup_ids) - 1)
            if not np.array_equal(state.lookup_ids[position], column):
                raise ValueError("journal names an account that does not exist")
            result.append(state.lookup_slots[position])
        else:
            result.append(
                np.array([state.account_slot[i] for i in column.tolist()], dtype=np.int64)
            )
    return result[0], result[1]


def _sum_into(
    state: LedgerState,
    slots: tuple[np.ndarray, np.ndarray],
    amount: np.ndarray,
    rows: np.ndarray,
    *,
    posted: bool,
) -> None:
    debit_slots, credit_slots = slots[0][rows], slots[1][rows]
    amounts = amount[rows]
    ledgers = state.slot_ledger[debit_slots]
    index = 1 if posted else 0  # position in LedgerState._get's list: DP=0, DPO=1
    narrow = amounts.dtype != object and (
        len(amounts) == 0 or int(amounts.max()) * len(amounts) <= INT64_MAX
    )
    if narrow:
        values = amounts.astype(np.int64)
        debit_sums = np.zeros(len(state.accounts), dtype=np.int64)
        credit_sums = np.zeros(len(state.accounts), dtype=np.int64)
        np.add.at(debit_sums, debit_slots, values)
        np.add.at(credit_sums, credit_slots, values)
        per_ledger: dict[int, int] = {}
        for ledger in np.unique(ledgers).tolist():
            per_ledger[ledger] = int(values[ledgers == ledger].sum())
        debit_list, credit_list = debit_sums.tolist(), credit_sums.tolist()
    else:
        debit_list = [0] * len(state.accounts)
        credit_list = [0] * len(state.accounts)
        per_ledger = {}
        for d, c, a, ledger in zip(
            debit_slots.tolist(),
            credit_slots.tolist(),
            amounts.tolist(),
            ledgers.tolist(),
            strict=True,
        ):
            debit_list[d] += a
            credit_list[c] += a
            per_ledger[ledger] = per_ledger.get(ledger, 0) + a
    for ledger, total in per_ledger.items():
        state.ledger_totals[ledger][0 if posted else 1] += total
        state._make_room(ledger, 0)
    for slot in range(len(state.accounts)):
        if debit_list[slot] or credit_list[slot]:
            values = state._get(slot)
            values[index] += debit_list[slot]
            values[index + 2] += credit_list[slot]
            state._put(slot, values)
