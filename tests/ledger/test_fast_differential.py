"""The fast path of batch apply against the plain path: same inputs, same everything.

Two ledgers with the same accounts take the same batches, one with `apply(..., fast=True)`,
the other with `fast=False`; results, journal columns, balances, pending statuses, expiries
and the transfer index must be identical after every batch. The batches are drawn to reach
every branch of the fast path: limits, duplicates, linked chains, two-phase transfers with
timeouts, values beyond the narrow dtypes, wide ledgers, unknown accounts and zero fields.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import Iterator

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samarkand.ledger import (
    Account,
    AccountFlags,
    CreateTransferResult,
    LedgerState,
    PendingStatus,
    Transfer,
    TransferColumns,
    TransferFlags,
    fast,
)
from samarkand.ledger.columns import FIELD_NAMES
from samarkand.ledger.invariants import ensure
from samarkand.ledger.journal import BatchRecord
from samarkand.ledger.types import INT64_MAX, NS_PER_SECOND, U64_MAX, U128_MAX, TransferCode

R = CreateTransferResult
LINKED = int(TransferFlags.LINKED)
PENDING = int(TransferFlags.PENDING)
POST = int(TransferFlags.POST_PENDING)
VOID = int(TransferFlags.VOID_PENDING)
DEBITS = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
CREDITS = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
SECOND = NS_PER_SECOND
WIDE_ID = 2**64 + 7

# Ledger 1: every kind of account, small limits, ids too sparse for a direct lookup table.
# Ledger 2: two plain accounts. Ledger 3 is wide from the start (a limit beyond int64).
# Ledger 4 is narrow but near the bound, so a batch with big amounts widens it half-way.
# Account WIDE_ID needs a Python int id.
ACCOUNTS = [
    Account(id=1, ledger=1, code=1),
    Account(id=2, ledger=1, code=1),
    Account(id=3, ledger=1, code=1, flags=DEBITS, limit=40),
    Account(id=4, ledger=1, code=1, flags=DEBITS),
    Account(id=5, ledger=1, code=1, flags=CREDITS, limit=60),
    Account(id=6, ledger=1, code=1, flags=CREDITS),
    Account(id=WIDE_ID, ledger=1, code=1),
    Account(id=2**40 + 3, ledger=1, code=1, flags=DEBITS, limit=20),  # sparse ids: hash lookup
    Account(id=10, ledger=2, code=1),
    Account(id=11, ledger=2, code=1, flags=DEBITS, limit=30),
    Account(id=20, ledger=3, code=1, limit=2**63),
    Account(id=21, ledger=3, code=1, flags=DEBITS, limit=5),
    Account(id=30, ledger=4, code=1, limit=2**62),
    Account(id=31, ledger=4, code=1, flags=DEBITS, limit=2**62),
]
LEDGER_OF = {a.id: a.ledger for a in ACCOUNTS}
ACCOUNT_IDS = [a.id for a in ACCOUNTS]
LEDGER_ONE = [a.id for a in ACCOUNTS if a.ledger == 1]  # where the limits are: drawn most
SETTINGS = settings(
    derandomize=True,
    database=None,
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@contextlib.contextmanager
def fast_knobs(run_events_min: int, limit_rounds_max: int) -> Iterator[None]:
    """Let tiny runs take the vectorised route (and the round budget run out) in tests."""
    saved = fast.RUN_EVENTS_MIN, fast.LIMIT_ROUNDS_MAX
    fast.RUN_EVENTS_MIN, fast.LIMIT_ROUNDS_MAX = run_events_min, limit_rounds_max
    try:
        yield
    finally:
        fast.RUN_EVENTS_MIN, fast.LIMIT_ROUNDS_MAX = saved


def fresh_ledger() -> LedgerState:
    state = LedgerState(capacity=4)
    results, _ = state.create_accounts(ACCOUNTS, SECOND)
    assert not any(results)
    return state


# ---------------------------------------------------------------------- strategies
# Drawn from one seeded Random rather than from nested strategies: hypothesis leans to the
# bounds of every integer it draws, which would make most events malformed and runs short.

AMOUNT_RANGES = {
    "small": (1, 60),
    "zero": (0, 0),
    "big": (2**60, 2**62),  # two in a run pass int64: the ledger widens half-way
    "beyond int64": (2**63, 2**64 - 1),
    "beyond uint64": (2**64, 2**65),
}
AMOUNT_WEIGHTS = {"small": 40, "zero": 1, "big": 1, "beyond int64": 1, "beyond uint64": 1}
SHAPES_CLEAN = {"simple": 20, "pending": 6, "repeat": 1, "phase": 1}
SHAPES_MIXED = {"simple": 8, "pending": 4, "repeat": 2, "phase": 2, "odd": 1, "linked": 1}
ODD_FIELDS = [
    ("timestamp", 1),
    ("flags", 16),
    ("flags", PENDING | POST),
    ("pending_id", 3),
    ("timeout", 4),
    ("id", 0),
    ("id", U128_MAX),
    ("id", 2**70),
    ("code", 2**16),
    ("ledger", 2**40),
    ("flags", 2**16 + LINKED),  # beyond uint16, yet it links the next event
    ("flags", -1),
]
SAME_LEDGER = {
    a.id: [b.id for b in ACCOUNTS if b.ledger == a.ledger and b.id != a.id] for a in ACCOUNTS
}
UNKNOWN_IDS = [0, 99, U128_MAX]


def pick(rnd: random.Random, weights: dict[str, int]) -> str:
    return rnd.choices(list(weights), weights=list(weights.values()))[0]


def account_pair(rnd: random.Random) -> tuple[int, int]:
    """Mostly two accounts of one ledger (so that events reach the limit checks)."""
    if rnd.random() < 0.05:
        return rnd.choice(UNKNOWN_IDS + ACCOUNT_IDS), rnd.choice(UNKNOWN_IDS + ACCOUNT_IDS)
    debit = rnd.choice(LEDGER_ONE * 4 + ACCOUNT_IDS)
    if rnd.random() < 0.05:
        return debit, rnd.choice(ACCOUNT_IDS)
    return debit, rnd.choice(SAME_LEDGER[debit])


def draw_event(
    rnd: random.Random, earlier: list[Transfer], shapes: dict[str, int], big: bool
) -> Transfer:
    """One event: mostly simple, sometimes a repeat (exact or altered), a two-phase step, a
    link in a chain or a malformed one."""
    shape = pick(rnd, shapes)
    if shape == "repeat" and earlier:
        event = rnd.choice(earlier)
        if rnd.random() < 0.5:
            name = rnd.choice(["amount", "user_data", "code", "timeout", "flags"])
            event = dataclasses.replace(event, **{name: getattr(event, name) + 1})
        return event
    debit, credit = account_pair(rnd)
    kind = "big" if big and rnd.random() < 0.3 else pick(rnd, AMOUNT_WEIGHTS)
    event = Transfer(
        id=rnd.randint(1, 40) if rnd.random() < 0.2 else rnd.randint(1000, 10**6),
        debit_account_id=debit,
        credit_account_id=credit,
        amount=rnd.randint(*AMOUNT_RANGES[kind]),
        ledger=LEDGER_OF.get(debit, 1) if rnd.random() < 0.97 else rnd.choice([0, 1, 2, 7]),
        code=1 if rnd.random() < 0.97 else rnd.choice([0, 2]),
        user_data=rnd.choice([0] * 8 + [5, 2**64 + 1]),
    )
    if shape == "pending":
        timeout = rnd.choice([0, 1, 2, 3, 2**32 - 1])
        event = dataclasses.replace(event, flags=PENDING, timeout=timeout)
    elif shape == "phase":
        event = dataclasses.replace(
            event,
            flags=rnd.choice([POST, VOID, POST | LINKED]),
            pending_id=rnd.choice([e.id for e in earlier if e.flags & PENDING] + [0, 77]),
            amount=rnd.choice([0, 1, 5]),
            debit_account_id=rnd.choice([0, debit]),
            credit_account_id=rnd.choice([0, credit]),
        )
    elif shape == "odd":
        name, value = rnd.choice(ODD_FIELDS)
        event = dataclasses.replace(event, **{name: value})
    elif shape == "linked":
        event = dataclasses.replace(event, flags=event.flags | LINKED)
    return event


def draw_plan(rnd: random.Random) -> list[tuple[int, list[Transfer], bool]]:
    """Batches with the time each runs at and whether it travels as columns."""
    earlier: list[Transfer] = []
    plan = []
    now = 10 * SECOND
    for _ in range(rnd.randint(1, 4)):
        now += rnd.choice([0, 1, SECOND, 2 * SECOND, 4 * SECOND])
        shapes = SHAPES_CLEAN if rnd.random() < 0.5 else SHAPES_MIXED
        big = rnd.random() < 0.15
        batch = []
        for _ in range(rnd.choice([0, 1, 5, 20, 40, 60])):
            batch.append(draw_event(rnd, earlier, shapes, big))
            earlier.append(batch[-1])
        plan.append((now, batch, rnd.random() < 0.75))
    return plan


scenarios = st.randoms(use_true_random=True).map(draw_plan)


# ---------------------------------------------------------------------- comparison


def assert_same(fast_state: LedgerState, plain_state: LedgerState) -> None:
    for slot in range(len(plain_state.accounts)):
        assert fast_state._get(slot) == plain_state._get(slot), plain_state.accounts[slot]
    assert fast_state.ledger_totals == plain_state.ledger_totals
    assert fast_state.wide_ledgers == plain_state.wide_ledgers
    assert_same_columns(fast_state.journal.columns(), plain_state.journal.columns())
    assert fast_state.transfer_row == plain_state.transfer_row
    assert fast_state.pending_status == plain_state.pending_status
    assert fast_state.pending_expires_at == plain_state.pending_expires_at
    assert sorted(fast_state.expiry_heap) == sorted(plain_state.expiry_heap)
    assert fast_state.timestamp == plain_state.timestamp


def assert_same_columns(fast_rows: TransferColumns, plain_rows: TransferColumns) -> None:
    for name in FIELD_NAMES:
        fast_column, plain_column = getattr(fast_rows, name), getattr(plain_rows, name)
        assert fast_column.dtype == plain_column.dtype, name
        assert fast_column.tolist() == plain_column.tolist(), name


def assert_same_record(fast_record: BatchRecord, plain_record: BatchRecord) -> None:
    assert fast_record.sequence == plain_record.sequence
    assert fast_record.expiries == plain_record.expiries
    assert fast_record == dataclasses.replace(plain_record, transfers=fast_record.transfers)
    assert_same_columns(fast_record.transfers, plain_record.transfers)


@SETTINGS
@given(
    scenarios,
    st.sampled_from([1, 1, 2, fast.RUN_EVENTS_MIN]),
    st.sampled_from([1, 2, fast.LIMIT_ROUNDS_MAX]),
)
def test_fast_path_equals_plain_path(
    plan: list[tuple[int, list[Transfer], bool]], run_events_min: int, limit_rounds_max: int
) -> None:
    fast_state, plain_state = fresh_ledger(), fresh_ledger()
    with fast_knobs(run_events_min, limit_rounds_max):
        for now, batch, as_columns in plan:
            given_batch = TransferColumns.from_transfers(batch) if as_columns else batch
            fast_results, fast_record = fast_state.apply(given_batch, now)
            plain_results, plain_record = plain_state.apply(given_batch, now, fast=False)
            assert fast_results.dtype == np.uint8
            assert fast_results.tolist() == plain_results.tolist()
            assert_same_record(fast_record, plain_record)
            assert_same(fast_state, plain_state)
    ensure(fast_state)


# ---------------------------------------------------------------------- examples


def simple_batch(count: int, first_id: int = 1, **fields: np.ndarray) -> TransferColumns:
    rng = np.random.default_rng(count)
    debit = rng.integers(1, 3, count)
    columns = {
        "id": np.arange(first_id, first_id + count, dtype=np.uint64),
        "debit_account_id": debit,
        "credit_account_id": 3 - debit,
        "amount": rng.integers(1, 1_001, count),
        "ledger": np.ones(count, dtype=np.uint32),
        "code": np.ones(count, dtype=np.uint16),
    }
    columns.update(fields)
    return TransferColumns.build(**columns)


def two_accounts(flags: int = 0, limit: int = 0) -> LedgerState:
    """Account 1 (with `flags` and `limit`) and 2, plus 3 as a bystander."""
    state = LedgerState()
    results, _ = state.create_accounts(
        [
            Account(id=1, ledger=1, code=1, flags=flags, limit=limit),
            Account(id=2, ledger=1, code=1),
            Account(id=3, ledger=1, code=1),
        ],
        SECOND,
    )
    assert not any(results)
    return state


def test_a_full_batch_of_simple_transfers_takes_the_vectorised_route() -> None:
    state = two_accounts()
    batch = simple_batch(8_190)
    results, record = state.apply(batch, 2 * SECOND)
    assert not results.any()
    assert state.fast_events == 8_190
    assert len(record.transfers) == 8_190
    assert record.transfers.timestamp.tolist() == list(range(2 * SECOND, 2 * SECOND + 8_190))
    debited = int(batch.amount[batch.debit_account_id == 1].sum())
    credited = int(batch.amount[batch.credit_account_id == 1].sum())
    balance = state.balance(1)
    assert (balance.debits_posted, balance.credits_posted) == (debited, credited)
    ensure(state)


def test_a_limit_breach_mid_run_fails_alone_and_the_run_goes_on() -> None:
    state = two_accounts(flags=DEBITS, limit=100)
    amount = np.full(40, 10, dtype=np.uint64)
    debit = np.full(40, 2, dtype=np.uint64)
    credit = np.full(40, 3, dtype=np.uint64)
    debit[[3, 5, 30]] = 1  # account 1 may go 100 below zero: 10, 10 pass ...
    amount[5] = 95  # ... but 95 more would take it to 105
    batch = simple_batch(40, debit_account_id=debit, credit_account_id=credit, amount=amount)
    results, _ = state.apply(batch, 2 * SECOND)
    assert results.tolist() == [R.EXCEEDS_CREDITS if i == 5 else R.OK for i in range(40)]
    assert state.fast_events == 40
    assert state.balance(1).debits_posted == 20
    assert state.transfer(6) is None


def test_a_repeated_id_in_the_batch_goes_plain_and_sees_the_first() -> None:
    state = two_accounts()
    batch = simple_batch(60)
    for name in FIELD_NAMES:
        getattr(batch, name)[30] = getattr(batch, name)[10]
        getattr(batch, name)[50] = getattr(batch, name)[20]
    batch.amount[50] += 1
    results, record = state.apply(batch, 2 * SECOND)
    expected = [R.OK] * 60
    expected[30], expected[50] = R.EXISTS, R.EXISTS_WITH_DIFFERENT_AMOUNT
    assert results.tolist() == expected
    assert state.fast_events == 49  # runs 0..29 and 31..49; 51..59 is too short a run
    assert len(record.transfers) == 58


def test_pending_transfers_expire_after_a_vectorised_apply() -> None:
    state = two_accounts()
    batch = simple_batch(
        32, flags=np.full(32, PENDING, dtype=np.uint16), timeout=np.full(32, 2, dtype=np.uint32)
    )
    results, _ = state.apply(batch, 2 * SECOND)
    assert not results.any() and state.fast_events == 32
    assert state.pending(1) == PendingStatus.PENDING
    assert state.balance(1).debits_pending + state.balance(2).debits_pending == int(
        batch.amount.sum()
    )
    _, record = state.apply(simple_batch(0), 4 * SECOND + 31)  # event i expires at 4 s + i
    assert len(record.expiries) == 32
    assert state.pending(1) == PendingStatus.EXPIRED
    assert state.balance(1).debits_pending == state.balance(2).debits_pending == 0


def test_the_journal_does_not_share_memory_with_the_batch() -> None:
    state = two_accounts()
    batch = simple_batch(32)
    amounts = batch.amount.tolist()
    state.apply(batch, 2 * SECOND)
    batch.amount[:] = 7
    batch.id[:] = 99
    assert state.journal.columns().id.tolist() == list(range(1, 33))
    assert state.journal.columns().amount.tolist() == amounts


def test_transfers_as_values_go_fast_unless_a_field_is_not_an_int() -> None:
    state = two_accounts()
    transfers = simple_batch(32).to_transfers()
    results, _ = state.apply(transfers, 2 * SECOND)
    assert not results.any() and state.fast_events == 32
    odd = [dataclasses.replace(t, id=t.id + 100) for t in transfers]
    odd[4] = dataclasses.replace(odd[4], code=True)
    plain = two_accounts()
    plain.apply(transfers, 2 * SECOND, fast=False)
    fast_results, _ = state.apply(odd, 3 * SECOND)
    plain_results, _ = plain.apply(odd, 3 * SECOND, fast=False)
    assert fast_results.tolist() == plain_results.tolist()
    assert fast_results[4] == R.VALUE_OUT_OF_RANGE
    assert state.fast_events == 32


def test_an_int_enum_code_goes_fast_and_lands_as_its_value() -> None:
    transfers = [
        dataclasses.replace(t, code=TransferCode.PAYMENT) for t in simple_batch(32).to_transfers()
    ]
    fast_state, plain_state = two_accounts(), two_accounts()
    fast_results, fast_record = fast_state.apply(transfers, 2 * SECOND)
    plain_results, plain_record = plain_state.apply(transfers, 2 * SECOND, fast=False)
    assert fast_results.tolist() == plain_results.tolist() == [R.OK] * 32
    assert fast_state.fast_events == 32
    assert fast_record.transfers.code.tolist() == [int(TransferCode.PAYMENT)] * 32
    assert_same_record(fast_record, plain_record)
    assert_same(fast_state, plain_state)


def test_amounts_near_the_int64_bound_widen_the_ledger_exactly_as_plain() -> None:
    big = np.full(32, 2**61, dtype=np.uint64)
    batch = simple_batch(32, amount=big)
    fast_state, plain_state = two_accounts(), two_accounts()
    fast_results, _ = fast_state.apply(batch, 2 * SECOND)
    plain_results, _ = plain_state.apply(batch, 2 * SECOND, fast=False)
    assert fast_results.tolist() == plain_results.tolist()
    assert fast_state.wide_ledgers == plain_state.wide_ledgers == {1}
    assert fast_state.balance(1) == plain_state.balance(1)
    assert 0 < fast_state.fast_events < 32
    assert INT64_MAX < sum(batch.amount.tolist()) <= U64_MAX * 32


def same_outcome(make_batch: object, accounts: bool = True) -> tuple[list[int], LedgerState]:
    """Apply the batch `make_batch()` builds to two fresh ledgers, fast and plain; compare."""
    fast_state, plain_state = two_accounts(), two_accounts()
    if not accounts:
        fast_state, plain_state = LedgerState(capacity=0), LedgerState(capacity=0)
    fast_results, fast_record = fast_state.apply(make_batch(), 2 * SECOND)  # type: ignore[operator]
    plain_results, plain_record = plain_state.apply(make_batch(), 2 * SECOND, fast=False)  # type: ignore[operator]
    assert fast_results.tolist() == plain_results.tolist()
    assert_same_record(fast_record, plain_record)
    assert_same(fast_state, plain_state)
    return fast_results.tolist(), fast_state


def test_a_batch_too_large_is_refused_alike() -> None:
    results, _ = same_outcome(lambda: simple_batch(8_191))
    assert set(results) == {R.BATCH_TOO_LARGE}
    results, _ = same_outcome(lambda: simple_batch(8_191).to_transfers())
    assert set(results) == {R.BATCH_TOO_LARGE}


def test_a_ledger_without_accounts_goes_plain() -> None:
    results, state = same_outcome(lambda: simple_batch(32), accounts=False)
    assert set(results) == {R.DEBIT_ACCOUNT_NOT_FOUND} and state.fast_events == 0


def test_accounts_with_wide_ids_go_the_vectorised_route() -> None:
    def accounts(state: LedgerState) -> LedgerState:
        ids = (2**64 + 1, 2**64 + 2)
        results, _ = state.create_accounts([Account(id=i, ledger=1, code=1) for i in ids], SECOND)
        assert not any(results)
        return state

    batch = simple_batch(
        32,
        debit_account_id=np.full(32, 2**64 + 1, dtype=object),
        credit_account_id=np.full(32, 2**64 + 2, dtype=object),
    )
    fast_state, plain_state = accounts(LedgerState()), accounts(LedgerState())
    fast_results, _ = fast_state.apply(batch, 2 * SECOND)
    plain_results, _ = plain_state.apply(batch, 2 * SECOND, fast=False)
    assert fast_results.tolist() == plain_results.tolist() == [R.OK] * 32
    assert fast_state.fast_events == 32  # looked up one by one, decided with NumPy
    assert_same(fast_state, plain_state)


def hub_accounts(numbers: int) -> list[Account]:
    """Settlement-shaped accounts: 128-bit ids (the ledger number in the high half), debits
    limited by a small intraday credit; a float-exact id (2**65) among them."""
    made = [
        Account(id=(156 << 64) | (n << 16) | 3, ledger=156, code=3, flags=DEBITS, limit=n * 7)
        for n in range(1, numbers + 1)
    ]
    return [*made, Account(id=2**65, ledger=156, code=3)]


@given(st.randoms(use_true_random=True))
@settings(derandomize=True, database=None, max_examples=200, deadline=None)
def test_hub_shaped_batches_with_wide_ids_and_uetrs_equal_the_plain_path(
    rnd: random.Random,
) -> None:
    accounts = hub_accounts(6)
    ids = [a.id for a in accounts]

    def ledger() -> LedgerState:
        state = LedgerState(capacity=4)
        results, _ = state.create_accounts(accounts, SECOND)
        assert not any(results)
        return state

    fast_state, plain_state = ledger(), ledger()
    next_id = 1
    for batch_number in range(rnd.randint(1, 4)):
        events = []
        for _ in range(rnd.choice([1, 16, 40, 90])):
            debit, credit = rnd.sample(ids, 2)
            odd = rnd.random()
            events.append(
                Transfer(
                    id=next_id,
                    debit_account_id=float(debit) if odd < 0.02 else debit,
                    credit_account_id=U128_MAX if odd > 0.98 else credit,
                    amount=rnd.randint(1, 40),
                    ledger=156,
                    code=1,
                    user_data=rnd.choice([0, rnd.getrandbits(128), rnd.getrandbits(60)]),
                )
            )
            next_id += 1
        as_columns = rnd.random() < 0.5
        batch = TransferColumns.from_transfers(events) if as_columns else events
        now = (batch_number + 2) * SECOND
        with fast_knobs(rnd.choice([1, 16]), fast.LIMIT_ROUNDS_MAX):
            fast_results, fast_record = fast_state.apply(batch, now)
        plain_results, plain_record = plain_state.apply(batch, now, fast=False)
        assert fast_results.tolist() == plain_results.tolist()
        assert_same_record(fast_record, plain_record)
        assert_same(fast_state, plain_state)
    ensure(fast_state)


def test_columns_of_other_dtypes_are_judged_like_the_plain_path() -> None:
    def int64_with_a_negative() -> TransferColumns:
        batch = simple_batch(32)
        amount = batch.amount.astype(np.int64)
        amount[7] = -5
        return dataclasses.replace(batch, amount=amount, code=batch.code.astype(np.int64))

    results, state = same_outcome(int64_with_a_negative)
    assert results[7] == R.VALUE_OUT_OF_RANGE and state.fast_events == 24  # 0..6: too short

    def floats_and_bools() -> TransferColumns:
        batch = simple_batch(32)
        return dataclasses.replace(
            batch, amount=batch.amount.astype(np.float64), flags=np.zeros(32, dtype=bool)
        )

    results, state = same_outcome(floats_and_bools)
    assert set(results) == {R.VALUE_OUT_OF_RANGE} and state.fast_events == 0

    def numpy_scalars_in_an_object_column() -> TransferColumns:
        batch = simple_batch(32)
        user_data = np.empty(32, dtype=object)
        user_data[:] = [np.uint64(1)] + [2**64 + i for i in range(31)]
        return dataclasses.replace(batch, user_data=user_data)

    results, state = same_outcome(numpy_scalars_in_an_object_column)
    assert results[0] == R.VALUE_OUT_OF_RANGE and not any(results[1:])
