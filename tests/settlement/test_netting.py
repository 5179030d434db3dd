"""Netting: net positions, the pay-in/pay-out chain that settles a set at once, and the
deferred net settlement window with unwinding."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samarkand.ledger.types import TransferCode, TransferFlags
from samarkand.settlement.netting import Leg, net_positions, settle_window, settlement_transfers

CLEARING = 900
LEDGER = 156
LINKED = int(TransferFlags.LINKED)

legs_strategy = st.lists(
    st.builds(
        Leg,
        key=st.integers(1, 10**6),
        sender=st.integers(1, 6),
        receiver=st.integers(1, 6),
        amount=st.integers(1, 10**20),  # beyond int64: netting is exact on Python ints
    ).filter(lambda leg: leg.sender != leg.receiver),
    max_size=25,
)


def numbered(legs: list[Leg]) -> list[Leg]:
    """The same legs with distinct keys, as payments have distinct UETRs."""
    return [Leg(k, leg.sender, leg.receiver, leg.amount) for k, leg in enumerate(legs, 1)]


# ---------------------------------------------------------------------- net positions


def test_net_positions_of_a_small_set() -> None:
    legs = [Leg(1, 1, 2, 100), Leg(2, 2, 3, 80), Leg(3, 3, 1, 60), Leg(4, 1, 3, 5)]
    assert net_positions(legs) == {1: -45, 2: 20, 3: 25}
    assert net_positions([]) == {}


@settings(max_examples=200, deadline=None, database=None)
@given(legs=legs_strategy)
def test_net_positions_sum_to_zero_and_match_each_accounts_flows(legs: list[Leg]) -> None:
    positions = net_positions(legs)
    assert sum(positions.values()) == 0
    for account, net in positions.items():
        received = sum(leg.amount for leg in legs if leg.receiver == account)
        sent = sum(leg.amount for leg in legs if leg.sender == account)
        assert net == received - sent


# ---------------------------------------------------------------------- the settlement chain


def test_settlement_transfers_pay_in_first_then_pay_out_as_one_chain() -> None:
    ids = itertools.count(50)
    transfers = settlement_transfers(
        {3: 25, 1: -45, 2: 20, 4: 0}, CLEARING, LEDGER, lambda: next(ids), reference=7
    )
    assert [(t.debit_account_id, t.credit_account_id, t.amount) for t in transfers] == [
        (1, CLEARING, 45),
        (CLEARING, 2, 20),
        (CLEARING, 3, 25),
    ]
    assert [t.id for t in transfers] == [50, 51, 52]
    assert [t.flags & LINKED for t in transfers] == [LINKED, LINKED, 0]
    assert {(t.ledger, t.code, t.user_data) for t in transfers} == {
        (LEDGER, TransferCode.NET_SETTLEMENT, 7)
    }


def test_settlement_transfers_of_a_balanced_set_are_none() -> None:
    ids = itertools.count(1)
    assert settlement_transfers({1: 0, 2: 0}, CLEARING, LEDGER, lambda: next(ids), 1) == []
    assert next(ids) == 1  # no id used up


def test_settlement_transfers_refuse_positions_that_do_not_net_to_zero() -> None:
    with pytest.raises(ValueError, match="sum to zero"):
        settlement_transfers({1: -10, 2: 9}, CLEARING, LEDGER, lambda: 1, 1)


@settings(max_examples=200, deadline=None, database=None)
@given(legs=legs_strategy)
def test_settlement_transfers_settle_exactly_the_net_positions(legs: list[Leg]) -> None:
    positions = net_positions(legs)
    ids = itertools.count(1)
    transfers = settlement_transfers(positions, CLEARING, LEDGER, lambda: next(ids), 3)

    pay_in = [t.credit_account_id == CLEARING for t in transfers]
    assert pay_in == sorted(pay_in, reverse=True)  # every pay-in before every pay-out
    assert [bool(t.flags & LINKED) for t in transfers] == [True] * (len(transfers) - 1) + [
        False
    ] * bool(transfers)
    moved: dict[int, int] = {}
    for t in transfers:
        assert t.amount > 0
        moved[t.debit_account_id] = moved.get(t.debit_account_id, 0) - t.amount
        moved[t.credit_account_id] = moved.get(t.credit_account_id, 0) + t.amount
    assert moved.pop(CLEARING, 0) == 0  # the clearing account returns to zero
    assert moved == {account: net for account, net in positions.items() if net}
    # running through the chain, the clearing account never pays out more than it took in
    clearing = 0
    for t in transfers:
        clearing += t.amount if t.credit_account_id == CLEARING else -t.amount
        assert clearing >= 0


# ---------------------------------------------------------------------- DNS windows


def test_settle_window_unwinds_defaulters_one_at_a_time() -> None:
    """Bank 1 cannot pay in its 70. Without 1, bank 2 loses the 100 it expected and cannot
    pay its 80 either, so 2 goes next. Banks 3 and 4 still settle between themselves."""
    legs = [
        Leg(11, 1, 2, 100),
        Leg(12, 2, 3, 80),
        Leg(13, 3, 1, 30),
        Leg(14, 4, 3, 20),
        Leg(15, 3, 4, 10),
    ]
    available = {1: 0, 2: 50, 3: 0, 4: 100}

    outcome = settle_window(legs, available.__getitem__)

    assert outcome.defaulted == (1, 2)
    assert [leg.key for leg in outcome.settled] == [14, 15]
    assert [leg.key for leg in outcome.removed] == [11, 13, 12]
    assert outcome.positions == {4: -10, 3: 10}


def test_settle_window_removes_the_largest_shortfall_first() -> None:
    """1 is short by 10 and 2 by 50. Removing 2 takes 1's debit to 2 away too, so 1 is
    covered and 3 -> 1 still settles; removing 1 first would have left 2 short anyway."""
    legs = [Leg(1, 1, 2, 50), Leg(2, 2, 3, 100), Leg(3, 3, 1, 10)]
    available = {1: 30, 2: 0, 3: 10}

    outcome = settle_window(legs, available.__getitem__)

    assert outcome.defaulted == (2,)
    assert [leg.key for leg in outcome.settled] == [3]
    assert [leg.key for leg in outcome.removed] == [1, 2]
    assert outcome.positions == {3: -10, 1: 10}


def test_settle_window_breaks_ties_by_account_id() -> None:
    legs = [Leg(1, 5, 9, 10), Leg(2, 4, 9, 10)]
    outcome = settle_window(legs, {4: 0, 5: 0, 9: 0}.__getitem__)
    assert outcome.defaulted == (4, 5)


def test_settle_window_with_everyone_covered_settles_all() -> None:
    legs = [Leg(1, 1, 2, 100), Leg(2, 2, 1, 60)]
    outcome = settle_window(legs, {1: 40, 2: 0}.__getitem__)
    assert outcome.settled == tuple(legs)
    assert outcome.defaulted == () and outcome.removed == ()
    assert outcome.positions == {1: -40, 2: 40}


@settings(max_examples=300, deadline=None, database=None)
@given(
    legs=legs_strategy.map(numbered),
    liquidity=st.dictionaries(st.integers(1, 6), st.integers(0, 10**20)),
)
def test_settle_window_settles_a_coverable_set_and_unwinds_only_defaulters(
    legs: list[Leg], liquidity: dict[int, int]
) -> None:
    def available(account: int) -> int:
        return liquidity.get(account, 0)

    outcome = settle_window(legs, available)

    # every net payer of what settles can pay its debit in
    assert outcome.positions == net_positions(outcome.settled)
    for account, net in outcome.positions.items():
        assert available(account) + net >= 0
    # every leg either settles or is removed because one of its sides defaulted
    assert sorted(outcome.settled + outcome.removed, key=lambda leg: leg.key) == legs
    defaulted = set(outcome.defaulted)
    assert len(defaulted) == len(outcome.defaulted)
    for leg in outcome.settled:
        assert not {leg.sender, leg.receiver} & defaulted
    for leg in outcome.removed:
        assert {leg.sender, leg.receiver} & defaulted
    # no one defaults who could have paid: each was short when it was removed
    remaining = list(legs)
    for account in outcome.defaulted:
        assert available(account) + net_positions(remaining)[account] < 0
        remaining = [leg for leg in remaining if account not in (leg.sender, leg.receiver)]
    assert remaining == list(outcome.settled)
