"""The store port: what the hub needs from persistence, and nothing of how it is done.

A store keeps the ledger's journal, batch by batch. `append` makes one `BatchRecord` durable
in one transaction, all or nothing; `load` reads the whole journal back, checked, so that
`replay.rebuild` can make the state again (the journal is the source of truth, the state in
memory is derived from it). The adapters are `MemoryStore`, `SqliteStore` and `PostgresStore`;
the same contract tests run on all three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from samarkand.ledger.columns import TransferColumns
from samarkand.ledger.journal import BatchRecord, Expiries
from samarkand.ledger.types import Account, LimitChange


class StoreError(Exception):
    """Broken infrastructure or a misuse of the store: never a business outcome."""


class StoreCorrupted(StoreError):
    """What was read back breaks the journal's own rules: the store cannot be trusted."""


class RecordRejected(StoreError, ValueError):
    """A record that cannot follow the journal (out of sequence, clock going back, ragged)."""


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """One row of the batches table: written in the same transaction as the batch's rows."""

    sequence: int
    now: int
    accounts: int
    transfers: int
    expiries: int
    timestamp: int
    limits: int = 0  # last, like the column a store of an earlier version gains on open


@dataclass(frozen=True, slots=True)
class LoadedJournal:
    """The whole journal as read back: accounts in creation order, transfers and limit changes
    in journal order."""

    accounts: tuple[Account, ...]
    transfers: TransferColumns
    expiries: Expiries
    batches: tuple[BatchSummary, ...]
    limits: tuple[LimitChange, ...] = ()

    @property
    def batch_count(self) -> int:
        return len(self.batches)

    @property
    def timestamp(self) -> int:
        """The engine's clock after the last stored batch (0 for an empty journal)."""
        return self.batches[-1].timestamp if self.batches else 0


@runtime_checkable
class LedgerStore(Protocol):
    """The port. One writer per store; reads may come from anywhere."""

    def append(self, record: BatchRecord) -> None:
        """Make `record` durable before returning: one transaction, all of it or none.

        A record with no accounts, transfers, expiries or limit changes is skipped: it changed
        nothing, and the unit of work (`DurableLedger`) winds the state's batch counter and
        clock back so that a reopened ledger carries on with the same numbers. The next record
        stored must therefore carry the sequence after the last stored one, else
        `RecordRejected`.
        """
        ...

    def load(self) -> LoadedJournal:
        """The whole journal, checked after reading; `StoreCorrupted` if it breaks a rule."""
        ...

    def close(self) -> None: ...


class RawBaseline(Protocol):
    """A scratch table with the transfers' layout, for measuring the bare insert rate."""

    def insert(self, transfers: TransferColumns) -> None:
        """Insert the rows plainly in one transaction, committed (synchronously) on return."""
        ...

    def close(self) -> None:
        """Drop the scratch table."""
        ...
