"""The contract every store keeps, run on each adapter (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import dataclasses
import sqlite3
import types
from typing import Any

import numpy as np
import psycopg
import pytest

from samarkand.ledger import LedgerState, LimitChange, SetLimitResult, TransferColumns
from samarkand.ledger.columns import FIELD_NAMES
from samarkand.ledger.invariants import problems
from samarkand.ledger.types import U128_MAX
from samarkand.store import DurableLedger, MemoryTables, RecordRejected, StoreCorrupted
from samarkand.store.ledger import state_from
from tests.store.conftest import Backend, InjectedFailure
from tests.store.scenario import (
    ABOVE_INT64,
    ACCOUNTS,
    BIG_ACCOUNT,
    BIG_AMOUNT,
    BIG_ID,
    BIG_USER_DATA,
    NS,
    START_NS,
    differences,
    steps,
    t,
)


def reference() -> tuple[LedgerState, list]:
    """The scenario applied in memory only, with every record it made."""
    state = LedgerState()
    records = [state.create_accounts(ACCOUNTS, START_NS)[1]]
    for transfers, now in steps():
        records.append(state.apply(transfers, now)[1])
    return state, records


def test_an_empty_store_loads_an_empty_journal(backend: Backend) -> None:
    loaded = backend.open().load()
    assert (loaded.accounts, len(loaded.transfers), len(loaded.expiries)) == ((), 0, 0)
    assert (loaded.batch_count, loaded.timestamp) == (0, 0)


def test_append_then_load_gives_back_every_row(backend: Backend) -> None:
    state, records = reference()
    store = backend.open()
    for record in records:
        store.append(record)
    loaded = backend.open().load()
    assert loaded.accounts == tuple(state.accounts)
    journal = state.journal.columns()
    for name in FIELD_NAMES:
        assert getattr(loaded.transfers, name).tolist() == getattr(journal, name).tolist(), name
    expired = [r.expiries for r in records if len(r.expiries)]
    assert loaded.expiries.pending_id == tuple(p for e in expired for p in e.pending_id)
    assert loaded.expiries.timestamp == tuple(s for e in expired for s in e.timestamp)
    assert [b.sequence for b in loaded.batches] == [r.sequence for r in records]
    assert [b.transfers for b in loaded.batches] == [len(r.transfers) for r in records]
    assert (loaded.batch_count, loaded.timestamp) == (state.batches, state.timestamp)


def test_big_values_round_trip_exactly(backend: Backend) -> None:
    state, records = reference()
    store = backend.open()
    for record in records:
        store.append(record)
    loaded = backend.open().load()
    rows = {row.id: row for row in loaded.transfers.to_transfers()}
    assert rows[BIG_ID].amount == BIG_AMOUNT
    assert rows[BIG_ID].credit_account_id == BIG_ACCOUNT
    assert rows[BIG_ID].user_data == BIG_USER_DATA
    assert rows[BIG_ID + 1].amount == ABOVE_INT64
    assert rows[BIG_ID + 1].user_data == 2**100
    assert rows[2**127 + 9].pending_id == BIG_ID + 1
    accounts = {a.id: a for a in loaded.accounts}
    assert accounts[BIG_ACCOUNT].user_data == BIG_USER_DATA
    reopened = state_from(loaded)
    assert reopened.balance(BIG_ACCOUNT).credits_posted == BIG_AMOUNT
    assert reopened.balance(34).credits_posted == ABOVE_INT64


def test_reopen_gives_identical_balances_pending_statuses_and_journal(backend: Backend) -> None:
    ledger = DurableLedger.open(backend.open())
    ledger.create_accounts(ACCOUNTS, START_NS)
    for transfers, now in steps():
        ledger.apply(transfers, now)
    ledger.close()
    reopened = DurableLedger.open(backend.open())
    assert differences(reopened.state, ledger.state) == []
    assert differences(reopened.state, reference()[0]) == []
    assert problems(reopened.state) == []


def test_acknowledged_batches_survive_reopen_between_every_batch(backend: Backend) -> None:
    """Reopening after every batch changes nothing: not a balance, not a timestamp.

    All batches carry the same `now`, so every timestamp comes from the engine's clock, which
    the store must bring back exactly (failed events use up timestamps too).
    """
    live = LedgerState()
    ledger = DurableLedger.open(backend.open())
    batches = [("create_accounts", ACCOUNTS)] + [("apply", transfers) for transfers, _ in steps()]
    for method, batch in batches:
        expected, _ = getattr(live, method)(batch, START_NS)
        got, _ = getattr(ledger, method)(batch, START_NS)
        assert np.array_equal(np.asarray(got), np.asarray(expected))
        ledger.close()
        ledger = DurableLedger.open(backend.open())
        assert differences(ledger.state, live) == []
    ledger.close()


def test_a_batch_that_changes_nothing_leaves_no_trace(backend: Backend) -> None:
    ledger = DurableLedger.open(backend.open())
    ledger.create_accounts(ACCOUNTS, START_NS)
    before = (ledger.state.batches, ledger.state.timestamp)
    results, record = ledger.apply([t(900, 1, 999, 5), t(901, 3, 1, 10**9)], START_NS)
    assert record.is_empty and results.tolist() == [33, 54]  # credit account not found, exceeds
    assert (ledger.state.batches, ledger.state.timestamp) == before
    ledger.apply([t(902, 1, 2, 5)], START_NS)
    ledger.close()
    reopened = DurableLedger.open(backend.open())
    assert [b.sequence for b in reopened.store.load().batches] == [1, 2]
    assert differences(reopened.state, ledger.state) == []


def test_a_failed_append_leaves_no_half_batch(backend: Backend) -> None:
    store = backend.open_failing()
    ledger = DurableLedger.open(store)
    ledger.create_accounts(ACCOUNTS, START_NS)
    all_steps = list(steps())
    for transfers, now in all_steps[:2]:
        ledger.apply(transfers, now)
    stored_before = store.load()
    state_before = ledger.state

    store.fail = True
    transfers, now = all_steps[2]
    with pytest.raises(InjectedFailure):
        ledger.apply(transfers, now)
    assert store.half_written > 0  # rows really were written inside the transaction

    # Nothing of the batch is stored, and the ledger is back to exactly what the store holds.
    stored_after = backend.open().load()
    assert stored_after.batches == stored_before.batches
    assert stored_after.transfers.id.tolist() == stored_before.transfers.id.tolist()
    assert ledger.state is not state_before
    assert differences(ledger.state, state_from(stored_after)) == []
    assert ledger.state.transfer(BIG_ID) is None

    # The same batch goes through once the store works again, as if it never failed.
    store.fail = False
    for transfers, now in all_steps[2:]:
        ledger.apply(transfers, now)
    ledger.close()
    assert differences(DurableLedger.open(backend.open()).state, reference()[0]) == []


def test_append_refuses_a_record_out_of_sequence(backend: Backend) -> None:
    _, records = reference()
    store = backend.open()
    store.append(records[0])
    with pytest.raises(RecordRejected, match="does not follow"):
        store.append(records[2])
    with pytest.raises(RecordRejected, match="does not follow"):
        store.append(records[0])
    late = dataclasses.replace(records[1], timestamp=records[0].timestamp)
    with pytest.raises(RecordRejected, match="clock"):
        store.append(late)
    assert backend.open().load().batch_count == 1


def last_transfer(sql_column: str, value: str) -> str:
    return (
        f"UPDATE {{t}}transfers SET {sql_column} = {value} "
        "WHERE timestamp = (SELECT max(timestamp) FROM {t}transfers)"
    )


# Each damage: the SQL that does it, and the same done to a MemoryStore's tables.
TAMPERING = {
    "a transfer row missing": (
        "DELETE FROM {t}transfers WHERE timestamp = (SELECT max(timestamp) FROM {t}transfers)",
        lambda tables: tables.transfers.append((tables.transfers.pop()[0], drop_last(tables))),
    ),
    "a gap in the batch sequence": (
        "UPDATE {t}batches SET sequence = 99 WHERE sequence = (SELECT max(sequence) FROM "
        "{t}batches)",
        lambda tables: tables.batches.append(
            dataclasses.replace(tables.batches.pop(), sequence=99)
        ),
    ),
    "a transfer id twice": (
        last_transfer("id", "(SELECT min(id) FROM {t}transfers)"),
        lambda tables: set_last(tables, "id", tables.transfers[0][1].id.min()),
    ),
    "a clock going back": (
        last_transfer("timestamp", "5"),
        lambda tables: set_last(tables, "timestamp", 5),
    ),
}


def drop_last(tables: MemoryTables) -> TransferColumns:
    columns = tables.transfers[-1][1]
    return columns.take(slice(0, len(columns) - 1))


def set_last(tables: MemoryTables, name: str, value: int) -> None:
    sequence, columns = tables.transfers[-1]
    changed = getattr(columns, name).copy()
    changed[-1] = value
    tables.transfers[-1] = (sequence, dataclasses.replace(columns, **{name: changed}))


@pytest.mark.parametrize("damage", sorted(TAMPERING))
def test_load_refuses_a_corrupted_journal(backend: Backend, damage: str) -> None:
    _, records = reference()
    store = backend.open()
    for record in records:
        store.append(record)
    statement, in_memory = TAMPERING[damage]
    tamper(backend, store, statement.format(t=backend.table_prefix), in_memory)
    with pytest.raises(StoreCorrupted, match="corrupted"):
        backend.open().load()


def tamper(backend: Backend, store, query: str, in_memory) -> None:  # type: ignore[no-untyped-def]
    """Damage the stored journal: `query` in a database, `in_memory` on a MemoryStore. SQLite
    and PostgreSQL keep a batch's transfers packed in one row: damage to them is done as to a
    MemoryStore's columns, which are then packed back."""
    if backend.kind == "memory":
        in_memory(store.tables)
    elif "transfers" in query:
        tamper_packed(backend, store, in_memory)
    elif backend.kind == "sqlite":
        with sqlite3.connect(store.path) as connection:
            connection.execute(query)
    else:
        with psycopg.connect(store.dsn, autocommit=True) as connection:
            connection.execute(query)


