"""One writer per hub: the lock a process holds while it may write a hub's store and logs.

Two processes writing one hub (two `samarkand serve` on the same `--db`, or `samarkand
submit` beside a running service) would each decide payments against their own copy of the
hub in memory, and both would take the same sequence numbers in its command log. So a writer
takes the hub's lock first and keeps it until it closes; a second writer is refused at once.

- SQLite: an exclusive `flock` on `<db>.lock` (released by the kernel when the process
  ends, however it ends).
- PostgreSQL: a session advisory lock on a connection of its own, keyed by the schema
  (released when that connection ends).

A child forked by the holder (the hub's background snapshot) does not hold it: the
descriptor that holds it (the lock file's, or the lock session's socket) is closed in the
child at once, so that a child outliving its parent (killed alone) never keeps another
writer out. A server restart ends it too: `check` then takes it
  again on a new connection (and fails if another process took it meanwhile). The service
  runs it every few seconds, and before the hub's command log first writes on a new
  connection (`DurableHub.guard_writes`), so no command is logged after a restart until
  the lock is held again.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from typing import Any

from samarkand.store.factory import POSTGRES_PREFIXES
from samarkand.store.port import StoreError

LOCK_SUFFIX = ".lock"
_KEY_TEXT = "samarkand hub %s"  # hashed to the advisory lock's key, per schema


class HubInUse(StoreError):
    """Another process holds the hub's writer lock."""


class WriterLock:
    """Held from construction until `release` (or the end of the process); never by a
    child the holder forks."""

    def __init__(self, db: str, *, schema: str) -> None:
        self._fd: int | None = None
        self._connection: Any = None  # the PostgreSQL session that holds it; None: lost
        self._dsn: str | None = None  # PostgreSQL's: where to take it again
        self._schema = schema
        if db.startswith(POSTGRES_PREFIXES):
            self._lock_postgres(db, schema)
        else:
            self._lock_file(db + LOCK_SUFFIX, db)
        _HELD.add(self)

    def _let_go_in_child(self) -> None:
        """In a forked child: close this process's copy of what holds the lock, without a
        word to the server (the parent's session goes on), so the child holds nothing."""
        descriptors = [self._fd]
        if self._connection is not None:
            with contextlib.suppress(Exception):
                descriptors.append(self._connection.fileno())
        for descriptor in descriptors:
            if descriptor is not None:
                with contextlib.suppress(OSError):
                    os.close(descriptor)
        if self._connection is not None:
            # Never finalised here: closing it would say goodbye on a descriptor this process
            # no longer has (a forked child leaves by `os._exit`, finalising nothing).
            _KEPT_IN_CHILD.append(self._connection)
        self._fd = None
        self._connection = None
        self._dsn = None

    def _lock_file(self, path: str, db: str) -> None:
        import fcntl

        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            reason = error.strerror
            raise StoreError(f"{db}: cannot take the hub's lock {path} ({reason})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise HubInUse(
                f"{db}: another process has this hub open for writing (a `samarkand serve`?)"
            ) from None
        self._fd = fd

    def _lock_postgres(self, dsn: str, schema: str) -> None:
        from samarkand.store.postgres import connect

        self._dsn = dsn
        connection = connect(dsn, "the hub's writer lock")
        taken = connection.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s))", (_KEY_TEXT % schema,)
        ).fetchone()
        if not (taken and taken[0]):
            connection.close()
            raise HubInUse(
                f"PostgreSQL schema {schema}: another process has this hub open for writing "
                "(a `samarkand serve`?)"
            )
        self._connection = connection

    def check(self) -> None:
        """Still held? On PostgreSQL, a connection that broke (a server restart) is made
        anew and the lock taken again: `HubInUse` if another process has it now,
        `StoreError` if the server cannot be reached."""
        if self._dsn is None:
            return  # a file lock: held until the process lets go
        import psycopg

        if self._connection is not None:
            try:
                self._connection.execute("SELECT 1")
                return
            except psycopg.Error as error:
                if not self._connection.broken:
                    raise StoreError(f"the hub's writer lock ({type(error).__name__})") from error
            self._connection.close()
            self._connection = None
        self._lock_postgres(self._dsn, self._schema)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor lets go of the flock
            self._fd = None
        if self._connection is not None:
            # Unlocked before the connection closes: the server ends a closed session a
            # moment later, and a writer starting at once would still find the lock taken.
            with contextlib.suppress(Exception):  # a broken connection holds no lock
                self._connection.execute(
                    "SELECT pg_advisory_unlock(hashtext(%s))", (_KEY_TEXT % self._schema,)
                )
            self._connection.close()
            self._connection = None
        self._dsn = None  # released: not to be taken again


_HELD: weakref.WeakSet[WriterLock] = weakref.WeakSet()
_KEPT_IN_CHILD: list[Any] = []


def _after_fork_in_child() -> None:
    for lock in list(_HELD):
        lock._let_go_in_child()
    _HELD.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
