"""The one place that turns a store address into an adapter (the composition root's helper)."""

from __future__ import annotations

from samarkand.store.memory import MemoryStore
from samarkand.store.port import LedgerStore

MEMORY = "memory:"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")
SQLITE_PREFIX = "sqlite:"


def open_store(
    address: str, *, schema: str | None = None, sync_every_batch: bool = True
) -> LedgerStore:
    """`memory:` → MemoryStore; `postgresql://…` → PostgresStore (in `schema`, if given);
    `sqlite:PATH` or any other string → SqliteStore at that path (`sync_every_batch`: see
    `SqliteStore`; PostgreSQL commits are always synchronous)."""
    if address == MEMORY:
        return MemoryStore()
    if address.startswith(POSTGRES_PREFIXES):
        from samarkand.store.postgres import DEFAULT_SCHEMA, PostgresStore

        return PostgresStore(address, schema=schema or DEFAULT_SCHEMA)
    from samarkand.store.sqlite import SqliteStore

    return SqliteStore(address.removeprefix(SQLITE_PREFIX), sync_every_batch=sync_every_batch)
