"""The durable ledger: the unit of work that owns a ledger state and its store.

Each call applies one batch in memory, makes its record durable with one `store.append`, and
only then returns the results: a result returned is a result acknowledged. The design is
crash-only. If anything fails between apply and durable (the store raises, the process is
told to stop), the state in memory may hold a batch the store does not, so it is thrown away
and rebuilt from the store, which is the source of truth; then the error propagates. A
process that dies instead simply opens the store again: the same path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from samarkand.ledger.columns import TransferColumns
from samarkand.ledger.invariants import problems
from samarkand.ledger.journal import BatchRecord
from samarkand.ledger.replay import rebuild
from samarkand.ledger.state import LedgerState
from samarkand.ledger.types import (
    Account,
    Balance,
    CreateAccountResult,
    LimitChange,
    SetLimitResult,
    Transfer,
)
from samarkand.store.port import LedgerStore, LoadedJournal, StoreCorrupted, StoreError

Results = TypeVar("Results")


def state_from(journal: LoadedJournal) -> LedgerState:
    """The ledger state a loaded journal makes, checked; `StoreCorrupted` if it cannot be."""
    try:
        state = rebuild(
            journal.accounts,
            journal.transfers,
            journal.expiries,
            batches=journal.batch_count,
            timestamp=journal.timestamp,
            limits=journal.limits,
        )
    except (KeyError, IndexError, ValueError) as error:
        raise StoreCorrupted(f"the stored journal does not replay: {error!r}") from error
    # The journal-wide replay check is skipped here: the state *is* the replay of the journal.
    found = problems(state, against_journal=False)
    if found:
        raise StoreCorrupted("the replayed ledger breaks invariants: " + "; ".join(found[:10]))
    return state


class DurableLedger:
    """A `LedgerState` whose every acknowledged batch is in its store."""

    def __init__(self, store: LedgerStore, state: LedgerState) -> None:
        self._store = store
        self._state: LedgerState | None = state
        self._closed = False

    @classmethod
    def open(cls, store: LedgerStore) -> DurableLedger:
        """The ledger rebuilt from everything `store` holds."""
        return cls(store, state_from(store.load()))

    @property
    def state(self) -> LedgerState:
        """The state in memory (still readable after `close`, for a last look)."""
        if self._state is None:
            raise StoreError("the ledger lost its state when a reload failed: open it again")
        return self._state

    @property
    def store(self) -> LedgerStore:
        return self._store

    def balance(self, account_id: int) -> Balance:
        return self.state.balance(account_id)

    def create_accounts(
        self, accounts: Sequence[Account], now: int
    ) -> tuple[list[CreateAccountResult], BatchRecord]:
        return self._commit(lambda state: state.create_accounts(accounts, now))

    def apply(
        self, batch: Sequence[Transfer] | TransferColumns, now: int
    ) -> tuple[np.ndarray, BatchRecord]:
        return self._commit(lambda state: state.apply(batch, now))

    def set_limits(
        self, changes: Sequence[LimitChange], now: int
    ) -> tuple[list[SetLimitResult], BatchRecord]:
        return self._commit(lambda state: state.set_limits(changes, now))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._store.close()

    def __enter__(self) -> DurableLedger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the unit of work

    def _commit(
        self, step: Callable[[LedgerState], tuple[Results, BatchRecord]]
    ) -> tuple[Results, BatchRecord]:
        if self._closed:
            raise StoreError("the ledger is closed")
        state = self.state
        batches_before, clock_before = state.batches, state.timestamp
        try:
            results, record = step(state)
            if record.is_empty:
                # Every event failed and nothing expired: the batch changed nothing but the
                # counter and the clock, and no one saw the timestamps it used up. The store
                # skips it, so wind both back: a reopened ledger then carries on identically.
                state.batches, state.timestamp = batches_before, clock_before
            else:
                self._store.append(record)
        except BaseException as failure:
            self._reload(failure)
            raise
        return results, record

    def _reload(self, failure: BaseException) -> None:
        """Throw the state away and rebuild it from the store (crash-only recovery)."""
        self._state = None
        try:
            self._state = state_from(self._store.load())
        except Exception as error:
            failure.add_note(f"reloading the ledger from its store failed too: {error!r}")
