"""Store-and-forward mailboxes: the messages the hub sends each participant.

One SQLite file next to the store (`<store>.mailbox`, WAL, synchronous=FULL):

    mailbox(participant, sequence, kind, created_ns, body)   one row per message
    cursors(participant, last, acked)                         per participant
    webhooks(participant, url)                                optional push (see webhook)
    camt054_all(participant)                                  a camt.054 for every settlement
    published(id = 1, events)                                 hub events turned into messages

A participant reads its messages after a cursor and acknowledges up to a sequence; a message
is delivered again on every read until it is acknowledged, and acknowledged messages are
deleted, so none is lost and none comes back once acknowledged. Sequences per participant
start at 1 and never repeat. `events` is how many of the hub's events have been turned into
messages: the hub's events are rebuilt by replaying its command log, so after a crash the
notices of events that were not yet published are made again and nothing is skipped.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from samarkand.store.port import StoreError
from samarkand.store.sqlite_file import LARGE_ROWS_PAGE, open_durable, transaction

MAILBOX_SUFFIX = ".mailbox"
READ_LIMIT_MAX = 1_000
# A read returns messages whose bodies add up to at most this (always at least one message):
# a day of bulk messages leaves camt.054s of a megabyte each, and a read of a thousand of them
# must not build a gigabyte answer.
READ_BYTES_MAX = 16 * 2**20
# In SQLite a table with a rowid, its key an index beside it: in a WITHOUT ROWID table the
# bodies (a bulk message leaves a megabyte) are kept in the key's B-tree, which cost 2.3
# times the CPU per transaction in isolation (3.1 against 1.3 ms for 0.76 MB of messages;
# about 1 µs per bulk payment in the service). A mailbox file made before keeps its table
# as it was, and works the same.
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {mailbox} (participant TEXT NOT NULL, sequence BIGINT NOT NULL,"
    " kind TEXT NOT NULL, created_ns BIGINT NOT NULL, body {blob} NOT NULL,"
    " PRIMARY KEY (participant, sequence))",
    "CREATE TABLE IF NOT EXISTS {cursors} (participant TEXT PRIMARY KEY, last BIGINT NOT NULL,"
    " acked BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {published} (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " events BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {webhooks} (participant TEXT PRIMARY KEY, url TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {camt054_all} (participant TEXT PRIMARY KEY)",
)
_TABLES = ("mailbox", "cursors", "published", "webhooks", "camt054_all")


class _Sqlite:
    """The mailbox's tables in their own SQLite file."""

    def __init__(self, path: str) -> None:
        self.connection = open_durable(path, "a mailbox", shared=True, page_size=LARGE_ROWS_PAGE)
        self.names = {n: n for n in _TABLES}
        self.blob = "BLOB"

    def query(self, statement: str, rows: tuple = ()) -> list[tuple]:
        return self.connection.execute(statement.format(**self.names), rows).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[Callable[[str, list[tuple]], None]]:
        with transaction(self.connection) as connection:
            yield lambda statement, rows: connection.executemany(
                statement.format(**self.names), rows
            )

    def close(self) -> None:
        self.connection.close()


