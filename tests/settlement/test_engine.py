"""Scenarios of the settlement engine, driven through the hub so that every decision is also
applied to the ledger (DESIGN §5): gross settlement, FIFO queues, bilateral and multilateral
offsetting, DNS windows, settlement times, the end of the day and the sender's actions.

The cast (see conftest): direct banks A, B, C (CNY) and D, indirect bank I behind A.
Every bank starts with nothing; `day.fund` is a liquidity transfer from the central bank.
"""

from __future__ import annotations

import uuid

import pytest

from samarkand.ledger.types import TransferCode, TransferFlags
from samarkand.settlement.engine import Via
from samarkand.settlement.payments import Reason, Status
from tests.settlement.conftest import (
    CNY,
    CUT_OFF_NS,
    INR,
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

RECEIVED, QUEUED, SETTLED = Status.RECEIVED, Status.QUEUED, Status.SETTLED
REJECTED, CANCELLED = Status.REJECTED, Status.CANCELLED


def journal_since(day: Day, start: int):
    """The transfers the ledger applied since the journal was `start` rows long."""
    journal = day.hub.ledger.state.journal
    return [journal.row(row) for row in range(start, len(journal))]


def reason_of(day: Day, uetr: int) -> Reason | None:
    return day.entry(uetr).history[-1].reason


# ---------------------------------------------------------------------- gross settlement


def test_covered_payment_settles_gross_and_moves_exactly_its_amount(day: Day) -> None:
    uetr = uuid.UUID("eb6305c9-1f7f-49de-aed0-16487c27b42d").int  # a 128-bit UETR
    day.fund(A, 100)
    start = len(day.hub.ledger.state.journal)

    assert day.send(uetr, A, B, 60) is None

    assert day.status(uetr) is SETTLED
    assert day.entry(uetr).via == Via.GROSS
    assert day.balances() == {A: 40, B: 60, C: 0, D: 0}
    (transfer,) = journal_since(day, start)
    assert (transfer.debit_account_id, transfer.credit_account_id) == (
        day.account(A),
        day.account(B),
    )
    assert transfer.amount == 60
    assert transfer.code == TransferCode.PAYMENT
    assert transfer.user_data == uetr
    assert day.history(uetr) == [RECEIVED, SETTLED]


def test_indirect_banks_payment_settles_on_its_direct_banks_account(day: Day) -> None:
    day.fund(A, 100)
    assert day.send(1, I, B, 30) is None
    assert day.send(2, C, I, 0) is Reason.AMOUNT_NOT_POSITIVE
    assert day.balances() == {A: 70, B: 30, C: 0, D: 0}


def test_payment_in_a_second_currency_moves_only_that_currencys_accounts(day: Day) -> None:
    day.fund(D, 500, RUB)
    assert day.send(1, D, A, 200, RUB) is None
    assert day.balances(RUB) == {A: 200, B: 0, C: 0, D: 300}
    assert day.balances(CNY) == {A: 0, B: 0, C: 0, D: 0}


def test_payment_that_liquidity_does_not_cover_queues_and_moves_nothing(day: Day) -> None:
    day.fund(A, 50)
    assert day.send(1, A, B, 80) is None
    assert day.status(1) is QUEUED
    assert day.balances() == {A: 50, B: 0, C: 0, D: 0}


def test_intraday_credit_lets_the_account_go_below_zero_down_to_its_limit() -> None:
    day = Day(open_hub(directory(), (CNY, RUB), credit={(A, CNY): 100}))
    assert day.send(1, A, B, 100) is None
    assert day.send(2, A, B, 1) is None
    assert day.statuses(1, 2) == [SETTLED, QUEUED]
    assert day.balance(A) == -100


def test_amounts_beyond_int64_settle_exactly(day: Day) -> None:
    big = 2**100 + 3
    day.fund(A, big)
    day.send(1, A, B, big - 1)
    day.send(2, B, C, big)  # queued: B holds one unit less
    assert day.optimise(non_fifo=True) == 0  # the mechanisms take int64 amounts only
    day.fund(B, 1)
    assert day.statuses(1, 2) == [SETTLED, SETTLED]
    assert day.balances() == {A: 1, B: 0, C: big, D: 0}
    assert day.problems() == []


# ---------------------------------------------------------------------- FIFO and priorities


def test_later_small_payment_does_not_overtake_a_queued_earlier_one(day: Day) -> None:
    day.fund(A, 50)
    day.send(1, A, B, 80)
    day.send(2, A, C, 10)  # covered, but 1 waits ahead of it
    assert day.statuses(1, 2) == [QUEUED, QUEUED]
    assert day.balance(A) == 50

    day.fund(A, 40)  # 90: first 80, then 10

    assert day.statuses(1, 2) == [SETTLED, SETTLED]
    assert day.balances() == {A: 0, B: 80, C: 10, D: 0}


def test_urgent_payment_overtakes_queued_normal_ones(day: Day) -> None:
    day.fund(A, 50)
    day.send(1, A, B, 80)
    day.send(2, A, C, 30, urgent=True)
    assert day.statuses(1, 2) == [QUEUED, SETTLED]
    assert day.balances() == {A: 20, B: 0, C: 30, D: 0}


def test_normal_payment_waits_behind_a_queued_urgent_one(day: Day) -> None:
    day.fund(A, 50)
    day.send(1, A, B, 80, urgent=True)
    day.send(2, A, C, 10)
    day.send(3, A, C, 5, urgent=True)  # urgent behind urgent waits too
    assert day.statuses(1, 2, 3) == [QUEUED, QUEUED, QUEUED]
    assert day.queue(A) == [1, 3, 2]

    day.fund(A, 40)  # 90: urgent 80 and 5 first, then the normal 10 no longer fits

    assert day.statuses(1, 3, 2) == [SETTLED, SETTLED, QUEUED]
    assert day.balance(A) == 5


# ---------------------------------------------------------------------- bilateral offsetting


def test_bilateral_offsetting_at_entry_settles_a_pair_neither_side_could_alone(day: Day) -> None:
    day.fund(A, 10)
    day.send(1, B, A, 50)  # B holds nothing
    assert day.status(1) is QUEUED

    day.send(2, A, B, 60)  # A holds 10: alone it could not pay

    assert day.statuses(1, 2) == [SETTLED, SETTLED]
    assert {day.entry(1).via, day.entry(2).via} == {Via.BILATERAL}
    assert day.balances() == {A: 0, B: 10, C: 0, D: 0}
    assert day.clearing() == 0
    assert day.problems() == []


def test_bilateral_offsetting_takes_only_the_receivers_head_run_towards_the_sender(
    day: Day,
) -> None:
    day.fund(A, 5)
    day.fund(B, 1)
    day.send(1, B, A, 20)
    day.send(2, B, A, 30)
    day.send(3, B, C, 40)
    day.send(4, B, A, 1)  # goes to A too, but behind 3: FIFO keeps it out of the offset
    assert day.queue(B) == [1, 2, 3, 4]

    day.send(5, A, B, 50)

    assert day.statuses(1, 2, 5) == [SETTLED, SETTLED, SETTLED]
    assert day.statuses(3, 4) == [QUEUED, QUEUED]
    assert day.queue(B) == [3, 4]
    assert day.balances() == {A: 5, B: 1, C: 0, D: 0}


def test_bilateral_offsetting_does_not_reach_past_a_head_going_elsewhere(day: Day) -> None:
    day.fund(A, 10)
    day.send(1, B, C, 30)
    day.send(2, B, A, 50)

    day.send(3, A, B, 60)

    assert day.statuses(1, 2, 3) == [QUEUED, QUEUED, QUEUED]
    assert day.balances() == {A: 10, B: 0, C: 0, D: 0}


def test_what_bilateral_offsetting_leaves_the_receiver_releases_its_next_head(day: Day) -> None:
    """B's head (150 to A) is offset against A's 60; B keeps 10, enough for its next payment.
    Fails without the engine retrying a queue whose head an offset removed."""
    day.fund(B, 100)
    day.send(1, B, A, 150)
    day.send(2, B, C, 10)

    day.send(3, A, B, 60)

    assert day.statuses(1, 2, 3) == [SETTLED, SETTLED, SETTLED]
    assert day.balances() == {A: 90, B: 0, C: 10, D: 0}


# ---------------------------------------------------------------------- queue release


def test_liquidity_transfer_in_settles_the_queued_head(day: Day) -> None:
    day.send(1, A, B, 70)
    assert day.fund(A, 100) is None
    assert day.status(1) is SETTLED
    assert day.entry(1).via == Via.GROSS
    assert day.balances() == {A: 30, B: 70, C: 0, D: 0}


def test_incoming_payment_settles_the_queued_head(day: Day) -> None:
    day.send(1, A, B, 70)
    day.fund(C, 100)

    day.send(2, C, A, 80)

    assert day.statuses(1, 2) == [SETTLED, SETTLED]
    assert day.balances() == {A: 10, B: 70, C: 20, D: 0}


def test_release_cascades_down_a_chain_of_queues(day: Day) -> None:
    day.send(1, C, D, 40)
    day.send(2, B, C, 50)
    day.send(3, A, B, 70)

    day.fund(A, 70)

    assert day.statuses(3, 2, 1) == [SETTLED, SETTLED, SETTLED]
    assert day.balances() == {A: 0, B: 20, C: 10, D: 40}


def test_liquidity_transfer_out_does_not_release_anything(day: Day) -> None:
    day.fund(A, 100)
    day.send(1, A, B, 150)
    assert day.defund(A, 40) is None
    assert day.status(1) is QUEUED
    assert day.balance(A) == 60


# ---------------------------------------------------------------------- multilateral offsetting


def test_multilateral_offsetting_resolves_a_ring_gridlock_with_no_liquidity(day: Day) -> None:
    day.send(1, A, B, 100)
    day.send(2, B, C, 100)
    day.send(3, C, A, 100)
    day.send(4, A, C, 30)  # behind 1: the ring cannot carry it
    assert day.statuses(1, 2, 3, 4) == [QUEUED] * 4

    assert day.optimise() == 3

    assert day.statuses(1, 2, 3, 4) == [SETTLED, SETTLED, SETTLED, QUEUED]
    assert day.balances() == {A: 0, B: 0, C: 0, D: 0}
    assert day.clearing() == 0
    assert day.engine.stats.gridlocks_resolved == 1
    for uetr in (1, 2, 3):
        assert day.history(uetr) == [RECEIVED, QUEUED, SETTLED]
        assert day.entry(uetr).history[-1].detail == Via.FIFO


def test_multilateral_offsetting_settles_net_through_the_clearing_account(
    day: Day, monkeypatch: pytest.MonkeyPatch
) -> None:
    day.fund(A, 40)
    day.send(1, A, B, 100)
    day.send(2, B, C, 80)
    day.send(3, C, A, 60)
    batches = []
    apply = day.hub.ledger.apply
    monkeypatch.setattr(
        day.hub.ledger, "apply", lambda batch, now: batches.append(list(batch)) or apply(batch, now)
    )

    assert day.optimise() == 3

    assert day.balances() == {A: 0, B: 20, C: 20, D: 0}
    assert day.clearing() == 0
    clearing = day.engine.clearing_account(CNY)
    (batch,) = batches
    assert [(t.debit_account_id, t.credit_account_id, t.amount) for t in batch] == [
        (day.account(A), clearing, 40),  # pay-in first
        (clearing, day.account(B), 20),
        (clearing, day.account(C), 20),
    ]
    linked = [bool(t.flags & TransferFlags.LINKED) for t in batch]
    assert linked == [True, True, False]  # one chain: all or nothing
    assert day.problems() == []


def test_multilateral_offsetting_leaves_a_gridlock_it_cannot_cover(day: Day) -> None:
    day.send(1, A, B, 100)
    day.send(2, B, A, 60)
    before = day.snapshot()
    assert day.optimise() == 0
    assert day.statuses(1, 2) == [QUEUED, QUEUED]
    assert day.snapshot() == before


@pytest.mark.parametrize("unblock", ["cancel", "reorder", "expire"])
def test_offsetting_runs_again_once_a_blocking_head_is_gone(day: Day, unblock: str) -> None:
    """A's 100 to B blocks A's 50 to C, which would offset C's 50 to A. Once the head is
    cancelled, moved back or expired, offsetting must look again. Fails without the engine
    counting those as changes of the queues (it skips currencies it thinks unchanged)."""
    day.send(1, A, B, 100, latest_ns=500)
    day.send(2, A, C, 50)
    day.send(3, C, A, 50)
    assert day.optimise() == 0

    if unblock == "cancel":
        assert day.cancel(1, by=A) is None
    elif unblock == "reorder":
        assert day.reorder(1, A, to_front=False) is None
    else:
        day.tick(500)

    assert day.optimise() == 2
    assert day.statuses(2, 3) == [SETTLED, SETTLED]


def test_non_fifo_settles_a_payment_stuck_behind_a_big_head(day: Day) -> None:
    day.fund(A, 50)
    day.send(1, A, B, 100)
    day.send(2, A, C, 40)

    assert day.optimise() == 0  # under FIFO the head blocks it
    assert day.optimise(non_fifo=True) == 1

    assert day.statuses(1, 2) == [QUEUED, SETTLED]
    assert day.entry(2).via == Via.NON_FIFO
    assert day.balances() == {A: 10, B: 0, C: 40, D: 0}
    assert day.clearing() == 0


# ---------------------------------------------------------------------- DNS windows


def test_dns_window_settles_net_positions_by_pay_ins_and_pay_outs(day: Day) -> None:
    day.fund(A, 30)
    day.send(1, A, B, 50, dns=True)
    day.send(2, B, C, 40, dns=True)
    day.send(3, C, A, 20, dns=True)
    assert day.statuses(1, 2, 3) == [QUEUED] * 3
    assert day.balances() == {A: 30, B: 0, C: 0, D: 0}
    start = len(day.hub.ledger.state.journal)

    assert day.close_window(CNY) == (3, [])

    assert day.statuses(1, 2, 3) == [SETTLED] * 3
    assert day.entry(1).via == Via.DNS
    assert day.balances() == {A: 0, B: 10, C: 20, D: 0}
    assert day.clearing() == 0
    transfers = journal_since(day, start)
    assert [t.code for t in transfers] == [TransferCode.NET_SETTLEMENT] * 3
    assert [t.amount for t in transfers] == [30, 10, 20]  # A pays in, B and C are paid out


def test_dns_window_unwinds_a_participant_that_cannot_pay_in(day: Day) -> None:
    day.fund(B, 30)
    day.send(1, A, B, 50, dns=True)  # A holds nothing: it cannot pay its net debit in
    day.send(2, C, A, 20, dns=True)  # to A: carried to the next window
    day.send(3, B, C, 30, dns=True)
    day.send(4, C, B, 10, dns=True)

    assert day.close_window(CNY) == (2, [day.account(A)])

    assert day.status(1) is REJECTED
    assert reason_of(day, 1) is Reason.INSUFFICIENT_FUNDS_PAY_IN
    assert reason_of(day, 1).iso == "AM04"
    assert day.status(2) is QUEUED
    assert day.statuses(3, 4) == [SETTLED, SETTLED]
    assert day.balances() == {A: 0, B: 10, C: 20, D: 0}

    assert day.close_window(CNY) == (1, [])  # C now pays A out of what it received

    assert day.status(2) is SETTLED
    assert day.balances() == {A: 20, B: 10, C: 0, D: 0}
    assert day.clearing() == 0
    assert day.problems() == []


def test_dns_window_of_one_currency_leaves_the_other_alone(day: Day) -> None:
    day.fund(D, 10, RUB)
    day.send(1, D, A, 10, RUB, dns=True)
    day.send(2, A, B, 10, CNY, dns=True)
    assert day.close_window(CNY) == (0, [day.account(A)])
    assert day.status(1) is QUEUED
    assert day.close_window(RUB) == (1, [])
    assert day.balance(A, RUB) == 10


def test_scheduled_windows_close_when_due_once_for_any_number_missed(day: Day) -> None:
    day.fund(A, 50)
    start = day.now
    day.engine.schedule_windows(CNY, 100, start)
    assert day.engine.next_due() == start + 100
    day.send(1, A, B, 50, dns=True, at=start + 10)
    day.hub.tick(start + 99)
    assert day.status(1) is QUEUED
    day.hub.tick(start + 100)
    assert day.status(1) is SETTLED and day.entry(1).via == Via.DNS
    assert day.engine.next_due() == start + 200
    day.send(2, B, C, 20, dns=True, at=start + 150)
    day.hub.tick(start + 450)  # three closes missed: one settles what waits
    assert day.status(2) is SETTLED
    assert day.engine.next_due() == start + 500  # on the schedule's own beat
    day.engine.schedule_windows(CNY, 0, start + 460)
    assert day.engine.next_due() is None
    assert day.problems() == []


def test_a_scheduled_beat_keeps_the_time_of_its_first_close(day: Day) -> None:
    day.fund(A, 50)
    start = day.now
    day.engine.schedule_windows(CNY, 100, start, first_ns=start + 30)  # e.g. 10:00, daily
    assert day.engine.next_due() == start + 30
    day.send(1, A, B, 50, dns=True, at=start + 10)
    day.hub.tick(start + 30)
    assert day.status(1) is SETTLED
    assert day.engine.next_due() == start + 130  # the beat of the first close, not of now
    day.engine.schedule_windows(CNY, 100, start + 40)  # without a first: a period from now
    assert day.engine.next_due() == start + 140


# ---------------------------------------------------------------------- settlement times


def test_payment_is_warehoused_until_its_earliest_time(day: Day) -> None:
    day.fund(A, 100)
    day.send(1, A, B, 10, earliest_ns=500)
    assert day.status(1) is QUEUED
    assert day.balance(A) == 100

    day.tick(499)
    assert day.status(1) is QUEUED
    day.tick(500)

    assert day.status(1) is SETTLED
    assert day.entry(1).settled_ns == 500
    assert day.history(1) == [RECEIVED, QUEUED, SETTLED]
    assert day.balances() == {A: 90, B: 10, C: 0, D: 0}


def test_queued_payment_is_rejected_once_its_latest_time_passes(day: Day) -> None:
    day.send(1, A, B, 10, latest_ns=500)
    day.tick(499)
    assert day.status(1) is QUEUED

    day.tick(500)

    assert day.status(1) is REJECTED
    assert reason_of(day, 1) is Reason.LATEST_TIME_PASSED
    assert reason_of(day, 1).iso == "AB03"
    assert day.queue(A) == []
    day.fund(A, 100)
    assert day.balance(A) == 100


def test_warehoused_payment_whose_latest_time_passed_too_is_rejected_not_settled(
    day: Day,
) -> None:
    """One coarse tick passes both times. Fails without the engine checking the latest time
    when it takes a payment out of the warehouse."""
    day.fund(A, 100)
    day.send(1, A, B, 10, earliest_ns=200, latest_ns=300)

    day.tick(400)

    assert day.status(1) is REJECTED
    assert reason_of(day, 1) is Reason.LATEST_TIME_PASSED
    assert day.balance(A) == 100


def test_expired_head_lets_the_next_covered_payment_settle(day: Day) -> None:
    """Fails without the engine retrying a queue whose head it rejected."""
    day.fund(A, 50)
    day.send(1, A, B, 100, latest_ns=500)
    day.send(2, A, C, 10)

    day.tick(500)

    assert day.statuses(1, 2) == [REJECTED, SETTLED]
    assert day.balances() == {A: 40, B: 0, C: 10, D: 0}


# ---------------------------------------------------------------------- end of day


def test_end_of_day_rejects_whatever_has_not_settled(day: Day) -> None:
    day.fund(C, 10)
    day.send(1, A, B, 100)  # queued
    day.send(2, A, C, 5, earliest_ns=CUT_OFF_NS - 1)  # warehoused, never ticked
    day.send(3, A, B, 50, dns=True)  # A cannot pay in: rejected by the window
    day.send(4, C, A, 10, dns=True)  # to the defaulter: carried, then too late
    day.send(5, C, B, 10, urgent=True)  # settles

    assert day.end_of_day() == 3

    assert day.statuses(1, 2, 3, 4, 5) == [REJECTED, REJECTED, REJECTED, REJECTED, SETTLED]
    assert [reason_of(day, uetr) for uetr in (1, 2, 4)] == [Reason.NOT_SETTLED_BY_CUT_OFF] * 3
    assert reason_of(day, 3) is Reason.INSUFFICIENT_FUNDS_PAY_IN
    assert day.engine.queues == {}
    assert day.engine.dns_pending == {}
    assert day.balances() == {A: 0, B: 10, C: 0, D: 0}


def test_end_of_day_first_tries_the_lsm_once_more(day: Day) -> None:
    day.send(1, A, B, 100)
    day.send(2, B, A, 100)
    assert day.end_of_day() == 0
    assert day.statuses(1, 2) == [SETTLED, SETTLED]


def test_a_currency_closes_at_its_cut_off_and_the_other_stays_open(day: Day) -> None:
    day.hub.set_cut_off(RUB, CUT_OFF_NS + 500, day.clock())
    day.fund(C, 10)
    day.fund(A, 5, RUB)
    day.send(1, A, B, 100)  # a ring with 7 and 8 that only the LSM settles
    day.send(2, A, C, 5, earliest_ns=CUT_OFF_NS - 1)  # warehoused, never ticked
    day.send(3, C, B, 10, dns=True)  # C can pay in: settles when the window closes
    day.send(7, B, C, 100)
    day.send(8, C, A, 100)
    day.send(9, D, A, 100)  # D has nothing: still queued at the cut-off
    day.send(4, D, A, 50, RUB)  # queued in RUB
    assert day.statuses(1, 7, 8, 9, 4) == [QUEUED] * 5
    assert day.engine.next_cut_off() == CUT_OFF_NS
    assert day.engine.cut_offs_due(CUT_OFF_NS - 1) == []
    assert day.engine.cut_offs_due(CUT_OFF_NS) == [CNY, INR]  # INR: a ledger, no banks

    assert day.hub.close_currency(CNY, day.clock(CUT_OFF_NS)) == 2
    assert day.hub.close_currency(INR, day.clock()) == 0

    assert day.statuses(1, 7, 8, 3) == [SETTLED] * 4
    assert day.entry(3).via == Via.DNS
    assert day.statuses(2, 9) == [REJECTED, REJECTED]
    assert [reason_of(day, u) for u in (2, 9)] == [Reason.NOT_SETTLED_BY_CUT_OFF] * 2
    assert day.status(4) is QUEUED  # RUB's day goes on
    assert day.engine.warehouse == [] and day.engine.dns_pending == {}
    assert day.engine.closed == {CNY, INR} and day.engine.cut_offs_due(CUT_OFF_NS + 2) == []
    assert day.engine.next_cut_off() == CUT_OFF_NS + 500
    assert day.send(5, C, B, 1) is Reason.AFTER_CUT_OFF
    assert day.send(6, A, D, 5, RUB) is None
    assert day.balances() == {A: 0, B: 10, C: 0, D: 0}

    assert day.hub.close_currency(RUB, day.clock(CUT_OFF_NS + 500)) == 1
    assert day.status(4) is REJECTED and day.engine.queues == {}
    assert day.engine.next_cut_off() is None
    assert day.engine.open_day(dict.fromkeys((CNY, RUB, INR), 2 * CUT_OFF_NS)) is None
    assert day.engine.closed == set() and day.engine.next_cut_off() == 2 * CUT_OFF_NS
    assert day.problems() == []


def test_a_closed_currency_opens_again_when_its_cut_off_moves_later(day: Day) -> None:
    day.send(1, A, B, 10)
    day.end_of_day()  # at the cut-off: every currency closed
    assert day.engine.closed == {CNY, RUB, INR} and day.engine.next_cut_off() is None
    assert day.hub.set_cut_off(CNY, CUT_OFF_NS + 100, day.clock()) is None
    assert day.engine.closed == {RUB, INR}
    assert day.engine.cut_offs_due(CUT_OFF_NS + 100) == [CNY]
    assert day.send(2, A, B, 10) is None and day.status(2) is QUEUED
    assert day.hub.close_currency(CNY, day.clock(CUT_OFF_NS + 100)) == 1


def test_an_end_of_day_before_a_cut_off_leaves_that_currency_to_close_then(day: Day) -> None:
    day.hub.set_cut_off(RUB, CUT_OFF_NS + 500, day.clock())
    day.end_of_day()
    assert day.engine.closed == {CNY, INR}
    day.send(1, D, A, 10, RUB)  # RUB still takes payments until its cut-off
    assert day.status(1) is QUEUED
    assert day.engine.cut_offs_due(CUT_OFF_NS + 500) == [RUB]


def test_balances_carry_over_to_the_next_day(day: Day) -> None:
    day.fund(A, 100)
    day.send(1, A, B, 30)
    day.send(2, A, C, 500)
    day.end_of_day()
    assert day.send(3, B, C, 30, at=CUT_OFF_NS + 5) is Reason.AFTER_CUT_OFF

    day.engine.open_day({CNY: 2 * CUT_OFF_NS, RUB: 2 * CUT_OFF_NS})

    assert day.send(4, B, C, 30) is None  # on yesterday's closing balance
    assert day.send(5, A, C, 80) is None
    assert day.statuses(4, 5) == [SETTLED, QUEUED]
    assert day.balances() == {A: 70, B: 0, C: 30, D: 0}
    assert day.status(2) is REJECTED


def test_next_day_cannot_open_while_payments_are_queued(day: Day) -> None:
    day.send(1, A, B, 100)
    with pytest.raises(RuntimeError):
        day.engine.open_day({CNY: 2 * CUT_OFF_NS})


# ---------------------------------------------------------------------- sender actions


def test_sender_cancels_a_queued_payment(day: Day) -> None:
    day.send(1, A, B, 100)

    assert day.cancel(1, by=A) is None

    assert day.status(1) is CANCELLED
    assert day.history(1) == [RECEIVED, QUEUED, CANCELLED]
    assert day.queue(A) == []
    day.fund(A, 100)
    assert day.balances() == {A: 100, B: 0, C: 0, D: 0}


def test_cancelling_the_head_lets_the_next_covered_payment_settle(day: Day) -> None:
    """Fails without the engine retrying a queue whose head was cancelled."""
    day.fund(A, 50)
    day.send(1, A, B, 100)
    day.send(2, A, C, 10)

    assert day.cancel(1, by=A) is None

    assert day.statuses(1, 2) == [CANCELLED, SETTLED]
    assert day.balances() == {A: 40, B: 0, C: 10, D: 0}


def test_direct_bank_cancels_its_indirect_banks_payment(day: Day) -> None:
    day.send(1, I, B, 100)
    day.send(2, I, C, 100)
    assert day.cancel(1, by=A) is None
    assert day.cancel(2, by=I) is None
    assert day.statuses(1, 2) == [CANCELLED, CANCELLED]


def test_cancelled_dns_and_warehoused_payments_never_settle(day: Day) -> None:
    day.fund(A, 100)
    day.send(1, A, B, 10, dns=True)
    day.send(2, A, B, 20, earliest_ns=500)
    assert day.cancel(1, by=A) is None
    assert day.cancel(2, by=A) is None

    day.tick(600)
    assert day.close_window(CNY) == (0, [])

    assert day.statuses(1, 2) == [CANCELLED, CANCELLED]
    assert day.balance(A) == 100


def test_cancel_refusals(day: Day) -> None:
    day.fund(A, 100)
    day.send(1, A, B, 10)  # settles
    day.send(2, A, B, 500)  # queues
    day.send(3, C, B, 500)  # queues, then is cancelled
    day.cancel(3, by=C)

    assert day.cancel(2, by=B) is Reason.NOT_OWNER  # the creditor agent
    assert day.cancel(2, by=I) is Reason.NOT_OWNER  # A's indirect bank acts only on its own
    assert day.cancel(2, by="UNKNCN22") is Reason.NOT_OWNER  # no participant
    assert day.cancel(1, by=A) is Reason.ALREADY_SETTLED
    assert Reason.ALREADY_SETTLED.iso == "PTNA"
    assert day.cancel(3, by=C) is Reason.ALREADY_FINAL
    assert day.cancel(99, by=A) is Reason.NOT_FOUND
    assert Reason.NOT_FOUND.iso == "NOOR"
    assert day.statuses(1, 2, 3) == [SETTLED, QUEUED, CANCELLED]
    assert day.history(2) == [RECEIVED, QUEUED]


def test_cancel_is_refused_for_a_payment_rejected_at_end_of_day(day: Day) -> None:
    day.send(1, A, B, 10)
    day.end_of_day()
    assert day.cancel(1, by=A, at=CUT_OFF_NS + 1) is Reason.ALREADY_FINAL


def test_reorder_to_the_front_settles_a_payment_that_now_fits(day: Day) -> None:
    day.fund(A, 50)
    day.send(1, A, B, 100)
    day.send(2, A, C, 40)

    assert day.reorder(2, A, to_front=True) is None

    assert day.statuses(1, 2) == [QUEUED, SETTLED]
    assert day.balances() == {A: 10, B: 0, C: 40, D: 0}


def test_reorder_to_the_back_stays_within_its_priority(day: Day) -> None:
    day.send(1, A, B, 30, urgent=True)
    day.send(2, A, B, 20, urgent=True)
    day.send(3, A, C, 10)
    day.send(4, A, C, 5)

    assert day.reorder(1, A, to_front=False) is None
    assert day.reorder(4, A, to_front=True) is None

    assert day.queue(A) == [2, 1, 4, 3]
    day.fund(A, 55)  # 20, 30 urgent first; then 5 fits and 10 no longer does
    assert day.statuses(2, 1, 4, 3) == [SETTLED, SETTLED, SETTLED, QUEUED]


def test_direct_bank_reorders_its_indirect_banks_payment(day: Day) -> None:
    day.send(1, I, B, 30)
    day.send(2, I, C, 20)
    assert day.reorder(2, A, to_front=True) is None
    assert day.queue(A) == [2, 1]


def test_reorder_refusals(day: Day) -> None:
    day.fund(A, 10)
    day.send(1, A, B, 10)  # settles
    day.send(2, A, B, 20, earliest_ns=500)  # warehoused: in no queue yet
    day.send(3, A, B, 20, dns=True)  # waits for its window, not in a queue
    day.send(4, A, B, 20)

    assert day.reorder(1, A, to_front=True) is Reason.ALREADY_SETTLED
    assert day.reorder(2, A, to_front=True) is Reason.NOT_QUEUED
    assert day.reorder(3, A, to_front=True) is Reason.NOT_QUEUED
    assert day.reorder(4, B, to_front=True) is Reason.NOT_OWNER
    assert day.reorder(99, A, to_front=True) is Reason.NOT_FOUND
    assert day.queue(A) == [4]
