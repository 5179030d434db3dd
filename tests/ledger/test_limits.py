"""Limit changes: every SetLimitResult by a small scenario, then what a changed limit does.

A central bank changes the intraday credit of an account during its life. A limit may rise
to anything and fall to what the account already uses, no lower; it applies to the transfers
after it, survives replay, and keeps the int64 columns bounded (a big limit widens first).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest

from samarkand.ledger import (
    BATCH_EVENTS_MAX,
    U128_MAX,
    Account,
    CreateAccountResult,
    CreateTransferResult,
    LedgerState,
    LimitChange,
    SetLimitResult,
    Transfer,
)
from samarkand.ledger.invariants import problems
from samarkand.ledger.journal import BatchRecord, Expiries
from samarkand.ledger.replay import rebuild
from samarkand.ledger.state import LIMIT
from samarkand.ledger.types import INT64_MAX
from tests.ledger.test_results import NOW, START, accounts, apply, hold, ledger_with, pay

L = SetLimitResult
R = CreateTransferResult
A = CreateAccountResult
MAX = U128_MAX


def change(account_id: object, limit: object, timestamp: object = 0) -> LimitChange:
    return LimitChange(account_id, limit, timestamp)  # type: ignore[arg-type]


def limit_of(state: LedgerState, account_id: int) -> int:
    """The limit as the balance columns hold it, checked against the account's record."""
    slot = state.account_slot[account_id]
    held = state._get(slot)[LIMIT]
    assert state.accounts[slot].limit == held, "the record and the columns disagree"
    return held


# ---------------------------------------------------------------------- every result

# Account 1 may go 100 below zero and has used 60 of it; 2 is its counterpart, unlimited;
# 3 may go 50 above zero (the mirror flag) and has used 40 of it.
SETUP = "1:debits:limit=100 2 3:credits:limit=50"
SETUP_TRANSFERS = [pay(1, 1, 2, 60), pay(2, 2, 3, 40)]


@dataclass(frozen=True)
class Case:
    id: str
    batch: tuple[LimitChange, ...]
    expected: tuple[SetLimitResult, ...]


def case(id: str, batch: list[LimitChange], expected: list[SetLimitResult]) -> Case:
    return Case(id, tuple(batch), tuple(expected))


TOO_MANY = BATCH_EVENTS_MAX + 1
CASES = [
    case("raise", [change(1, 500)], [L.OK]),
    case("lower to what is used", [change(1, 60)], [L.OK]),
    case("mirror flag: lower to what is used", [change(3, 40)], [L.OK]),
    case("the same limit again", [change(1, 100)], [L.OK]),
    case("largest limit", [change(1, MAX)], [L.OK]),
    case("unknown account", [change(99, 5)], [L.ACCOUNT_NOT_FOUND]),
    case("limit 2**128", [change(1, MAX + 1)], [L.VALUE_OUT_OF_RANGE]),
    case("negative limit", [change(1, -1)], [L.VALUE_OUT_OF_RANGE]),
    case("limit a float", [change(1, 500.0)], [L.VALUE_OUT_OF_RANGE]),
    case("limit a bool", [change(1, True)], [L.VALUE_OUT_OF_RANGE]),
    case("account id a float", [change(1.0, 500)], [L.VALUE_OUT_OF_RANGE]),
    case("account id 2**128", [change(MAX + 1, 5)], [L.VALUE_OUT_OF_RANGE]),
    case("range before timestamp", [change(1, -1, 7)], [L.VALUE_OUT_OF_RANGE]),
    case("timestamp set by caller", [change(1, 500, 7)], [L.TIMESTAMP_MUST_BE_ZERO]),
    case("account without a limit flag", [change(2, 500)], [L.ACCOUNT_NOT_LIMITED]),
    case("lower below what is used", [change(1, 59)], [L.LIMIT_BELOW_USE]),
    case("mirror flag: below what is used", [change(3, 39)], [L.LIMIT_BELOW_USE]),
    case("each change on its own", [change(1, 59), change(1, 70), change(99, 1)],
         [L.LIMIT_BELOW_USE, L.OK, L.ACCOUNT_NOT_FOUND]),
    case("batch of 8191", [change(1, 500)] * TOO_MANY, [L.BATCH_TOO_LARGE] * TOO_MANY),
]  # fmt: skip


def scenario_state() -> LedgerState:
    state = ledger_with(SETUP)
    assert apply(state, SETUP_TRANSFERS, START) == [R.OK, R.OK]
    return state


