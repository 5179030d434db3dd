"""The command log: its encoding of submitted payments, and what it lets the store skip.

A submit is logged as nine columns (integers as decimal strings). Logs written before that
hold one row of nine fields per payment; they must still replay to the same hub. Only the log
is fsynced per command: the SQLite ledger store under the hub commits with
`synchronous=NORMAL`, and batches it loses at its end (as a power loss may take them) are
replayed from the log.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samarkand.hub.durable import (
    COMMANDS_SUFFIX,
    WINDOW_FIRST_PROBLEM,
    CommandLogCorrupted,
    DurableHub,
    _encode_payments,
    _Reader,
)
from samarkand.settlement.payments import Method, Payment, Priority
from samarkand.sim.day import simulate_day
from samarkand.store import SqliteStore
from samarkand.store.sqlite_file import open_durable
from tests.settlement.durable_hub_writer import plan
from tests.settlement.test_durable_hub import CONFIG, assert_same_hub

U128 = 2**128 - 1

payments_strategy = st.lists(
    st.builds(
        Payment,
        uetr=st.integers(0, U128),
        debtor_agent=st.text(max_size=11),
        creditor_agent=st.text(max_size=11),
        amount=st.integers(-(2**130), 2**130),
        currency=st.text(max_size=3),
        priority=st.sampled_from(list(Priority) + [0, 1]),
        method=st.sampled_from(list(Method) + [m.value for m in Method]),
        earliest_ns=st.integers(-5, 2**64),
        latest_ns=st.integers(-5, 2**64),
    ),
    max_size=30,
)


def old_rows(columns: list[list[Any]]) -> list[list[Any]]:
    """The columns as the rows a log held before columns: one list of nine per payment."""
    return [list(row) for row in zip(*columns, strict=True)]


@settings(max_examples=200, deadline=None)
@given(payments_strategy)
def test_columns_and_old_rows_decode_to_what_the_live_run_takes(payments) -> None:
    columns, live = _encode_payments(payments)
    assert all(type(p.priority) is Priority and type(p.method) is Method for p in live)
    assert live == [
        Payment(
            p.uetr,
            p.debtor_agent,
            p.creditor_agent,
            p.amount,
            p.currency,
            Priority(p.priority),
            Method(p.method),
            p.earliest_ns,
            p.latest_ns,
        )
        for p in payments
    ]
    new = json.loads(json.dumps({"op": "submit", "columns": columns, "now": "5"}))
    old = json.loads(json.dumps({"op": "submit", "payments": old_rows(columns), "now": "5"}))
    assert _Reader(1, new).payments() == live
    assert _Reader(1, old).payments() == live


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (0, "12 ", "not an encoded integer"),
        (0, "1,2", "not an encoded integer"),
        (3, 7, "not an encoded integer"),
        (3, "١٢", "not an encoded integer"),  # digits int() would take, the format does not
        (1, None, "not a string"),
        (5, "9", "priority or method"),
        (6, "XYZ", "priority or method"),
    ],
)
def test_a_bad_value_in_a_column_is_corruption(column: int, value: Any, message: str) -> None:
    columns, _ = _encode_payments([Payment(1, "A", "B", 5, "CNY"), Payment(2, "B", "A", 6, "CNY")])
    columns[column][1] = value
    with pytest.raises(CommandLogCorrupted, match=f"hub command 4: .*{message}"):
        _Reader(4, {"op": "submit", "columns": columns, "now": "1"}).payments()


def test_columns_of_different_lengths_are_corruption() -> None:
    columns, _ = _encode_payments([Payment(1, "A", "B", 5, "CNY")])
    columns[8].append("0")
    with pytest.raises(CommandLogCorrupted, match="a column has 2 values, expected 1"):
        _Reader(4, {"op": "submit", "columns": columns, "now": "1"}).payments()
    with pytest.raises(CommandLogCorrupted, match="9 fields, got 8"):
        _Reader(4, {"op": "submit", "columns": columns[:8], "now": "1"}).payments()


def test_a_non_int_amount_is_refused_before_it_is_logged(tmp_path) -> None:
    with pytest.raises(TypeError, match="amount"):
        _encode_payments([Payment(1, "A", "B", 5.0, "CNY")])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="uetr"):
        _encode_payments([Payment(True, "A", "B", 5, "CNY")])


def test_a_log_written_with_payment_rows_replays_to_the_same_hub(tmp_path) -> None:
    day = simulate_day(CONFIG)
    steps = plan(day)
    new, old = str(tmp_path / "new.db"), str(tmp_path / "old.db")
    with DurableHub.open(new) as hub:
        for _, step in steps:
            step(hub)
    # The same log with every submit in the older row form, and no ledger yet: the open
    # replays it and writes every batch.
    with sqlite3.connect(new + COMMANDS_SUFFIX) as source:
        rows = source.execute(
            "SELECT sequence, body FROM hub_commands ORDER BY sequence"
        ).fetchall()
    rewritten = 0
    with sqlite3.connect(old + COMMANDS_SUFFIX) as target:
        target.execute(
            "CREATE TABLE hub_commands (sequence INTEGER PRIMARY KEY, body TEXT NOT NULL)"
        )
        for sequence, body in rows:
            decoded = json.loads(body)
            if decoded["op"] == "submit":
                decoded["payments"] = old_rows(decoded.pop("columns"))
                rewritten += 1
            target.execute(
                "INSERT INTO hub_commands VALUES (?, ?)",
                (sequence, json.dumps(decoded, separators=(",", ":"), sort_keys=True)),
            )
    assert rewritten > 10
    with DurableHub.open(new) as reference, DurableHub.open(old) as replayed:
        assert replayed.replay_errors == reference.replay_errors
        assert replayed.caught_up == reference.hub.ledger.state.batches
        assert_same_hub(replayed.hub, reference.hub)
        a, b = (
            replayed.hub.ledger.state.journal.columns(),
            reference.hub.ledger.state.journal.columns(),
        )
        assert a.id.tolist() == b.id.tolist() and a.user_data.tolist() == b.user_data.tolist()


def synchronous(connection: sqlite3.Connection) -> int:
    return connection.execute("PRAGMA synchronous").fetchone()[0]


def test_only_the_command_log_is_fsynced_per_command(tmp_path) -> None:
    full, normal = 2, 1
    with DurableHub.open(str(tmp_path / "hub.db")) as hub:
        assert synchronous(hub._log._connection) == full
        assert synchronous(hub.durable_ledger.store._connection) == normal
    with SqliteStore(str(tmp_path / "ledger.db")) as alone:
        assert synchronous(alone._connection) == full
    with pytest.raises(ValueError, match="synchronous"):
        open_durable(str(tmp_path / "x.db"), "a test file", synchronous="OFF")


def test_batches_the_store_lost_at_its_end_are_replayed_from_the_log(tmp_path) -> None:
    day = simulate_day(CONFIG)
    steps = plan(day)
    store = tmp_path / "hub.db"
    with DurableHub.open(str(store)) as hub:
        for _, step in steps[: len(steps) // 2]:
            step(hub)
        kept = hub.hub.ledger.state.batches
    saved = store.read_bytes()
    assert not Path(str(store) + "-wal").exists()  # closing checkpointed the WAL
    with DurableHub.open(str(store)) as hub:
        for _, step in steps[len(steps) // 2 :]:
            step(hub)
        batches = hub.hub.ledger.state.batches
    assert batches > kept
    store.write_bytes(saved)  # the store as it was: every later batch lost
    with DurableHub.open(str(store)) as reopened, DurableHub.open(str(tmp_path / "ref.db")) as ref:
        assert reopened.caught_up == batches - kept
        with SqliteStore(str(store)) as again:
            assert again.load().batch_count == batches
        for _, step in steps:
            step(ref)
        assert_same_hub(reopened.hub, ref.hub)


def test_the_hubs_clock_commands_replay_to_the_same_schedule_and_closed_days(tmp_path) -> None:
    steps = plan(simulate_day(CONFIG))
    store = str(tmp_path / "hub.db")
    with DurableHub.open(store) as hub:
        for _, step in steps[:3]:
            step(hub)
        engine = hub.hub.engine
        first, second = sorted(engine.cut_off_ns)[:2]
        now = hub.hub.clock + 1
        minute = 60 * 10**9
        assert hub.schedule_windows(first, minute, now, now) == WINDOW_FIRST_PROBLEM
        assert hub.schedule_windows(first, 0, now, now + minute) is not None
        assert hub.schedule_windows(first, minute, now, now + 10**9) is None
        assert hub.schedule_windows(second, minute, now) is None
        assert hub.close_currency(second, now) == 0
        schedule, closed = dict(engine.window_schedule), set(engine.closed)
        assert schedule == {first: (minute, now + 10**9), second: (minute, now + minute)}
        assert closed == {second}
        commands = hub.commands
    with DurableHub.open(store) as reopened:
        assert reopened.commands == commands and reopened.replay_errors == []
        assert reopened.hub.engine.window_schedule == schedule
        assert reopened.hub.engine.closed == closed
        ops = [entry.op for entry in reopened.audit()]
        assert ops[-3:] == ["window_schedule", "window_schedule", "close_currency"]
