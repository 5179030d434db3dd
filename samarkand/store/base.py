"""What the three adapters share: the checks around persistence and the shape of one append.

An adapter supplies a transaction and five writers (batch summary, accounts, transfers,
expiries, limit changes); `append` runs them inside the one transaction, so a failure in any
of them leaves nothing of the batch behind. The writers are separate methods so that tests
can make one of them fail halfway and prove exactly that.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import Any

from samarkand.ledger.columns import TransferColumns
from samarkand.ledger.journal import BatchRecord, Expiries
from samarkand.ledger.types import Account, LimitChange
from samarkand.store import checks
from samarkand.store.port import BatchSummary, LoadedJournal, StoreError


class JournalStore(ABC):
    """A `LedgerStore` built from a transaction and one writer per table."""

    def __init__(self) -> None:
        # The end of the stored journal, to check each record before it is written.
        self._last_sequence = 0
        self._last_timestamp = 0
        self._closed = False

    # ------------------------------------------------------------------ the port

    def append(self, record: BatchRecord) -> None:
        if self._closed:
            raise StoreError("the store is closed")
        if record.is_empty:
            return
        checks.before_write(record, self._last_sequence, self._last_timestamp)
        summary = BatchSummary(
            sequence=record.sequence,
            now=record.now,
            accounts=len(record.accounts),
            transfers=len(record.transfers),
            expiries=len(record.expiries),
            timestamp=record.timestamp,
            limits=len(record.limits),
        )
        with self._transaction() as transaction:
            self._write_batch(transaction, summary)
            if record.accounts:
                self._write_accounts(transaction, record.sequence, record.accounts)
            if len(record.transfers):
                self._write_transfers(transaction, record.sequence, record.transfers)
            if len(record.expiries):
                self._write_expiries(transaction, record.sequence, record.expiries)
            if record.limits:
                self._write_limits(transaction, record.sequence, record.limits)
        self._last_sequence = record.sequence
        self._last_timestamp = record.timestamp

    def load(self) -> LoadedJournal:
        if self._closed:
            raise StoreError("the store is closed")
        loaded = checks.after_read(self._read())
        self._last_sequence = loaded.batch_count
        self._last_timestamp = loaded.timestamp
        return loaded

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._disconnect()

    def __enter__(self) -> JournalStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ for the adapters

    def _resume(self, last: BatchSummary | None) -> None:
        """Carry on after the last stored batch (called when the store opens)."""
        if last is not None:
            self._last_sequence = last.sequence
            self._last_timestamp = last.timestamp

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]:
        """Begin; yield a handle for the writers; commit durably on exit, roll back on error."""

    @abstractmethod
    def _write_batch(self, transaction: Any, summary: BatchSummary) -> None: ...

    @abstractmethod
    def _write_accounts(
        self, transaction: Any, sequence: int, accounts: tuple[Account, ...]
    ) -> None: ...

    @abstractmethod
    def _write_transfers(
        self, transaction: Any, sequence: int, transfers: TransferColumns
    ) -> None: ...

    @abstractmethod
    def _write_expiries(self, transaction: Any, sequence: int, expiries: Expiries) -> None: ...

    @abstractmethod
    def _write_limits(
        self, transaction: Any, sequence: int, limits: tuple[LimitChange, ...]
    ) -> None: ...

    @abstractmethod
    def _read(self) -> checks.StoredRows:
        """Every row of the five tables, in journal order, as one consistent snapshot."""

    @abstractmethod
    def _disconnect(self) -> None: ...
