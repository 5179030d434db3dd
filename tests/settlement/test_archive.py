"""Archived payments: past days' final payments leave memory as objects, keep their UETRs
taken and can be found again; the hub's events keep their positions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samarkand.hub.settlement import EventLog
from samarkand.settlement.archive import ArchivedPayments
from samarkand.settlement.engine import Entry
from samarkand.settlement.payments import Event, FxPayment, Reason, Status
from tests.settlement.conftest import CNY, CUT_OFF_NS, RUB, A, B, C, D, Day, payment

SETTLED, REJECTED, CANCELLED, QUEUED = (
    Status.SETTLED,
    Status.REJECTED,
    Status.CANCELLED,
    Status.QUEUED,
)
SAME_TOP = 0xABCD << 64  # UETRs that share their upper 64 bits


def a_finished_day(day: Day) -> None:
    """Yesterday: settled (one above 2**64 minor units), rejected at the cut-off, cancelled,
    and a refusal; then today opened."""
    day.fund(A, 2**65)
    day.send(SAME_TOP | 1, A, B, 2**64 + 7)  # settles gross
    day.send(SAME_TOP | 2, A, C, 5)
    day.send(3, D, A, 50, RUB)  # D has no RUB: queued, then rejected at the cut-off
    day.send(4, D, B, 60)  # queued, then cancelled by its debtor agent
    assert day.hub.cancel(4, D, day.clock()) is None
    assert day.send(3, A, B, 1) is Reason.DUPLICATE_UETR
    day.end_of_day()
    day.engine.open_day(dict.fromkeys((CNY, RUB), 2 * CUT_OFF_NS), day.clock(CUT_OFF_NS + 10))


def test_a_past_days_final_payments_are_archived_and_found_again(day: Day) -> None:
    a_finished_day(day)
    engine = day.engine
    before = {u: engine.entries[u] for u in (SAME_TOP | 1, SAME_TOP | 2, 3, 4)}
    day.send(5, A, B, 10)  # today's: stays
    events = len(day.hub.events)
    assert day.hub.archive_problem(engine.opened_ns + 1) is not None  # not past days
    assert day.hub.archive(engine.opened_ns, day.clock()) == (4, events - 2, True)
    assert set(engine.entries) == {5} and len(engine.archived) == 4
    assert len(day.hub.events) == events and len(day.hub.events.kept) == 2
    assert engine.archived_before == engine.opened_ns
    for uetr, entry in before.items():
        found = engine.find(uetr)
        assert found is not None and found is not entry
        assert (found.payment, found.status, found.sequence) == (
            entry.payment,
            entry.status,
            entry.sequence,
        )
        assert (found.sender, found.receiver, found.ledger) == (
            entry.sender,
            entry.receiver,
            entry.ledger,
        )
        assert (found.settled_ns, found.via, found.received_ns) == (
            entry.settled_ns,
            entry.via,
            entry.received_ns,
        )
        first, last = entry.history[0], entry.history[-1]
        assert [(e.status, e.at_ns, e.reason) for e in found.history] == [
            (first.status, first.at_ns, None),
            (last.status, last.at_ns, last.reason),
        ]
    assert engine.find(SAME_TOP | 1).payment.amount == 2**64 + 7
    assert engine.find(3).history[-1].reason is Reason.NOT_SETTLED_BY_CUT_OFF
    assert engine.find(SAME_TOP | 3) is None and engine.find(99) is None


def test_a_day_is_archived_in_slices_the_oldest_first(day: Day) -> None:
    a_finished_day(day)
    engine, opened = day.engine, day.engine.opened_ns
    order = list(engine.entries)
    assert day.hub.archive(opened, day.clock(), 3)[::2] == (3, False)
    assert list(engine.entries) == order[3:] and engine.archived_before == 0
    assert day.hub.archive(opened, day.clock(), 3)[::2] == (1, True)
    assert engine.entries == {} and engine.archived_before == opened
    assert day.hub.archive(opened, day.clock(), 3)[::2] == (0, True)
    assert sorted(u for u in order if engine.find(u) is not None) == sorted(order)


def test_an_archived_uetr_stays_taken_one_at_a_time_in_a_batch_and_across_currencies(
    day: Day,
) -> None:
    a_finished_day(day)
    assert day.hub.archive(day.engine.opened_ns, day.clock())[0] == 4
    day.fund(B, 1_000)
    assert day.send(SAME_TOP | 1, B, C, 1) is Reason.DUPLICATE_UETR
    assert day.send(SAME_TOP | 3, B, C, 1) is None  # same upper bits, another UETR
    # A batch long enough for the columns' path: one archived UETR sends it one at a time.
    batch = [payment(1_000 + i, B, C, 1) for i in range(40)] + [payment(4, B, C, 1)]
    outcome = day.send_all(batch)
    assert outcome == [None] * 40 + [Reason.DUPLICATE_UETR]
    assert day.engine.check_fx(FxPayment(3, A, B, 1)) is Reason.DUPLICATE_UETR
    # The original, archived, is untouched: still rejected at yesterday's cut-off.
    assert day.engine.find(3).status is REJECTED


def test_an_archived_payment_cannot_be_cancelled_again(day: Day) -> None:
    a_finished_day(day)
    day.hub.archive(day.engine.opened_ns, day.clock())
    assert day.hub.cancel(SAME_TOP | 2, A, day.clock()) is Reason.ALREADY_SETTLED
    assert day.hub.cancel(4, D, day.clock()) is Reason.ALREADY_FINAL
    assert day.hub.cancel(SAME_TOP | 2, B, day.clock()) is Reason.NOT_OWNER


def test_archiving_drops_the_clock_heaps_references_to_archived_payments(day: Day) -> None:
    day.fund(A, 100)
    day.send(1, A, B, 500, latest_ns=CUT_OFF_NS // 2)  # queued with a deadline
    day.send(2, A, B, 5, earliest_ns=CUT_OFF_NS // 4)  # warehoused
    assert day.hub.cancel(1, A, day.clock()) is None  # its deadline stays in the heap
    day.tick(CUT_OFF_NS // 4)
    assert day.status(2) is SETTLED and day.engine.deadlines
    day.end_of_day()
    day.engine.open_day(dict.fromkeys((CNY, RUB), 2 * CUT_OFF_NS), day.clock(CUT_OFF_NS + 1))
    day.hub.archive(day.engine.opened_ns, day.clock())
    assert day.engine.deadlines == [] and day.engine.warehouse == []
    day.tick(CUT_OFF_NS + 100)  # nothing left to pass over


def test_event_positions_outlive_the_archived_ones() -> None:
    log = EventLog()
    log.extend(Event(u, Status.RECEIVED, at) for u, at in enumerate((5, 6, 6, 9, 12)))
    assert log.drop_before(7) == 3
    assert (len(log), log.base, [e.uetr for e in log]) == (5, 3, [3, 4])
    assert [e.uetr for e in log[3:]] == [3, 4] and [e.uetr for e in log[4:5]] == [4]
    assert log[-1].uetr == 4 and log[3].uetr == 3 and log[9:] == []
    for archived in (lambda: log[2], lambda: log[0:4], lambda: log[-5]):
        with pytest.raises(IndexError, match="archived"):
            archived()
    log.extend([Event(5, Status.SETTLED, 13)])
    assert len(log) == 6 and log[5].uetr == 5 and log.drop_before(0) == 0


@settings(max_examples=100, deadline=None)
@given(
    uetrs=st.sets(
        st.one_of(st.integers(0, 2**128 - 1), st.integers(0, 2**8).map(lambda u: SAME_TOP | u)),
        min_size=1,
        max_size=40,
    ),
    split=st.integers(0, 40),
    probes=st.lists(st.integers(0, 2**128 - 1), max_size=10),
)
def test_archived_uetrs_are_found_exactly(uetrs, split, probes) -> None:
    """Added in two archives, every UETR is found, one at a time and in a batch, and no
    other is: the UETR's 128 bits, not a hash of them."""
    archive = ArchivedPayments()
    ordered = sorted(uetrs)
    for part in (ordered[:split], ordered[split:]):
        archive.add([_entry(uetr) for uetr in part])
    assert len(archive) == len(uetrs)
    others = [p for p in probes if p not in uetrs] + [u ^ 1 for u in uetrs if u ^ 1 not in uetrs]
    assert archive.known(ordered + others) == uetrs
    assert all(u in archive for u in uetrs) and not any(o in archive for o in others)
    assert archive.entry(ordered[0], Entry).payment.uetr == ordered[0]


def test_only_final_payments_are_archived() -> None:
    entry = _entry(1)
    entry.status = QUEUED
    with pytest.raises(ValueError, match="not final"):
        ArchivedPayments().add([entry])


def _entry(uetr: int) -> Entry:
    made = Entry(payment(uetr, A, B, 1), 1, 11, 12, 156, 5, CANCELLED)
    made.history = [Event(uetr, Status.RECEIVED, 5), Event(uetr, CANCELLED, 6)]
    return made