@pytest.mark.parametrize("scenario", CASES, ids=lambda c: c.id)
def test_limit_result(scenario: Case) -> None:
    state = scenario_state()
    limits_before = {a.id: a.limit for a in state.accounts}
    clock_before = state.timestamp

    results, record = state.set_limits(list(scenario.batch), NOW)

    assert results == list(scenario.expected)
    applied = [c for c, r in zip(scenario.batch, results, strict=True) if r == L.OK]
    assert [(c.account_id, c.limit) for c in record.limits] == [
        (c.account_id, c.limit) for c in applied
    ]
    expected_limits = dict(limits_before)
    for c in applied:
        expected_limits[c.account_id] = c.limit
    assert {a.id: limit_of(state, a.id) for a in state.accounts} == expected_limits
    if scenario.expected[0] == L.BATCH_TOO_LARGE:
        assert state.timestamp == clock_before, "a refused batch uses up no timestamps"
    assert problems(state) == []


def test_every_limit_result_has_a_scenario() -> None:
    covered = {code for scenario in CASES for code in scenario.expected}
    assert covered == set(L), f"codes without a scenario: {sorted(set(L) - covered)}"


# ---------------------------------------------------------------------- the record and time


def test_changes_are_stamped_by_the_engine_and_failed_ones_use_up_timestamps() -> None:
    state = scenario_state()
    results, record = state.set_limits([change(1, 200), change(99, 1), change(3, 80)], NOW)
    assert results == [L.OK, L.ACCOUNT_NOT_FOUND, L.OK]
    assert record.limits == (LimitChange(1, 200, NOW), LimitChange(3, 80, NOW + 2))
    assert (record.timestamp, state.timestamp) == (NOW + 2, NOW + 2)
    assert not record.is_empty
    assert (record.accounts, len(record.transfers), len(record.expiries)) == ((), 0, 0)


def test_a_batch_of_only_failed_changes_is_an_empty_record() -> None:
    state = scenario_state()
    results, record = state.set_limits([change(2, 5), change(1, 1)], NOW)
    assert results == [L.ACCOUNT_NOT_LIMITED, L.LIMIT_BELOW_USE]
    assert record.is_empty and record.limits == ()
    results, record = state.set_limits([], NOW)
    assert results == [] and record.is_empty


def test_changes_to_one_account_apply_in_order_and_the_last_stays() -> None:
    state = scenario_state()
    results, _ = state.set_limits([change(1, 500), change(1, 70), change(1, 65)], NOW)
    assert results == [L.OK, L.OK, L.OK]
    assert limit_of(state, 1) == 65


def test_a_changed_limit_changes_the_identity_of_the_account() -> None:
    """The record holds the current limit: creating the account again with its first limit
    is a different account now, and with its current limit the same one."""
    state = scenario_state()
    state.set_limits([change(1, 500)], NOW)
    again = accounts("1:debits:limit=100 1:debits:limit=500")
    results, _ = state.create_accounts(again[:1], NOW + 10)
    assert results == [A.EXISTS_WITH_DIFFERENT_LIMIT]
    results, _ = state.create_accounts(again[1:], NOW + 20)
    assert results == [A.EXISTS]


# ---------------------------------------------------------------------- what a limit does


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
def test_a_raised_limit_lets_a_refused_transfer_through(fast: bool) -> None:
    state = scenario_state()  # 1 has used 60 of 100
    assert apply_with(state, [pay(10, 1, 2, 41)], NOW, fast) == [R.EXCEEDS_CREDITS]
    assert state.set_limits([change(1, 101)], NOW + 10)[0] == [L.OK]
    assert apply_with(state, [pay(10, 1, 2, 41)], NOW + 20, fast) == [R.OK]
    assert apply_with(state, [pay(11, 1, 2, 1)], NOW + 30, fast) == [R.EXCEEDS_CREDITS]
    assert state.balance(1).net_credit == -101
    assert problems(state) == []


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
def test_a_lowered_limit_blocks_what_it_allowed_before(fast: bool) -> None:
    state = scenario_state()  # 1 has used 60 of 100; 3 has taken 40 of its 50
    assert state.set_limits([change(1, 60), change(3, 40)], NOW)[0] == [L.OK, L.OK]
    assert apply_with(state, [pay(10, 1, 2, 1)], NOW + 10, fast) == [R.EXCEEDS_CREDITS]
    assert apply_with(state, [pay(11, 2, 3, 1)], NOW + 10, fast) == [R.EXCEEDS_DEBITS]
    assert apply_with(state, [hold(12, 1, 2, 1)], NOW + 10, fast) == [R.EXCEEDS_CREDITS]
    assert apply_with(state, [pay(13, 2, 1, 5), pay(14, 1, 2, 5)], NOW + 20, fast) == [
        R.OK,
        R.OK,
    ]
    assert problems(state) == []


