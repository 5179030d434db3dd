"""The in-memory store: the fake behind the port, for tests and throwaway runs. Not durable.

Its tables live in a `MemoryTables` object; a second `MemoryStore` over the same tables is
what reopening a durable store is, so the same contract tests run on it. A batch is staged in
a fresh `MemoryTables` and joins the real ones only when every writer has succeeded, which
gives the all-or-nothing of a transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from samarkand.ledger.columns import FIELD_NAMES, TransferColumns
from samarkand.ledger.journal import Expiries
from samarkand.ledger.types import Account, LimitChange
from samarkand.store.base import JournalStore
from samarkand.store.checks import StoredRows
from samarkand.store.port import BatchSummary


@dataclass(slots=True)
class MemoryTables:
    """The five tables; each row (or chunk of transfer rows) carries its batch sequence."""

    batches: list[BatchSummary] = field(default_factory=list)
    accounts: list[tuple[int, Account]] = field(default_factory=list)
    transfers: list[tuple[int, TransferColumns]] = field(default_factory=list)
    expiries: list[tuple[int, int, int]] = field(default_factory=list)
    limits: list[tuple[int, LimitChange]] = field(default_factory=list)

    def extend(self, other: MemoryTables) -> None:
        self.batches.extend(other.batches)
        self.accounts.extend(other.accounts)
        self.transfers.extend(other.transfers)
        self.expiries.extend(other.expiries)
        self.limits.extend(other.limits)


class MemoryStore(JournalStore):
    def __init__(self, tables: MemoryTables | None = None) -> None:
        super().__init__()
        self.tables = tables if tables is not None else MemoryTables()
        self._resume(self.tables.batches[-1] if self.tables.batches else None)

    @contextmanager
    def _transaction(self) -> Iterator[MemoryTables]:
        staged = MemoryTables()
        yield staged
        self.tables.extend(staged)

    def _write_batch(self, transaction: MemoryTables, summary: BatchSummary) -> None:
        transaction.batches.append(summary)

    def _write_accounts(
        self, transaction: MemoryTables, sequence: int, accounts: tuple[Account, ...]
    ) -> None:
        transaction.accounts.extend((sequence, account) for account in accounts)

    def _write_transfers(
        self, transaction: MemoryTables, sequence: int, transfers: TransferColumns
    ) -> None:
        # A copy: the store's rows must not change if the caller's arrays ever do.
        copied = TransferColumns(**{name: getattr(transfers, name).copy() for name in FIELD_NAMES})
        transaction.transfers.append((sequence, copied))

    def _write_expiries(self, transaction: MemoryTables, sequence: int, expiries: Expiries) -> None:
        transaction.expiries.extend(
            (sequence, pending_id, timestamp)
            for pending_id, timestamp in zip(expiries.pending_id, expiries.timestamp, strict=True)
        )

    def _write_limits(
        self, transaction: MemoryTables, sequence: int, limits: tuple[LimitChange, ...]
    ) -> None:
        transaction.limits.extend((sequence, change) for change in limits)

    def _read(self) -> StoredRows:
        tables = self.tables
        chunks = [columns for _, columns in tables.transfers]
        transfers = TransferColumns.concat(chunks)
        transfer_batches = np.repeat(
            np.array([sequence for sequence, _ in tables.transfers], dtype=np.int64),
            [len(columns) for columns in chunks],
        )
        return StoredRows(
            batches=list(tables.batches),
            accounts=[account for _, account in tables.accounts],
            account_batches=[sequence for sequence, _ in tables.accounts],
            transfers={name: getattr(transfers, name) for name in FIELD_NAMES},
            transfer_batches=transfer_batches,
            expiry_pending_ids=[pending_id for _, pending_id, _ in tables.expiries],
            expiry_timestamps=[timestamp for _, _, timestamp in tables.expiries],
            expiry_batches=[sequence for sequence, _, _ in tables.expiries],
            limits=[change for _, change in tables.limits],
            limit_batches=[sequence for sequence, _ in tables.limits],
        )

    def _disconnect(self) -> None:
        """Nothing to release: the tables stay for whoever shares them."""
