"""A real crash test of PvP: a writer process is SIGKILLed, then recovery proves all-or-nothing.

The writer (`tests.fx.pvp_crash_writer`) runs PvPs against a SQLite ledger store and a
decision log. It is killed at random moments, and deterministically at each step of the
protocol. The parent then reopens both files, recovers, and checks: every PvP has all its
legs posted or none; nothing is left reserved; each ledger balances; and every party's
balance is its funding plus exactly the PvPs the ledger shows posted.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from samarkand.fx.pvp import PvpDecision, leg_indexes, net_by_party, reserve_id
from samarkand.hub.pvp import DecisionLog, PvpCoordinator, PvpOutcome, PvpRecord
from samarkand.ledger.invariants import problems
from samarkand.ledger.types import PendingStatus
from samarkand.store import DurableLedger, SqliteStore
from tests.fx.pvp_crash_writer import (
    FUNDING,
    LEDGERS,
    NS,
    PARTIES,
    TIMEOUT_S,
    account_of,
    now_of,
    plan_for,
)

ROOT = Path(__file__).resolve().parents[2]
WRITER_WAIT_S = 20.0
SEED = 7


def start_writer(tmp_path: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.fx.pvp_crash_writer"]
    command += [str(tmp_path / "ledger.db"), str(tmp_path / "log.db"), str(SEED), *args]
    return subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run_until_killed(tmp_path: Path, step: str, at: int) -> list[str]:
    """Run the writer armed to kill itself at `step` from its `at`-th PvP on; its output."""
    writer = start_writer(tmp_path, step, str(at))
    out, err = writer.communicate(timeout=WRITER_WAIT_S)
    assert writer.returncode == -signal.SIGKILL, (writer.returncode, err[-2000:])
    return out.splitlines()


def open_both(tmp_path: Path) -> tuple[DurableLedger, DecisionLog]:
    ledger = DurableLedger.open(SqliteStore(tmp_path / "ledger.db"))
    return ledger, DecisionLog(tmp_path / "log.db")


def recover_and_check(tmp_path: Path, now: int | None = None) -> dict[int, PvpRecord]:
    """Reopen, recover at `now` (default: one second after the last PvP), prove all-or-nothing."""
    ledger, log = open_both(tmp_path)
    try:
        last = max((r.pvp_id for r in log.records()), default=0)
        PvpCoordinator(ledger, log).recover(now_of(last + 1) if now is None else now)
        state = ledger.state
        assert problems(state) == []
        records = {r.pvp_id: r for r in log.records()}
        expected = dict(FUNDING)
        for pvp_id, record in records.items():
            assert record.outcome is not None and record.decision is not None, record
            statuses = [state.pending(reserve_id(pvp_id, i)) for i in leg_indexes(record.leg_mask)]
            if record.outcome is PvpOutcome.POSTED:
                assert record.decision is PvpDecision.COMMIT
                assert set(statuses) == {PendingStatus.POSTED}, (pvp_id, statuses)
                for key, amount in net_by_party(plan_for(SEED, pvp_id)).items():
                    expected[key] = expected.get(key, 0) + amount
            else:
                assert PendingStatus.POSTED not in statuses, (pvp_id, statuses)
                assert PendingStatus.PENDING not in statuses, (pvp_id, statuses)
        # Every reserved leg in the ledger belongs to a PvP the log knows (begun comes first).
        assert {pending_id >> 8 for pending_id in state.pending_status} <= set(records)
        for party in PARTIES:
            for currency in LEDGERS:
                balance = ledger.balance(account_of(party, currency))
                assert balance.debits_pending == balance.credits_pending == 0
                assert balance.net_credit == expected.get((party, currency), 0), (party, currency)
        return records
    finally:
        ledger.close()
        log.close()


@pytest.mark.parametrize("step", ["begun", "reserved", "decided", "mid_post", "finished"])
def test_killed_at_each_step_recovers_all_or_nothing(tmp_path: Path, step: str) -> None:
    out = run_until_killed(tmp_path, step, 3)
    assert len([line for line in out if line.startswith("pvp ")]) >= 2, out
    ledger, log = open_both(tmp_path)
    unfinished = log.unfinished()
    if step == "mid_post":
        # The post batch's transaction died before COMMIT: every leg of the call that its
        # reserve batch took is still reserved, and at least one PvP had logged COMMIT.
        assert PvpDecision.COMMIT in {record.decision for record in unfinished}
        for record in unfinished:
            statuses = [
                ledger.state.pending(reserve_id(record.pvp_id, i))
                for i in leg_indexes(record.leg_mask)
            ]
            assert PendingStatus.POSTED not in statuses and PendingStatus.VOIDED not in statuses
    ledger.close()
    log.close()
    if step == "finished":
        assert unfinished == []  # killed after the log marked the call: nothing to recover
    else:
        assert unfinished
    records = recover_and_check(tmp_path)
    for killed in (records[record.pvp_id] for record in unfinished):
        if step in ("begun", "reserved"):
            assert (killed.decision, killed.outcome) == (PvpDecision.ABORT, PvpOutcome.VOIDED)
        else:  # the logged decision stands: the legs are still alive one second later
            committed = killed.decision is PvpDecision.COMMIT
            assert killed.outcome is (PvpOutcome.POSTED if committed else PvpOutcome.VOIDED)


def test_a_commit_recovered_after_the_timeout_voids_every_leg(tmp_path: Path) -> None:
    run_until_killed(tmp_path, "decided", 2)
    ledger, log = open_both(tmp_path)
    unfinished = log.unfinished()
    ledger.close()
    log.close()
    assert PvpDecision.COMMIT in {record.decision for record in unfinished}
    late = now_of(unfinished[-1].pvp_id) + (TIMEOUT_S + 1) * NS
    records = recover_and_check(tmp_path, late)
    assert {records[r.pvp_id].outcome for r in unfinished} == {PvpOutcome.VOIDED}


def test_killed_at_random_moments_recovers_all_or_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    outcomes: set[PvpOutcome] = set()
    caught_mid_protocol = 0
    for round_ in range(6):
        writer = start_writer(tmp_path)
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.02, 0.4))
        os.kill(writer.pid, signal.SIGKILL)
        writer.communicate(timeout=WRITER_WAIT_S)
        assert writer.returncode == -signal.SIGKILL
        with DecisionLog(tmp_path / "log.db") as log:
            caught_mid_protocol += bool(log.unfinished())
        if round_ % 2:  # every other round the next writer recovers on its own at start
            outcomes |= {r.outcome for r in recover_and_check(tmp_path).values()}
    records = recover_and_check(tmp_path)
    outcomes |= {r.outcome for r in records.values()}
    assert len(records) >= 20
    assert outcomes == {PvpOutcome.POSTED, PvpOutcome.VOIDED}  # both paths were exercised
    assert caught_mid_protocol >= 1  # some kill landed inside a PvP (most do: ~9 in 10)