def test_pending_debits_count_as_use() -> None:
    state = ledger_with("1:debits:limit=100 2")
    assert apply(state, [hold(1, 1, 2, 70)], START) == [R.OK]
    assert state.set_limits([change(1, 69), change(1, 70)], NOW)[0] == [L.LIMIT_BELOW_USE, L.OK]


def apply_with(state: LedgerState, batch: list[Transfer], now: int, fast: bool) -> list[R]:
    """The results of `batch`, applied by the plain path, or with `fast` by the fast path.

    The fast path takes only runs of 16 events or more, so `fast` pads the batch with
    transfers between two unlimited accounts made for it (their own ledger, 9)."""
    if not fast:
        results, _ = state.apply(batch, now, fast=False)
        return [R(int(r)) for r in results]
    if state.account(900_001) is None:
        state.create_accounts([Account(900_001, 9, 1), Account(900_002, 9, 1)], now)
    first_id = 10**15 + state.timestamp  # the clock moves past 20 ids with every batch
    padding = [Transfer(first_id + i, 900_001, 900_002, 1, 9, 1) for i in range(20)]
    vectorised = state.fast_events
    results, _ = state.apply([*batch, *padding], now)
    assert all(int(r) == R.OK for r in results[len(batch) :])
    assert state.fast_events >= vectorised + len(batch) + len(padding), "not the fast path"
    return [R(int(r)) for r in results[: len(batch)]]


# ---------------------------------------------------------------------- wide ledgers


def test_a_limit_beyond_int64_widens_the_ledger_before_it_is_written() -> None:
    state = scenario_state()
    assert 1 not in state.wide_ledgers
    assert state.set_limits([change(1, MAX)], NOW)[0] == [L.OK]
    assert 1 in state.wide_ledgers
    assert limit_of(state, 1) == MAX
    assert state.ledger_totals[1][2] == MAX
    assert apply(state, [pay(10, 1, 2, 2**100)], NOW + 10) == [R.OK]
    assert state.balance(1).net_credit == -60 - 2**100
    assert problems(state) == []


def test_a_limit_that_fits_alone_but_not_with_the_totals_widens_too() -> None:
    state = scenario_state()  # 100 posted in ledger 1
    near = INT64_MAX - 100
    assert state.set_limits([change(1, near)], NOW)[0] == [L.OK]
    assert 1 not in state.wide_ledgers, "posted + pending + limit still fits int64"
    assert state.set_limits([change(1, near + 1)], NOW + 10)[0] == [L.OK]
    assert 1 in state.wide_ledgers
    assert limit_of(state, 1) == near + 1
    assert problems(state) == []


def test_lowering_a_big_limit_keeps_the_ledger_wide_and_exact() -> None:
    state = scenario_state()
    state.set_limits([change(1, MAX)], NOW)
    assert state.set_limits([change(1, 60)], NOW + 10)[0] == [L.OK]
    assert 1 in state.wide_ledgers and limit_of(state, 1) == 60
    assert apply(state, [pay(10, 1, 2, 1)], NOW + 20) == [R.EXCEEDS_CREDITS]
    assert problems(state) == []


def test_a_change_on_a_ledger_already_wide() -> None:
    state = ledger_with("1:debits 2")
    state.widen(1)
    assert state.set_limits([change(1, 2**64)], NOW)[0] == [L.OK]
    assert apply(state, [pay(1, 1, 2, 2**64), pay(2, 1, 2, 1)], NOW + 10) == [
        R.OK,
        R.EXCEEDS_CREDITS,
    ]
    assert problems(state) == []


# ---------------------------------------------------------------------- replay


