"""Decision records: a reopened DurableHub takes the logged outcomes of the liquidity-saving
searches instead of searching again, and is the hub the live run was, with or without them."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import Counter, deque
from pathlib import Path

import pytest

from samarkand.hub import durable
from samarkand.hub.durable import COMMANDS_SUFFIX, DECIDED, CommandLogCorrupted, DurableHub
from samarkand.settlement import engine, lsm
from samarkand.settlement.engine import Decision, DecisionRefused
from samarkand.settlement.payments import Status
from samarkand.sim.day import DayConfig, simulate_day
from samarkand.sim.run import RunConfig
from tests.settlement.conftest import CNY, LEDGERS, RUB, A, B, C
from tests.settlement.durable_hub_writer import plan
from tests.settlement.test_durable_hub import assert_same_hub

# Opening liquidity at its lower bound: queues build up, and FIFO, non-FIFO and
# cross-currency offsetting each settle something during the day.
SCARCE = DayConfig(payments=2_000, direct_banks=20, seed=3, liquidity_pct=0)
RUN = RunConfig(non_fifo_every_minutes=15)


@pytest.fixture(scope="module")
def scarce_day():
    return simulate_day(SCARCE)


@pytest.fixture(scope="module")
def live(scarce_day, tmp_path_factory):
    """The day run live on a DurableHub: (its store, the live hub's SettlementHub)."""
    store = str(tmp_path_factory.mktemp("live") / "hub.db")
    with DurableHub.open(store) as hub:
        for _, step in plan(scarce_day, RUN):
            step(hub)
        return store, hub.hub


def _copy(store: str, into: Path) -> str:
    into.mkdir(exist_ok=True)
    for suffix in ("", COMMANDS_SUFFIX):
        shutil.copy(store + suffix, into / ("hub.db" + suffix))
    return str(into / "hub.db")


def _rows(store: str) -> list[tuple[int, dict]]:
    with sqlite3.connect(store + COMMANDS_SUFFIX) as connection:
        rows = connection.execute("SELECT sequence, body FROM hub_commands ORDER BY sequence")
        return [(sequence, json.loads(body)) for sequence, body in rows]


def _rewrite(store: str, bodies: list[dict]) -> None:
    """Write `bodies` as the whole log, numbered 1..n, each decision record naming the
    sequence of the command before it."""
    with sqlite3.connect(store + COMMANDS_SUFFIX) as connection:
        connection.execute("DELETE FROM hub_commands")
        for sequence, body in enumerate(bodies, start=1):
            if body["op"] == DECIDED:
                body = {**body, "command": str(sequence - 1)}
            connection.execute(
                "INSERT INTO hub_commands VALUES (?, ?)", (sequence, json.dumps(body))
            )


def _searches(store: str) -> Counter:
    """How many searches of each kind the log's decision records hold, and how many of them
    chose something."""
    found: Counter = Counter()
    for _, body in _rows(store):
        if body["op"] == DECIDED:
            for search, _, _, chosen in body["sets"]:
                found[search, bool(chosen)] += 1
    return found


def _forbid_searching(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a replay with decision records searched")

    monkeypatch.setattr(engine, "nonfifo_optimise", refuse)
    monkeypatch.setattr(lsm, "fifo_offset", refuse)
    monkeypatch.setattr(engine, "offset_prefixes", refuse)


def _count_searches(monkeypatch) -> Counter:
    calls: Counter = Counter()
    for module, name in (
        (engine, "nonfifo_optimise"),
        (lsm, "fifo_offset"),
        (engine, "offset_prefixes"),
    ):
        original = getattr(module, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    return calls


def test_the_log_records_every_search_and_commands_count_only_commands(scarce_day, live):
    store, _ = live
    found = _searches(store)
    for search in ("fifo", "non_fifo", "fx"):
        assert found[search, True] > 0, search  # each kind settled something
    rows = _rows(store)
    decided = [body for _, body in rows if body["op"] == DECIDED]
    commands = len(plan(scarce_day, RUN))
    assert len(rows) == commands + len(decided)
    with DurableHub.open(store) as hub:
        # The message log compares this count: one more per command, with or without record.
        assert hub.commands == commands
        before = hub.commands
        hub.optimise(scarce_day.cut_off_ns + 1, non_fifo=True)
        assert hub.commands == before + 1
    # Each record follows its command and names it.
    for position, (sequence, body) in enumerate(rows):
        if body["op"] == DECIDED:
            assert body["command"] == str(sequence - 1)
            assert rows[position - 1][1]["op"] in ("optimise", "end_of_day")


def test_a_replay_takes_the_recorded_decisions_and_searches_nothing(live, tmp_path, monkeypatch):
    store = _copy(live[0], tmp_path / "copy")
    _forbid_searching(monkeypatch)
    with DurableHub.open(store) as hub:
        assert hub.replay_errors == [] and hub.caught_up == 0
        assert_same_hub(hub.hub, live[1])


def test_a_log_without_records_replays_by_searching(live, tmp_path, monkeypatch):
    """A log written before decision records existed: every search runs again."""
    store = _copy(live[0], tmp_path / "copy")
    found = _searches(store)
    _rewrite(store, [body for _, body in _rows(store) if body["op"] != DECIDED])
    calls = _count_searches(monkeypatch)
    with DurableHub.open(store) as hub:
        assert hub.replay_errors == []
        assert_same_hub(hub.hub, live[1])
    assert calls["nonfifo_optimise"] == found["non_fifo", True] + found["non_fifo", False]
    assert calls["offset_prefixes"] == found["fx", True] + found["fx", False]


def test_a_command_whose_record_is_missing_is_replayed_by_searching(
    scarce_day, live, tmp_path, monkeypatch
):
    """The process dies after an optimise ran (its batches are in the store) but before its
    decision record was written: the reopened hub searches for that command alone, and then
    carries on to the live run's end."""
    steps = plan(scarce_day, RUN)
    store = str(tmp_path / "hub.db")
    with DurableHub.open(store) as hub:
        for _, step in steps:
            step(hub)
            if _searches(store)["non_fifo", True]:
                break  # the last step settled something by non-FIFO optimisation
        died_after = hub.commands
        assert steps[died_after - 1][0] == "optimise"
    rows = _rows(store)
    assert rows[-1][1]["op"] == DECIDED
    last = Counter(s[0] for s in rows[-1][1]["sets"])
    chosen = {int(u) for s in rows[-1][1]["sets"] for u in s[3]}
    _rewrite(store, [body for _, body in rows[:-1]])  # the record never made it to the log
    calls = _count_searches(monkeypatch)
    with DurableHub.open(store) as hub:
        assert hub.commands == died_after and hub.caught_up == 0
        # That command's searches, and no other's.
        assert calls["nonfifo_optimise"] == last["non_fifo"] > 0
        assert calls["offset_prefixes"] == last["fx"]
        queued = {e.payment.uetr for e in hub.hub.engine.queued()}
        assert chosen and not chosen & queued  # it chose what it chose live
        for _, step in steps[died_after:]:
            step(hub)
        assert_same_hub(hub.hub, live[1])
    with DurableHub.open(store) as hub:  # the records the carried-on run wrote replay too
        assert_same_hub(hub.hub, live[1])


def _tampered(live, tmp_path: Path, change) -> str:
    """A copy of the live store whose first decision record with a non-FIFO choice `change`
    rewrote."""
    store = _copy(live[0], tmp_path / "copy")
    sequence, body = next(
        (sequence, body)
        for sequence, body in _rows(store)
        if body["op"] == DECIDED and any(s[0] == "non_fifo" and s[3] for s in body["sets"])
    )
    change(body)
    with sqlite3.connect(store + COMMANDS_SUFFIX) as connection:
        connection.execute(
            "UPDATE hub_commands SET body = ? WHERE sequence = ?", (json.dumps(body), sequence)
        )
    return store


def _non_fifo(body: dict) -> list:
    return next(s for s in body["sets"] if s[0] == "non_fifo" and s[3])


def _not_queued(body: dict) -> None:
    _non_fifo(body)[3][0] = str(2**128 - 1)


def _count_mismatch(body: dict) -> None:
    _non_fifo(body)[2] = str(int(_non_fifo(body)[2]) + 1)


def _one_too_many(body: dict) -> None:
    body["sets"].append(list(body["sets"][-1]))


def _one_too_few(body: dict) -> None:
    body["sets"].pop()


def _twice(body: dict) -> None:
    chosen = _non_fifo(body)[3]
    chosen.append(chosen[0])


def _wrong_command(body: dict) -> None:
    body["command"] = str(int(body["command"]) - 1)


def _not_a_search(body: dict) -> None:
    _non_fifo(body)[0] = "greedy"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_not_queued, "not queued"),
        (_count_mismatch, "over"),
        (_one_too_many, "left over"),
        (_one_too_few, "has no recorded decision"),
        (_twice, "twice"),
        (_wrong_command, "does not follow its command"),
        (_not_a_search, "not a search"),
    ],
)
def test_a_recorded_decision_that_does_not_fit_is_refused(live, tmp_path, change, message):
    store = _tampered(live, tmp_path, change)
    with pytest.raises(CommandLogCorrupted, match=message):
        DurableHub.open(store)