def tamper_packed(backend: Backend, store, in_memory) -> None:  # type: ignore[no-untyped-def]
    table = backend.table_prefix + "transfer_columns"
    select = f"SELECT batch, transfers, columns FROM {table} ORDER BY batch"
    if backend.kind == "sqlite":
        connection: Any = sqlite3.connect(store.path)
        insert = f"INSERT INTO {table} VALUES (?, ?, ?)"
    else:
        connection = psycopg.connect(store.dsn)
        insert = f"INSERT INTO {table} VALUES (%s, %s, %s)"
    with connection:
        rows = connection.execute(select).fetchall()
        tables = types.SimpleNamespace(
            transfers=[
                (batch, TransferColumns.build(**TransferColumns.unpacked(bytes(blob), count)))
                for batch, count, blob in rows
            ]
        )
        in_memory(tables)
        connection.execute(f"DELETE FROM {table}")
        cursor = connection.cursor()
        cursor.executemany(
            insert, [(batch, len(columns), columns.packed()) for batch, columns in tables.transfers]
        )
    connection.close()


# ---------------------------------------------------------------------- limit changes

L = SetLimitResult
# Raised before the steps: 21 (ledger 2) to the largest limit, 3 (ledger 1) beyond int64, so
# both ledgers widen; 22 has no limit flag. After the steps 21 has used 800 (both 400s pass).
LIMITS_BEFORE = [LimitChange(21, U128_MAX), LimitChange(3, 2**64), LimitChange(22, 5)]
LIMITS_AFTER = [LimitChange(21, 800), LimitChange(21, 799), LimitChange(3, U128_MAX)]
LIMITS_AFTER_NS = START_NS + 20 * NS


