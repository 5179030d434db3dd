"""Store-and-forward mailboxes: the messages the hub sends each participant.

One SQLite file next to the store (`<store>.mailbox`, WAL, synchronous=FULL):

    mailbox(participant, sequence, kind, created_ns, body)   one row per message
    cursors(participant, last, acked)                         per participant
    published(id = 1, events)                                 hub events turned into messages

A participant reads its messages after a cursor and acknowledges up to a sequence; a message
is delivered again on every read until it is acknowledged, and acknowledged messages are
deleted, so none is lost and none comes back once acknowledged. Sequences per participant
start at 1 and never repeat. `events` is how many of the hub's events have been turned into
messages: the hub's events are rebuilt by replaying its command log, so after a crash the
notices of events that were not yet published are made again and nothing is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from samarkand.store.sqlite_file import open_durable, transaction

MAILBOX_SUFFIX = ".mailbox"
READ_LIMIT_MAX = 1_000
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS mailbox (participant TEXT NOT NULL, sequence INTEGER NOT NULL,"
    " kind TEXT NOT NULL, created_ns INTEGER NOT NULL, body BLOB NOT NULL,"
    " PRIMARY KEY (participant, sequence)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS cursors (participant TEXT PRIMARY KEY, last INTEGER NOT NULL,"
    " acked INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS published (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " events INTEGER NOT NULL)",
)


@dataclass(frozen=True, slots=True)
class Message:
    sequence: int
    kind: str  # "pacs.002" (XML) or "status" (JSON)
    created_ns: int
    body: bytes


class AckBeyondLast(ValueError):
    """An acknowledgement of a sequence the mailbox never delivered."""


class Mailbox:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._connection = open_durable(self.path, "a mailbox")
        with transaction(self._connection) as connection:
            for statement in _SCHEMA:
                connection.execute(statement)
        self._cursors: dict[str, list[int]] = {
            participant: [last, acked]
            for participant, last, acked in self._connection.execute(
                "SELECT participant, last, acked FROM cursors"
            )
        }
        row = self._connection.execute("SELECT events FROM published WHERE id = 1").fetchone()
        self.events_published = 0 if row is None else int(row[0])

    def publish(
        self, messages: Iterable[tuple[str, str, bytes]], now: int, *, events_published: int
    ) -> int:
        """Append messages (participant, kind, body) in one transaction; record how many hub
        events are now published. Returns how many messages were appended."""
        rows = []
        touched: dict[str, list[int]] = {}
        for participant, kind, body in messages:
            cursor = touched.get(participant)
            if cursor is None:
                cursor = list(self._cursors.get(participant, [0, 0]))
                touched[participant] = cursor
            cursor[0] += 1
            rows.append((participant, cursor[0], kind, now, body))
        with transaction(self._connection) as connection:
            connection.executemany("INSERT INTO mailbox VALUES (?, ?, ?, ?, ?)", rows)
            connection.executemany(
                "INSERT INTO cursors VALUES (?, ?, ?) ON CONFLICT (participant) DO UPDATE "
                "SET last = excluded.last",
                [(p, c[0], c[1]) for p, c in touched.items()],
            )
            connection.execute(
                "INSERT INTO published VALUES (1, ?) ON CONFLICT (id) DO UPDATE "
                "SET events = excluded.events",
                (events_published,),
            )
        self._cursors.update(touched)
        self.events_published = events_published
        return len(rows)

    def read(self, participant: str, after: int, limit: int) -> tuple[list[Message], int, int]:
        """Messages after `after` (never those already acknowledged), at most `limit`; with
        the last sequence and the acknowledged one."""
        last, acked = self._cursors.get(participant, [0, 0])
        rows = self._connection.execute(
            "SELECT sequence, kind, created_ns, body FROM mailbox WHERE participant = ? AND "
            "sequence > ? ORDER BY sequence LIMIT ?",
            (participant, max(after, acked), min(limit, READ_LIMIT_MAX)),
        ).fetchall()
        return [Message(s, k, c, bytes(b)) for s, k, c, b in rows], last, acked

    def ack(self, participant: str, upto: int) -> int:
        """Acknowledge every message up to `upto`; they are never delivered again."""
        last, acked = self._cursors.get(participant, [0, 0])
        if upto > last:
            raise AckBeyondLast(f"upto {upto} is beyond the last message sent ({last})")
        if upto <= acked:
            return acked
        with transaction(self._connection) as connection:
            connection.execute(
                "DELETE FROM mailbox WHERE participant = ? AND sequence <= ?", (participant, upto)
            )
            connection.execute(
                "INSERT INTO cursors VALUES (?, ?, ?) ON CONFLICT (participant) DO UPDATE "
                "SET acked = excluded.acked",
                (participant, last, upto),
            )
        self._cursors[participant] = [last, upto]
        return upto

    def close(self) -> None:
        self._connection.close()
