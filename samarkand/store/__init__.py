"""Persistence behind one port (DESIGN §9): in memory, SQLite (the embedded default) and
PostgreSQL, all held to the same contract tests; `DurableLedger` is the unit of work on top."""

from samarkand.store.factory import open_store
from samarkand.store.ledger import DurableLedger
from samarkand.store.memory import MemoryStore, MemoryTables
from samarkand.store.port import (
    BatchSummary,
    LedgerStore,
    LoadedJournal,
    RawBaseline,
    RecordRejected,
    StoreCorrupted,
    StoreError,
)
from samarkand.store.postgres import PostgresStore
from samarkand.store.sqlite import SqliteStore


def open_ledger(store: LedgerStore) -> DurableLedger:
    """The durable ledger rebuilt from `store`."""
    return DurableLedger.open(store)


__all__ = [
    "BatchSummary",
    "DurableLedger",
    "LedgerStore",
    "LoadedJournal",
    "MemoryStore",
    "MemoryTables",
    "PostgresStore",
    "RawBaseline",
    "RecordRejected",
    "SqliteStore",
    "StoreCorrupted",
    "StoreError",
    "open_ledger",
    "open_store",
]