def limits_day(ledger: DurableLedger | LedgerState) -> list:
    """The scenario with limit changes before and after its steps; every batch's results."""
    seen = [ledger.create_accounts(ACCOUNTS, START_NS)[0]]
    seen.append(ledger.set_limits(LIMITS_BEFORE, START_NS + NS)[0])
    for transfers, now in steps():
        seen.append(ledger.apply(transfers, now)[0].tolist())
    seen.append(ledger.set_limits(LIMITS_AFTER, LIMITS_AFTER_NS)[0])
    return seen


def test_limit_changes_round_trip_through_every_adapter(backend: Backend) -> None:
    live = LedgerState()
    expected = limits_day(live)
    ledger = DurableLedger.open(backend.open())
    assert limits_day(ledger) == expected
    assert expected[1] == [L.OK, L.OK, L.ACCOUNT_NOT_LIMITED]
    assert expected[-1] == [L.OK, L.LIMIT_BELOW_USE, L.OK]
    ledger.close()

    loaded = backend.open().load()
    assert [(c.account_id, c.limit) for c in loaded.limits] == [
        (21, U128_MAX), (3, 2**64), (21, 800), (3, U128_MAX)
    ]  # fmt: skip
    assert [b.limits for b in loaded.batches] == [0, 2, 0, 0, 0, 0, 0, 2]

    reopened = DurableLedger.open(backend.open())
    state = reopened.state
    assert differences(state, live) == []
    assert {a.id: a.limit for a in state.accounts} == {a.id: a.limit for a in live.accounts}
    assert (state.account(21).limit, state.account(3).limit) == (800, U128_MAX)
    assert state.wide_ledgers == live.wide_ledgers == {1, 2, 3}
    assert problems(state) == []
    # The reopened ledger goes on as the live one does: the limit of 800 is all used.
    assert reopened.apply([t(9001, 21, 22, 1, ledger=2)], LIMITS_AFTER_NS)[0].tolist() == [54]
    reopened.close()