def _gridlock(day) -> None:
    """A, B and C each owe the next 100 CNY and hold nothing: all three queue."""
    for uetr, (debtor, creditor) in enumerate(((A, B), (B, C), (C, A)), start=1):
        assert day.send(uetr, debtor, creditor, 100) is None
    assert day.queue(A) == [1] and day.queue(B) == [2] and day.queue(C) == [3]


def test_the_engine_takes_a_recorded_decision_instead_of_searching(day, monkeypatch):
    _gridlock(day)
    _forbid_searching(monkeypatch)
    day.engine.recorded = deque([Decision("fifo", LEDGERS[CNY], 3, (3, 1, 2))])
    assert day.optimise() == 3
    assert day.statuses(1, 2, 3) == [Status.SETTLED] * 3
    assert not day.engine.recorded and day.problems() == []


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        (Decision("fifo", LEDGERS[CNY], 3, (1, 2)), "not covered by liquidity"),
        (Decision("fifo", LEDGERS[CNY], 4, (1, 2, 3)), "over 4 payments"),
        (Decision("non_fifo", LEDGERS[CNY], 3, (1, 2, 3)), "non_fifo search"),
        (Decision("fifo", LEDGERS[RUB], 3, (1, 2, 3)), "ledger 643"),
        (Decision("fifo", LEDGERS[CNY], 3, (1, 2, 3, 9)), "payment 9, not queued"),
    ],
)
def test_the_engine_refuses_a_recorded_decision_that_does_not_fit(
    day, monkeypatch, decision, message
):
    _gridlock(day)
    _forbid_searching(monkeypatch)
    day.engine.recorded = deque([decision])
    with pytest.raises(DecisionRefused, match=message):
        day.engine.optimise(day.clock())
    assert day.statuses(1, 2, 3) == [Status.QUEUED] * 3  # nothing applied


