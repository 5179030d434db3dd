"""Intraday credit set by central banks: only the issuer of the currency grants it, a raise
settles what now fits, a refusal changes nothing, and the credit survives a reopen."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samarkand.hub.settlement import SettlementHub
from samarkand.ledger.types import U128_MAX
from samarkand.settlement.payments import Reason, Status
from samarkand.store import DurableLedger, MemoryStore, MemoryTables
from tests.settlement.conftest import (
    BANK_OF_RUSSIA,
    CNY,
    CUT_OFF_NS,
    INR,
    PBOC,
    RUB,
    A,
    B,
    C,
    D,
    Day,
    I,
    directory,
    open_hub,
)

UNKNOWN = "UNKNCN22"  # a well-formed BIC of no participant


def grant(day: Day, bic: str, limit: int, currency: str = CNY, by: str = PBOC) -> Reason | None:
    return day.hub.set_credit(bic, currency, limit, day.clock(), by_central_bank=by)


def credit(day: Day, bic: str, currency: str = CNY) -> int:
    return day.hub.ledger.state.account(day.account(bic, currency)).limit


def ledger_clock(day: Day) -> tuple[int, int]:
    state = day.hub.ledger.state
    return state.batches, state.timestamp


# ---------------------------------------------------------------------- who may grant


def test_the_central_bank_of_the_currency_sets_credit(day: Day) -> None:
    assert grant(day, A, 500) is None
    assert grant(day, D, 300, RUB, by=BANK_OF_RUSSIA) is None
    assert grant(day, D, 200, CNY, by=PBOC) is None  # a Russian bank's yuan account
    assert (credit(day, A), credit(day, D, RUB), credit(day, D, CNY)) == (500, 300, 200)
    assert day.problems() == []


# (what is wrong, the call's arguments: bic, currency, limit, by; the reason; its ISO code)
BAD_GRANTS = [
    ("another currency's central bank", (A, CNY, 500, BANK_OF_RUSSIA),
     Reason.NOT_CENTRAL_BANK, "AGNT"),
    ("a central bank for a currency not its own", (D, RUB, 500, PBOC),
     Reason.NOT_CENTRAL_BANK, "AGNT"),
    ("a participant for itself", (A, CNY, 500, A), Reason.NOT_CENTRAL_BANK, "AGNT"),
    ("an unknown BIC as central bank", (A, CNY, 500, UNKNOWN), Reason.NOT_CENTRAL_BANK, "AGNT"),
    ("a currency without ledger", (A, "USD", 500, PBOC), Reason.CURRENCY_NOT_ALLOWED, "AM03"),
    ("a currency without central bank", (A, INR, 500, PBOC), Reason.CURRENCY_NOT_ALLOWED, "AM03"),
    ("an unknown participant", (UNKNOWN, CNY, 500, PBOC), Reason.NO_SETTLEMENT_ACCOUNT, "AC01"),
    ("an indirect participant", (I, CNY, 500, PBOC), Reason.NO_SETTLEMENT_ACCOUNT, "AC01"),
    ("the central bank itself", (PBOC, CNY, 500, PBOC), Reason.NO_SETTLEMENT_ACCOUNT, "AC01"),
    ("a negative credit", (A, CNY, -1, PBOC), Reason.CREDIT_INVALID, "AM12"),
    ("a credit not an int", (A, CNY, 500.0, PBOC), Reason.CREDIT_INVALID, "AM12"),
    ("a credit that is a bool", (A, CNY, True, PBOC), Reason.CREDIT_INVALID, "AM12"),
    ("a credit beyond u128", (A, CNY, U128_MAX + 1, PBOC), Reason.AMOUNT_TOO_LARGE, "AM02"),
    ("below what is used", (A, CNY, 99, PBOC), Reason.CREDIT_BELOW_USE, "AM14"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "reason", "iso"),
    [pytest.param(args, r, iso, id=name) for name, args, r, iso in BAD_GRANTS],
)
def test_a_refused_grant_gives_its_reason_and_changes_nothing(
    day: Day, arguments: tuple, reason: Reason, iso: str
) -> None:
    assert grant(day, A, 100) is None
    day.send(1, A, B, 100)  # uses all of A's credit
    day.send(2, A, C, 50)  # queued behind it, which a raise would settle
    before = (day.snapshot(), ledger_clock(day), credit(day, A), credit(day, D, RUB))

    bic, currency, limit, by = arguments
    assert day.hub.set_credit(bic, currency, limit, day.clock(), by_central_bank=by) is reason

    assert reason.iso == iso
    assert (day.snapshot(), ledger_clock(day), credit(day, A), credit(day, D, RUB)) == before
    assert day.statuses(1, 2) == [Status.SETTLED, Status.QUEUED]
    assert day.problems() == []


def test_every_credit_reason_has_a_scenario() -> None:
    covered = {reason for _, _, reason, _ in BAD_GRANTS}
    new = {Reason.NOT_CENTRAL_BANK, Reason.CREDIT_INVALID, Reason.CREDIT_BELOW_USE}
    assert new <= covered


# ---------------------------------------------------------------------- what credit does


def test_a_raise_settles_the_queued_payments_that_now_fit(day: Day) -> None:
    day.send(1, A, B, 60)
    day.send(2, A, C, 50)
    day.send(3, B, C, 10)  # waits for B's liquidity, which only A's payment brings
    assert (day.queue(A), day.queue(B)) == ([1, 2], [3])

    assert grant(day, A, 100) is None

    # 1 fits A's credit, and what it brings B settles 3; 2 (FIFO, after 1) needs 10 more.
    assert day.statuses(1, 2, 3) == [Status.SETTLED, Status.QUEUED, Status.SETTLED]
    assert day.balances() == {A: -60, B: 50, C: 10, D: 0}
    assert grant(day, A, 110) is None
    assert day.status(2) is Status.SETTLED
    assert day.balances() == {A: -110, B: 50, C: 60, D: 0}
    assert day.problems() == []


def test_a_lowered_credit_blocks_further_payments(day: Day) -> None:
    assert grant(day, A, 100) is None
    day.send(1, A, B, 30)
    assert grant(day, A, 29) is Reason.CREDIT_BELOW_USE
    assert grant(day, A, 30) is None
    day.send(2, A, B, 1)
    assert day.statuses(1, 2) == [Status.SETTLED, Status.QUEUED]
    day.fund(A, 1)  # liquidity still lets it through
    assert day.status(2) is Status.SETTLED
    assert day.problems() == []


def test_credit_is_durable_and_a_reopened_hub_uses_it() -> None:
    tables = MemoryTables()
    hub = SettlementHub(
        directory(),
        DurableLedger.open(MemoryStore(tables)),
        cut_off_ns={CNY: CUT_OFF_NS, RUB: CUT_OFF_NS},
    )
    hub.open_accounts(10)
    assert hub.set_credit(A, CNY, 250, 20, by_central_bank=PBOC) is None
    assert hub.set_credit(A, CNY, 200, 30, by_central_bank=PBOC) is None
    account = hub.directory.settlement_account(hub.directory.get(A), CNY)

    reopened = DurableLedger.open(MemoryStore(tables))
    assert reopened.state.account(account).limit == 200
    assert [c.limit for c in reopened.store.load().limits] == [250, 200]
    again = SettlementHub(directory(), reopened, cut_off_ns={CNY: CUT_OFF_NS})
    assert again.engine.available(account) == 200


# ---------------------------------------------------------------------- random days


STEP = st.one_of(
    st.tuples(
        st.just("send"),
        st.sampled_from([A, B, C]),
        st.sampled_from([A, B, C]),
        st.sampled_from([5, 20, 60, 150]),
    ),
    st.tuples(
        st.just("credit"),
        st.sampled_from([A, B, C]),
        st.sampled_from([0, 20, 60, 150, 400]),
        st.sampled_from([PBOC, PBOC, PBOC, BANK_OF_RUSSIA]),
    ),
    st.tuples(st.just("optimise"), st.booleans()),
)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=1, max_size=30))
def test_random_credit_changes_keep_the_ledger_and_the_queues_sound(steps: list) -> None:
    """Payments and credit changes at random: after every step the ledger is sound, no account
    is beyond its credit, and no queue head fits its sender's liquidity (a raise released it);
    the same steps again give the same journal."""

    def run() -> Day:
        day = Day(open_hub(directory(), (CNY, RUB)))
        granted = {bic: 0 for bic in (A, B, C)}
        uetr = 0
        for kind, *args in steps:
            if kind == "send":
                uetr += 1
                day.send(uetr, *args)
            elif kind == "credit":
                bic, limit, by = args
                outcome = grant(day, bic, limit, by=by)
                used = -day.balance(bic)
                if by != PBOC:
                    assert outcome is Reason.NOT_CENTRAL_BANK
                elif limit < used:
                    assert outcome is Reason.CREDIT_BELOW_USE
                else:
                    assert outcome is None
                    granted[bic] = limit
            else:
                day.optimise(non_fifo=args[0])
            assert day.problems() == []
            for bic, limit in granted.items():
                assert credit(day, bic) == limit
                assert day.balance(bic) >= -limit
            for account, queues in day.engine.queues.items():
                head = queues[0][0] if queues[0] else queues[1][0]
                assert day.engine.available(account) < head.amount, f"{head.payment} fits"
        return day

    first, second = run(), run()
    journal = first.hub.ledger.state.journal.columns().to_transfers()
    assert journal == second.hub.ledger.state.journal.columns().to_transfers()
    assert first.hub.ledger.state.accounts == second.hub.ledger.state.accounts
