"""PvP of a quoted payment: the legs, the decision, commit, abort, expiry and recovery."""

from __future__ import annotations

import os
import uuid
from math import floor
from pathlib import Path

import pytest

from samarkand.fx.pvp import (
    PartyRole,
    PvpDecision,
    PvpReason,
    decide,
    failures,
    finish_transfers,
    net_by_party,
    phase_two_id,
    reserve_id,
    reserve_transfers,
)
from samarkand.hub.pvp import DecisionLog, PvpCoordinator, PvpOutcome
from samarkand.ledger.invariants import problems
from samarkand.ledger.types import CreateTransferResult, PendingStatus, Transfer, TransferFlags
from samarkand.store import DurableLedger, MemoryStore, PostgresStore, SqliteStore
from tests.fx.pvp_crash_writer import (
    FUNDING,
    LEDGERS,
    NS,
    PARTIES,
    RATE_CNY_INR,
    RATE_INR_RUB,
    TIMEOUT_S,
    account_of,
    make_plan,
    mirror_of,
    setup,
    two_hop_quote,
)

R = CreateTransferResult
PG_DSN = os.environ.get("SAMARKAND_TEST_PG_DSN", "")
T0 = 10 * NS


class Hub:
    """A ledger (memory or SQLite) with the scenario's accounts, and a decision log."""

    def __init__(self, tmp_path: Path, durable: bool = False) -> None:
        self.tmp_path = tmp_path
        store = SqliteStore(tmp_path / "ledger.db") if durable else MemoryStore()
        self.ledger = DurableLedger.open(store)
        setup(self.ledger, 1)
        self.decisions = DecisionLog(tmp_path / "decisions.db")
        self.coordinator = PvpCoordinator(self.ledger, self.decisions)

    def reopen(self) -> None:
        """What a restarted process sees: both files opened afresh."""
        self.ledger.close()
        self.decisions.close()
        self.ledger = DurableLedger.open(SqliteStore(self.tmp_path / "ledger.db"))
        self.decisions = DecisionLog(self.tmp_path / "decisions.db")
        self.coordinator = PvpCoordinator(self.ledger, self.decisions)

    def balances(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(party, currency) -> (net posted credit, pending debits + pending credits)."""
        found = {}
        for party in PARTIES:
            for currency in LEDGERS:
                b = self.ledger.balance(account_of(party, currency))
                found[(party, currency)] = (b.net_credit, b.debits_pending + b.credits_pending)
        return found

    def check(self) -> None:
        assert problems(self.ledger.state) == []


def pvp(pvp_id: int, send_cny: int = 10_000, payer: str = "PAYRCNAA", first: str = "PROVINAA"):
    quote = two_hop_quote(pvp_id, send_cny, first, "PROVINBB", T0)
    return make_plan(pvp_id, quote, payer, "PAYERUAA")


def test_legs_of_a_two_hop_quote_balance_per_currency() -> None:
    plan = pvp(7, send_cny=12_345)
    assert [leg.currency for leg in plan.legs] == ["CNY", "INR", "RUB"]
    assert [leg.debtor_role for leg in plan.legs] == [
        PartyRole.PAYER,
        PartyRole.PROVIDER,
        PartyRole.PROVIDER,
    ]
    inr = floor(12_345 * RATE_CNY_INR)
    rub = floor(inr * RATE_INR_RUB)
    net = net_by_party(plan)
    # Per currency what one pays another receives; each provider gets its sell amount and
    # gives its buy amount, exactly at the quote's rate (floored, the rest stays with it).
    for currency in LEDGERS:
        assert sum(v for (_, c), v in net.items() if c == currency) == 0
    assert net == {
        ("PAYRCNAA", "CNY"): -12_345,
        ("PROVINAA", "CNY"): 12_345,
        ("PROVINAA", "INR"): -inr,
        ("PROVINBB", "INR"): inr,
        ("PROVINBB", "RUB"): -rub,
        ("PAYERUAA", "RUB"): rub,
    }
    for hop in plan_hops(plan):
        assert hop.buy_amount == floor(hop.sell_amount * hop.rate)


def plan_hops(plan):
    return two_hop_quote(plan.quote_id, plan.legs[0].amount, "PROVINAA", "PROVINBB", T0).hops


def test_ids_derive_from_the_pvp_id_and_never_collide() -> None:
    plan = pvp(2**119)
    reserves = [t.id for t in reserve_transfers(plan)]
    finishes = [t.id for t in finish_transfers(plan.pvp_id, [0, 1, 2], PvpDecision.COMMIT)]
    assert reserves == [2**127 | i for i in range(3)]
    assert finishes == [phase_two_id(2**119, i) for i in range(3)]
    assert len(set(reserves + finishes)) == 6 and max(finishes) < 2**128 - 1
    assert all(
        t.flags == TransferFlags.PENDING and t.timeout == TIMEOUT_S for t in reserve_transfers(plan)
    )
    with pytest.raises(ValueError):
        reserve_id(2**120, 0)
    with pytest.raises(ValueError):
        reserve_id(0, 0)


def test_a_provider_taking_both_hops_has_no_leg_with_itself() -> None:
    quote = two_hop_quote(3, 5_000, "PROVINAA", "PROVINAA", T0)
    plan = make_plan(3, quote, "PAYRCNAA", "PAYERUAA")
    assert [leg.index for leg in plan.legs] == [0, 2]
    assert plan.leg_mask == 0b101


def test_decide_commits_only_when_every_leg_reserved() -> None:
    assert decide([R.OK, R.OK, R.OK]) is PvpDecision.COMMIT
    assert decide([R.OK, R.EXCEEDS_CREDITS, R.OK]) is PvpDecision.ABORT
    assert decide([R.OK, R.EXISTS]) is PvpDecision.ABORT
    assert decide([]) is PvpDecision.ABORT


def test_reasons_name_who_was_short() -> None:
    plan = pvp(4)
    found = failures(plan, [R.EXCEEDS_CREDITS, R.OK, R.EXCEEDS_CREDITS])
    assert [(f.index, f.reason) for f in found] == [
        (0, PvpReason.INSUFFICIENT_FUNDS),
        (2, PvpReason.PROVIDER_LIQUIDITY),
    ]
    assert PvpReason.INSUFFICIENT_FUNDS.value[0] == "AM04"
    assert failures(plan, [R.OK, R.DEBIT_ACCOUNT_NOT_FOUND, R.OK])[0].reason is PvpReason.NO_ACCOUNT


def test_commit_posts_every_leg(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    before = hub.balances()
    plan = pvp(1)
    result = hub.coordinator.execute(plan, T0)
    assert (result.decision, result.outcome, result.failures) == (
        PvpDecision.COMMIT,
        PvpOutcome.POSTED,
        (),
    )
    after = hub.balances()
    for key, (net, pending) in after.items():
        assert pending == 0
        assert net == before[key][0] + net_by_party(plan).get(key, 0)
    assert hub.decisions.get(1).outcome is PvpOutcome.POSTED
    hub.check()


@pytest.mark.parametrize(
    ("payer", "send_cny", "reason"),
    [
        ("PAYRCNCC", 20_000, None),  # the payer holds 40,000: fits
        ("PAYRCNCC", 40_001, PvpReason.INSUFFICIENT_FUNDS),  # one minor unit short
        ("PAYRCNAA", 30_000, PvpReason.PROVIDER_LIQUIDITY),  # PROVINBB holds 300,000 RUB
    ],
)
def test_one_leg_short_voids_everything(tmp_path: Path, payer: str, send_cny: int, reason) -> None:
    hub = Hub(tmp_path)
    if reason is not PvpReason.PROVIDER_LIQUIDITY:  # then only the payer may be short
        top_up = Transfer(99, mirror_of("RUB"), account_of("PROVINBB", "RUB"), 10**6, 643, 2)
        assert [int(r) for r in hub.ledger.apply([top_up], 2)[0]] == [0]
    before = hub.balances()
    result = hub.coordinator.execute(pvp(1, send_cny, payer), T0)
    if reason is None:
        assert result.outcome is PvpOutcome.POSTED
        return
    assert (result.decision, result.outcome) == (PvpDecision.ABORT, PvpOutcome.VOIDED)
    assert [f.reason for f in result.failures] == [reason]
    assert hub.balances() == before  # nothing half applied, nothing left reserved
    statuses = [hub.ledger.state.pending(reserve_id(1, i)) for i in range(3)]
    assert statuses.count(PendingStatus.VOIDED) == 2 and statuses.count(None) == 1
    hub.check()


def test_a_pvp_id_runs_once(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    hub.coordinator.execute(pvp(1), T0)
    with pytest.raises(ValueError, match="used before"):
        hub.coordinator.execute(pvp(1), T0 + NS)


class Crash(Exception):
    pass


def crash_at(step: str):
    def hook(name: str) -> None:
        if name == step:
            raise Crash(step)

    return hook


def run_until(hub: Hub, step: str, plans, now: int) -> None:
    """Run `plans` (one or a list) until `step`, where the process "dies"; then reopen."""
    coordinator = PvpCoordinator(hub.ledger, hub.decisions, crash_at(step))
    with pytest.raises(Crash):
        coordinator.execute_many(plans if isinstance(plans, list) else [plans], now)
    hub.reopen()


def test_expiry_voids_every_leg(tmp_path: Path) -> None:
    hub = Hub(tmp_path, durable=True)
    before = hub.balances()
    run_until(hub, "reserved", pvp(1), T0)  # reserved, then the coordinator vanished
    held = {leg.debit_account_id for leg in pvp(1).legs}
    assert all(hub.ledger.balance(account).debits_pending > 0 for account in held)
    later = T0 + TIMEOUT_S * NS + 10
    hub.ledger.apply([], later)  # any batch at a later time lets the ledger expire the legs
    statuses = {hub.ledger.state.pending(reserve_id(1, i)) for i in range(3)}
    assert statuses == {PendingStatus.EXPIRED}
    assert hub.balances() == before
    assert [r.outcome for r in hub.coordinator.recover(later)] == [PvpOutcome.VOIDED]
    hub.check()


def test_recovery_posts_a_logged_commit(tmp_path: Path) -> None:
    hub = Hub(tmp_path, durable=True)
    before = hub.balances()
    plan = pvp(1)
    run_until(hub, "decided", plan, T0)
    assert hub.decisions.get(1).decision is PvpDecision.COMMIT
    (result,) = hub.coordinator.recover(T0 + NS)
    assert (result.decision, result.outcome) == (PvpDecision.COMMIT, PvpOutcome.POSTED)
    for key, (net, pending) in hub.balances().items():
        assert (net, pending) == (before[key][0] + net_by_party(plan).get(key, 0), 0)
    assert hub.coordinator.recover(T0 + 2 * NS) == []
    hub.check()


@pytest.mark.parametrize("step", ["begun", "reserved"])
def test_recovery_voids_a_pvp_begun_but_undecided(tmp_path: Path, step: str) -> None:
    hub = Hub(tmp_path, durable=True)
    before = hub.balances()
    run_until(hub, step, pvp(1), T0)
    (result,) = hub.coordinator.recover(T0 + NS)
    assert (result.decision, result.outcome) == (PvpDecision.ABORT, PvpOutcome.VOIDED)
    assert hub.decisions.get(1).decision is PvpDecision.ABORT  # final: nothing commits it now
    assert hub.balances() == before
    hub.check()


def test_a_commit_found_after_the_timeout_is_voided_not_half_posted(tmp_path: Path) -> None:
    hub = Hub(tmp_path, durable=True)
    before = hub.balances()
    run_until(hub, "decided", pvp(1), T0)
    # The legs' timestamps are a few ns apart: at this instant the first has expired, the
    # last not yet. Posting the rest would half-apply the PvP; recovery voids them all.
    state = hub.ledger.state
    expiries = sorted(state.pending_expires_at[reserve_id(1, i)] for i in range(3))
    assert expiries[0] < expiries[-1]
    (result,) = hub.coordinator.recover(expiries[0])
    assert (result.decision, result.outcome) == (PvpDecision.COMMIT, PvpOutcome.VOIDED)
    assert hub.balances() == before
    hub.check()


def test_the_decision_log_keeps_the_first_decision(tmp_path: Path) -> None:
    with DecisionLog(tmp_path / "log.db") as log:
        assert log.begin(2**119 + 5, 0b111, T0)
        assert not log.begin(2**119 + 5, 0b111, T0)
        assert log.decide(2**119 + 5, PvpDecision.ABORT, T0) is PvpDecision.ABORT
        assert log.decide(2**119 + 5, PvpDecision.COMMIT, T0) is PvpDecision.ABORT
        record = log.get(2**119 + 5)
        assert (record.leg_mask, record.decision, record.outcome) == (
            0b111,
            PvpDecision.ABORT,
            None,
        )
        assert [r.pvp_id for r in log.unfinished()] == [2**119 + 5]


def test_funding_matches_the_scenario(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    for key, (net, _) in hub.balances().items():
        assert net == FUNDING.get(key, 0)


def test_many_pvps_in_one_call_are_decided_each_on_its_own_legs(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    before = hub.balances()
    plans = [pvp(1), pvp(2, 40_001, "PAYRCNCC"), pvp(3, 1_000, "PAYRCNBB")]
    results = hub.coordinator.execute_many(plans, T0)
    assert [r.outcome for r in results] == [
        PvpOutcome.POSTED,
        PvpOutcome.VOIDED,
        PvpOutcome.POSTED,
    ]
    for key, (net, pending) in hub.balances().items():
        moved = net_by_party(plans[0]).get(key, 0) + net_by_party(plans[2]).get(key, 0)
        assert (net, pending) == (before[key][0] + moved, 0)
    with pytest.raises(ValueError, match="used before"):
        hub.coordinator.execute_many([pvp(4), pvp(3)], T0 + NS)
    assert hub.decisions.get(4) is None  # refused as a whole: nothing of the call was begun
    hub.check()


def test_recovery_cuts_its_work_into_ledger_sized_batches(tmp_path: Path, monkeypatch) -> None:
    hub = Hub(tmp_path, durable=True)
    before = hub.balances()
    plans = [pvp(pvp_id, 100) for pvp_id in range(1, 6)]
    run_until(hub, "reserved", plans, T0)
    monkeypatch.setattr("samarkand.hub.pvp.BATCH_EVENTS_MAX", 4)  # at most one PvP a batch
    batches = hub.ledger.state.batches
    results = hub.coordinator.recover(T0 + NS)
    assert [r.outcome for r in results] == [PvpOutcome.VOIDED] * 5
    assert hub.ledger.state.batches == batches + 5
    assert hub.balances() == before
    hub.check()


@pytest.mark.skipif(not PG_DSN, reason="set SAMARKAND_TEST_PG_DSN to run PostgreSQL tests")
def test_recovery_with_the_ledger_on_postgres(tmp_path: Path) -> None:
    schema = f"test_pvp_{uuid.uuid4().hex[:12]}"
    try:
        ledger = DurableLedger.open(PostgresStore(PG_DSN, schema=schema))
        setup(ledger, 1)
        decisions = DecisionLog(tmp_path / "decisions.db")
        plans = [pvp(1), pvp(2, 40_001, "PAYRCNCC")]
        with pytest.raises(Crash):
            PvpCoordinator(ledger, decisions, crash_at("decided")).execute_many(plans, T0)
        ledger.close()
        with DurableLedger.open(PostgresStore(PG_DSN, schema=schema)) as ledger:
            results = PvpCoordinator(ledger, decisions).recover(T0 + NS)
            assert [r.outcome for r in results] == [PvpOutcome.POSTED, PvpOutcome.VOIDED]
            payee = ledger.balance(account_of("PAYERUAA", "RUB")).net_credit
            assert payee == net_by_party(plans[0])[("PAYERUAA", "RUB")]
            assert problems(ledger.state) == []
        decisions.close()
    finally:
        PostgresStore.drop_schema(PG_DSN, schema)