def test_a_recorded_fifo_decision_must_take_a_prefix_of_each_queue(day, monkeypatch):
    _gridlock(day)
    assert day.send(4, A, C, 50) is None  # queued behind A's payment 1
    _forbid_searching(monkeypatch)
    day.engine.recorded = deque([Decision("fifo", LEDGERS[CNY], 4, (2, 3, 4))])
    with pytest.raises(DecisionRefused, match="takes payment 4 past one of its sender's"):
        day.engine.optimise(day.clock())


def test_a_record_that_follows_no_command_is_refused(live, tmp_path):
    store = _copy(live[0], tmp_path / "copy")
    rows = [body for _, body in _rows(store)]
    first = next(i for i, body in enumerate(rows) if body["op"] == DECIDED)
    _rewrite(store, [*rows[: first + 1], rows[first], *rows[first + 1 :]])
    with pytest.raises(CommandLogCorrupted, match="follows no command"):
        DurableHub.open(store)


def test_a_failed_record_write_breaks_the_hub_and_the_reopen_searches(
    scarce_day, live, tmp_path, monkeypatch
):
    """Writing the record fails after the command ran: the hub is broken (as for any failure
    of a command), and the reopened hub completes the day as the live run did."""
    steps = plan(scarce_day, RUN)
    store = str(tmp_path / "hub.db")
    last_optimise = max(i for i, (name, _) in enumerate(steps) if name == "optimise")
    with DurableHub.open(store) as hub:
        for _, step in steps[:last_optimise]:
            step(hub)

        def fail(command, decisions):
            raise OSError("disk full")

        monkeypatch.setattr(durable, "_encode_decisions", fail)
        with pytest.raises(OSError, match="disk full"):
            steps[last_optimise][1](hub)
        with pytest.raises(durable.HubBroken):
            steps[last_optimise + 1][1](hub)
    monkeypatch.undo()
    with DurableHub.open(store) as hub:
        assert hub.commands == last_optimise + 1
        for _, step in steps[last_optimise + 1 :]:
            step(hub)
        assert_same_hub(hub.hub, live[1])
