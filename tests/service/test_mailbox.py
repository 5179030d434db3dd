"""The mailbox's write after a failure: a transaction whose answer was lost (committed, then
the connection broke) is not written twice; one that failed is written by the next call."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from samarkand.service import mailbox as mailbox_module
from samarkand.service.mailbox import Mailbox
from samarkand.store import StoreError


def _messages(*bodies: bytes) -> list[tuple[str, str, bytes, int]]:
    return [("SMAACN22", "status", body, 1) for body in bodies]


def _bodies(mailbox: Mailbox) -> list[bytes]:
    found, _, _ = mailbox.read("SMAACN22", 0, 100)
    return [m.body for m in found]


@contextmanager
def _failing(monkeypatch, *, after_commit: bool):
    """The next mailbox transaction fails: before it commits, or once it has committed (its
    answer lost, as when the connection breaks during COMMIT)."""
    real = mailbox_module._Sqlite.transaction

    @contextmanager
    def transaction(self):
        if not after_commit:
            raise StoreError("disk I/O error")
        with real(self) as run:
            yield run
        raise StoreError("connection lost during COMMIT")

    monkeypatch.setattr(mailbox_module._Sqlite, "transaction", transaction)
    yield
    monkeypatch.setattr(mailbox_module._Sqlite, "transaction", real)


@pytest.mark.parametrize("after_commit", [False, True], ids=["not-committed", "committed"])
def test_a_failed_publish_is_written_once_by_the_next(tmp_path, monkeypatch, after_commit):
    mailbox = Mailbox(tmp_path / "hub.db.mailbox")
    try:
        mailbox.publish(_messages(b"1"), events_published=1)
        with _failing(monkeypatch, after_commit=after_commit):
            with pytest.raises(StoreError):
                mailbox.publish(_messages(b"2", b"3"), events_published=3)
        # The engine's writer sends the failed call's messages again first, then new ones.
        appended = mailbox.publish(_messages(b"2", b"3", b"4"), events_published=4)
        assert appended == (1 if after_commit else 3)
        assert _bodies(mailbox) == [b"1", b"2", b"3", b"4"]
        found, last, _ = mailbox.read("SMAACN22", 0, 100)
        assert [m.sequence for m in found] == [1, 2, 3, 4] and last == 4
        assert mailbox.events_published == 4
    finally:
        mailbox.close()
    reopened = Mailbox(tmp_path / "hub.db.mailbox")
    try:
        assert _bodies(reopened) == [b"1", b"2", b"3", b"4"]
        assert reopened.events_published == 4
    finally:
        reopened.close()


def test_a_read_stops_at_its_byte_budget_but_returns_at_least_one_message(tmp_path, monkeypatch):
    monkeypatch.setattr(mailbox_module, "READ_BYTES_MAX", 1_000)
    mailbox = Mailbox(tmp_path / "hub.db.mailbox")
    try:
        mailbox.publish(_messages(b"a" * 400, b"b" * 400, b"c" * 400, b"d" * 1_500, b"e"),
                        events_published=5)  # fmt: skip
        first, last, _ = mailbox.read("SMAACN22", 0, 100)
        assert [m.sequence for m in first] == [1, 2] and last == 5  # 800 bytes; 1,200 > 1,000
        second, _, _ = mailbox.read("SMAACN22", 2, 100)
        assert [m.sequence for m in second] == [3]  # 400, then 1,900 would be over
        third, _, _ = mailbox.read("SMAACN22", 3, 100)
        assert [m.sequence for m in third] == [4]  # larger than the budget alone: still read
        fourth, _, _ = mailbox.read("SMAACN22", 4, 1)
        assert [m.body for m in fourth] == [b"e"]
        assert mailbox.read("SMAACN22", 5, 100)[0] == []
    finally:
        mailbox.close()


def test_failures_one_after_another_write_each_message_once(tmp_path, monkeypatch):
    """A commit whose answer was lost, then a failure before the next commit, then success:
    the engine's writer sends the whole backlog each time; each message is written once."""
    mailbox = Mailbox(tmp_path / "hub.db.mailbox")
    try:
        with _failing(monkeypatch, after_commit=True):
            with pytest.raises(StoreError):
                mailbox.publish(_messages(b"1", b"2"), events_published=2)
        with _failing(monkeypatch, after_commit=False):
            with pytest.raises(StoreError):
                mailbox.publish(_messages(b"1", b"2", b"3"), events_published=3)
        with _failing(monkeypatch, after_commit=True):
            with pytest.raises(StoreError):
                mailbox.publish(_messages(b"1", b"2", b"3", b"4"), events_published=4)
        assert mailbox.publish(_messages(b"1", b"2", b"3", b"4", b"5"), events_published=5) == 1
        assert _bodies(mailbox) == [b"1", b"2", b"3", b"4", b"5"]
        assert mailbox.events_published == 5
    finally:
        mailbox.close()


def test_a_new_mailbox_has_large_pages_and_one_made_before_keeps_its_own(tmp_path):
    import sqlite3

    from samarkand.store.sqlite_file import LARGE_ROWS_PAGE

    def page_size(path) -> int:
        with sqlite3.connect(path) as connection:
            return connection.execute("PRAGMA page_size").fetchone()[0]

    made_now = tmp_path / "new.db"
    Mailbox(made_now).close()
    assert page_size(made_now) == LARGE_ROWS_PAGE

    before = tmp_path / "before.db"
    with sqlite3.connect(before) as connection:  # a file of SQLite's default pages
        connection.execute("CREATE TABLE other (x)")
    mailbox = Mailbox(before)
    mailbox.publish(_messages(b"x" * 100_000, b"y"), events_published=2)
    assert _bodies(mailbox) == [b"x" * 100_000, b"y"]
    mailbox.close()
    assert page_size(before) == 4096