def random_day(seed: int, fast: bool = True) -> tuple[LedgerState, list[BatchRecord], list]:
    """Limit changes and transfers interleaved at random: the state, its records, results."""
    rng = random.Random(seed)
    state = LedgerState()
    made = accounts("1:debits:limit=50 2:debits 3:credits:limit=20 4 5@2:debits 6@2")
    results_seen: list = []
    outcome, record = state.create_accounts(made, START)
    records = [record]
    next_id = 1
    for step in range(40):
        now = NOW + step * 1_000
        if rng.random() < 0.3:
            changes = [
                change(rng.choice([1, 2, 3, 4, 5, 99]), rng.choice([0, 10, 40, 100, 2**70, MAX]))
                for _ in range(rng.randint(1, 4))
            ]
            outcome, record = state.set_limits(changes, now)
        else:
            batch = []
            for _ in range(rng.randint(1, 24)):
                debit, credit = rng.sample([1, 2, 3, 4], 2)
                if rng.random() < 0.2:
                    debit, credit = rng.sample([5, 6], 2)
                ledger = 2 if debit in (5, 6) else 1
                amount = rng.choice([1, 5, 20, 60])
                batch.append(Transfer(next_id, debit, credit, amount, ledger, 1))
                next_id += 1
            codes, record = state.apply(batch, now, fast=fast)
            outcome = [int(c) for c in codes]
        results_seen.append(list(outcome))
        records.append(record)
        assert problems(state, against_journal=False) == []
    return state, records, results_seen


def replayed(records: list[BatchRecord], state: LedgerState) -> LedgerState:
    """What a store would rebuild: the accounts as created, then every limit change."""
    return rebuild(
        [a for r in records for a in r.accounts],
        state.journal.columns(),
        _expiries(records),
        batches=state.batches,
        timestamp=state.timestamp,
        limits=[c for r in records for c in r.limits],
    )


def _expiries(records: list[BatchRecord]) -> Expiries:
    return Expiries(
        tuple(p for r in records for p in r.expiries.pending_id),
        tuple(s for r in records for s in r.expiries.timestamp),
    )


@pytest.mark.parametrize("seed", range(6))
def test_replay_reproduces_every_limit(seed: int) -> None:
    state, records, _ = random_day(seed)
    assert any(r.limits for r in records), "the scenario changes limits"
    again = replayed(records, state)
    assert again.accounts == state.accounts
    assert [limit_of(again, a.id) for a in again.accounts] == [
        limit_of(state, a.id) for a in state.accounts
    ]
    assert [again.balance(a.id) for a in again.accounts] == [
        state.balance(a.id) for a in state.accounts
    ]
    assert again.wide_ledgers == state.wide_ledgers
    assert (again.batches, again.timestamp) == (state.batches, state.timestamp)
    assert problems(again) == [] and problems(state) == []


def test_replay_refuses_a_change_of_an_unknown_account() -> None:
    state = scenario_state()
    with pytest.raises(ValueError, match="does not exist"):
        rebuild(
            state.accounts,
            state.journal.columns(),
            _expiries([]),
            limits=[LimitChange(99, 5, NOW)],
        )


def test_replay_of_a_big_limit_widens_the_ledger() -> None:
    state = scenario_state()
    _, record = state.set_limits([change(1, MAX)], NOW)
    again = rebuild(
        accounts(SETUP), state.journal.columns(), _expiries([]), limits=list(record.limits)
    )
    assert 1 in again.wide_ledgers and limit_of(again, 1) == MAX
    assert problems(again) == []


# ---------------------------------------------------------------------- determinism


def test_the_same_day_twice_gives_the_same_journal_and_records() -> None:
    first_state, first_records, first_results = random_day(7)
    second_state, second_records, second_results = random_day(7)
    assert first_results == second_results
    assert [r.limits for r in first_records] == [r.limits for r in second_records]
    assert [r.timestamp for r in first_records] == [r.timestamp for r in second_records]
    first, second = first_state.journal.columns(), second_state.journal.columns()
    assert first.id.tobytes() == second.id.tobytes()
    assert first.timestamp.tobytes() == second.timestamp.tobytes()
    assert first_state.accounts == second_state.accounts


@pytest.mark.parametrize("seed", range(4))
def test_fast_and_plain_paths_agree_with_limits_changing(seed: int) -> None:
    fast_state, fast_records, fast_results = random_day(seed, fast=True)
    plain_state, plain_records, plain_results = random_day(seed, fast=False)
    assert fast_results == plain_results
    assert [r.limits for r in fast_records] == [r.limits for r in plain_records]
    assert fast_state.accounts == plain_state.accounts
    assert np.array_equal(
        fast_state.journal.columns().timestamp, plain_state.journal.columns().timestamp
    )
