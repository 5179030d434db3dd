"""What is particular to each adapter: encodings, the factory, the baseline, reconnecting."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
import pytest

from samarkand.ledger import LedgerState, LimitChange, SetLimitResult, TransferColumns
from samarkand.ledger.columns import FIELD_NAMES
from samarkand.store import (
    DurableLedger,
    LedgerStore,
    MemoryStore,
    PostgresStore,
    SqliteStore,
    StoreCorrupted,
    StoreError,
    open_store,
)
from samarkand.store.port import LoadedJournal
from samarkand.store.postgres import copy_text
from samarkand.store.sqlite import decode, encode
from tests.store.conftest import PG_DSN, InjectedFailure
from tests.store.scenario import ACCOUNTS, BIG_AMOUNT, BIG_ID, START_NS, differences, steps, t


def filled(store: SqliteStore | PostgresStore | MemoryStore) -> DurableLedger:
    ledger = DurableLedger.open(store)
    ledger.create_accounts(ACCOUNTS, START_NS)
    for transfers, now in steps():
        ledger.apply(transfers, now)
    return ledger


def refuses_to_load(store: SqliteStore | PostgresStore, batch: int) -> None:
    """`load` refuses the store, naming the packed row of `batch` it cannot read."""
    try:
        with pytest.raises(
            StoreCorrupted, match=f"corrupted: transfer_columns row of batch {batch}"
        ):
            store.load()
    finally:
        store.close()


def loads_as(store: SqliteStore | PostgresStore, journal: LoadedJournal) -> None:
    """`store` loads the batches and the transfers of `journal`, the same in each field."""
    try:
        loaded = store.load()
    finally:
        store.close()
    assert loaded.batches == journal.batches
    for name in FIELD_NAMES:
        assert getattr(loaded.transfers, name).tolist() == getattr(journal.transfers, name).tolist()


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (0, 0),
        (2**63 - 1, 2**63 - 1),
        (2**63, b"\x00" * 8 + b"\x80" + b"\x00" * 7),
        (2**128 - 1, b"\xff" * 16),
    ],
)
def test_sqlite_encoding_is_an_integer_below_2_63_else_16_big_endian_bytes(
    value: int, stored: int | bytes
) -> None:
    assert encode(value) == stored
    assert decode(stored) == value


@pytest.mark.parametrize("bad", [-1, b"\x00" * 16, b"\xff" * 15, "12", 1.0])
def test_sqlite_decoding_refuses_what_it_never_writes(bad: object) -> None:
    with pytest.raises(StoreError, match="not a stored unsigned integer"):
        decode(bad)


def test_sqlite_keeps_a_batch_of_transfers_in_one_row_narrow_columns_as_uint64(
    tmp_path: Path,
) -> None:
    filled(SqliteStore(tmp_path / "s.db")).close()
    with sqlite3.connect(tmp_path / "s.db") as connection:
        rows = connection.execute(
            "SELECT batch, transfers, length(columns), columns FROM transfer_columns"
        ).fetchall()
        per_transfer = connection.execute("SELECT count(*) FROM transfers").fetchone()
        counted = dict(connection.execute("SELECT sequence, transfers FROM batches").fetchall())
    assert per_transfer == (0,)  # the table of stores written before packed batches
    assert {batch: count for batch, count, _, _ in rows} == {s: n for s, n in counted.items() if n}
    # Each field: a tag byte, then 8 bytes a value (narrow, uint64), 4 or 2 for the small
    # fields (one value only if the batch's are all the same), or 16 (wide) where a value
    # needs more than 64 bits.
    found_wide = False
    for _, count, length, blob in rows:
        columns = TransferColumns.unpacked(blob, count)
        widths = [
            16 * count
            if isinstance(values, list)
            else values.dtype.itemsize * (1 if len(set(values.tolist())) == 1 else count)
            for values in columns.values()
        ]
        assert length == len(FIELD_NAMES) + sum(widths)
        if BIG_ID in columns["id"]:
            found_wide = True
            at = columns["id"].index(BIG_ID)
            assert columns["amount"][at] == 2**128 - 1
            start = blob.index(b"\xff" * 16)  # that amount, little-endian u128
            assert start > 0
    assert found_wide


def test_packed_transfers_refuse_what_packing_never_makes() -> None:
    columns = TransferColumns.build(id=[1, 2**64 + 1], amount=[5, 6], timestamp=[10, 11])
    packed = columns.packed()
    back = TransferColumns.build(**TransferColumns.unpacked(packed, 2))
    for name in FIELD_NAMES:
        assert getattr(back, name).dtype == getattr(columns, name).dtype
        assert getattr(back, name).tolist() == getattr(columns, name).tolist()
    for damaged, count, reason in [
        (packed[:-1], 2, "cut short"),
        (packed + b"\x00", 2, "after the last field"),
        (b"x" + packed[1:], 2, "no tag"),
        (packed, 3, "cut short"),
        (packed, 1, "no tag"),  # the second value of `id` read as the next tag
    ]:
        with pytest.raises(ValueError, match=reason):
            TransferColumns.unpacked(damaged, count)


def test_sqlite_refuses_a_packed_batch_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    filled(SqliteStore(path)).close()
    with sqlite3.connect(path) as connection:
        batch = connection.execute("SELECT max(batch) FROM transfer_columns").fetchone()[0]
        connection.execute(
            "UPDATE transfer_columns SET columns = substr(columns, 1, length(columns) - 1) "
            "WHERE batch = ?",
            (batch,),
        )
    refuses_to_load(SqliteStore(path), batch)


def test_sqlite_reads_a_store_of_transfer_rows_then_packed_batches(tmp_path: Path) -> None:
    """A store written a row per transfer (before packed batches) loads, and batches written
    to it since then follow its rows."""
    path = tmp_path / "s.db"
    filled(SqliteStore(path)).close()
    expected = SqliteStore(path)
    journal = expected.load()
    expected.close()
    first = journal.batches[1].sequence  # batch 1 made the accounts; 2 the first transfers
    with sqlite3.connect(path) as connection:  # batches up to `first` as a row per transfer
        rows = connection.execute(
            "SELECT batch, transfers, columns FROM transfer_columns WHERE batch <= ?", (first,)
        ).fetchall()
        assert rows
        for batch, count, blob in rows:
            unpacked = TransferColumns.build(**TransferColumns.unpacked(blob, count))
            lists = [getattr(unpacked, name).tolist() for name in FIELD_NAMES]
            connection.executemany(
                f"INSERT INTO transfers VALUES (?, {', '.join('?' * len(FIELD_NAMES))})",
                [(batch, *map(encode, values)) for values in zip(*lists, strict=True)],
            )
        connection.execute("DELETE FROM transfer_columns WHERE batch <= ?", (first,))
    loads_as(SqliteStore(path), journal)
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM transfers").fetchone()[0] > 0


def test_postgres_keeps_a_batch_of_transfers_in_one_uncompressed_row(pg_schema: str) -> None:
    filled(PostgresStore(PG_DSN, schema=pg_schema)).close()
    with psycopg.connect(PG_DSN) as connection:
        rows = connection.execute(
            f'SELECT batch, transfers, columns FROM "{pg_schema}".transfer_columns ORDER BY batch'
        ).fetchall()
        counted = dict(
            connection.execute(f'SELECT sequence, transfers FROM "{pg_schema}".batches').fetchall()
        )
        per_transfer = connection.execute(f'SELECT count(*) FROM "{pg_schema}".transfers')
        storage = connection.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attname = 'columns'",
            (f'"{pg_schema}".transfer_columns',),
        ).fetchone()
    assert per_transfer.fetchone() == (0,)
    assert storage == ("e",)  # EXTERNAL: out of line, never compressed
    assert [batch for batch, _, _ in rows] == [b for b, n in sorted(counted.items()) if n]
    state = LedgerState()
    state.create_accounts(ACCOUNTS, START_NS)
    for transfers, now in steps():
        state.apply(transfers, now)
    amounts = [
        a for _, count, blob in rows for a in TransferColumns.unpacked(blob, count)["amount"]
    ]  # the 128-bit amounts too, exactly
    assert [int(a) for a in amounts] == state.journal.columns().amount.tolist()
    assert BIG_AMOUNT in amounts
    assert all(count == counted[batch] for batch, count, _ in rows)


def test_postgres_refuses_a_packed_batch_it_cannot_read(pg_schema: str) -> None:
    filled(PostgresStore(PG_DSN, schema=pg_schema)).close()
    table = f'"{pg_schema}".transfer_columns'
    with psycopg.connect(PG_DSN) as connection:
        found = connection.execute(f"SELECT max(batch) FROM {table}").fetchone()
        assert found is not None
        connection.execute(
            f"UPDATE {table} SET columns = substring(columns FROM 1 FOR length(columns) - 1) "
            "WHERE batch = %s",
            (found[0],),
        )
    refuses_to_load(PostgresStore(PG_DSN, schema=pg_schema), found[0])


def test_postgres_reads_a_schema_of_transfer_rows_then_packed_batches(pg_schema: str) -> None:
    """A schema written a row per transfer (before packed batches) loads, and batches written
    to it since then follow its rows."""
    filled(PostgresStore(PG_DSN, schema=pg_schema)).close()
    expected = PostgresStore(PG_DSN, schema=pg_schema)
    journal = expected.load()
    expected.close()
    first = journal.batches[1].sequence
    table = f'"{pg_schema}".transfer_columns'
    with psycopg.connect(PG_DSN) as connection:  # batches up to `first` as a row per transfer
        rows = connection.execute(
            f"SELECT batch, transfers, columns FROM {table} WHERE batch <= %s", (first,)
        ).fetchall()
        assert rows
        for batch, count, blob in rows:
            unpacked = TransferColumns.build(**TransferColumns.unpacked(blob, count))
            with connection.cursor().copy(f'COPY "{pg_schema}".transfers FROM STDIN') as copy:
                copy.write(copy_text(batch, unpacked))
        connection.execute(f"DELETE FROM {table} WHERE batch <= %s", (first,))
    loads_as(PostgresStore(PG_DSN, schema=pg_schema), journal)
    with psycopg.connect(PG_DSN) as connection:
        count = connection.execute(f'SELECT count(*) FROM "{pg_schema}".transfers').fetchone()
        assert count is not None and count[0] > 0


def test_open_store_picks_the_adapter_from_the_address(tmp_path: Path) -> None:
    memory = open_store("memory:")
    sqlite = open_store(str(tmp_path / "a.db"))
    prefixed = open_store(f"sqlite:{tmp_path / 'b.db'}")
    assert isinstance(memory, MemoryStore)
    assert isinstance(sqlite, SqliteStore) and sqlite.path == str(tmp_path / "a.db")
    assert isinstance(prefixed, SqliteStore) and prefixed.path == str(tmp_path / "b.db")
    for store in (memory, sqlite, prefixed):
        store.close()


def test_open_store_gives_postgres_for_a_dsn(pg_schema: str) -> None:
    store = open_store(PG_DSN, schema=pg_schema)
    assert isinstance(store, PostgresStore) and store.schema == pg_schema
    store.close()


def test_sqlite_store_from_before_limit_changes_opens_and_gains_them(tmp_path: Path) -> None:
    """A file written before limit changes existed: no `limits` table, no `limits` count in
    its batches. Opening it adds both (the count 0 for the stored batches), nothing else."""
    path = tmp_path / "old.db"
    live = filled(SqliteStore(path))
    live.close()
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE limits")
        connection.execute("ALTER TABLE batches DROP COLUMN limits")
    assert_old_store_opens(lambda: SqliteStore(path), live)


def test_postgres_store_from_before_limit_changes_opens_and_gains_them(pg_schema: str) -> None:
    live = filled(PostgresStore(PG_DSN, schema=pg_schema))
    live.close()
    with psycopg.connect(PG_DSN, autocommit=True) as connection:
        connection.execute(f'DROP TABLE "{pg_schema}".limits')
        connection.execute(f'ALTER TABLE "{pg_schema}".batches DROP COLUMN limits')
    assert_old_store_opens(lambda: PostgresStore(PG_DSN, schema=pg_schema), live)


def assert_old_store_opens(open_old: Callable[[], LedgerStore], live: DurableLedger) -> None:
    ledger = DurableLedger.open(open_old())
    assert differences(ledger.state, live.state) == []
    assert {b.limits for b in ledger.store.load().batches} == {0}
    later = START_NS + 100 * 10**9
    assert ledger.set_limits([LimitChange(21, 900)], later)[0] == [SetLimitResult.OK]
    ledger.close()
    reopened = DurableLedger.open(open_old())
    assert reopened.state.account(21).limit == 900
    assert reopened.store.load().batches[-1].limits == 1
    reopened.close()


def test_sqlite_store_needs_a_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="needs a file path"):
        SqliteStore(":memory:")


def baseline_batches() -> list[TransferColumns]:
    state = LedgerState()
    state.create_accounts(ACCOUNTS[:2], START_NS)
    ids = np.arange(1, 101, dtype=np.uint64)
    batch = TransferColumns.build(
        id=ids,
        debit_account_id=np.ones(100, np.uint64),
        credit_account_id=np.full(100, 2, np.uint64),
        amount=ids,
        ledger=np.ones(100, np.uint32),
        code=np.ones(100, np.uint16),
    )
    return [state.apply(batch, START_NS + 1)[1].transfers]


def test_sqlite_raw_baseline_inserts_then_drops_its_scratch_table(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "r.db")
    baseline = store.raw_baseline()
    for transfers in baseline_batches():
        baseline.insert(transfers)
    with sqlite3.connect(tmp_path / "r.db") as connection:
        assert connection.execute("SELECT count(*) FROM raw_baseline_transfers").fetchone() == (
            100,
        )
    baseline.close()
    with sqlite3.connect(tmp_path / "r.db") as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert "raw_baseline_transfers" not in tables and "transfers" in tables
    store.close()


def test_postgres_raw_baseline_inserts_then_drops_its_scratch_table(pg_schema: str) -> None:
    store = PostgresStore(PG_DSN, schema=pg_schema)
    baseline = store.raw_baseline()
    for transfers in baseline_batches():
        baseline.insert(transfers)
    query = f"SELECT to_regclass('\"{pg_schema}\".raw_baseline_transfers')::text"
    with psycopg.connect(PG_DSN, autocommit=True) as connection:
        assert connection.execute(query).fetchone() == (f"{pg_schema}.raw_baseline_transfers",)
        baseline.close()
        assert connection.execute(query).fetchone() == (None,)
    store.close()


def test_postgres_ledger_reconnects_after_the_server_drops_it(pg_schema: str) -> None:
    """Crash-only: the append fails, the ledger reloads over a new connection, work goes on."""
    store = PostgresStore(PG_DSN, schema=pg_schema)
    ledger = filled(store)
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        pid = store._db.connection.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(StoreError, match="ledger store"):
        ledger.apply([t(9001, 1, 2, 5)], START_NS + 100 * 10**9)
    assert ledger.state.transfer(9001) is None
    results, _ = ledger.apply([t(9001, 1, 2, 5)], START_NS + 100 * 10**9)
    assert results.tolist() == [0]
    ledger.close()
    reopened = DurableLedger.open(PostgresStore(PG_DSN, schema=pg_schema))
    assert differences(reopened.state, ledger.state) == []
    reopened.close()


class BrokenStore(MemoryStore):
    """Appends fail, and so does the reload after them."""

    def append(self, record: object) -> None:
        raise InjectedFailure("append")

    def load(self):  # type: ignore[no-untyped-def]
        if self.broken:
            raise InjectedFailure("load")
        return super().load()

    broken = False


def test_a_ledger_whose_reload_fails_asks_to_be_opened_again() -> None:
    store = BrokenStore()
    ledger = DurableLedger.open(store)
    store.broken = True
    with pytest.raises(InjectedFailure, match="append") as raised:
        ledger.create_accounts(ACCOUNTS, START_NS)
    assert "reloading the ledger from its store failed too" in str(raised.value.__notes__)
    with pytest.raises(StoreError, match="open it again"):
        ledger.apply([t(1, 1, 2, 3)], START_NS)
