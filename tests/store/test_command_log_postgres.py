"""The hub's command log on PostgreSQL when the connection fails during a write: the row may
have been committed before the answer was lost, so the log looks before it says."""

from __future__ import annotations

import psycopg
import pytest

from samarkand.hub.durable import CommandInterrupted, CommandLog
from samarkand.store import StoreError
from samarkand.store.postgres import Reconnecting
from tests.store.conftest import PG_DSN


def _failing_inserts(monkeypatch, plan: list[str]) -> None:
    """The next INSERTs of the log: "lost" runs it, then fails as if the answer were lost;
    "refused" fails before it runs; "lookup" makes the look afterwards fail too."""
    real = Reconnecting.connection.fget  # type: ignore[attr-defined]

    class Flaky:
        def __init__(self, connection: psycopg.Connection) -> None:
            self._connection = connection

        def execute(self, query, parameters=()):  # type: ignore[no-untyped-def]
            text = query.as_string(self._connection) if hasattr(query, "as_string") else query
            if plan and (text.startswith("INSERT") or plan[0] == "lookup"):
                step = plan.pop(0)
                if step == "lost":
                    self._connection.execute(query, parameters)
                raise psycopg.OperationalError(f"server closed the connection ({step})")
            return self._connection.execute(query, parameters)

    monkeypatch.setattr(Reconnecting, "connection", property(lambda self: Flaky(real(self))))


@pytest.fixture
def log(pg_schema):
    opened = CommandLog(PG_DSN, schema=pg_schema)
    opened.append({"op": "first"})
    yield opened
    opened.close()


def _bodies(log: CommandLog) -> list[str]:
    return [body for _, body in log._rows()]


def test_a_row_committed_before_its_answer_was_lost_is_taken_as_logged(log, monkeypatch):
    _failing_inserts(monkeypatch, ["lost"])
    assert log.append({"op": "second"}) == 2
    monkeypatch.undo()
    assert _bodies(log) == ['{"op":"first"}', '{"op":"second"}'] and log.length == 2


def test_a_row_not_written_is_written_on_a_second_try(log, monkeypatch):
    _failing_inserts(monkeypatch, ["refused"])
    assert log.append({"op": "second"}) == 2
    monkeypatch.undo()
    assert _bodies(log) == ['{"op":"first"}', '{"op":"second"}']


def test_a_row_refused_twice_is_not_logged_and_says_so(log, monkeypatch):
    _failing_inserts(monkeypatch, ["refused", "refused"])
    with pytest.raises(StoreError) as refused:
        log.append({"op": "second"})
    assert not isinstance(refused.value, CommandInterrupted)  # known: not logged
    monkeypatch.undo()
    assert _bodies(log) == ['{"op":"first"}'] and log.length == 1
    assert log.append({"op": "second"}) == 2


def test_a_row_whose_fate_cannot_be_read_back_interrupts_the_hub(log, monkeypatch):
    _failing_inserts(monkeypatch, ["lost", "lookup"])
    with pytest.raises(CommandInterrupted, match="may or may not be logged"):
        log.append({"op": "second"})
