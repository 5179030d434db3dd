"""The embedded store: SQLite in WAL mode with `synchronous=FULL`, one transaction per batch.

Encoding of unsigned integers. Ids, amounts, pending ids, user data and limits go up to
2**128 - 1 and timestamps up to 2**64 - 1, while an SQLite INTEGER is a signed 64-bit value.
A value below 2**63 is stored as a plain INTEGER; a larger one as a BLOB of exactly 16 bytes,
the value in big-endian order. Only values of 2**63 and above take the BLOB form, so each
value has one encoding, and a column that holds only INTEGERs needs no decoding. The tables
are STRICT: a narrow column (ledger, code, flags, timeout, counts) accepts INTEGERs only, a
wide one is declared ANY so that it keeps either form exactly as written.

A batch's transfers are one row of `transfer_columns`: their count and their columns packed
into one BLOB (`TransferColumns.packed`: each field's values as a little-endian array, 16
bytes a value for a column that holds values of 2**64 and above, one value for a column whose
transfers all have the same). One statement per batch,
whatever its size, with nothing done per transfer but for such a wide column; a row per
transfer cost a statement step each (and an encoding of each wide value), the larger part of
writing a batch of a thousand payments. The ledger's state lives in memory and is rebuilt
from the whole journal on open, so no query ever looks a transfer up by id in the database
(the engine already refuses a duplicate id, and `load` checks that ids are unique).

A store written before `transfer_columns` existed holds its transfers in the `transfers`
table, a row each (the encoding above); those are read first, in rowid order, and every
batch written since goes to `transfer_columns`.

A store written before limit changes existed has no `limits` table (created on open like the
others) and no `limits` count in its batches: opening it adds that column with 0 for every
batch already stored, which is true, since none of them could change a limit.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import repeat

import numpy as np

from samarkand.ledger.columns import FIELD_NAMES, TransferColumns
from samarkand.ledger.journal import Expiries
from samarkand.ledger.types import INT64_MAX, Account, LimitChange
from samarkand.store.base import JournalStore
from samarkand.store.checks import StoredRows, with_packed
from samarkand.store.port import BatchSummary, StoreCorrupted, StoreError
from samarkand.store.sqlite_file import open_durable, transaction

WIDE_BYTES = 16

# Narrow fields fit a signed 64-bit INTEGER whatever their value; the others may not.
_NARROW_TRANSFER_FIELDS = {"ledger", "code", "flags", "timeout"}
_TRANSFER_TYPES = ", ".join(
    f"{name} {'INTEGER' if name in _NARROW_TRANSFER_FIELDS else 'ANY'} NOT NULL"
    for name in FIELD_NAMES
)
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS batches (
    sequence INTEGER PRIMARY KEY, now ANY NOT NULL, accounts INTEGER NOT NULL,
    transfers INTEGER NOT NULL, expiries INTEGER NOT NULL, timestamp ANY NOT NULL,
    limits INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS accounts (
    batch INTEGER NOT NULL, id ANY NOT NULL, ledger INTEGER NOT NULL, code INTEGER NOT NULL,
    flags INTEGER NOT NULL, user_data ANY NOT NULL, "limit" ANY NOT NULL, timestamp ANY NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS transfers (batch INTEGER NOT NULL, {_TRANSFER_TYPES}) STRICT;
CREATE TABLE IF NOT EXISTS transfer_columns (
    batch INTEGER PRIMARY KEY, transfers INTEGER NOT NULL, columns BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS expiries (
    batch INTEGER NOT NULL, pending_id ANY NOT NULL, timestamp ANY NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS limits (
    batch INTEGER NOT NULL, account_id ANY NOT NULL, "limit" ANY NOT NULL, timestamp ANY NOT NULL
) STRICT;
"""
# The batches table of a store from before limit changes gains its count column (see above).
ADD_LIMITS_COUNT = "ALTER TABLE batches ADD COLUMN limits INTEGER NOT NULL DEFAULT 0"
_TRANSFER_LIST = ", ".join(FIELD_NAMES)
INSERT_TRANSFERS = f"INSERT INTO transfers VALUES (?, {', '.join('?' * len(FIELD_NAMES))})"
INSERT_ACCOUNTS = "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_TRANSFER_COLUMNS = "INSERT INTO transfer_columns VALUES (?, ?, ?)"
INSERT_EXPIRIES = "INSERT INTO expiries VALUES (?, ?, ?)"
INSERT_LIMITS = "INSERT INTO limits VALUES (?, ?, ?, ?)"
INSERT_BATCH = (
    "INSERT INTO batches (sequence, now, accounts, transfers, expiries, timestamp, limits) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
BATCH_COLUMNS = "sequence, now, accounts, transfers, expiries, timestamp, limits"
SELECT_BATCHES = f"SELECT {BATCH_COLUMNS} FROM batches ORDER BY sequence"
SCRATCH_TABLE = "raw_baseline_transfers"


def encode(value: int) -> int | bytes:
    return value if value <= INT64_MAX else value.to_bytes(WIDE_BYTES, "big")


def decode(value: object) -> int:
    """The unsigned int a stored value holds; `StoreCorrupted` for anything not written here."""
    if type(value) is int and value >= 0:
        return value
    if type(value) is bytes and len(value) == WIDE_BYTES:
        number = int.from_bytes(value, "big")
        if number > INT64_MAX:
            return number
    raise StoreCorrupted(f"not a stored unsigned integer: {value!r}")


class SqliteStore(JournalStore):
    """A store in one SQLite file. One writer at a time (`BEGIN IMMEDIATE` takes the lock)."""

    def __init__(self, path: str | os.PathLike[str], *, sync_every_batch: bool = True) -> None:
        """`sync_every_batch=False`: commits are not fsynced one by one (`synchronous=NORMAL`,
        see `sqlite_file`), for a store whose batches another fsynced log can replay."""
        super().__init__()
        self.path = os.fspath(path)
        if self.path in ("", ":memory:") or self.path.startswith("file:"):
            raise StoreError(f"SqliteStore needs a file path, got {self.path!r}")
        self._connection = open_durable(
            self.path,
            "a Samarkand SQLite store",
            synchronous="FULL" if sync_every_batch else "NORMAL",
        )
        try:
            self._connection.executescript(f"BEGIN IMMEDIATE; {SCHEMA}")
            columns = self._connection.execute("PRAGMA table_info(batches)").fetchall()
            if "limits" not in {column[1] for column in columns}:
                self._connection.execute(ADD_LIMITS_COUNT)
            self._connection.execute("COMMIT")
            last = self._connection.execute(
                f"SELECT {BATCH_COLUMNS} FROM batches ORDER BY sequence DESC LIMIT 1"
            ).fetchone()
            self._resume(None if last is None else _summary(last))
        except sqlite3.DatabaseError as error:
            self._connection.close()
            raise StoreError(f"{self.path}: not a Samarkand SQLite store ({error})") from error
        except BaseException:
            self._connection.close()
            raise

    # ------------------------------------------------------------------ writing

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            with transaction(self._connection) as connection:
                yield connection
        except sqlite3.Error as error:  # disk full, I/O error: the batch is not stored
            raise StoreError(f"{self.path}: ledger store ({error})") from error

    def _write_batch(self, transaction: sqlite3.Connection, summary: BatchSummary) -> None:
        transaction.execute(
            INSERT_BATCH,
            (
                summary.sequence,
                encode(summary.now),
                summary.accounts,
                summary.transfers,
                summary.expiries,
                encode(summary.timestamp),
                summary.limits,
            ),
        )

    def _write_accounts(
        self, transaction: sqlite3.Connection, sequence: int, accounts: tuple[Account, ...]
    ) -> None:
        transaction.executemany(
            INSERT_ACCOUNTS,
            [
                (
                    sequence,
                    encode(a.id),
                    a.ledger,
                    a.code,
                    a.flags,
                    encode(a.user_data),
                    encode(a.limit),
                    encode(a.timestamp),
                )
                for a in accounts
            ],
        )

    def _write_transfers(
        self, transaction: sqlite3.Connection, sequence: int, transfers: TransferColumns
    ) -> None:
        transaction.execute(INSERT_TRANSFER_COLUMNS, (sequence, len(transfers), transfers.packed()))

    def _write_expiries(
        self, transaction: sqlite3.Connection, sequence: int, expiries: Expiries
    ) -> None:
        transaction.executemany(
            INSERT_EXPIRIES,
            zip(
                repeat(sequence),
                map(encode, expiries.pending_id),
                map(encode, expiries.timestamp),
            ),
        )

    def _write_limits(
        self, transaction: sqlite3.Connection, sequence: int, limits: tuple[LimitChange, ...]
    ) -> None:
        transaction.executemany(
            INSERT_LIMITS,
            [
                (sequence, encode(c.account_id), encode(c.limit), encode(c.timestamp))
                for c in limits
            ],
        )

    # ------------------------------------------------------------------ reading

    def _read(self) -> StoredRows:
        connection = self._connection
        connection.execute("BEGIN")  # one snapshot of the five tables (WAL readers see one)
        try:
            batches = [_summary(row) for row in connection.execute(SELECT_BATCHES)]
            accounts = connection.execute(
                'SELECT batch, id, ledger, code, flags, user_data, "limit", timestamp '
                "FROM accounts ORDER BY rowid"
            ).fetchall()
            not_integers = connection.execute(
                "SELECT "
                + ", ".join(f"coalesce(sum(typeof({n}) <> 'integer'), 0)" for n in FIELD_NAMES)
                + " FROM transfers"
            ).fetchone()
            transfers = connection.execute(
                f"SELECT batch, {_TRANSFER_LIST} FROM transfers ORDER BY rowid"
            ).fetchall()
            packed = connection.execute(
                "SELECT batch, transfers, columns FROM transfer_columns ORDER BY batch"
            ).fetchall()
            expiries = connection.execute(
                "SELECT batch, pending_id, timestamp FROM expiries ORDER BY rowid"
            ).fetchall()
            limits = connection.execute(
                'SELECT batch, account_id, "limit", timestamp FROM limits ORDER BY rowid'
            ).fetchall()
        finally:
            connection.execute("COMMIT")
        columns: list[Sequence] = list(zip(*transfers, strict=True))
        if not columns:
            columns = [()] * (len(FIELD_NAMES) + 1)
        values: dict[str, Sequence[int] | np.ndarray] = {}
        for index, name in enumerate(FIELD_NAMES):
            stored = columns[index + 1]
            # Only a column holding BLOBs (values of 2**63 and more) needs decoding.
            values[name] = [decode(v) for v in stored] if not_integers[index] else stored
        batches_of_rows: Sequence[int] | np.ndarray = columns[0]
        if packed:
            values, batches_of_rows = with_packed(values, batches_of_rows, packed)
        return StoredRows(
            batches=batches,
            accounts=[_account(row) for row in accounts],
            account_batches=[row[0] for row in accounts],
            transfers=values,
            transfer_batches=batches_of_rows,
            expiry_pending_ids=[decode(row[1]) for row in expiries],
            expiry_timestamps=[decode(row[2]) for row in expiries],
            expiry_batches=[row[0] for row in expiries],
            limits=[LimitChange(*map(decode, row[1:])) for row in limits],
            limit_batches=[row[0] for row in limits],
        )

    def _disconnect(self) -> None:
        self._connection.close()

    # ------------------------------------------------------------------ benchmark

    def raw_baseline(self) -> SqliteRawBaseline:
        """A scratch table of the transfers' layout in this database, for the bare insert rate."""
        return SqliteRawBaseline(self._connection)


class SqliteRawBaseline:
    """Plain `executemany` of a batch's rows in one transaction: what the store is measured by."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        connection.execute(f"DROP TABLE IF EXISTS {SCRATCH_TABLE}")
        connection.execute(
            f"CREATE TABLE {SCRATCH_TABLE} (batch INTEGER NOT NULL, {_TRANSFER_TYPES}) STRICT"
        )
        self._insert = INSERT_TRANSFERS.replace("transfers", SCRATCH_TABLE, 1)
        self._batches = 0

    def insert(self, transfers: TransferColumns) -> None:
        self._batches += 1
        lists = [getattr(transfers, name).tolist() for name in FIELD_NAMES]
        self._connection.execute("BEGIN IMMEDIATE")
        self._connection.executemany(self._insert, zip(repeat(self._batches), *lists))
        self._connection.execute("COMMIT")

    def close(self) -> None:
        self._connection.execute(f"DROP TABLE IF EXISTS {SCRATCH_TABLE}")


def _summary(row: tuple) -> BatchSummary:
    sequence, now, accounts, transfers, expiries, timestamp, limits = row
    return BatchSummary(
        sequence, decode(now), accounts, transfers, expiries, decode(timestamp), limits
    )


def _account(row: tuple) -> Account:
    _, id_, ledger, code, flags, user_data, limit, timestamp = row
    return Account(
        decode(id_), ledger, code, flags, decode(user_data), decode(limit), decode(timestamp)
    )
