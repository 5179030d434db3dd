"""The contract every store keeps, run on each adapter (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import dataclasses
import sqlite3

import numpy as np
import psycopg
import pytest

from samarkand.ledger import LedgerState, TransferColumns
from samarkand.ledger.columns import FIELD_NAMES
from samarkand.ledger.invariants import problems
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
    query = statement.format(t=backend.table_prefix)
    if backend.kind == "sqlite":
        with sqlite3.connect(store.path) as connection:
            connection.execute(query)
    elif backend.kind == "postgres":
        with psycopg.connect(store.dsn, autocommit=True) as connection:
            connection.execute(query)
    else:
        in_memory(store.tables)
    with pytest.raises(StoreCorrupted, match="corrupted"):
        backend.open().load()
