"""Every result code of the ledger by a small scenario each, then the semantics around them.

The first table holds one scenario (or more) per CreateTransferResult and CreateAccountResult
member, and a meta-test fails when a new member has none. The tests after it pin down linked
chains, two-phase transfers, idempotency, limits, amounts beyond int64, batch bounds and time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest

from samarkand.ledger import (
    BATCH_EVENTS_MAX,
    U128_MAX,
    Account,
    AccountFlags,
    Balance,
    CreateAccountResult,
    CreateTransferResult,
    LedgerState,
    PendingStatus,
    Transfer,
    TransferColumns,
    TransferFlags,
)
from samarkand.ledger.invariants import problems
from samarkand.ledger.journal import BatchRecord
from samarkand.ledger.replay import rebuild
from samarkand.ledger.types import NS_PER_SECOND, U64_MAX

R = CreateTransferResult
A = CreateAccountResult
SECOND = NS_PER_SECOND
ACCOUNTS_NOW = 1_000 * SECOND  # when the accounts of a scenario are opened
START = 2_000 * SECOND  # when its setup transfers run
NOW = 3_000 * SECOND  # when the batch under test runs

LINKED = int(TransferFlags.LINKED)
PENDING = int(TransferFlags.PENDING)
POST = int(TransferFlags.POST_PENDING)
VOID = int(TransferFlags.VOID_PENDING)
MAX = U128_MAX

ACCOUNT_OPTIONS = {
    "debits": int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
    "credits": int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS),
    "closed": int(AccountFlags.CLOSED),
    "linked": int(AccountFlags.LINKED),
}


# ---------------------------------------------------------------------- scenario helpers


def accounts(spec: str) -> list[Account]:
    """Accounts from a spec like `1 2 3@2 4:debits:limit=100 5:credits 6:closed`.

    Each word is an account id, optionally `@ledger` (default 1), then `:`-separated options:
    the flags `debits` (debits must not exceed credits), `credits` (credits must not exceed
    debits), `closed`, `linked`, and the values `limit=`, `code=`, `user_data=`.
    """
    made = []
    for word in spec.split():
        head, *options = word.split(":")
        account_id, _, ledger = head.partition("@")
        flags, values = 0, {"limit": 0, "code": 1, "user_data": 0}
        for option in options:
            name, _, value = option.partition("=")
            if value:
                values[name] = int(value)
            else:
                flags |= ACCOUNT_OPTIONS[name]
        made.append(Account(int(account_id), int(ledger or 1), flags=flags, **values))
    return made


def ledger_with(spec: str) -> LedgerState:
    """A fresh state holding the accounts of `spec` (see `accounts`)."""
    state = LedgerState()
    results, _ = state.create_accounts(accounts(spec), ACCOUNTS_NOW)
    assert results == [A.OK] * len(results)
    return state


def pay(id: int, debit: int, credit: int, amount: int, **fields: int) -> Transfer:
    """A transfer posted at once, in ledger 1 with code 1 unless `fields` say otherwise."""
    values = {"ledger": 1, "code": 1} | fields
    return Transfer(id, debit, credit, amount, **values)


def hold(id: int, debit: int, credit: int, amount: int, **fields: int) -> Transfer:
    """A pending transfer: the first phase of a two-phase transfer."""
    return pay(id, debit, credit, amount, flags=PENDING | fields.pop("flags", 0), **fields)


def post(id: int, pending_id: int, amount: int = 0, **fields: int) -> Transfer:
    """Post `amount` of a pending transfer (0: all of it); other fields inherit when 0."""
    flags = POST | fields.pop("flags", 0)
    values = {"debit_account_id": 0, "credit_account_id": 0, "ledger": 0, "code": 0} | fields
    return Transfer(id=id, amount=amount, flags=flags, pending_id=pending_id, **values)


def void(id: int, pending_id: int, **fields: int) -> Transfer:
    """Void a pending transfer: release all of its amount."""
    return dataclasses.replace(post(id, pending_id, **fields), flags=VOID | fields.get("flags", 0))


def linked(transfer: Transfer) -> Transfer:
    return dataclasses.replace(transfer, flags=transfer.flags | LINKED)


def apply(state: LedgerState, batch: Sequence[Transfer], now: int) -> list[R]:
    results, _ = state.apply(list(batch), now)
    return [R(int(code)) for code in results]


def apply_ok(state: LedgerState, batch: Sequence[Transfer], now: int) -> BatchRecord:
    results, record = state.apply(list(batch), now)
    assert [R(int(code)) for code in results] == [R.OK] * len(batch)
    return record


def balances(state: LedgerState) -> dict[int, Balance]:
    return {account.id: state.balance(account.id) for account in state.accounts}


def journal_rows(state: LedgerState) -> list[Transfer]:
    return state.journal.columns().to_transfers()


def balance(dp: int = 0, dpo: int = 0, cp: int = 0, cpo: int = 0) -> Balance:
    return Balance(debits_pending=dp, debits_posted=dpo, credits_pending=cp, credits_posted=cpo)


# ---------------------------------------------------------------------- the transfer table


@dataclass(frozen=True)
class Case:
    """Accounts, setup transfers that all succeed at START, then a batch at `now`."""

    id: str
    accounts: str
    setup: tuple[Transfer, ...]
    batch: tuple[Transfer, ...]
    expected: tuple[R, ...]
    now: int = NOW


def case(id: str, accounts: str, setup: list, batch: list, expected: list, **kw: int) -> Case:
    return Case(id, accounts, tuple(setup), tuple(batch), tuple(expected), **kw)


TOO_MANY = BATCH_EVENTS_MAX + 1
TRANSFER_CASES = [
    case("ok", "1 2", [], [pay(1, 1, 2, 10)], [R.OK]),
    case("chain: later event fails", "1 2", [],
         [linked(pay(1, 1, 2, 10)), pay(2, 1, 1, 10)],
         [R.LINKED_EVENT_FAILED, R.ACCOUNTS_MUST_BE_DIFFERENT]),
    case("chain: open at the end", "1 2", [],
         [linked(pay(1, 1, 2, 10)), linked(pay(2, 1, 2, 10))],
         [R.LINKED_EVENT_FAILED, R.LINKED_EVENT_CHAIN_OPEN]),
    case("timestamp set by caller", "1 2", [], [pay(1, 1, 2, 10, timestamp=5)],
         [R.TIMESTAMP_MUST_BE_ZERO]),
    case("unknown flag", "1 2", [], [pay(1, 1, 2, 10, flags=1 << 4)], [R.RESERVED_FLAG]),
    case("id 0", "1 2", [], [pay(0, 1, 2, 10)], [R.ID_MUST_NOT_BE_ZERO]),
    case("id 2**128-1", "1 2", [], [pay(MAX, 1, 2, 10)], [R.ID_MUST_NOT_BE_INT_MAX]),
    case("amount 2**128", "1 2", [], [pay(1, 1, 2, MAX + 1)], [R.VALUE_OUT_OF_RANGE]),
    case("negative amount", "1 2", [], [pay(1, 1, 2, -1)], [R.VALUE_OUT_OF_RANGE]),
    case("code 2**16", "1 2", [], [pay(1, 1, 2, 1, code=2**16)], [R.VALUE_OUT_OF_RANGE]),
    case("timeout 2**32", "1 2", [], [hold(1, 1, 2, 1, timeout=2**32)],
         [R.VALUE_OUT_OF_RANGE]),
    case("exists: pending flag", "1 2", [pay(1, 1, 2, 10)], [hold(1, 1, 2, 10)],
         [R.EXISTS_WITH_DIFFERENT_FLAGS]),
    case("exists: pending id", "1 2", [pay(1, 1, 2, 10)], [pay(1, 1, 2, 10, pending_id=7)],
         [R.EXISTS_WITH_DIFFERENT_PENDING_ID]),
    case("exists: post of another pending", "1 2",
         [hold(1, 1, 2, 10), hold(2, 1, 2, 10), post(3, 1)], [post(3, 2)],
         [R.EXISTS_WITH_DIFFERENT_PENDING_ID]),
    case("exists: timeout", "1 2", [hold(1, 1, 2, 10, timeout=60)],
         [hold(1, 1, 2, 10, timeout=30)], [R.EXISTS_WITH_DIFFERENT_TIMEOUT]),
    case("exists: debit account", "1 2 3", [pay(1, 1, 2, 10)], [pay(1, 3, 2, 10)],
         [R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID]),
    case("exists: credit account", "1 2 3", [pay(1, 1, 2, 10)], [pay(1, 1, 3, 10)],
         [R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID]),
    case("exists: amount", "1 2", [pay(1, 1, 2, 10)], [pay(1, 1, 2, 11)],
         [R.EXISTS_WITH_DIFFERENT_AMOUNT]),
    case("exists: user data", "1 2", [pay(1, 1, 2, 10)], [pay(1, 1, 2, 10, user_data=9)],
         [R.EXISTS_WITH_DIFFERENT_USER_DATA]),
    case("exists: ledger", "1 2", [pay(1, 1, 2, 10)], [pay(1, 1, 2, 10, ledger=2)],
         [R.EXISTS_WITH_DIFFERENT_LEDGER]),
    case("exists: code", "1 2", [pay(1, 1, 2, 10)], [pay(1, 1, 2, 10, code=2)],
         [R.EXISTS_WITH_DIFFERENT_CODE]),
    case("exists", "1 2", [pay(1, 1, 2, 10)], [pay(1, 1, 2, 10)], [R.EXISTS]),
    case("pending and post at once", "1 2", [], [hold(1, 1, 2, 10, flags=POST)],
         [R.FLAGS_ARE_MUTUALLY_EXCLUSIVE]),
    case("debit account 0", "1 2", [], [pay(1, 0, 2, 10)],
         [R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO]),
    case("debit account 2**128-1", "1 2", [], [pay(1, MAX, 2, 10)],
         [R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX]),
    case("credit account 0", "1 2", [], [pay(1, 1, 0, 10)],
         [R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO]),
    case("credit account 2**128-1", "1 2", [], [pay(1, 1, MAX, 10)],
         [R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX]),
    case("same account twice", "1 2", [], [pay(1, 1, 1, 10)],
         [R.ACCOUNTS_MUST_BE_DIFFERENT]),
    case("plain transfer with pending id", "1 2", [], [pay(1, 1, 2, 10, pending_id=5)],
         [R.PENDING_ID_MUST_BE_ZERO]),
    case("post without pending id", "1 2", [], [post(2, 0)], [R.PENDING_ID_MUST_NOT_BE_ZERO]),
    case("post of pending id 2**128-1", "1 2", [], [post(2, MAX)],
         [R.PENDING_ID_MUST_NOT_BE_INT_MAX]),
    case("post of itself", "1 2", [hold(1, 1, 2, 10)], [post(2, 2)],
         [R.PENDING_ID_MUST_BE_DIFFERENT]),
    case("timeout on a plain transfer", "1 2", [], [pay(1, 1, 2, 10, timeout=5)],
         [R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER]),
    case("timeout on a post", "1 2", [hold(1, 1, 2, 10)], [post(2, 1, timeout=5)],
         [R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER]),
    case("amount 0", "1 2", [], [pay(1, 1, 2, 0)], [R.AMOUNT_MUST_NOT_BE_ZERO]),
    case("ledger 0", "1 2", [], [pay(1, 1, 2, 10, ledger=0)], [R.LEDGER_MUST_NOT_BE_ZERO]),
    case("code 0", "1 2", [], [pay(1, 1, 2, 10, code=0)], [R.CODE_MUST_NOT_BE_ZERO]),
    case("no debit account", "1 2", [], [pay(1, 9, 2, 10)], [R.DEBIT_ACCOUNT_NOT_FOUND]),
    case("no credit account", "1 2", [], [pay(1, 1, 9, 10)], [R.CREDIT_ACCOUNT_NOT_FOUND]),
    case("accounts in two ledgers", "1 2 3@2", [], [pay(1, 1, 3, 10)],
         [R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER]),
    case("transfer in another ledger", "1 2 3@2", [], [pay(1, 1, 2, 10, ledger=2)],
         [R.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS]),
    case("post of nothing", "1 2", [], [post(2, 1)], [R.PENDING_TRANSFER_NOT_FOUND]),
    case("post of a plain transfer", "1 2", [pay(1, 1, 2, 10)], [post(2, 1)],
         [R.PENDING_TRANSFER_NOT_PENDING]),
    case("post names another debit account", "1 2 3", [hold(1, 1, 2, 10)],
         [post(2, 1, debit_account_id=3)], [R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID]),
    case("post names another credit account", "1 2 3", [hold(1, 1, 2, 10)],
         [post(2, 1, credit_account_id=3)],
         [R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID]),
    case("void names another ledger", "1 2", [hold(1, 1, 2, 10)], [void(2, 1, ledger=2)],
         [R.PENDING_TRANSFER_HAS_DIFFERENT_LEDGER]),
    case("post names another code", "1 2", [hold(1, 1, 2, 10)], [post(2, 1, code=2)],
         [R.PENDING_TRANSFER_HAS_DIFFERENT_CODE]),
    case("post more than pending", "1 2", [hold(1, 1, 2, 10)], [post(2, 1, 11)],
         [R.EXCEEDS_PENDING_TRANSFER_AMOUNT]),
    case("void part of a pending", "1 2", [hold(1, 1, 2, 10)], [void(2, 1, amount=9)],
         [R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT]),
    case("post twice", "1 2", [hold(1, 1, 2, 10), post(2, 1)], [post(3, 1)],
         [R.PENDING_TRANSFER_ALREADY_POSTED]),
    case("void after post", "1 2", [hold(1, 1, 2, 10), post(2, 1)], [void(3, 1)],
         [R.PENDING_TRANSFER_ALREADY_POSTED]),
    case("post after void", "1 2", [hold(1, 1, 2, 10), void(2, 1)], [post(3, 1)],
         [R.PENDING_TRANSFER_ALREADY_VOIDED]),
    case("post after timeout", "1 2", [hold(1, 1, 2, 10, timeout=5)], [post(2, 1)],
         [R.PENDING_TRANSFER_EXPIRED], now=START + 10 * SECOND),
    case("debits pending past 2**128", "1 2 3", [hold(1, 1, 2, MAX)], [hold(2, 1, 3, 1)],
         [R.OVERFLOWS_DEBITS_PENDING]),
    case("credits pending past 2**128", "1 2 3", [hold(1, 1, 2, MAX)], [hold(2, 3, 2, 1)],
         [R.OVERFLOWS_CREDITS_PENDING]),
    case("debits posted past 2**128", "1 2 3", [pay(1, 1, 2, MAX)], [pay(2, 1, 3, 1)],
         [R.OVERFLOWS_DEBITS_POSTED]),
    case("credits posted past 2**128", "1 2 3", [pay(1, 1, 2, MAX)], [pay(2, 3, 2, 1)],
         [R.OVERFLOWS_CREDITS_POSTED]),
    case("debits pending + posted past 2**128", "1 2 3", [hold(1, 1, 2, MAX)],
         [pay(2, 1, 3, 1)], [R.OVERFLOWS_DEBITS]),
    case("credits pending + posted past 2**128", "1 2 3", [hold(1, 1, 2, MAX)],
         [pay(2, 3, 2, 1)], [R.OVERFLOWS_CREDITS]),
    case("timeout past 2**64 ns", "1 2", [], [hold(1, 1, 2, 10, timeout=1)],
         [R.OVERFLOWS_TIMEOUT], now=U64_MAX - SECOND // 2),
    case("debit beyond credits", "1:debits 2", [], [pay(1, 1, 2, 1)], [R.EXCEEDS_CREDITS]),
    case("credit beyond debits", "1 2:credits", [], [pay(1, 1, 2, 1)], [R.EXCEEDS_DEBITS]),
    case("debit account closed", "1:closed 2", [], [pay(1, 1, 2, 1)],
         [R.DEBIT_ACCOUNT_ALREADY_CLOSED]),
    case("credit account closed", "1 2:closed", [], [pay(1, 1, 2, 1)],
         [R.CREDIT_ACCOUNT_ALREADY_CLOSED]),
    case("batch of 8191", "1 2", [], [pay(i, 1, 2, 1) for i in range(1, TOO_MANY + 1)],
         [R.BATCH_TOO_LARGE] * TOO_MANY),
]  # fmt: skip


@pytest.mark.parametrize("scenario", TRANSFER_CASES, ids=lambda c: c.id)
def test_transfer_result(scenario: Case) -> None:
    state = ledger_with(scenario.accounts)
    apply_ok(state, scenario.setup, START)
    before, rows_before = balances(state), journal_rows(state)

    codes, record = state.apply(list(scenario.batch), scenario.now)

    results = [R(int(code)) for code in codes]
    assert results == list(scenario.expected)
    assert problems(state) == []
    applied = [t.id for t, result in zip(scenario.batch, results, strict=True) if result == R.OK]
    assert [row.id for row in journal_rows(state)[len(rows_before) :]] == applied
    if not applied and not len(record.expiries):
        assert balances(state) == before, "a batch where every event failed moved money"


def test_every_transfer_result_has_a_scenario() -> None:
    covered = {code for scenario in TRANSFER_CASES for code in scenario.expected}
    assert covered == set(R), f"codes without a scenario: {sorted(set(R) - covered)}"


def test_overflow_bounds_are_exact() -> None:
    """2**128 - 1 is the largest balance: reaching it succeeds, one unit more fails."""
    state = ledger_with("1 2 3")
    apply_ok(state, [pay(1, 1, 2, MAX - 5)], START)
    assert apply(state, [pay(2, 1, 3, 6)], NOW) == [R.OVERFLOWS_DEBITS_POSTED]
    assert apply(state, [pay(3, 1, 3, 5)], NOW) == [R.OK]
    assert state.balance(1) == balance(dpo=MAX)
    assert problems(state) == []


def test_timeout_bound_is_exact() -> None:
    """A pending transfer may expire at 2**64 - 1 ns, not one nanosecond later."""
    state = ledger_with("1 2")
    now = U64_MAX - SECOND
    assert apply(state, [hold(1, 1, 2, 10, timeout=1)], now) == [R.OK]
    assert state.transfer(1).timestamp == now
    assert apply(state, [hold(2, 1, 2, 10, timeout=1)], now) == [R.OVERFLOWS_TIMEOUT]


# ---------------------------------------------------------------------- the account table


@dataclass(frozen=True)
class AccountCase:
    id: str
    existing: str
    batch: tuple[Account, ...]
    expected: tuple[A, ...]


def account_case(id: str, existing: str, batch: str | list, expected: list) -> AccountCase:
    made = accounts(batch) if isinstance(batch, str) else batch
    return AccountCase(id, existing, tuple(made), tuple(expected))


ACCOUNT_CASES = [
    account_case("ok", "", "1", [A.OK]),
    account_case("chain: later event fails", "", [Account(1, 1, 1, 1), Account(2, 0, 1)],
                 [A.LINKED_EVENT_FAILED, A.LEDGER_MUST_NOT_BE_ZERO]),
    account_case("chain: open at the end", "", "1:linked 2:linked",
                 [A.LINKED_EVENT_FAILED, A.LINKED_EVENT_CHAIN_OPEN]),
    account_case("timestamp set by caller", "", [Account(1, 1, 1, timestamp=5)],
                 [A.TIMESTAMP_MUST_BE_ZERO]),
    account_case("unknown flag", "", [Account(1, 1, 1, flags=1 << 4)], [A.RESERVED_FLAG]),
    account_case("id 0", "", "0", [A.ID_MUST_NOT_BE_ZERO]),
    account_case("id 2**128-1", "", f"{MAX}", [A.ID_MUST_NOT_BE_INT_MAX]),
    account_case("both limit flags", "", "1:debits:credits", [A.FLAGS_ARE_MUTUALLY_EXCLUSIVE]),
    account_case("ledger 0", "", "1@0", [A.LEDGER_MUST_NOT_BE_ZERO]),
    account_case("code 0", "", "1:code=0", [A.CODE_MUST_NOT_BE_ZERO]),
    account_case("ledger 2**32", "", f"1@{2**32}", [A.VALUE_OUT_OF_RANGE]),
    account_case("limit 2**128", "", f"1:limit={MAX + 1}", [A.VALUE_OUT_OF_RANGE]),
    account_case("negative id", "", [Account(-1, 1, 1)], [A.VALUE_OUT_OF_RANGE]),
    account_case("exists: flags", "1", "1:debits", [A.EXISTS_WITH_DIFFERENT_FLAGS]),
    account_case("exists: user data", "1", "1:user_data=3", [A.EXISTS_WITH_DIFFERENT_USER_DATA]),
    account_case("exists: ledger", "1", "1@2", [A.EXISTS_WITH_DIFFERENT_LEDGER]),
    account_case("exists: code", "1", "1:code=2", [A.EXISTS_WITH_DIFFERENT_CODE]),
    account_case("exists: limit", "1", "1:limit=5", [A.EXISTS_WITH_DIFFERENT_LIMIT]),
    account_case("exists", "1:debits:limit=5", "1:debits:limit=5", [A.EXISTS]),
    account_case("exists, linked flag aside", "1", "1:linked 2", [A.EXISTS, A.LINKED_EVENT_FAILED]),
    account_case("exists within the batch", "", "1 1", [A.OK, A.EXISTS]),
    account_case("batch of 8191", "", [Account(i, 1, 1) for i in range(1, TOO_MANY + 1)],
                 [A.BATCH_TOO_LARGE] * TOO_MANY),
]  # fmt: skip


@pytest.mark.parametrize("scenario", ACCOUNT_CASES, ids=lambda c: c.id)
def test_account_result(scenario: AccountCase) -> None:
    state = ledger_with(scenario.existing)
    existing = list(state.accounts)

    results, record = state.create_accounts(list(scenario.batch), NOW)

    assert results == list(scenario.expected)
    created = [a.id for a, result in zip(scenario.batch, results, strict=True) if result == A.OK]
    assert [a.id for a in record.accounts] == created
    assert [a.id for a in state.accounts] == [a.id for a in existing] + created
    assert state.accounts[: len(existing)] == existing, "a failed event changed an account"
    assert problems(state) == []


def test_every_account_result_has_a_scenario() -> None:
    covered = {code for scenario in ACCOUNT_CASES for code in scenario.expected}
    assert covered == set(A), f"codes without a scenario: {sorted(set(A) - covered)}"


def test_stored_account_drops_linked_flag_and_gets_engine_timestamp() -> None:
    state = LedgerState()
    results, record = state.create_accounts(accounts("1:linked:debits 2"), NOW)
    assert results == [A.OK, A.OK]
    assert state.account(1).flags == ACCOUNT_OPTIONS["debits"]
    assert [a.timestamp for a in record.accounts] == [NOW, NOW + 1]


# ---------------------------------------------------------------------- linked chains


def test_failure_in_the_middle_rolls_back_earlier_events_and_fails_later_ones() -> None:
    state = ledger_with("1 2 3")
    batch = [
        linked(pay(1, 1, 2, 10)),
        linked(hold(2, 2, 3, 5)),
        linked(post(3, 2)),
        linked(pay(4, 3, 3, 1)),  # fails: same account twice
        linked(pay(5, 1, 3, 7)),
        pay(6, 1, 3, 7),  # the end of the chain
        pay(7, 2, 1, 1),  # a chain of one after the failed chain
    ]
    assert apply(state, batch, NOW) == [
        R.LINKED_EVENT_FAILED,
        R.LINKED_EVENT_FAILED,
        R.LINKED_EVENT_FAILED,
        R.ACCOUNTS_MUST_BE_DIFFERENT,
        R.LINKED_EVENT_FAILED,
        R.LINKED_EVENT_FAILED,
        R.OK,
    ]
    assert balances(state) == {1: balance(cpo=1), 2: balance(dpo=1), 3: balance()}
    assert [row.id for row in journal_rows(state)] == [7]
    assert state.pending(2) is None and state.transfer(2) is None
    assert problems(state) == []
    # Ids of rolled-back events were never applied: they are free for a later batch.
    assert apply(state, [pay(1, 1, 2, 10), hold(2, 2, 3, 5)], NOW) == [R.OK, R.OK]


def test_first_event_failing_fails_the_whole_chain() -> None:
    state = ledger_with("1 2")
    batch = [linked(pay(1, 1, 9, 10)), linked(pay(2, 1, 2, 10)), pay(3, 1, 2, 10)]
    assert apply(state, batch, NOW) == [
        R.CREDIT_ACCOUNT_NOT_FOUND,
        R.LINKED_EVENT_FAILED,
        R.LINKED_EVENT_FAILED,
    ]
    assert len(state.journal) == 0


def test_chain_open_at_the_end_of_the_batch_fails_as_a_whole() -> None:
    state = ledger_with("1 2")
    batch = [pay(1, 1, 2, 10), linked(pay(2, 1, 2, 20)), linked(pay(3, 1, 2, 30))]
    assert apply(state, batch, NOW) == [R.OK, R.LINKED_EVENT_FAILED, R.LINKED_EVENT_CHAIN_OPEN]
    assert state.balance(2) == balance(cpo=10)


def test_a_single_linked_event_at_the_end_is_an_open_chain() -> None:
    state = ledger_with("1 2")
    assert apply(state, [linked(pay(1, 1, 2, 10))], NOW) == [R.LINKED_EVENT_CHAIN_OPEN]
    assert state.balance(2) == balance()


def test_consecutive_chains_are_independent() -> None:
    state = ledger_with("1 2")
    batch = [
        linked(pay(1, 1, 2, 1)), pay(2, 1, 1, 1),  # fails
        linked(pay(3, 1, 2, 3)), pay(4, 1, 2, 4),  # succeeds
    ]  # fmt: skip
    expected = [R.LINKED_EVENT_FAILED, R.ACCOUNTS_MUST_BE_DIFFERENT, R.OK, R.OK]
    assert apply(state, batch, NOW) == expected
    assert state.balance(2) == balance(cpo=7)


def test_a_chain_is_checked_in_order_so_funding_must_come_first() -> None:
    """Account 2 may only spend what it received: within a chain, order decides."""
    state = ledger_with("1 2:debits 3")
    fund_then_spend = [linked(pay(1, 1, 2, 10)), pay(2, 2, 3, 10)]
    spend_then_fund = [linked(pay(3, 2, 3, 10)), pay(4, 1, 2, 10)]
    assert apply(state, spend_then_fund, NOW) == [R.EXCEEDS_CREDITS, R.LINKED_EVENT_FAILED]
    assert apply(state, fund_then_spend, NOW) == [R.OK, R.OK]
    assert balances(state) == {1: balance(dpo=10), 2: balance(dpo=10, cpo=10), 3: balance(cpo=10)}


def test_post_of_a_pending_created_in_the_same_chain() -> None:
    state = ledger_with("1 2")
    assert apply(state, [linked(hold(1, 1, 2, 10)), post(2, 1, 4)], NOW) == [R.OK, R.OK]
    assert state.balance(1) == balance(dpo=4)
    assert state.pending(1) == PendingStatus.POSTED


def test_chain_rollback_restores_a_pending_that_the_chain_posted() -> None:
    state = ledger_with("1 2")
    apply_ok(state, [hold(1, 1, 2, 10)], START)
    assert apply(state, [linked(post(2, 1)), pay(3, 1, 1, 1)], NOW) == [
        R.LINKED_EVENT_FAILED,
        R.ACCOUNTS_MUST_BE_DIFFERENT,
    ]
    assert state.pending(1) == PendingStatus.PENDING
    assert state.balance(1) == balance(dp=10)
    assert apply(state, [post(2, 1)], NOW) == [R.OK]


def test_duplicate_id_inside_a_chain_breaks_the_chain() -> None:
    state = ledger_with("1 2")
    assert apply(state, [linked(pay(1, 1, 2, 10)), pay(1, 1, 2, 10)], NOW) == [
        R.LINKED_EVENT_FAILED,
        R.EXISTS,
    ]
    assert state.balance(1) == balance()


def test_chains_of_account_creation() -> None:
    state = LedgerState()
    batch = accounts("1:linked 2:linked 3@0 4")
    results, record = state.create_accounts(batch, NOW)
    assert results == [
        A.LINKED_EVENT_FAILED,
        A.LINKED_EVENT_FAILED,
        A.LEDGER_MUST_NOT_BE_ZERO,
        A.OK,
    ]
    assert [a.id for a in state.accounts] == [4] and record.accounts == (state.account(4),)
    assert state.account(1) is None
    results, _ = state.create_accounts(accounts("1:linked 2:linked 3"), NOW)
    assert results == [A.OK] * 3
    assert [a.id for a in state.accounts] == [4, 1, 2, 3]
    assert apply(state, [pay(1, 1, 2, 5), pay(2, 3, 4, 5)], NOW) == [R.OK, R.OK]
    assert problems(state) == []


def test_rolled_back_account_chain_on_a_widened_ledger_leaves_no_trace() -> None:
    state = ledger_with("1 2")
    results, _ = state.create_accounts(accounts(f"3:linked:limit={MAX} 4@0"), NOW)
    assert results == [A.LINKED_EVENT_FAILED, A.LEDGER_MUST_NOT_BE_ZERO]
    assert state.account(3) is None
    assert apply(state, [pay(1, 1, 2, 10)], NOW) == [R.OK]
    assert balances(state) == {1: balance(dpo=10), 2: balance(cpo=10)}
    assert problems(state) == []


# ---------------------------------------------------------------------- two-phase transfers


def test_post_in_full_with_inherited_fields() -> None:
    state = ledger_with("1 2")
    apply_ok(state, [hold(1, 1, 2, 100, code=7, user_data=42)], START)
    assert balances(state) == {1: balance(dp=100), 2: balance(cp=100)}
    assert state.pending(1) == PendingStatus.PENDING

    apply_ok(state, [post(2, 1)], NOW)

    assert balances(state) == {1: balance(dpo=100), 2: balance(cpo=100)}
    assert state.pending(1) == PendingStatus.POSTED
    row = state.transfer(2)
    resolved = (row.debit_account_id, row.credit_account_id, row.amount, row.ledger, row.code)
    assert resolved == (1, 2, 100, 1, 7)
    assert (row.pending_id, row.user_data, row.flags) == (1, 42, POST)


def test_post_with_every_field_named() -> None:
    state = ledger_with("1 2")
    apply_ok(state, [hold(1, 1, 2, 100, code=7)], START)
    named = post(2, 1, 100, debit_account_id=1, credit_account_id=2, ledger=1, code=7)
    apply_ok(state, [named], NOW)
    assert state.balance(2) == balance(cpo=100)


def test_post_in_part_releases_the_rest() -> None:
    state = ledger_with("1:debits 2 3")
    apply_ok(state, [pay(1, 3, 1, 100), hold(2, 1, 2, 80)], START)
    apply_ok(state, [post(3, 2, 30)], NOW)
    assert state.balance(1) == balance(dpo=30, cpo=100)
    assert state.balance(2) == balance(cpo=30)
    assert state.transfer(3).amount == 30
    # The 50 released is spendable again, and not one unit more.
    assert apply(state, [pay(4, 1, 2, 71)], NOW) == [R.EXCEEDS_CREDITS]
    assert apply(state, [pay(4, 1, 2, 70)], NOW) == [R.OK]
    assert problems(state) == []


def test_void_releases_everything() -> None:
    state = ledger_with("1 2")
    apply_ok(state, [hold(1, 1, 2, 100)], START)
    apply_ok(state, [void(2, 1)], NOW)
    assert balances(state) == {1: balance(), 2: balance()}
    assert state.pending(1) == PendingStatus.VOIDED
    assert state.transfer(2).amount == 100
    assert apply(state, [void(3, 1, amount=100)], NOW) == [R.PENDING_TRANSFER_ALREADY_VOIDED]


def test_pending_amount_counts_against_the_allowance() -> None:
    state = ledger_with("1:debits 2 3")
    apply_ok(state, [pay(1, 3, 1, 100), hold(2, 1, 2, 60)], START)
    assert apply(state, [pay(3, 1, 2, 41)], NOW) == [R.EXCEEDS_CREDITS]
    apply_ok(state, [void(4, 2), pay(3, 1, 2, 41)], NOW)
    assert state.balance(1) == balance(dpo=41, cpo=100)


def test_expiry_at_timeout_releases_funds_and_later_post_fails() -> None:
    state = ledger_with("1 2")
    apply_ok(state, [hold(1, 1, 2, 100, timeout=5)], START)
    expires_at = state.transfer(1).timestamp + 5 * SECOND

    record = apply_ok(state, [], expires_at - 1)
    assert len(record.expiries) == 0
    assert state.pending(1) == PendingStatus.PENDING

    results, record = state.apply([post(2, 1)], expires_at)
    assert [R(int(r)) for r in results] == [R.PENDING_TRANSFER_EXPIRED]
    assert record.expiries.pending_id == (1,)
    assert record.expiries.timestamp[0] > state.transfer(1).timestamp
    assert state.pending(1) == PendingStatus.EXPIRED
    assert balances(state) == {1: balance(), 2: balance()}
    assert apply(state, [void(3, 1)], NOW) == [R.PENDING_TRANSFER_EXPIRED]
    # Expired once: a later batch releases nothing again.
    assert len(state.apply([], NOW)[1].expiries) == 0
    assert problems(state) == []


def test_posted_pending_does_not_expire() -> None:
    state = ledger_with("1 2")
    apply_ok(state, [hold(1, 1, 2, 100, timeout=1), post(2, 1, 40)], START)
    record = apply_ok(state, [], START + 10 * SECOND)
    assert len(record.expiries) == 0
    assert state.pending(1) == PendingStatus.POSTED
    assert state.balance(2) == balance(cpo=40)


def test_expiries_come_in_order_of_expiry_time() -> None:
    state = ledger_with("1 2")
    batch = [hold(5, 1, 2, 1, timeout=3), hold(4, 1, 2, 1, timeout=2), hold(3, 1, 2, 1, timeout=9)]
    apply_ok(state, batch, START)
    assert len(state.apply([], START + 2 * SECOND)[1].expiries) == 0
    _, record = state.apply([], START + 5 * SECOND)
    assert record.expiries.pending_id == (4, 5)
    assert list(record.expiries.timestamp) == sorted(set(record.expiries.timestamp))
    assert state.pending(3) == PendingStatus.PENDING


def test_pending_rolled_back_then_recreated_expires_once() -> None:
    """A chain's rolled-back pending leaves its expiry behind; the id may come back.

    Regression: the second pending had the same id and expiry time as the rolled-back one,
    both heap entries matched, and the pending was released twice (balances went negative).
    """
    state = ledger_with("1 2")
    now = START
    batch = [linked(hold(10, 1, 2, 5, timeout=2)), pay(11, 1, 1, 5)]
    assert apply(state, batch, now) == [R.LINKED_EVENT_FAILED, R.ACCOUNTS_MUST_BE_DIFFERENT]
    assert state.timestamp == now + 1  # the rolled-back pending was stamped `now`
    assert apply(state, [hold(10, 1, 2, 5, timeout=1)], now + SECOND) == [R.OK]

    _, record = state.apply([], now + 2 * SECOND)

    assert record.expiries.pending_id == (10,)
    assert balances(state) == {1: balance(), 2: balance()}
    assert problems(state) == []


def test_a_refused_now_leaves_due_expiries_for_the_next_batch() -> None:
    """Regression: a `now` of the wrong type raised only after the expiry heap was popped."""
    state = ledger_with("1 2")
    apply_ok(state, [hold(1, 1, 2, 5, timeout=1)], START)
    for wrong in (float(START + 5 * SECOND), np.int64(START + 5 * SECOND)):
        with pytest.raises(ValueError):
            state.apply([], wrong)  # type: ignore[arg-type]
    assert state.pending(1) == PendingStatus.PENDING

    _, record = state.apply([], START + 5 * SECOND)

    assert record.expiries.pending_id == (1,)
    assert state.balance(1) == balance()


# ---------------------------------------------------------------------- idempotency


def test_resending_a_batch_moves_money_once() -> None:
    state = ledger_with("1 2")
    batch = [pay(1, 1, 2, 10), hold(2, 1, 2, 20, timeout=60), post(3, 2, 5)]
    apply_ok(state, batch, START)
    after, rows = balances(state), journal_rows(state)

    assert apply(state, batch, NOW) == [R.EXISTS] * 3
    assert apply(state, [*batch, *batch], NOW) == [R.EXISTS] * 6

    assert balances(state) == after
    assert journal_rows(state) == rows


def test_the_same_id_twice_in_one_batch() -> None:
    state = ledger_with("1 2")
    assert apply(state, [pay(1, 1, 2, 10), pay(1, 1, 2, 10), pay(1, 1, 2, 11)], NOW) == [
        R.OK,
        R.EXISTS,
        R.EXISTS_WITH_DIFFERENT_AMOUNT,
    ]
    assert state.balance(2) == balance(cpo=10)


def test_resent_post_compares_the_amount_it_posted() -> None:
    state = ledger_with("1 2")
    apply_ok(state, [hold(1, 1, 2, 100), hold(2, 1, 2, 100), post(3, 1), post(4, 2, 30)], START)
    assert apply(state, [post(3, 1), post(3, 1, 100), post(4, 2, 30)], NOW) == [R.EXISTS] * 3
    assert apply(state, [post(4, 2)], NOW) == [R.EXISTS_WITH_DIFFERENT_AMOUNT]
    assert apply(state, [post(3, 1, 99)], NOW) == [R.EXISTS_WITH_DIFFERENT_AMOUNT]
    assert apply(state, [void(3, 1)], NOW) == [R.EXISTS_WITH_DIFFERENT_FLAGS]
    assert apply(state, [post(4, 2, 30, user_data=1)], NOW) == [R.EXISTS_WITH_DIFFERENT_USER_DATA]
    assert state.balance(2) == balance(cpo=130)


def test_linked_flag_is_not_part_of_the_identity() -> None:
    state = ledger_with("1 2")
    apply_ok(state, [linked(pay(1, 1, 2, 10)), pay(2, 1, 2, 10)], START)
    assert state.transfer(1).flags == 0
    # An existing event still fails the chain it sits in, as any result but OK does.
    assert apply(state, [linked(pay(1, 1, 2, 10)), pay(3, 1, 2, 10)], NOW) == [
        R.EXISTS,
        R.LINKED_EVENT_FAILED,
    ]
    assert apply(state, [pay(2, 1, 2, 10)], NOW) == [R.EXISTS]


def param_id(value: object) -> str:
    return value.name if isinstance(value, R | A) else str(value)


PLAIN = pay(1, 1, 2, 10, code=3, user_data=4)
PENDING_BASE = hold(1, 1, 2, 10, code=3, user_data=4, timeout=10_000)
ALTERED_PLAIN = [
    ("flags", PENDING, R.EXISTS_WITH_DIFFERENT_FLAGS),
    ("pending_id", 9, R.EXISTS_WITH_DIFFERENT_PENDING_ID),
    ("timeout", 1, R.EXISTS_WITH_DIFFERENT_TIMEOUT),
    ("debit_account_id", 3, R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID),
    ("credit_account_id", 3, R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID),
    ("amount", 11, R.EXISTS_WITH_DIFFERENT_AMOUNT),
    ("user_data", 5, R.EXISTS_WITH_DIFFERENT_USER_DATA),
    ("ledger", 2, R.EXISTS_WITH_DIFFERENT_LEDGER),
    ("code", 2, R.EXISTS_WITH_DIFFERENT_CODE),
]


@pytest.mark.parametrize("base", [PLAIN, PENDING_BASE], ids=["plain", "pending"])
@pytest.mark.parametrize("field, value, expected", ALTERED_PLAIN, ids=param_id)
def test_every_field_of_a_resent_transfer_is_compared(
    base: Transfer, field: str, value: int, expected: R
) -> None:
    if field == "flags":
        value = 0 if base.flags else PENDING
    state = ledger_with("1 2 3 4@2")
    apply_ok(state, [base], START)
    before = balances(state)
    assert apply(state, [dataclasses.replace(base, **{field: value})], NOW) == [expected]
    assert balances(state) == before


ALTERED_POST = [
    ("flags", VOID, R.EXISTS_WITH_DIFFERENT_FLAGS),
    ("pending_id", 2, R.EXISTS_WITH_DIFFERENT_PENDING_ID),
    ("timeout", 1, R.EXISTS_WITH_DIFFERENT_TIMEOUT),
    ("debit_account_id", 3, R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID),
    ("credit_account_id", 3, R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID),
    ("amount", 7, R.EXISTS_WITH_DIFFERENT_AMOUNT),
    ("user_data", 5, R.EXISTS_WITH_DIFFERENT_USER_DATA),
    ("ledger", 2, R.EXISTS_WITH_DIFFERENT_LEDGER),
    ("code", 2, R.EXISTS_WITH_DIFFERENT_CODE),
    ("debit_account_id", 1, R.EXISTS),  # naming an inherited field is not a difference
    ("code", 3, R.EXISTS),
    ("amount", 10, R.EXISTS),
]


@pytest.mark.parametrize("field, value, expected", ALTERED_POST, ids=param_id)
def test_every_field_of_a_resent_post_is_compared(field: str, value: int, expected: R) -> None:
    state = ledger_with("1 2 3")
    apply_ok(state, [hold(1, 1, 2, 10, code=3), hold(2, 1, 2, 10), post(5, 1)], START)
    assert apply(state, [dataclasses.replace(post(5, 1), **{field: value})], NOW) == [expected]
    assert state.pending(2) == PendingStatus.PENDING


ALTERED_ACCOUNT = [
    ("flags", ACCOUNT_OPTIONS["credits"], A.EXISTS_WITH_DIFFERENT_FLAGS),
    ("user_data", 5, A.EXISTS_WITH_DIFFERENT_USER_DATA),
    ("ledger", 2, A.EXISTS_WITH_DIFFERENT_LEDGER),
    ("code", 2, A.EXISTS_WITH_DIFFERENT_CODE),
    ("limit", 6, A.EXISTS_WITH_DIFFERENT_LIMIT),
]


@pytest.mark.parametrize("field, value, expected", ALTERED_ACCOUNT, ids=param_id)
def test_every_field_of_a_resent_account_is_compared(field: str, value: int, expected: A) -> None:
    state = ledger_with("1:debits:limit=7:user_data=4")
    original = state.account(1)
    resent = dataclasses.replace(original, timestamp=0, **{field: value})
    results, _ = state.create_accounts([resent], NOW)
    assert results == [expected]
    assert state.accounts == [original]


# ---------------------------------------------------------------------- limits


def test_intraday_limit_allows_exactly_limit_below_zero() -> None:
    state = ledger_with("1:debits:limit=100 2")
    assert apply(state, [pay(1, 1, 2, 60), pay(2, 1, 2, 40)], NOW) == [R.OK, R.OK]
    assert state.balance(1).net_credit == -100
    assert apply(state, [pay(3, 1, 2, 1)], NOW) == [R.EXCEEDS_CREDITS]
    assert apply(state, [hold(3, 1, 2, 1)], NOW) == [R.EXCEEDS_CREDITS]
    # Credits received widen the allowance by as much.
    apply_ok(state, [pay(4, 2, 1, 25)], NOW)
    assert apply(state, [pay(5, 1, 2, 26)], NOW) == [R.EXCEEDS_CREDITS]
    assert apply(state, [pay(5, 1, 2, 25)], NOW) == [R.OK]
    assert state.balance(1).net_credit == -100
    assert problems(state) == []


def test_mirror_limit_allows_exactly_limit_above_zero() -> None:
    """A credits-limited account may hold `limit` more credits than debits, no more."""
    state = ledger_with("1 2:credits:limit=50")
    assert apply(state, [pay(1, 1, 2, 50)], NOW) == [R.OK]
    assert apply(state, [pay(2, 1, 2, 1)], NOW) == [R.EXCEEDS_DEBITS]
    assert apply(state, [hold(2, 1, 2, 1)], NOW) == [R.EXCEEDS_DEBITS]
    assert state.balance(2).net_credit == 50


def test_limit_without_a_flag_limits_nothing() -> None:
    state = ledger_with("1:limit=5 2")
    assert apply(state, [pay(1, 1, 2, 1_000)], NOW) == [R.OK]


def test_limit_above_int64_keeps_the_allowance_exact() -> None:
    limit = 2**100 + 3
    state = ledger_with(f"1:debits:limit={limit} 2")
    assert state.wide_ledgers == {1}
    assert apply(state, [pay(1, 1, 2, limit + 1)], NOW) == [R.EXCEEDS_CREDITS]
    assert apply(state, [pay(1, 1, 2, limit)], NOW) == [R.OK]
    assert state.balance(1).net_credit == -limit
    assert problems(state) == []


# ---------------------------------------------------------------------- amounts beyond int64


def test_amounts_above_2_63_up_to_2_128_are_exact() -> None:
    state = ledger_with("1 2 3 4")
    amounts = [2**63, 2**64 + 1, 2**127 + 12345]
    apply_ok(state, [pay(i, 1, 2, a) for i, a in enumerate(amounts, start=1)], NOW)
    apply_ok(state, [hold(9, 3, 4, MAX)], NOW)
    assert state.balance(2) == balance(cpo=sum(amounts))
    assert state.balance(4) == balance(cp=MAX)
    assert [row.amount for row in journal_rows(state)] == [*amounts, MAX]
    apply_ok(state, [post(10, 9, MAX - 1)], NOW)
    assert state.balance(3) == balance(dpo=MAX - 1)
    assert problems(state) == []


def test_ledger_widened_mid_life_keeps_balances_exact() -> None:
    state = ledger_with("1 2 3 4@2 5@2")
    half = 2**62
    setup = [pay(1, 1, 2, half), hold(2, 1, 3, half - 2), pay(3, 4, 5, 7, ledger=2)]
    apply_ok(state, setup, START)
    assert state.wide_ledgers == set()

    apply_ok(state, [pay(4, 2, 3, 1)], NOW)  # fits: Σ is exactly 2**63 - 1
    assert state.wide_ledgers == set()
    apply_ok(state, [pay(5, 2, 3, 1)], NOW)  # Σ would pass 2**63 - 1: the ledger widens
    assert state.wide_ledgers == {1}

    assert state.balance(1) == balance(dp=half - 2, dpo=half)
    assert state.balance(2) == balance(dpo=2, cpo=half)
    assert state.balance(3) == balance(cp=half - 2, cpo=2)
    assert state.balance(5) == balance(cpo=7)

    rest = MAX - (2 * half - 2)  # what account 1 may still send once the pending is posted
    apply_ok(state, [post(6, 2), pay(7, 1, 3, rest)], NOW)
    assert state.balance(1) == balance(dpo=MAX)
    assert state.balance(3) == balance(cpo=2 + (half - 2) + rest)
    assert apply(state, [pay(8, 1, 2, 1)], NOW) == [R.OVERFLOWS_DEBITS_POSTED]
    assert problems(state) == []


def test_chain_rolled_back_after_widening_restores_exact_balances() -> None:
    state = ledger_with("1 2 3:debits")
    apply_ok(state, [pay(1, 1, 2, 10)], START)
    batch = [linked(pay(2, 1, 2, 2**64)), linked(pay(3, 2, 1, 3)), pay(4, 3, 1, 1)]
    assert apply(state, batch, NOW) == [
        R.LINKED_EVENT_FAILED,
        R.LINKED_EVENT_FAILED,
        R.EXCEEDS_CREDITS,
    ]
    assert state.wide_ledgers == {1}  # widening is for good, even when the chain fails
    assert balances(state) == {1: balance(dpo=10), 2: balance(cpo=10), 3: balance()}
    assert problems(state) == []


def test_columns_with_wide_values_give_the_same_results_as_transfers() -> None:
    batch = [
        pay(1, 1, 2, 2**100),
        pay(2**64 + 5, 1, 2, 3),
        hold(3, 1, 2, 2**70),
        post(4, 3, 2**69),
        pay(5, 1, 2, -1),
        pay(6, 1, 2, MAX + 1),
    ]
    by_rows, by_columns = ledger_with("1 2"), ledger_with("1 2")
    results = apply(by_rows, batch, NOW)
    assert results == [R.OK, R.OK, R.OK, R.OK, R.VALUE_OUT_OF_RANGE, R.VALUE_OUT_OF_RANGE]
    column_results, _ = by_columns.apply(TransferColumns.from_transfers(batch), NOW)
    assert [R(int(r)) for r in column_results] == results
    assert journal_rows(by_columns) == journal_rows(by_rows)
    assert balances(by_columns) == balances(by_rows)


def test_replay_of_wide_and_narrow_ledgers_gives_the_same_balances() -> None:
    state = ledger_with("1 2 3 4@2 5@2")
    wide = [pay(1, 1, 2, 2**90), hold(2, 2, 3, 2**65, timeout=1), pay(3, 4, 5, 9, ledger=2)]
    apply_ok(state, wide, START)
    narrow = [hold(4, 5, 4, 3, timeout=1, ledger=2), hold(5, 1, 3, 4), post(6, 5, 1)]
    apply_ok(state, narrow, START)
    _, record = state.apply([], NOW)
    assert record.expiries.pending_id == (2, 4)

    replayed = rebuild(state.accounts, state.journal.columns(), record.expiries)

    assert balances(replayed) == balances(state)
    assert replayed.pending_status == state.pending_status
    assert state.balance(3) == balance(cpo=1)


# ---------------------------------------------------------------------- batch bounds


def test_batch_of_8191_applies_nothing_not_even_expiries() -> None:
    state = ledger_with("1 2")
    apply_ok(state, [hold(1, 1, 2, 10, timeout=1)], START)
    before, timestamp = balances(state), state.timestamp
    batch = [pay(i, 1, 2, 1) for i in range(2, TOO_MANY + 2)]

    results, record = state.apply(batch, NOW)

    assert set(results.tolist()) == {R.BATCH_TOO_LARGE}
    assert len(results) == TOO_MANY
    assert record.is_empty
    assert (balances(state), state.timestamp, len(state.journal)) == (before, timestamp, 1)
    assert state.pending(1) == PendingStatus.PENDING


def test_batch_of_8190_is_applied() -> None:
    state = ledger_with("1 2")
    batch = [pay(i, 1, 2, 1) for i in range(1, BATCH_EVENTS_MAX + 1)]
    results, record = state.apply(batch, NOW)
    assert not results.any()
    assert len(record.transfers) == BATCH_EVENTS_MAX
    assert state.balance(2) == balance(cpo=BATCH_EVENTS_MAX)


# ---------------------------------------------------------------------- time


def test_timestamps_strictly_increase_even_when_now_goes_back() -> None:
    state = ledger_with("1 2")
    stamps = []
    for now in (NOW, NOW, NOW - 50 * SECOND, NOW + 1, 5):
        batch = [pay(100 + len(stamps), 1, 2, 1), hold(200 + len(stamps), 1, 2, 1)]
        stamps.extend(apply_ok(state, batch, now).transfers.timestamp.tolist())
        _, accounts_record = state.create_accounts(accounts(f"{10 + len(stamps)}"), now)
        stamps.extend(a.timestamp for a in accounts_record.accounts)
    assert stamps[0] == NOW
    assert all(a < b for a, b in zip(stamps, stamps[1:], strict=False)), stamps
    assert state.timestamp == stamps[-1]


def test_timestamp_follows_now_when_now_is_ahead() -> None:
    state = ledger_with("1 2")
    record = apply_ok(state, [pay(1, 1, 2, 1), pay(2, 1, 2, 1)], NOW)
    assert record.transfers.timestamp.tolist() == [NOW, NOW + 1]
    assert state.transfer(2).timestamp == NOW + 1


def test_failed_events_consume_timestamps_but_leave_no_row() -> None:
    state = ledger_with("1 2")
    apply(state, [pay(1, 1, 1, 1), pay(2, 1, 2, 1)], NOW)
    assert [(row.id, row.timestamp) for row in journal_rows(state)] == [(2, NOW + 1)]


def test_expiry_is_judged_at_now_while_timestamps_stay_monotonic() -> None:
    """Documented choice: expiry is evaluated at the batch's `now`, before its events."""
    state = ledger_with("1 2")
    apply_ok(state, [hold(1, 1, 2, 10, timeout=1)], NOW)
    assert len(state.apply([], NOW - 10 * SECOND)[1].expiries) == 0
    _, record = state.apply([], NOW + SECOND)
    assert record.expiries.pending_id == (1,)
    assert record.expiries.timestamp[0] > state.transfer(1).timestamp


