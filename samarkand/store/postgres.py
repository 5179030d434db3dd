"""The server store: PostgreSQL through psycopg 3, one transaction per batch.

A batch's transfers are one row of `transfer_columns`: their count and their columns packed
into one BYTEA (`TransferColumns.packed`, as the SQLite store keeps them: each field's values
as a little-endian array, 16 bytes a value for a column that holds values of 2**64 and above,
one value for a column whose transfers all have the same). The column is stored EXTERNAL:
out of line and not compressed (pglz over a batch's columns cost more than the write
itself). A batch of 8,190 transfers is then one INSERT of a few hundred kilobytes: no COPY
row, no NUMERIC text formatted in the client and parsed in the server per transfer, and half
the write-ahead log that rows took (429 against 851 MB for the benchmark's 10,000,000
transfers), so the server's checkpoints, which hold commits up, come half as often. The
ledger's state lives in memory and is rebuilt from the whole journal on open, so
no query ever looks a transfer up in the database.

A schema written before `transfer_columns` existed holds its transfers in the `transfers`
table, a row each (NUMERIC(39,0) for the 128-bit values); those are read first, in journal
order, and every batch written since goes to `transfer_columns`. That table's layout is
also what the benchmark's raw COPY baseline writes.

Encoding of the other tables. Ids, user data and limits are NUMERIC(39,0): exact for every
value up to 2**128 - 1 (39 digits). Timestamps and `now` (u64) are NUMERIC(20,0); ledger
(u32) is BIGINT, code and flags (u16) INTEGER, since PostgreSQL has no unsigned types.
Reading back, NUMERIC is loaded straight into Python ints (psycopg's IntLoader).

All tables live in one schema (`schema=`, created if missing), so a test or a benchmark can
use a fresh schema and drop it afterwards. Rows are read back in journal order by (batch,
timestamp): inside a batch the engine stamps events with strictly increasing times.

A schema written before limit changes existed gets the `limits` table on open like any
missing table, and its batches table gains the `limits` count with 0 for the batches already
stored (true: none of them could change a limit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import psycopg
import psycopg.conninfo
from psycopg import sql
from psycopg.types.numeric import IntLoader

from samarkand.ledger.columns import FIELD_NAMES, TransferColumns
from samarkand.ledger.journal import Expiries
from samarkand.ledger.types import Account, LimitChange
from samarkand.store.base import JournalStore
from samarkand.store.checks import StoredRows, with_packed
from samarkand.store.port import BatchSummary, StoreError

_T = TypeVar("_T")
DEFAULT_SCHEMA = "samarkand"
SCRATCH_TABLE = "raw_baseline_transfers"
COPY_ROWS_PER_CHUNK = 1024
U128 = "NUMERIC(39,0) NOT NULL"
U64 = "NUMERIC(20,0) NOT NULL"
_TRANSFER_TYPES = {
    "id": U128,
    "debit_account_id": U128,
    "credit_account_id": U128,
    "amount": U128,
    "ledger": "BIGINT NOT NULL",
    "code": "INTEGER NOT NULL",
    "flags": "INTEGER NOT NULL",
    "pending_id": U128,
    "timeout": "BIGINT NOT NULL",
    "user_data": U128,
    "timestamp": U64,
}
TRANSFER_COLUMNS = "batch BIGINT NOT NULL, " + ", ".join(
    f"{name} {_TRANSFER_TYPES[name]}" for name in FIELD_NAMES
)
BATCH_COLUMNS = "sequence, now, accounts, transfers, expiries, timestamp, limits"
TABLES = {
    "batches": "sequence BIGINT PRIMARY KEY, now NUMERIC(20,0) NOT NULL, "
    "accounts INTEGER NOT NULL, transfers INTEGER NOT NULL, expiries INTEGER NOT NULL, "
    "timestamp NUMERIC(20,0) NOT NULL, limits INTEGER NOT NULL",
    "accounts": f"batch BIGINT NOT NULL, id {U128}, ledger BIGINT NOT NULL, code INTEGER NOT NULL, "
    f'flags INTEGER NOT NULL, user_data {U128}, "limit" {U128}, timestamp {U64}',
    "transfers": TRANSFER_COLUMNS,  # a row per transfer: schemas written before the next
    "transfer_columns": "batch BIGINT PRIMARY KEY, transfers INTEGER NOT NULL, "
    "columns BYTEA NOT NULL",
    "expiries": f"batch BIGINT NOT NULL, pending_id {U128}, timestamp {U64}",
    "limits": f'batch BIGINT NOT NULL, account_id {U128}, "limit" {U128}, timestamp {U64}',
}
INSERT_BATCH = "INSERT INTO {} (" + BATCH_COLUMNS + ") VALUES (%s, %s, %s, %s, %s, %s, %s)"
HAS_LIMITS_COUNT = (
    "SELECT 1 FROM information_schema.columns "
    "WHERE table_schema = %s AND table_name = 'batches' AND column_name = 'limits'"
)


def copy_chunks(sequence: int, transfers: TransferColumns) -> Iterator[str]:
    """The COPY payload in pieces of `COPY_ROWS_PER_CHUNK` rows.

    Sent piece by piece, the server parses one piece while Python formats the next: the two
    halves of the work overlap instead of running one after the other (measured +30-40 %
    on a 2-core machine against one payload for the whole batch).
    """
    for start in range(0, len(transfers), COPY_ROWS_PER_CHUNK):
        yield copy_text(sequence, transfers.take(slice(start, start + COPY_ROWS_PER_CHUNK)))


def copy_text(sequence: int, transfers: TransferColumns) -> str:
    """The rows in COPY's text format: the batch, then the fields, tab-separated.

    `tolist` gives exact Python ints for narrow and wide columns alike, and `%s` of an int is
    its decimal digits, which NUMERIC reads exactly.
    """
    lists = [getattr(transfers, name).tolist() for name in FIELD_NAMES]
    line = f"{int(sequence)}\t" + "\t".join(["%s"] * len(lists)) + "\n"
    return "".join(map(line.__mod__, zip(*lists, strict=True)))


class PostgresStore(JournalStore):
    """A store in one schema of a PostgreSQL database. One writer at a time."""

    def __init__(self, dsn: str, *, schema: str = DEFAULT_SCHEMA) -> None:
        super().__init__()
        self.dsn = dsn
        self.schema = schema
        self._db = Reconnecting(
            dsn, "the ledger store", lambda c: c.adapters.register_loader("numeric", IntLoader)
        )
        connection = self._db.connection
        try:
            with connection.transaction():
                connection.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                )
                packed_table = self._table("transfer_columns")
                packed_new = connection.execute(
                    "SELECT to_regclass(%s) IS NULL", (packed_table.as_string(connection),)
                ).fetchone()
                for table, columns in TABLES.items():
                    connection.execute(
                        sql.SQL("CREATE TABLE IF NOT EXISTS {} (" + columns + ")").format(
                            self._table(table)
                        )
                    )
                if packed_new is not None and packed_new[0]:  # out of line, uncompressed
                    connection.execute(
                        sql.SQL("ALTER TABLE {} ALTER COLUMN columns SET STORAGE EXTERNAL").format(
                            packed_table
                        )
                    )
                if not connection.execute(HAS_LIMITS_COUNT, (schema,)).fetchone():
                    connection.execute(
                        sql.SQL(
                            "ALTER TABLE {} ADD COLUMN limits INTEGER NOT NULL DEFAULT 0"
                        ).format(self._table("batches"))
                    )
            last = connection.execute(
                sql.SQL(f"SELECT {BATCH_COLUMNS} FROM {{}} ORDER BY sequence DESC LIMIT 1").format(
                    self._table("batches")
                )
            ).fetchone()
            self._resume(None if last is None else BatchSummary(*last))
        except psycopg.Error as error:
            self._db.close()
            raise self._failed(error) from error
        except BaseException:
            self._db.close()
            raise
        self._copy = {
            table: sql.SQL("COPY {} FROM STDIN").format(self._table(table)) for table in TABLES
        }
        # %b: the packed bytes go in binary, not as hex text twice their size.
        self._insert_packed = sql.SQL("INSERT INTO {} VALUES (%s, %s, %b)").format(
            self._table("transfer_columns")
        )

    @staticmethod
    def drop_schema(dsn: str, schema: str) -> None:
        """Drop `schema` and everything in it (tests and benchmarks clean up with this)."""
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )

    @staticmethod
    def has_table(dsn: str, schema: str, table: str) -> bool:
        """Whether `schema` holds `table` (looked at: nothing is created)."""
        with connect(dsn) as connection:
            row = connection.execute(
                "SELECT to_regclass(%s)", (sql.Identifier(schema, table).as_string(connection),)
            ).fetchone()
        return row is not None and row[0] is not None

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    # ------------------------------------------------------------------ writing

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor]:
        try:
            connection = self._db.connection
            with connection.transaction(), connection.cursor() as cursor:
                yield cursor
        except psycopg.Error as error:
            raise self._failed(error) from error

    def _failed(self, error: psycopg.Error) -> StoreError:
        """A server or connection failure as the store's error (the next use reconnects;
        a batch whose commit was cut off may or may not be stored: a `DurableHub` opened
        again finds out from its command log)."""
        return StoreError(f"PostgreSQL schema {self.schema}: ledger store ({type(error).__name__})")

    def _write_batch(self, transaction: psycopg.Cursor, summary: BatchSummary) -> None:
        transaction.execute(
            sql.SQL(INSERT_BATCH).format(self._table("batches")),
            (
                summary.sequence,
                summary.now,
                summary.accounts,
                summary.transfers,
                summary.expiries,
                summary.timestamp,
                summary.limits,
            ),
        )

    def _write_accounts(
        self, transaction: psycopg.Cursor, sequence: int, accounts: tuple[Account, ...]
    ) -> None:
        with transaction.copy(self._copy["accounts"]) as copy:
            for a in accounts:
                copy.write_row(
                    (sequence, a.id, a.ledger, a.code, a.flags, a.user_data, a.limit, a.timestamp)
                )

    def _write_transfers(
        self, transaction: psycopg.Cursor, sequence: int, transfers: TransferColumns
    ) -> None:
        transaction.execute(self._insert_packed, (sequence, len(transfers), transfers.packed()))

    def _write_expiries(
        self, transaction: psycopg.Cursor, sequence: int, expiries: Expiries
    ) -> None:
        with transaction.copy(self._copy["expiries"]) as copy:
            for pending_id, timestamp in zip(expiries.pending_id, expiries.timestamp, strict=True):
                copy.write_row((sequence, pending_id, timestamp))

    def _write_limits(
        self, transaction: psycopg.Cursor, sequence: int, limits: tuple[LimitChange, ...]
    ) -> None:
        with transaction.copy(self._copy["limits"]) as copy:
            for c in limits:
                copy.write_row((sequence, c.account_id, c.limit, c.timestamp))

    # ------------------------------------------------------------------ reading

    def _read(self) -> StoredRows:
        try:
            return self._db.read(self._read_rows)
        except psycopg.Error as error:
            raise self._failed(error) from error

    def _read_rows(self, connection: psycopg.Connection) -> StoredRows:
        with connection.transaction():
            # One snapshot of the five tables, even while a writer goes on.
            connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

            def select(query: str, table: str) -> list[tuple]:
                return connection.execute(sql.SQL(query).format(self._table(table))).fetchall()

            batches = select(f"SELECT {BATCH_COLUMNS} FROM {{}} ORDER BY sequence", "batches")
            accounts = select(
                'SELECT batch, id, ledger, code, flags, user_data, "limit", timestamp FROM {} '
                "ORDER BY batch, timestamp",
                "accounts",
            )
            transfers = select(
                f"SELECT batch, {', '.join(FIELD_NAMES)} FROM {{}} ORDER BY batch, timestamp",
                "transfers",
            )
            packed = select(
                "SELECT batch, transfers, columns FROM {} ORDER BY batch", "transfer_columns"
            )
            expiries = select(
                "SELECT batch, pending_id, timestamp FROM {} ORDER BY batch, timestamp", "expiries"
            )
            limits = select(
                'SELECT batch, account_id, "limit", timestamp FROM {} ORDER BY batch, timestamp',
                "limits",
            )
        columns = list(zip(*transfers, strict=True)) or [()] * (len(FIELD_NAMES) + 1)
        values: dict[str, Sequence[int] | np.ndarray] = {
            name: columns[index + 1] for index, name in enumerate(FIELD_NAMES)
        }
        batches_of_rows: Sequence[int] | np.ndarray = np.array(columns[0], dtype=np.int64)
        if packed:
            values, batches_of_rows = with_packed(values, batches_of_rows, packed)
        return StoredRows(
            batches=[BatchSummary(*row) for row in batches],
            accounts=[Account(*row[1:]) for row in accounts],
            account_batches=[row[0] for row in accounts],
            transfers=values,
            transfer_batches=np.asarray(batches_of_rows, dtype=np.int64),
            expiry_pending_ids=[row[1] for row in expiries],
            expiry_timestamps=[row[2] for row in expiries],
            expiry_batches=[row[0] for row in expiries],
            limits=[LimitChange(*row[1:]) for row in limits],
            limit_batches=[row[0] for row in limits],
        )

    def _disconnect(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ benchmark

    def raw_baseline(self) -> PostgresRawBaseline:
        """A scratch table of the transfers' layout in this schema, for the bare COPY rate."""
        return PostgresRawBaseline(self._db.connection, self._table(SCRATCH_TABLE))


