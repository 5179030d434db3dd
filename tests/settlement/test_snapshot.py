"""Snapshots: a hub reopened from its snapshot is the hub a full replay makes, and a snapshot
that does not fit its log, its store or its code (or names anything else) is not used."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from samarkand.hub import snapshot
from samarkand.hub.durable import SNAPSHOT_SUFFIX, DurableHub
from samarkand.sim.day import simulate_day
from samarkand.store import StoreCorrupted
from tests.settlement.durable_hub_writer import plan
from tests.settlement.test_durable_hub import CONFIG, assert_same_hub


@pytest.fixture(scope="module")
def steps():
    return plan(simulate_day(CONFIG))


def _run(store: str, steps, *, snapshots: bool = True) -> int:
    """Run `steps` on the hub of `store`; the log's length after them."""
    hub = DurableHub.open(store, snapshots=snapshots)
    hub.snapshots = snapshots
    with hub:
        for _, step in steps:
            step(hub)
        return hub._log.length


def _header(store: str) -> dict:
    return json.loads(Path(store + SNAPSHOT_SUFFIX).read_bytes().partition(b"\n")[0])


def _rewrite_header(store: str, **fields) -> None:
    path = Path(store + SNAPSHOT_SUFFIX)
    _, _, body = path.read_bytes().partition(b"\n")
    path.write_bytes(json.dumps({**_header(store), **fields}).encode() + b"\n" + body)


def test_a_hub_reopened_from_its_snapshot_is_the_hub_a_full_replay_makes(tmp_path, steps):
    store = str(tmp_path / "hub.db")
    half = len(steps) // 2
    rows = _run(store, steps[:half])
    assert _header(store)["log_length"] == rows  # written on close
    with DurableHub.open(store) as hub:
        assert hub.restored_from == rows and hub.replay_errors == []
        for _, step in steps[half:]:  # carries on from the snapshot's state
            step(hub)
        rows = hub._log.length
    with (
        DurableHub.open(store) as from_snapshot,
        DurableHub.open(store, snapshots=False) as replayed,
    ):
        replayed.snapshots = False
        assert from_snapshot.restored_from == rows and replayed.restored_from == 0
        assert from_snapshot.commands == replayed.commands
        assert_same_hub(from_snapshot.hub, replayed.hub)
        assert from_snapshot.hub.ledger is from_snapshot.durable_ledger  # the real store's
        assert from_snapshot.audit() == replayed.audit()
    reference = str(tmp_path / "reference.db")
    _run(reference, steps, snapshots=False)
    assert not Path(reference + SNAPSHOT_SUFFIX).exists()
    with DurableHub.open(store) as hub, DurableHub.open(reference, snapshots=False) as ref:
        ref.snapshots = False
        assert_same_hub(hub.hub, ref.hub)


def test_the_rows_after_a_snapshot_are_replayed_and_a_lost_store_tail_caught_up(tmp_path, steps):
    store = str(tmp_path / "hub.db")
    half = len(steps) // 2
    _run(store, steps[:half])
    covered = _header(store)["log_length"]
    saved = Path(store + SNAPSHOT_SUFFIX).read_bytes()
    db = Path(store)
    before = db.read_bytes()
    _run(store, steps[half:])
    Path(store + SNAPSHOT_SUFFIX).write_bytes(saved)  # the older snapshot
    db.write_bytes(before)  # and the store as it was then: every later batch lost
    with DurableHub.open(store) as hub:
        assert hub.restored_from == covered and hub.caught_up > 0
        reference = str(tmp_path / "reference.db")
        _run(reference, steps, snapshots=False)
        with DurableHub.open(reference, snapshots=False) as ref:
            ref.snapshots = False
            assert_same_hub(hub.hub, ref.hub)


@pytest.mark.parametrize(
    "fields",
    [{"log_digest": "0" * 64}, {"code": "another version"}, {"format": 2}, {"batches": 10**6}],
)
def test_a_snapshot_that_does_not_fit_its_log_code_or_store_is_not_used(tmp_path, steps, fields):
    store = str(tmp_path / "hub.db")
    _run(store, steps[:30])
    _rewrite_header(store, **fields)
    with DurableHub.open(store) as hub:
        assert hub.restored_from == 0  # replayed in full
        hub.snapshots = False
        rows = hub._log.length
    with DurableHub.open(store) as again:  # a full replay made a new one on close
        assert again.restored_from == 0
    with DurableHub.open(store) as last:
        assert last.restored_from == rows


def test_a_snapshot_that_names_anything_else_is_never_called(tmp_path, steps):
    store = str(tmp_path / "hub.db")
    _run(store, steps[:30])
    marker = tmp_path / "called"

    class Hostile:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = Path(store + SNAPSHOT_SUFFIX)
    head, _, _ = path.read_bytes().partition(b"\n")
    path.write_bytes(head + b"\n" + pickle.dumps(Hostile()))
    with pytest.raises(snapshot.SnapshotUnusable, match="posix.system|os.system"):
        snapshot.loads(path.read_bytes(), None)
    with DurableHub.open(store) as hub:
        assert hub.restored_from == 0 and hub.commands > 0
    assert not marker.exists()
    path.write_bytes(head + b"\nnot a pickle")
    with pytest.raises(snapshot.SnapshotUnusable):
        snapshot.loads(path.read_bytes(), None)


def test_a_store_changed_under_a_snapshot_is_corrupted(tmp_path, steps):
    import sqlite3

    store = str(tmp_path / "hub.db")
    _run(store, steps[:60])
    with sqlite3.connect(store) as connection:  # a balance-neutral change: two accounts swap
        rows = connection.execute("SELECT rowid FROM accounts ORDER BY rowid LIMIT 1").fetchall()
        assert rows
        connection.execute("UPDATE accounts SET flags = flags + 1 WHERE rowid = ?", rows[0])
    with pytest.raises(StoreCorrupted):
        DurableHub.open(store)


def test_a_read_only_open_uses_a_snapshot_and_writes_none(tmp_path, steps):
    store = str(tmp_path / "hub.db")
    rows = _run(store, steps[:40])
    stamp = Path(store + SNAPSHOT_SUFFIX).stat().st_mtime_ns
    with DurableHub.open(store, read_only=True) as hub:
        assert hub.restored_from == rows
        assert hub.save_snapshot() is False
    assert Path(store + SNAPSHOT_SUFFIX).stat().st_mtime_ns == stamp


def test_a_snapshot_left_half_written_by_a_dead_writer_is_removed(tmp_path, steps):
    store = str(tmp_path / "hub.db")
    dead = tmp_path / f"hub.db{SNAPSHOT_SUFFIX}.999999999.new"  # no such process
    mine = tmp_path / f"hub.db{SNAPSHOT_SUFFIX}.{os.getpid()}.other.new"  # not a pid: kept
    dead.write_bytes(b"half a snapshot")
    mine.write_bytes(b"something else")
    _run(store, steps[:30])
    assert not dead.exists() and mine.exists()
    with DurableHub.open(store) as hub:
        assert hub.restored_from > 0
