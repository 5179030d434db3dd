"""The running service writes the hub's snapshot in the background (a forked child), so a
crash replays only what came after it; the hub goes on meanwhile."""

from __future__ import annotations

import os
import signal

import pytest

from samarkand.hub import snapshot
from samarkand.hub.durable import SNAPSHOT_SUFFIX, DurableHub
from tests.service.conftest import DEBTOR, served, wait_until

OPERATOR = "OPERATOR"
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def test_a_background_snapshot_is_written_while_the_hub_goes_on(tmp_path):
    db = str(tmp_path / "hub.db")
    path = tmp_path / f"hub.db{SNAPSHOT_SUFFIX}"
    with served(db) as (service, api):
        engine = service.engine
        assert not path.exists()
        engine.snapshot_rows, engine.snapshot_interval_ns = 1, 0
        payment, answer = api.pay()
        assert answer.json()["status"] == "ACSC"
        wait_until(lambda: engine.stats.snapshots >= 1, "no snapshot was written")
        header = snapshot.header_of(path.read_bytes())
        assert header is not None and header.log_length >= 1
        status = api.request("GET", "/v1/operator/status", OPERATOR).json()["engine"]
        assert status["snapshots"] >= 1
        engine.snapshot_rows = 10**9  # no more: the next ones are the service's to take
        later, answer = api.pay()  # after the snapshot: an open replays it from the log
        assert answer.json()["status"] == "ACSC"
        with DurableHub.open(db, read_only=True) as looked_at:  # as `samarkand track` does
            assert looked_at.restored_from == header.log_length
            entries = looked_at.hub.engine.entries
            assert {payment["uetr"], later["uetr"]} <= {str(u) for u in map(_uuid, entries)}
        assert api.request("GET", f"/v1/payments/{later['uetr']}", DEBTOR).status_code == 200
        children = engine._snapshot_child
        assert children is None  # reaped: no zombie left behind


def _uuid(number: int):
    import uuid

    return uuid.UUID(int=number)


def test_a_failed_background_snapshot_is_counted_as_not_written(tmp_path, monkeypatch):
    db = str(tmp_path / "hub.db")
    with served(db) as (service, api):
        engine = service.engine
        durable = engine.durable
        covers = durable._log.snapshot_covers

        started = []

        def killed_child():
            pid = os.fork()
            if pid == 0:
                os.kill(os.getpid(), signal.SIGKILL)
            started.append(pid)
            return pid, durable._log.length

        monkeypatch.setattr(durable, "snapshot_in_background", killed_child)
        engine.snapshot_rows, engine.snapshot_interval_ns = 1, 0
        assert api.pay()[1].json()["status"] == "ACSC"
        # The first child is reaped, found killed, and another is tried.
        wait_until(lambda: len(started) >= 2, "the killed child was never reaped")
        engine.snapshot_rows = 10**9
        assert engine.stats.snapshots == 0
        assert durable._log.snapshot_covers == covers  # nothing taken as covered


def test_the_next_background_snapshot_waits_for_a_quarter_of_the_log_more(tmp_path):
    with served(str(tmp_path / "hub.db")) as (service, api):
        engine = service.engine
        durable = engine.durable
        engine.snapshot_interval_ns = 0
        for _ in range(40):  # a command each, before any snapshot
            assert api.pay()[1].json()["status"] == "ACSC"
        engine.snapshot_rows = 1
        assert api.pay()[1].json()["status"] == "ACSC"
        wait_until(lambda: engine.stats.snapshots == 1, "no first snapshot")
        covered = durable.snapshot_covers
        assert covered > 40
        while durable.unsnapshotted_rows < covered // 4 - 1:
            assert api.pay()[1].json()["status"] == "ACSC"
        assert engine.stats.snapshots == 1 and engine._snapshot_child is None  # not yet
        while durable.unsnapshotted_rows < covered // 4:
            assert api.pay()[1].json()["status"] == "ACSC"
        assert api.pay()[1].json()["status"] == "ACSC"  # a round that finds it due
        wait_until(lambda: engine.stats.snapshots == 2, "no snapshot once due")
        assert durable.snapshot_covers >= covered + covered // 4
