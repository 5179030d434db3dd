"""The hub's record of the messages it took in, for idempotency across processes.

One SQLite file beside the store (``<db>.messages``: WAL, ``synchronous=FULL``). A message is
keyed by its sender's BIC and its MsgId. ``begin`` records it (with a digest of its bytes)
before the hub acts on it; ``finish`` stores the responses before anyone is told, so a
response cannot go out unrecorded. Then:

- the same message again gets its recorded responses back, byte for byte;
- another message under a recorded (sender, MsgId) is refused (AM05, duplication);
- a message begun but never finished (the process stopped in between) is answered from the
  hub's state when re-sent: what it already did is reported, never done twice. When the
  hub's command log has not grown since the message was begun, nothing of it ran: it is
  simply processed.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from samarkand.store.port import StoreError
from samarkand.store.sqlite_file import open_durable, transaction

MESSAGES_SUFFIX = ".messages"

SCHEMA = """
CREATE TABLE IF NOT EXISTS message (
    sender TEXT NOT NULL, msg_id TEXT NOT NULL, kind TEXT NOT NULL, digest TEXT NOT NULL,
    received_ns INTEGER NOT NULL, hub_commands INTEGER, responses TEXT,
    PRIMARY KEY (sender, msg_id)
) STRICT;
CREATE TABLE IF NOT EXISTS message_payment (
    uetr TEXT NOT NULL, sender TEXT NOT NULL, msg_id TEXT NOT NULL,
    PRIMARY KEY (uetr, sender, msg_id)
) STRICT;
"""


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
    """Every message taken in, with the responses it got. Every write is fsynced."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._connection = open_durable(self.path, "a message log")
        try:
            self._connection.executescript(SCHEMA)
        except sqlite3.Error as error:
            self._connection.close()
            raise StoreError(f"{self.path}: cannot open the message log ({error})") from error

    @classmethod
    def beside(cls, store_path: str | os.PathLike[str]) -> MessageLog:
        """The message log of the store at ``store_path``."""
        return cls(os.fspath(store_path) + MESSAGES_SUFFIX)

    def get(self, sender: str, msg_id: str) -> MessageRecord | None:
        row = self._connection.execute(
            "SELECT kind, digest, received_ns, hub_commands, responses FROM message"
            " WHERE sender = ? AND msg_id = ?",
            (sender, msg_id),
        ).fetchone()
        if row is None:
            return None
        kind, digest, received_ns, commands, responses = row
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
        try:
            with transaction(self._connection) as connection:
                connection.execute(
                    "INSERT INTO message (sender, msg_id, kind, digest, received_ns,"
                    " hub_commands) VALUES (?, ?, ?, ?, ?, ?)",
                    (sender, msg_id, kind, digest, now, hub_commands),
                )
                connection.executemany(
                    "INSERT OR IGNORE INTO message_payment VALUES (?, ?, ?)",
                    [(f"{uetr:032x}", sender, msg_id) for uetr in uetrs],
                )
        except sqlite3.IntegrityError as error:
            raise StoreError(f"{self.path}: message {sender}/{msg_id} recorded twice") from error

    def finish(self, sender: str, msg_id: str, responses: list[tuple[str, str, bytes]]) -> None:
        """Store the responses of a begun message (before they are handed to anyone)."""
        encoded = json.dumps([[name, receiver, data.decode("utf-8")]
                              for name, receiver, data in responses])  # fmt: skip
        with transaction(self._connection) as connection:
            changed = connection.execute(
                "UPDATE message SET responses = ? WHERE sender = ? AND msg_id = ?",
                (encoded, sender, msg_id),
            ).rowcount
        if changed != 1:
            raise StoreError(f"{self.path}: message {sender}/{msg_id} was never begun")

    def messages_of(self, uetr: int) -> list[MessageRecord]:
        """The messages that named payment ``uetr``, in the order they were received."""
        rows = self._connection.execute(
            "SELECT m.sender, m.msg_id, m.kind, m.digest, m.received_ns, m.hub_commands"
            " FROM message_payment p JOIN message m USING (sender, msg_id)"
            " WHERE p.uetr = ? ORDER BY m.received_ns, m.rowid",
            (f"{uetr:032x}",),
        ).fetchall()
        return [
            MessageRecord(sender, msg_id, kind, digest, received_ns, commands, None)
            for sender, msg_id, kind, digest, received_ns, commands in rows
        ]

    def count(self) -> int:
        return int(self._connection.execute("SELECT count(*) FROM message").fetchone()[0])

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> MessageLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _decode(text: str | None) -> list[tuple[str, str, bytes]] | None:
    if text is None:
        return None
    return [(name, receiver, data.encode("utf-8")) for name, receiver, data in json.loads(text)]