class PostgresRawBaseline:
    """Plain text COPY of a batch's rows in one transaction: what the store is measured by.

    It sends the rows in the same pieces as the store, so the ratio measures the store's own
    overhead (checks, the batch row, the batch column) and not a different way of copying.
    """

    def __init__(self, connection: psycopg.Connection, table: sql.Identifier) -> None:
        self._connection = connection
        self._table = table
        connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        connection.execute(sql.SQL("CREATE TABLE {} (" + TRANSFER_COLUMNS + ")").format(table))
        self._copy = sql.SQL("COPY {} FROM STDIN").format(table)
        self._batches = 0

    def insert(self, transfers: TransferColumns) -> None:
        self._batches += 1
        with self._connection.transaction(), self._connection.cursor() as cursor:
            with cursor.copy(self._copy) as copy:
                for chunk in copy_chunks(self._batches, transfers):
                    copy.write(chunk)

    def close(self) -> None:
        self._connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._table))


def connect(dsn: str, what: str = "") -> psycopg.Connection:
    """An autocommit connection; `StoreError` naming the server (never the password) and
    what it was for."""
    try:
        return psycopg.connect(dsn, autocommit=True)
    except psycopg.OperationalError as error:
        where = psycopg.conninfo.conninfo_to_dict(dsn)
        where.pop("password", None)  # never let a secret reach a message or a log
        raise StoreError(
            f"cannot connect to PostgreSQL ({where.get('host', 'local socket')}:"
            f"{where.get('port', 5432)}, database {where.get('dbname', '?')})"
            f"{' for ' + what if what else ''}: "
            f"{str(error).splitlines()[0] if str(error) else type(error).__name__}"
        ) from error


class Reconnecting:
    """One autocommit connection to PostgreSQL, made anew once the last one broke (the
    server restarted, failed over, or ended the backend): the next use reconnects, and a
    read that found the connection broken is run once more. A write is never repeated here:
    whether a cut-off write was committed is its owner's to find out. `what` names the
    connection in errors; `setup` runs on each new connection."""

    def __init__(
        self, dsn: str, what: str, setup: Callable[[psycopg.Connection], None] | None = None
    ) -> None:
        self.dsn, self.what, self._setup = dsn, what, setup
        self._connection = self._connect()

    def _connect(self) -> psycopg.Connection:
        connection = connect(self.dsn, self.what)
        if self._setup is not None:
            self._setup(connection)
        return connection

    @property
    def connection(self) -> psycopg.Connection:
        if self._connection.closed or self._connection.broken:
            self._connection.close()
            self._connection = self._connect()
        return self._connection

    def read(self, run: Callable[[psycopg.Connection], _T]) -> _T:
        """`run(connection)`, which only reads: again on a new connection if the old one
        turned out broken."""
        try:
            return run(self.connection)
        except psycopg.OperationalError:
            if not self._connection.broken:
                raise
        return run(self.connection)

    def close(self) -> None:
        self._connection.close()
