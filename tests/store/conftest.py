"""Fixtures of the store tests: one `Backend` per adapter, each on fresh storage.

PostgreSQL runs when SAMARKAND_TEST_PG_DSN is set: each test gets its own schema, dropped
afterwards, so tests can run in parallel against one database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from samarkand.ledger import TransferColumns
from samarkand.store import MemoryStore, MemoryTables, PostgresStore, SqliteStore
from samarkand.store.base import JournalStore

PG_DSN = os.environ.get("SAMARKAND_TEST_PG_DSN")
PG_SKIP = (
    "set SAMARKAND_TEST_PG_DSN=postgresql://postgres@127.0.0.1:5432/test to run PostgreSQL tests"
)
KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class InjectedFailure(RuntimeError):
    """The failure a test injects in the middle of a batch's transaction."""


def half_writing(cls: type[JournalStore]) -> type[JournalStore]:
    """`cls` whose transfer writer, once `fail` is set, writes half the rows and raises."""

    class HalfWriting(cls):  # type: ignore[valid-type, misc]
        fail = False
        half_written = 0

        def _write_transfers(
            self, transaction: object, sequence: int, transfers: TransferColumns
        ) -> None:
            if not self.fail:
                super()._write_transfers(transaction, sequence, transfers)
                return
            half = transfers.take(slice(0, max(1, len(transfers) // 2)))
            super()._write_transfers(transaction, sequence, half)
            self.half_written = len(half)
            raise InjectedFailure(f"after writing {len(half)} of {len(transfers)} rows")

    HalfWriting.__name__ = f"HalfWriting{cls.__name__}"
    return HalfWriting


@dataclass
class Backend:
    """Fresh storage for one adapter; `open` gives a new store object over it (a reopen)."""

    kind: str
    make: Callable[[type[JournalStore] | None], JournalStore]
    table_prefix: str = ""
    opened: list[JournalStore] = field(default_factory=list)

    def open(self, cls: type[JournalStore] | None = None) -> JournalStore:
        store = self.make(cls)
        self.opened.append(store)
        return store

    def open_failing(self) -> JournalStore:
        return self.open(half_writing(self.base_class))

    @property
    def base_class(self) -> type[JournalStore]:
        return {"memory": MemoryStore, "sqlite": SqliteStore, "postgres": PostgresStore}[self.kind]

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


def sqlite_backend(path: Path) -> Backend:
    return Backend("sqlite", lambda cls: (cls or SqliteStore)(path))  # type: ignore[call-arg]


def postgres_backend(schema: str) -> Backend:
    return Backend(
        "postgres",
        lambda cls: (cls or PostgresStore)(PG_DSN, schema=schema),  # type: ignore[call-arg]
        table_prefix=f'"{schema}".',
    )


@pytest.fixture
def pg_schema() -> Iterator[str]:
    if not PG_DSN:
        pytest.skip(PG_SKIP)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        yield schema
    finally:
        PostgresStore.drop_schema(PG_DSN, schema)


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        tables = MemoryTables()
        made = Backend("memory", lambda cls: (cls or MemoryStore)(tables))  # type: ignore[call-arg]
    elif request.param == "sqlite":
        made = sqlite_backend(tmp_path / "ledger.db")
    else:
        made = postgres_backend(request.getfixturevalue("pg_schema"))
    try:
        yield made
    finally:
        made.close_all()