def test_record_accounts_and_transfers_match_the_state() -> None:
    state = LedgerState()
    _, record = state.create_accounts(accounts("1 2"), NOW)
    assert record.accounts == tuple(state.accounts)
    record = apply_ok(state, [pay(1, 1, 2, 3), hold(2, 1, 2, 4)], NOW)
    assert record.transfers.to_transfers() == [state.transfer(1), state.transfer(2)]
    assert record.sequence == 2 and record.now == NOW


# ---------------------------------------------------------------------- columns


def test_columns_keep_floats_and_bools_for_the_plain_path_to_refuse() -> None:
    """Regression: a float that was not the column's minimum was truncated (2.5 became 2),
    and bools became 0 and 1, so a batch given as columns moved money its rows refuse."""
    batch = [
        pay(1, 1, 2, 1),
        pay(2, 1, 2, 2.5),  # type: ignore[arg-type]
        pay(3, 1, 2, True),  # type: ignore[arg-type]
        pay(4, 1, 2, 7, code=np.bool_(True)),  # type: ignore[arg-type]
    ]
    columns = TransferColumns.from_transfers(batch)
    assert columns.amount.dtype == object and columns.amount.tolist() == [1, 2.5, True, 7]
    assert columns.code.dtype == object
    assert TransferColumns.build(id=np.array([True, False])).id.dtype == object
    by_rows, by_columns = ledger_with("1 2"), ledger_with("1 2")
    expected = [R.OK, R.VALUE_OUT_OF_RANGE, R.VALUE_OUT_OF_RANGE, R.VALUE_OUT_OF_RANGE]
    assert apply(by_rows, batch, NOW) == expected
    assert [R(int(r)) for r in by_columns.apply(columns, NOW)[0]] == expected
    assert by_columns.balance(2) == by_rows.balance(2) == balance(cpo=1)


def test_columns_stay_narrow_for_ints_of_any_kind() -> None:
    flags = [TransferFlags.PENDING, 0, np.uint16(1)]
    assert TransferColumns.build(id=[1, 2, 3], flags=flags).flags.dtype == np.uint16
    assert TransferColumns.build(id=np.array([1, 2, 3], dtype=np.int64)).id.dtype == np.uint64
    assert TransferColumns.build(id=[1, 2**64]).id.dtype == object
    assert TransferColumns.build(id=[1, -1]).id.dtype == object
