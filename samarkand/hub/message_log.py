"""The hub's record of the messages it took in, for idempotency across processes.

Beside an SQLite store, one SQLite file (``<db>.messages``: WAL, ``synchronous=FULL``); beside
a PostgreSQL store, two tables of the store's schema. A message is keyed by its sender's BIC
and its MsgId. ``begin`` records it (with a digest of its bytes) before the hub acts on it;
``finish`` stores the responses before the sender is answered (the service posts them to
their receivers' mailboxes first, so that none of an answered message's responses can be
lost: see ``samarkand.service.messages``). Then:

- the same message again gets its recorded responses back, byte for byte;
- another message under a recorded (sender, MsgId) is refused (AM05, duplication);
- a message begun but never finished (the process stopped in between) is answered from the
  hub's state when re-sent: what it already did is reported, never done twice. When the
  hub's command log has not grown since the message was begun, nothing of it ran: it is
  simply processed.

Both databases run the same statements; only a few words differ (`_Sqlite`, `_Postgres`).
Each write is one transaction, committed (fsynced) before the call returns. On PostgreSQL
every call is one round trip: a write's statements go as one query string (parameters bound
by the client), which the server runs as one implicit transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from samarkand.store.factory import POSTGRES_PREFIXES
from samarkand.store.port import StoreError
from samarkand.store.postgres import DEFAULT_SCHEMA, Reconnecting
from samarkand.store.sqlite_file import LARGE_ROWS_PAGE, open_durable, transaction

MESSAGES_SUFFIX = ".messages"
UETR_BYTES = 16

# `{integer}`, `{order}` and `{strict}` are the dialect's words. PostgreSQL has no rowid:
# there a column of that name numbers the messages in the order they were begun, as SQLite's
# own rowid does, so `messages_of` orders both alike.
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {message} ("
    " sender TEXT NOT NULL, msg_id TEXT NOT NULL, kind TEXT NOT NULL, digest TEXT NOT NULL,"
    " received_ns {integer} NOT NULL, hub_commands {integer}, responses TEXT,{order}"
    " uetrs {blob}, PRIMARY KEY (sender, msg_id)){strict}",
    # The links of logs written before `uetrs`: read, never written any more.
    "CREATE TABLE IF NOT EXISTS {message_payment} ("
    " uetr TEXT NOT NULL, sender TEXT NOT NULL, msg_id TEXT NOT NULL,"
    " PRIMARY KEY (uetr, sender, msg_id)){strict}",
    # Transactions a message's answer reported ACSP (queued), whose final status is still to
    # be told to the sender (a second pacs.002), with what that report names.
    "CREATE TABLE IF NOT EXISTS {awaiting} ("
    " uetr {blob} NOT NULL PRIMARY KEY, receiver TEXT NOT NULL, msg_id TEXT NOT NULL,"
    " kind TEXT NOT NULL, instruction_id TEXT NOT NULL, end_to_end_id TEXT NOT NULL){strict}",
)
# `uetrs`: the UETRs a message names, 16 bytes each. One value in the message's own row: an
# index of one row per UETR cost a random B-tree insert per payment (15-18 µs each on a log
# of 150,000 links, most of a bulk message's time on the hub's thread); the tracker scans
# instead (`messages_of`).
INSERT_MESSAGE = (
    "INSERT INTO {message} (sender, msg_id, kind, digest, received_ns, hub_commands, uetrs)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
SELECT_MESSAGE = (
    "SELECT kind, digest, received_ns, hub_commands, responses FROM {message}"
    " WHERE sender = ? AND msg_id = ?"
)
UPDATE_RESPONSES = "UPDATE {message} SET responses = ? WHERE sender = ? AND msg_id = ?"
_RECORD = "m.sender, m.msg_id, m.kind, m.digest, m.received_ns, m.hub_commands, m.rowid"
# Messages whose UETRs hold the 16 bytes somewhere, and those linked by an older log's table.
SELECT_NAMING = (
    f"SELECT {_RECORD}, m.uetrs FROM {{message}} m WHERE {{contains}} > 0 UNION ALL"
    f" SELECT {_RECORD}, NULL FROM {{message_payment}} p JOIN {{message}} m"
    " USING (sender, msg_id) WHERE p.uetr = ?"
)
COUNT = "SELECT count(*) FROM {message}"
_TABLES = ("message", "message_payment", "awaiting")
INSERT_AWAITING = "INSERT INTO {awaiting} VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
DELETE_AWAITING = "DELETE FROM {awaiting} WHERE uetr = ?"
SELECT_AWAITING = (
    "SELECT uetr, receiver, msg_id, kind, instruction_id, end_to_end_id FROM {awaiting}"
)
# A transaction waiting for its final status to be told: (receiver, MsgId, message kind,
# InstrId, EndToEndId), by UETR.
Awaiting = tuple[str, str, str, str, str]

Statement = tuple[str, Sequence[Any]]


class Duplicate(Exception):
    """A write hit a primary key already recorded."""


class _Sqlite:
    """The tables in their own SQLite file."""

    def __init__(self, path: str) -> None:
        self.where = path
        self.connection = open_durable(path, "a message log", page_size=LARGE_ROWS_PAGE)
        self.words = {name: name for name in _TABLES} | {
            "integer": "INTEGER", "order": "", "strict": " STRICT", "blob": "BLOB",
            "contains": "instr(m.uetrs, ?)",
        }  # fmt: skip

    def query(self, statement: str, parameters: Sequence[Any]) -> list[tuple]:
        return self.connection.execute(statement.format(**self.words), parameters).fetchall()

    def upgrade(self) -> list[Statement]:
        """What a log written before `uetrs` needs."""
        columns = {row[1] for row in self.connection.execute("PRAGMA table_info(message)")}
        if "uetrs" in columns:
            return []
        return [("ALTER TABLE {message} ADD COLUMN uetrs BLOB", ())]

    def write(self, statements: Sequence[Statement]) -> list[int]:
        """Run `statements` in one transaction; the rows each changed."""
        try:
            with transaction(self.connection) as connection:
                return [
                    connection.execute(text.format(**self.words), parameters).rowcount
                    for text, parameters in statements
                ]
        except sqlite3.IntegrityError as error:
            raise Duplicate(str(error)) from error
        except sqlite3.Error as error:
            raise StoreError(f"{self.where}: message log ({error})") from error

    def close(self) -> None:
        self.connection.close()


class _Postgres:
    """The tables in a schema of the hub's PostgreSQL database."""

    def __init__(self, dsn: str, schema: str) -> None:
        from psycopg import sql

        self.where = f"PostgreSQL schema {schema}"  # never the DSN: it may hold a password
        self.server = Reconnecting(dsn, "the message log")
        # Statements are %-formatted by the driver: a % in the name must be doubled.
        quoted = sql.Identifier(schema).as_string(self.server.connection).replace("%", "%%")
        self.words = {name: f"{quoted}.{name}" for name in _TABLES} | {
            "integer": "BIGINT",
            "order": " rowid BIGINT GENERATED ALWAYS AS IDENTITY,",
            "strict": "",
            "blob": "BYTEA",
            "contains": "position(?::bytea in m.uetrs)",
        }
        self.create_schema = f"CREATE SCHEMA IF NOT EXISTS {quoted}"

    def upgrade(self) -> list[Statement]:
        """What a log written before `uetrs` needs."""
        return [("ALTER TABLE {message} ADD COLUMN IF NOT EXISTS uetrs BYTEA", ())]

    def _text(self, statement: str) -> str:
        return statement.format(**self.words).replace("?", "%s")

    def query(self, statement: str, parameters: Sequence[Any]) -> list[tuple]:
        import psycopg

        text = self._text(statement)
        try:
            return self.server.read(
                lambda connection: connection.execute(text, parameters).fetchall()
            )
        except psycopg.Error as error:
            raise StoreError(f"{self.where}: message log ({type(error).__name__})") from error

    def write(self, statements: Sequence[Statement]) -> list[int]:
        """Run `statements` as one query string: one round trip, one implicit transaction
        (autocommit: committed before the answer comes back, or not at all). One statement
        alone is bound by the server: for the megabyte of a bulk's responses that is twice
        as fast as quoting it into the text."""
        import psycopg

        text = "; ".join(self._text(statement) for statement, _ in statements)
        parameters = [value for _, values in statements for value in values]
        connection = self.server.connection
        try:
            if len(statements) == 1:
                return [connection.execute(text, parameters).rowcount]
            with psycopg.ClientCursor(connection) as cursor:
                cursor.execute(text, parameters)
                changed = [cursor.rowcount]
                while cursor.nextset():
                    changed.append(cursor.rowcount)
        except psycopg.errors.UniqueViolation as error:
            raise Duplicate(str(error)) from error
        except psycopg.Error as error:
            raise StoreError(f"{self.where}: message log ({type(error).__name__})") from error
        return changed

    def close(self) -> None:
        self.server.close()


