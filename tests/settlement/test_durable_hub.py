"""Command sourcing: a DurableHub reopened (after a close or a SIGKILL) is the hub it was."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from samarkand.hub.durable import COMMANDS_SUFFIX, CommandLogCorrupted, DurableHub
from samarkand.ledger.columns import FIELD_NAMES, TransferColumns
from samarkand.ledger.invariants import problems
from samarkand.settlement.payments import Status
from samarkand.sim.day import DayConfig, simulate_day
from samarkand.sim.run import run_day
from samarkand.store import DurableLedger, MemoryStore, SqliteStore, StoreCorrupted
from tests.settlement.durable_hub_writer import plan

CONFIG = DayConfig(payments=2_000, direct_banks=20, seed=3)
WRITER = Path(__file__).with_name("durable_hub_writer.py")


@pytest.fixture(scope="module")
def day():
    return simulate_day(CONFIG)


@pytest.fixture(scope="module")
def reference(day):
    """The uninterrupted in-memory run of the day (run_day itself)."""
    return run_day(day, DurableLedger.open(MemoryStore())).hub


def assert_same_hub(hub, reference) -> None:
    mine, theirs = hub.engine, reference.engine
    assert mine.entries.keys() == theirs.entries.keys()
    for uetr, entry in theirs.entries.items():
        other = mine.entries[uetr]
        assert (other.status, other.settled_ns, other.via, other.sequence) == (
            entry.status,
            entry.settled_ns,
            entry.via,
            entry.sequence,
        )
        assert other.history == entry.history
    assert {s: [[e.payment.uetr for e in q] for q in qs] for s, qs in mine.queues.items()} == {
        s: [[e.payment.uetr for e in q] for q in qs] for s, qs in theirs.queues.items()
    }
    assert mine.warehouse == theirs.warehouse and mine.deadlines == theirs.deadlines
    # The providers' commitments: what each committed and what its settled hops paid out.
    assert (mine.tier_liquidity, mine.tier_paid) == (theirs.tier_liquidity, theirs.tier_paid)
    assert hub.events == reference.events
    a, b = hub.ledger.state, reference.ledger.state
    assert a.accounts == b.accounts
    assert all(a.balance(x.id) == b.balance(x.id) for x in b.accounts)
    assert (a.batches, a.timestamp) == (b.batches, b.timestamp)
    ja, jb = a.journal.columns(), b.journal.columns()
    for name in FIELD_NAMES:
        assert getattr(ja, name).tolist() == getattr(jb, name).tolist(), name
    assert problems(a) == []


def test_a_day_closed_and_reopened_equals_an_uninterrupted_run(tmp_path, day, reference):
    store = str(tmp_path / "hub.db")
    steps = plan(day)
    half = len(steps) // 2
    with DurableHub.open(store) as hub:
        for _, step in steps[:half]:
            step(hub)
    with DurableHub.open(store) as hub:  # reopened mid-day: carries on from the log
        assert hub.commands == half
        for _, step in steps[half:]:
            step(hub)
        assert_same_hub(hub.hub, reference)
    with DurableHub.open(store) as hub:  # reopened after the day
        assert hub.commands == len(steps) and hub.replay_errors == []
        assert_same_hub(hub.hub, reference)
        # The hub and its engine now work on the real store's ledger, not the replay's.
        assert hub.hub.ledger is hub.durable_ledger
        assert hub.hub.engine.ledger is hub.durable_ledger.state
        assert isinstance(hub.durable_ledger.store, SqliteStore)


def test_a_store_behind_the_log_is_caught_up(tmp_path, day):
    """A crash after logging a command but before its batches committed: the replay
    completes it and the real store receives the missing batches."""
    store = str(tmp_path / "hub.db")
    steps = plan(day)
    with DurableHub.open(store) as hub:
        for _, step in steps[:40]:
            step(hub)
        batches = hub.hub.ledger.state.batches
    # Log the next command by hand, as if the process died before it ran.
    with DurableHub.open(store) as hub:
        hub._log.append({"op": "tick", "now": str(day.start_ns + 10**15)})
        hub._log.append(
            {
                "op": "liquidity",
                "now": str(day.start_ns + 10**15),
                "transfers": [[day.directory.direct()[0].bic, day.currencies[0], "1000", True]],
            }
        )
    with DurableHub.open(store) as hub:
        assert hub.hub.ledger.state.batches == batches + 1
        assert SqliteStore(store).load().batch_count == batches + 1


def test_a_bad_log_row_is_reported_with_its_sequence(tmp_path, day):
    store = str(tmp_path / "hub.db")
    with DurableHub.open(store) as hub:
        for _, step in plan(day)[:5]:
            step(hub)
    with sqlite3.connect(store + COMMANDS_SUFFIX) as connection:
        connection.execute("UPDATE hub_commands SET body = ? WHERE sequence = 3", ('{"op":"x"}',))
    with pytest.raises(CommandLogCorrupted, match="hub command 3"):
        DurableHub.open(store)
    with sqlite3.connect(store + COMMANDS_SUFFIX) as connection:
        connection.execute(
            "UPDATE hub_commands SET body = ? WHERE sequence = 3",
            ('{"op":"tick","now":12}',),  # an integer not written as a string
        )
    with pytest.raises(CommandLogCorrupted, match="hub command 3"):
        DurableHub.open(store)


def test_a_store_that_differs_from_the_replay_is_corrupted(tmp_path, day):
    store = str(tmp_path / "hub.db")
    with DurableHub.open(store) as hub:
        for _, step in plan(day)[:5]:
            step(hub)
    with sqlite3.connect(store) as connection:  # the first transfer's amount, one unit more
        batch, count, blob = connection.execute(
            "SELECT batch, transfers, columns FROM transfer_columns ORDER BY batch LIMIT 1"
        ).fetchone()
        columns = TransferColumns.build(**TransferColumns.unpacked(blob, count))
        columns.amount[0] += 1
        connection.execute(
            "UPDATE transfer_columns SET columns = ? WHERE batch = ?", (columns.packed(), batch)
        )
    with pytest.raises(StoreCorrupted, match="does not match"):
        DurableHub.open(store)


def test_a_writer_killed_at_random_loses_no_acknowledged_payment(tmp_path, day, reference):
    store, acks = str(tmp_path / "hub.db"), tmp_path / "acks"
    args = [sys.executable, str(WRITER), store, str(acks), "2000", "20", "3"]
    rng = random.Random(20261128)
    targets = sorted(rng.sample(range(50, 1_800), 4))  # acknowledged payments before a kill
    kills = 0
    for target in targets:
        writer = subprocess.Popen(args, cwd=WRITER.parents[2])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and writer.poll() is None:
            if acks.exists() and acks.read_text().count("\n") >= target:
                break
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.02))  # land anywhere inside a command
        if writer.poll() is None:
            os.kill(writer.pid, signal.SIGKILL)
            kills += 1
        writer.wait()
        # Every round's reopen sees every acknowledged payment.
        check_acknowledged(store, acks)
    assert kills >= 3
    finished = subprocess.run(args, cwd=WRITER.parents[2], timeout=60)
    assert finished.returncode == 0
    with DurableHub.open(store) as hub:
        check_acknowledged(store, acks, hub)
        assert_same_hub(hub.hub, reference)


def check_acknowledged(store: str, acks: Path, hub: DurableHub | None = None) -> None:
    own = hub is None
    hub = hub or DurableHub.open(store)
    try:
        engine = hub.hub.engine
        lines = acks.read_text().splitlines() if acks.exists() else []
        acknowledged = dict(line.split() for line in lines)
        assert len(acknowledged) == len(lines)  # never acknowledged twice
        refused = {e.uetr for e in hub.hub.events if e.status is Status.REJECTED}
        for uetr, outcome in acknowledged.items():
            if outcome == "ok":
                assert int(uetr) in engine.entries, uetr
            else:
                assert int(uetr) in refused, uetr
        settled = Counter(e.uetr for e in hub.hub.events if e.status is Status.SETTLED)
        assert not settled or max(settled.values()) == 1
        for entry in engine.entries.values():
            assert sum(e.status is Status.SETTLED for e in entry.history) <= 1
        assert problems(hub.hub.ledger.state) == []
    finally:
        if own:
            hub.close()
