"""The message log on either database: what `begin` and `finish` record is what `get` and
`messages_of` give back, also after a reopen; misuse is a StoreError naming the message."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from samarkand.hub.message_log import MessageLog
from samarkand.store.port import StoreError
from tests.iso20022.conftest import HubStore

# Markup with what a client-side bound statement must carry through unchanged.
RESPONSE = "<Document>Ω ' \" ? %s %% \\ ;</Document>".encode()


def test_a_message_is_recorded_finished_and_found_again(hub_store: HubStore) -> None:
    with hub_store.messages() as log:
        assert log.get("BKCHCNBJ", "M-1") is None
        log.begin("BKCHCNBJ", "M-1", "pacs.008.001.08", "d1", 10, 4, uetrs=[7, 8, 7])
        log.begin("SABRRUMM", "M-2", "pacs.004.001.09", "d2", 11, None, uetrs=[8])
        log.begin("BKCHCNBJ", "M-3", "camt.050.001.07", "d3", 9)
        begun = log.get("BKCHCNBJ", "M-1")
        assert begun is not None and begun.responses is None and begun.hub_commands == 4
        log.finish("BKCHCNBJ", "M-1", [("a.pacs.002.xml", "BKCHCNBJ", RESPONSE)])
    with hub_store.messages() as reopened:
        record = reopened.get("BKCHCNBJ", "M-1")
        assert record is not None
        assert (record.kind, record.digest, record.received_ns) == ("pacs.008.001.08", "d1", 10)
        assert record.responses == [("a.pacs.002.xml", "BKCHCNBJ", RESPONSE)]
        assert reopened.get("SABRRUMM", "M-2").hub_commands is None  # type: ignore[union-attr]
        assert reopened.count() == 3
        # By receipt, then by the order begun; a UETR named twice is one link.
        assert [r.msg_id for r in reopened.messages_of(8)] == ["M-1", "M-2"]
        assert [r.msg_id for r in reopened.messages_of(7)] == ["M-1"]
        assert reopened.messages_of(9) == []


def test_transactions_awaiting_a_status_update_are_kept_with_the_record(
    hub_store: HubStore,
) -> None:
    """Written with a message's record (a second time changes nothing), deleted once told,
    read back by a new connection."""
    waiting = ("BKCHCNBJ", "M-1", "pacs.008.001.08", "", "E2E-1")
    big = 2**128 - 1
    with hub_store.messages() as log:
        log.begin("BKCHCNBJ", "M-1", "pacs.008.001.08", "d", 1, 2, uetrs=[5, big])
        log.finish_all([("BKCHCNBJ", "M-1", [("a.pacs.002.xml", "BKCHCNBJ", b"<a/>")])],
                       [(5, waiting), (big, waiting)])  # fmt: skip
        log.finish_all([], [(5, waiting)], told=[big])
    with hub_store.messages() as log:
        assert log.awaiting() == {5: waiting}
        assert log.get("BKCHCNBJ", "M-1").responses == [("a.pacs.002.xml", "BKCHCNBJ", b"<a/>")]


def test_the_same_message_begun_twice_or_finished_unbegun_is_refused(hub_store: HubStore) -> None:
    with hub_store.messages() as log:
        log.begin("BKCHCNBJ", "M-1", "pacs.008.001.08", "d1", 10, uetrs=[1])
        with pytest.raises(StoreError, match="BKCHCNBJ/M-1 recorded twice"):
            log.begin("BKCHCNBJ", "M-1", "pacs.008.001.08", "other", 11, uetrs=[2])
        with pytest.raises(StoreError, match="SABRRUMM/M-1 was never begun"):
            log.finish("SABRRUMM", "M-1", [])
        # The refused begin left nothing behind: not its message, not its payment.
        assert log.get("BKCHCNBJ", "M-1").digest == "d1"  # type: ignore[union-attr]
        assert log.messages_of(2) == [] and log.count() == 1


@pytest.mark.postgres
def test_each_call_is_one_round_trip_on_postgresql(pg_store: HubStore, tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    with pg_store.messages() as log:
        connection = log._db.server.connection  # type: ignore[union-attr]
        calls = {
            "begin": lambda: log.begin("A", "M-1", "pacs.008.001.08", "d", 1, 2, uetrs=[1, 2]),
            "get": lambda: log.get("A", "M-1"),
            "finish": lambda: log.finish("A", "M-1", [("n", "A", RESPONSE)]),
            "messages_of": lambda: log.messages_of(1),
            "count": lambda: log.count(),
        }
        trips = {}
        for name, call in calls.items():
            with open(trace, "w") as handle:
                connection.pgconn.trace(handle.fileno())
                call()
                connection.pgconn.untrace()
            trips[name] = trace.read_text().count("ReadyForQuery")
    assert trips == dict.fromkeys(calls, 1)


def test_a_postgresql_log_that_cannot_connect_does_not_show_the_password() -> None:
    with pytest.raises(StoreError) as refused:
        MessageLog("postgresql://hub:s3cret-word@127.0.0.1:1/test?connect_timeout=2")
    assert "message log" in str(refused.value) and "s3cret-word" not in str(refused.value)


def test_a_log_that_keeps_some_kinds_records_only_those(tmp_path: Path) -> None:
    responses = [
        ("SMK1-002.pacs.002.xml", "BKCHCNBJ", b"<a/>"),
        ("SMK1-054-1.camt.054.xml", "BKCHCNBJ", b"<b/>"),
        ("SMK1-054-2.camt.054.xml", "SABRRUMM", b"<c/>"),
    ]
    with MessageLog(tmp_path / "kept.messages", keep=("pacs.002", "camt.029")) as log:
        log.begin("BKCHCNBJ", "M-1", "pacs.008.001.08", "d1", 10)
        log.finish("BKCHCNBJ", "M-1", responses)
        assert log.get("BKCHCNBJ", "M-1").responses == responses[:1]  # type: ignore[union-attr]
    with MessageLog(tmp_path / "all.messages") as log:
        log.begin("BKCHCNBJ", "M-1", "pacs.008.001.08", "d1", 10)
        log.finish("BKCHCNBJ", "M-1", responses)
        assert log.get("BKCHCNBJ", "M-1").responses == responses  # type: ignore[union-attr]


def test_a_uetr_is_found_only_on_its_own_boundaries(hub_store: HubStore) -> None:
    """The UETRs a message names are one value, searched as bytes: 16 bytes that straddle
    two UETRs are not one of them."""
    first = int.from_bytes(b"\x00" * 8 + b"\xaa" * 8, "big")
    second = int.from_bytes(b"\xbb" * 8 + b"\x00" * 8, "big")
    straddling = int.from_bytes(b"\xaa" * 8 + b"\xbb" * 8, "big")
    with hub_store.messages() as log:
        log.begin("BKCHCNBJ", "M-1", "pacs.008.001.08", "d1", 10, uetrs=[first, second])
        assert log.messages_of(straddling) == []
        assert [r.msg_id for r in log.messages_of(second)] == ["M-1"]
        # Named later on its own boundary, by another message: found there only.
        log.begin("SABRRUMM", "M-2", "camt.056.001.08", "d2", 11, uetrs=[second, straddling])
        assert [r.msg_id for r in log.messages_of(straddling)] == ["M-2"]
        assert [r.msg_id for r in log.messages_of(second)] == ["M-1", "M-2"]


def test_a_log_written_with_a_link_table_is_read_and_carries_on(tmp_path: Path) -> None:
    """A log written before the UETRs were kept in the message's row: its links are still
    found, and messages begun now are found beside them."""
    path = tmp_path / "old.messages"
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE message (sender TEXT NOT NULL, msg_id TEXT NOT NULL, kind TEXT NOT"
            " NULL, digest TEXT NOT NULL, received_ns INTEGER NOT NULL, hub_commands INTEGER,"
            " responses TEXT, PRIMARY KEY (sender, msg_id)) STRICT;"
            "CREATE TABLE message_payment (uetr TEXT NOT NULL, sender TEXT NOT NULL, msg_id"
            " TEXT NOT NULL, PRIMARY KEY (uetr, sender, msg_id)) STRICT;"
            "INSERT INTO message VALUES ('BKCHCNBJ', 'OLD-1', 'pacs.008.001.08', 'd', 5, 1,"
            " NULL);"
            f"INSERT INTO message_payment VALUES ('{7:032x}', 'BKCHCNBJ', 'OLD-1');"
        )
    with MessageLog(path) as log:
        log.begin("BKCHCNBJ", "NEW-1", "camt.056.001.08", "d2", 9, uetrs=[7])
        assert [r.msg_id for r in log.messages_of(7)] == ["OLD-1", "NEW-1"]
        assert log.get("BKCHCNBJ", "OLD-1").kind == "pacs.008.001.08"  # type: ignore[union-attr]