@dataclass(frozen=True, slots=True)
class MessageRecord:
    sender: str
    msg_id: str
    kind: str
    digest: str
    received_ns: int
    hub_commands: int | None  # the hub's command count when begun (a DurableHub's), if known
    responses: list[tuple[str, str, bytes]] | None  # (name, receiver, data); None: unfinished


class MessageLog:
    """Every message taken in, with the responses it got. Every write is durable before it
    returns (SQLite: fsynced; PostgreSQL: committed)."""

    def __init__(
        self,
        address: str | os.PathLike[str],
        *,
        schema: str = DEFAULT_SCHEMA,
        keep: Collection[str] | None = None,
    ) -> None:
        """`address`: an SQLite path, or a postgresql:// DSN (tables in `schema`). `keep`:
        the kinds of response to record (``pacs.002``, ...; see `response_kind`), all when
        None. A resend is answered with what was recorded: a service whose other responses
        went to mailboxes (kept there until acknowledged) records only its answers."""
        self.path = os.fspath(address)
        self.keep = None if keep is None else frozenset(keep)
        self.postgres = self.path.startswith(POSTGRES_PREFIXES)
        self._db: _Sqlite | _Postgres
        created: list[Statement] = [(text, ()) for text in SCHEMA]
        if self.postgres:
            self._db = _Postgres(self.path, schema)
            created.insert(0, (self._db.create_schema, ()))
        else:
            self._db = _Sqlite(self.path)
        try:
            self._db.write(created)
            upgrade = self._db.upgrade()
            if upgrade:
                self._db.write(upgrade)
        except (sqlite3.Error, StoreError, Duplicate) as error:
            self._db.close()
            raise StoreError(f"{self._db.where}: cannot open the message log ({error})") from error
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def beside(
        cls,
        store_path: str | os.PathLike[str],
        *,
        schema: str = DEFAULT_SCHEMA,
        keep: Collection[str] | None = None,
    ) -> MessageLog:
        """The message log of the store at ``store_path``: the ``.messages`` file beside an
        SQLite store, the tables in ``schema`` of a PostgreSQL one."""
        address = os.fspath(store_path)
        if address.startswith(POSTGRES_PREFIXES):
            return cls(address, schema=schema, keep=keep)
        return cls(address + MESSAGES_SUFFIX, keep=keep)

    @staticmethod
    def kept_beside(store_path: str | os.PathLike[str], *, schema: str = DEFAULT_SCHEMA) -> bool:
        """Whether the store at ``store_path`` has a message log (looked at, never made)."""
        address = os.fspath(store_path)
        if address.startswith(POSTGRES_PREFIXES):
            from samarkand.store.postgres import PostgresStore

            return PostgresStore.has_table(address, schema, "message")
        return os.path.isfile(address + MESSAGES_SUFFIX)

    def get(self, sender: str, msg_id: str) -> MessageRecord | None:
        rows = self._db.query(SELECT_MESSAGE, (sender, msg_id))
        if not rows:
            return None
        kind, digest, received_ns, commands, responses = rows[0]
        return MessageRecord(
            sender, msg_id, kind, digest, received_ns, commands, _decode(responses)
        )

    def begin(
        self, sender: str, msg_id: str, kind: str, digest: str, now: int,
        hub_commands: int | None = None, uetrs: Iterable[int] = (),
    ) -> None:  # fmt: skip
        """Record the message as taken in (with the hub's command count, when the hub keeps
        a command log: a later look tells whether anything ran since), and the UETRs of the
        payments it names; a (sender, MsgId) already recorded is a bug of the caller (it
        should have looked first): StoreError."""
        named = b"".join(uetr.to_bytes(UETR_BYTES, "big") for uetr in uetrs)
        try:
            self._db.write(
                [(INSERT_MESSAGE, (sender, msg_id, kind, digest, now, hub_commands, named))]
            )
        except Duplicate as error:
            raise StoreError(
                f"{self._db.where}: message {sender}/{msg_id} recorded twice"
            ) from error

    def finish(self, sender: str, msg_id: str, responses: list[tuple[str, str, bytes]]) -> None:
        """Store the responses of a begun message (before its sender is answered): those of
        the kinds it keeps."""
        self.finish_all([(sender, msg_id, responses)])

    def finish_all(
        self,
        finished: Sequence[tuple[str, str, list[tuple[str, str, bytes]]]],
        awaiting: Sequence[tuple[int, Awaiting]] = (),
        told: Sequence[int] = (),
    ) -> None:
        """`finish` for several messages (sender, MsgId, responses), in one transaction; with
        it, the transactions now `awaiting` a status update, and those since `told`."""
        changed = self._db.write(
            [(UPDATE_RESPONSES, (self._kept(responses), sender, msg_id))
             for sender, msg_id, responses in finished]
            + [(INSERT_AWAITING, (uetr.to_bytes(UETR_BYTES, "big"), *what))
               for uetr, what in awaiting]
            + [(DELETE_AWAITING, (uetr.to_bytes(UETR_BYTES, "big"),)) for uetr in told]
        )  # fmt: skip
        for (sender, msg_id, _), count in zip(finished, changed[: len(finished)], strict=True):
            if count != 1:
                raise StoreError(f"{self._db.where}: message {sender}/{msg_id} was never begun")

    def awaiting(self) -> dict[int, Awaiting]:
        """The transactions waiting for a status update (see `finish_all`)."""
        return {
            int.from_bytes(bytes(uetr), "big"): (receiver, msg_id, kind, instruction, end_to_end)
            for uetr, receiver, msg_id, kind, instruction, end_to_end in self._db.query(
                SELECT_AWAITING, ()
            )
        }

    def _kept(self, responses: list[tuple[str, str, bytes]]) -> str:
        """The responses of the kinds the log keeps, as the `responses` column holds them."""
        keep = self.keep
        return json.dumps([[name, receiver, data.decode("utf-8")]
                           for name, receiver, data in responses
                           if keep is None or response_kind(name) in keep])  # fmt: skip

    def messages_of(self, uetr: int) -> list[MessageRecord]:
        """The messages that named payment ``uetr``, in the order they were received: a scan
        of the UETRs each message names (a byte search in the database, then checked on
        16-byte boundaries here), and the links of a log written before those."""
        needle = uetr.to_bytes(UETR_BYTES, "big")
        found = {
            row[:2]: row[:7]
            for row in self._db.query(SELECT_NAMING, (needle, f"{uetr:032x}"))
            if row[7] is None or _names(bytes(row[7]), needle)
        }
        rows = sorted(found.values(), key=lambda row: (row[4], row[6]))
        return [
            MessageRecord(sender, msg_id, kind, digest, received_ns, commands, None)
            for sender, msg_id, kind, digest, received_ns, commands, _ in rows
        ]

    def count(self) -> int:
        return int(self._db.query(COUNT, ())[0][0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> MessageLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _names(uetrs: bytes, needle: bytes) -> bool:
    """``needle`` is one of the 16-byte UETRs ``uetrs`` holds (not bytes across two)."""
    at = uetrs.find(needle)
    while at >= 0:
        if at % UETR_BYTES == 0:
            return True
        at = uetrs.find(needle, at + 1)
    return False


def response_kind(name: str) -> str:
    """The message kind of a response file name ``<MsgId>.pacs.002.xml``: ``pacs.002``."""
    return ".".join(name.split(".")[-3:-1])


def _decode(text: str | None) -> list[tuple[str, str, bytes]] | None:
    if text is None:
        return None
    return [(name, receiver, data.encode("utf-8")) for name, receiver, data in json.loads(text)]