class _Postgres:
    """The mailbox's tables in a schema of the hub's PostgreSQL database."""

    def __init__(self, dsn: str, schema: str) -> None:
        from samarkand.store.postgres import Reconnecting

        self.where = f"PostgreSQL schema {schema}: mailbox"
        self.server = Reconnecting(dsn, "the mailbox")
        self.names = {n: f'"{schema}"."{n}"' for n in _TABLES}
        self.blob = "BYTEA"
        self.query(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')

    def query(self, statement: str, rows: tuple = ()) -> list[tuple]:
        import psycopg

        text = statement.format(**self.names).replace("?", "%s")

        def run(connection: Any) -> list[tuple]:
            cursor = connection.execute(text, rows)
            return cursor.fetchall() if cursor.description is not None else []

        try:
            return self.server.read(run)
        except psycopg.Error as error:
            raise StoreError(f"{self.where} ({type(error).__name__})") from error

    @contextmanager
    def transaction(self) -> Iterator[Callable[[str, list[tuple]], None]]:
        import psycopg

        try:
            connection = self.server.connection
            with connection.transaction(), connection.cursor() as cursor:
                yield lambda statement, rows: cursor.executemany(
                    statement.format(**self.names).replace("?", "%s"), rows
                )
        except psycopg.Error as error:
            raise StoreError(f"{self.where} ({type(error).__name__})") from error

    def close(self) -> None:
        self.server.close()


@dataclass(frozen=True, slots=True)
class Message:
    sequence: int
    kind: str  # "status" (JSON), or an ISO 20022 message: "pacs.002", "camt.029", "camt.054"
    created_ns: int
    body: bytes


class AckBeyondLast(ValueError):
    """An acknowledgement of a sequence the mailbox never delivered."""


_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(method: _F) -> _F:
    """One use of the mailbox at a time: the hub's thread reads and acknowledges while the
    engine's writer thread publishes."""

    @functools.wraps(method)
    def run(self: Mailbox, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]


class Mailbox:
    def __init__(self, address: str | os.PathLike[str], *, schema: str = "samarkand") -> None:
        """`address`: an SQLite path, or a postgresql:// DSN (tables in `schema`)."""
        self._lock = threading.RLock()
        self.path = os.fspath(address)
        if self.path.startswith(("postgresql://", "postgres://")):
            self._db: _Sqlite | _Postgres = _Postgres(self.path, schema)
        else:
            self._db = _Sqlite(self.path)
        try:
            with self._db.transaction() as run:
                for statement in _SCHEMA:
                    names = dict(self._db.names, blob=self._db.blob)
                    run(statement.format(**names).replace("{", "{{").replace("}", "}}"), [()])
            self._cursors: dict[str, list[int]] = {
                participant: [int(last), int(acked)]
                for participant, last, acked in self._db.query(
                    "SELECT participant, last, acked FROM {cursors}"
                )
            }
            row = self._db.query("SELECT events FROM {published} WHERE id = 1")
        except BaseException:
            self._db.close()
            raise
        self.events_published = int(row[0][0]) if row else 0
        # A `publish` whose transaction failed: (the cursors and event count it would have
        # written, how many messages the call had, how many of those were written before
        # it). Its commit may have happened all the same (the answer lost with the
        # connection): the next `publish` looks before it writes.
        self._attempt: tuple[dict[str, list[int]], int, int, int] | None = None

    @_locked
    def publish(
        self, messages: Iterable[tuple[str, str, bytes, int]], *, events_published: int
    ) -> int:
        """Append messages (participant, kind, body, created_ns) in one transaction; record
        how many hub events are now published. Returns how many messages were appended.

        After a call that failed, the next call must begin with that call's messages again
        (the engine's writer retries them first): if the failed transaction was committed
        after all, they are not appended twice."""
        messages = list(messages)
        done = 0  # how many of `messages` (the first ones) the database holds already
        if self._attempt is not None:
            _, _, count, committed = self._attempt
            done = count if self._attempt_written() else committed
            self._attempt = None
        rows = []
        touched: dict[str, list[int]] = {}
        for participant, kind, body, created_ns in messages[done:]:
            cursor = touched.get(participant)
            if cursor is None:
                cursor = list(self._cursors.get(participant, [0, 0]))
                touched[participant] = cursor
            cursor[0] += 1
            rows.append((participant, cursor[0], kind, created_ns, body))
        try:
            with self._db.transaction() as run:
                if rows:
                    run("INSERT INTO {mailbox} VALUES (?, ?, ?, ?, ?)", rows)
                    run(
                        "INSERT INTO {cursors} VALUES (?, ?, ?) ON CONFLICT (participant) DO "
                        "UPDATE SET last = excluded.last",
                        [(p, c[0], c[1]) for p, c in touched.items()],
                    )
                run(
                    "INSERT INTO {published} VALUES (1, ?) ON CONFLICT (id) DO UPDATE "
                    "SET events = excluded.events",
                    [(events_published,)],
                )
        except BaseException:
            self._attempt = (touched, events_published, len(messages), done)
            raise
        self._cursors.update(touched)
        self.events_published = events_published
        return len(rows)

    def _attempt_written(self) -> bool:
        """Whether the failed transaction of `_attempt` is in the database after all (only
        this mailbox writes there): the cursors and event count are read back, and kept."""
        assert self._attempt is not None
        touched, events, _, _ = self._attempt
        cursors = {
            participant: [int(last), int(acked)]
            for participant, last, acked in self._db.query(
                "SELECT participant, last, acked FROM {cursors}"
            )
        }
        row = self._db.query("SELECT events FROM {published} WHERE id = 1")
        stored_events = int(row[0][0]) if row else 0
        written = stored_events == events and all(
            cursors.get(p, [0, 0])[0] == c[0] for p, c in touched.items()
        )
        self._cursors, self.events_published = cursors, stored_events
        return written

    @_locked
    def read(self, participant: str, after: int, limit: int) -> tuple[list[Message], int, int]:
        """Messages after `after` (never those already acknowledged): at most `limit`, and
        no more than `READ_BYTES_MAX` of bodies but for a first message larger than that;
        with the last sequence and the acknowledged one."""
        last, acked = self._cursors.get(participant, [0, 0])
        start = max(after, acked)
        sizes = self._db.query(
            "SELECT sequence, length(body) FROM {mailbox} WHERE participant = ? AND "
            "sequence > ? ORDER BY sequence LIMIT ?",
            (participant, start, min(limit, READ_LIMIT_MAX)),
        )
        upto, total = None, 0
        for sequence, size in sizes:
            total += int(size)
            if upto is not None and total > READ_BYTES_MAX:
                break
            upto = sequence
        if upto is None:
            return [], last, acked
        rows = self._db.query(
            "SELECT sequence, kind, created_ns, body FROM {mailbox} WHERE participant = ? AND "
            "sequence > ? AND sequence <= ? ORDER BY sequence",
            (participant, start, upto),
        )
        return [Message(s, k, c, bytes(b)) for s, k, c, b in rows], last, acked

    @_locked
    def ack(self, participant: str, upto: int) -> int:
        """Acknowledge every message up to `upto`; they are never delivered again."""
        last, acked = self._cursors.get(participant, [0, 0])
        if upto > last:
            raise AckBeyondLast(f"upto {upto} is beyond the last message sent ({last})")
        if upto <= acked:
            return acked
        with self._db.transaction() as run:
            run(
                "DELETE FROM {mailbox} WHERE participant = ? AND sequence <= ?",
                [(participant, upto)],
            )
            run(
                "INSERT INTO {cursors} VALUES (?, ?, ?) ON CONFLICT (participant) DO UPDATE "
                "SET acked = excluded.acked",
                [(participant, last, upto)],
            )
        self._cursors[participant] = [last, upto]
        return upto

    @_locked
    def backlogs(self) -> dict[str, int]:
        """Messages not yet acknowledged, per participant that has any."""
        return {p: last - acked for p, (last, acked) in self._cursors.items() if last > acked}

    @_locked
    def webhooks(self) -> dict[str, str]:
        return dict(self._db.query("SELECT participant, url FROM {webhooks}"))

    @_locked
    def set_webhook(self, participant: str, url: str | None) -> None:
        with self._db.transaction() as run:
            if url is None:
                run("DELETE FROM {webhooks} WHERE participant = ?", [(participant,)])
            else:
                run(
                    "INSERT INTO {webhooks} VALUES (?, ?) ON CONFLICT (participant) DO UPDATE "
                    "SET url = excluded.url",
                    [(participant, url)],
                )

    @_locked
    def camt054_all(self) -> set[str]:
        """The participants that have a camt.054 for every settlement of their accounts."""
        return {row[0] for row in self._db.query("SELECT participant FROM {camt054_all}")}

    @_locked
    def set_camt054_all(self, participant: str, every: bool) -> None:
        with self._db.transaction() as run:
            if every:
                run("INSERT INTO {camt054_all} VALUES (?) ON CONFLICT DO NOTHING", [(participant,)])
            else:
                run("DELETE FROM {camt054_all} WHERE participant = ?", [(participant,)])

    @_locked
    def close(self) -> None:
        self._db.close()