class FailingLimits(InjectedFailure):
    """What `failing_limits` raises, after its writer has written the rows."""


def failing_limits(cls: type) -> type:
    class Failing(cls):  # type: ignore[misc, valid-type]
        def _write_limits(self, transaction, sequence, limits):  # type: ignore[no-untyped-def]
            super()._write_limits(transaction, sequence, limits)
            raise FailingLimits(f"after writing {len(limits)} limit rows")

    return Failing


def test_a_failed_limit_append_leaves_the_old_limits(backend: Backend) -> None:
    ledger = DurableLedger.open(backend.open(failing_limits(backend.base_class)))
    ledger.create_accounts(ACCOUNTS, START_NS)
    with pytest.raises(FailingLimits):
        ledger.set_limits([LimitChange(21, 900)], START_NS + NS)
    assert ledger.state.account(21).limit == 500
    loaded = backend.open().load()
    assert (loaded.batch_count, loaded.limits) == (1, ())
    reopened = DurableLedger.open(backend.open())
    assert reopened.state.account(21).limit == 500
    assert differences(reopened.state, ledger.state) == []


def test_append_refuses_limit_changes_that_cannot_follow(backend: Backend) -> None:
    state = LedgerState()
    store = backend.open()
    store.append(state.create_accounts(ACCOUNTS, START_NS)[1])
    _, record = state.set_limits([LimitChange(21, 900)], START_NS + NS)
    late = dataclasses.replace(record, limits=(LimitChange(21, 900, record.timestamp + 1),))
    with pytest.raises(RecordRejected, match="limit change timestamps"):
        store.append(late)
    negative = dataclasses.replace(record, limits=(LimitChange(21, -1, record.timestamp),))
    with pytest.raises(RecordRejected, match="out of range"):
        store.append(negative)
    store.append(record)
    assert backend.open().load().limits == record.limits


LIMIT_TAMPERING = {
    "a limit change row missing": (
        "DELETE FROM {t}limits WHERE timestamp = (SELECT max(timestamp) FROM {t}limits)",
        lambda tables: tables.limits.pop(),
    ),
    "a limit change of an account never created": (
        "UPDATE {t}limits SET account_id = 12345",
        lambda tables: tables.limits.append(
            (tables.limits[-1][0], dataclasses.replace(tables.limits.pop()[1], account_id=12345))
        ),
    ),
}


@pytest.mark.parametrize("damage", sorted(LIMIT_TAMPERING))
def test_load_refuses_corrupted_limit_changes(backend: Backend, damage: str) -> None:
    store = backend.open()
    limits_day(DurableLedger(store, LedgerState()))
    statement, in_memory = LIMIT_TAMPERING[damage]
    tamper(backend, store, statement.format(t=backend.table_prefix), in_memory)
    with pytest.raises(StoreCorrupted, match="corrupted"):
        backend.open().load()
