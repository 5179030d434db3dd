"""Where the hub keeps its message log in a test: beside an SQLite store, or in a schema of
PostgreSQL (when SAMARKAND_TEST_PG_DSN is set; the schema is dropped afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from samarkand.hub.durable import DurableHub
from samarkand.hub.message_log import MessageLog
from samarkand.store import PostgresStore

PG_DSN = os.environ.get("SAMARKAND_TEST_PG_DSN", "")
PG_SKIP = (
    "set SAMARKAND_TEST_PG_DSN=postgresql://postgres@127.0.0.1:5432/test to run PostgreSQL tests"
)


@dataclass(frozen=True, slots=True)
class HubStore:
    """A hub's store: an SQLite path, or a PostgreSQL DSN and a schema of the test's own."""

    address: str
    schema: str | None = None

    def messages(self) -> MessageLog:
        """The store's message log, opened anew (a reopen sees what was written before)."""
        if self.schema is None:
            return MessageLog.beside(self.address)
        return MessageLog.beside(self.address, schema=self.schema)

    def hub(self) -> DurableHub:
        return DurableHub.open(self.address, schema=self.schema)


@pytest.fixture
def pg_store() -> Iterator[HubStore]:
    if not PG_DSN:
        pytest.skip(PG_SKIP)
    schema = f"messages_test_{uuid.uuid4().hex[:10]}"
    try:
        yield HubStore(PG_DSN, schema)
    finally:
        PostgresStore.drop_schema(PG_DSN, schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hub_store(request: pytest.FixtureRequest, tmp_path: Path) -> HubStore:
    if request.param == "sqlite":
        return HubStore(str(tmp_path / "hub.db"))
    return request.getfixturevalue("pg_store")
