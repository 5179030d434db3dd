"""One durable SQLite file: opened in WAL mode with `synchronous=FULL`, written one
`BEGIN IMMEDIATE` transaction at a time. The ledger store, the hub's command log and the
PvP decision log all keep their rows this way.

A file whose every row can be made again from another durable log may be opened with
`synchronous=NORMAL` instead: in WAL mode a commit then survives the process dying but may
roll back (with the commits after it, never leaving a gap) if the machine loses power before
the next checkpoint. The ledger store under a `DurableHub` is such a file: the hub's command
log, fsynced before each command runs, replays whatever batches the store lost."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from samarkand.store.port import StoreError

BUSY_TIMEOUT_S = 30.0


SYNCHRONOUS = ("FULL", "NORMAL")

# The page size of a file of large rows (a mailbox's messages, a message log's answers): a
# bulk message's responses, about 1.5 MB, written as 64 KiB pages take about half the CPU
# of 4 KiB pages (fewer writes to the WAL and at the checkpoint: 4.0 against 1.6-2.2 ms,
# measured on this project's machine). A file made before keeps the size it has.
LARGE_ROWS_PAGE = 65536


def open_durable(
    path: str | os.PathLike[str],
    what: str,
    *,
    synchronous: str = "FULL",
    shared: bool = False,
    page_size: int | None = None,
) -> sqlite3.Connection:
    """A connection to `path` whose every COMMIT is fsynced (`synchronous="NORMAL"`: see the
    module docstring); `StoreError` naming `what` and the file otherwise. `shared`: used
    from more than one thread (the caller serialises the uses). `page_size`: the page size
    of the file if it is made now (SQLite's default otherwise)."""
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, got {synchronous!r}")
    name = os.fspath(path)
    try:
        connection = sqlite3.connect(
            name, isolation_level=None, timeout=BUSY_TIMEOUT_S, check_same_thread=not shared
        )
    except sqlite3.Error as error:
        raise StoreError(f"{name}: cannot open {what} ({error})") from error
    try:
        if page_size is not None:  # before WAL mode: the only moment it takes
            connection.execute(f"PRAGMA page_size={int(page_size)}")
        mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(f"{name}: SQLite refused WAL mode (got {mode!r})")
        connection.execute(f"PRAGMA synchronous={synchronous}")
    except sqlite3.DatabaseError as error:
        connection.close()
        raise StoreError(f"{name}: not {what} ({error})") from error
    except BaseException:
        connection.close()
        raise
    return connection


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: committed (and fsynced) on success, rolled back otherwise."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
