"""A large message decided in turns: other requests are decided between its batches; its
camt.054s carry its own settlements only; with nothing between its turns, it answers as
it would in one go; sent again while under way, or after being cut off, it settles nothing
twice."""

from __future__ import annotations

import threading
import uuid

import pytest

from samarkand.bench.iso import bulk_pacs008
from samarkand.hub.messages import message_steps, process_message, read_message
from samarkand.hub.notifications import render
from samarkand.service import messages as service_messages
from samarkand.service.messages import submit_message_steps
from samarkand.settlement.payments import Payment, Status
from tests.iso20022.builders import Tx, pacs008
from tests.iso20022.iso_builders import small_hub
from tests.service.conftest import CREDITOR, DEBTOR


def _held(engine):
    """Hold the hub's thread until the returned event is set, so that what is asked
    meanwhile is taken in one round, in the order asked."""
    gate, holding = threading.Event(), threading.Event()

    def hold(_engine, _now) -> bool:
        holding.set()
        return gate.wait(5)

    blocker = engine.call(hold)
    assert holding.wait(5)
    return gate, blocker


def _uetrs(data: bytes) -> list[int]:
    content = read_message(data).content
    assert content is not None
    return [tx.uetr for tx in content.transactions]


def test_work_in_steps_lets_later_requests_run_between_its_turns(service):
    engine = service.engine
    order: list[str] = []

    def steps(_engine, now):
        order.append("turn 1")
        now = yield
        order.append("turn 2")
        now = yield
        order.append("turn 3")
        return now

    gate, blocker = _held(engine)
    stepped = engine.steps(steps)
    called = engine.call(lambda e, now: order.append(f"call, {e.under_way} under way") or now)
    gate.set()
    assert blocker.result(5) is True
    last_now = stepped.result(10)
    assert called.result(10) < last_now  # the last turn ran in a later round
    assert order == ["turn 1", "call, 1 under way", "turn 2", "turn 3"]
    assert engine.call(lambda e, _now: e.under_way).result(10) == 0


def test_a_step_that_raises_tells_its_request_and_the_hub_goes_on(service):
    engine = service.engine

    def steps(_engine, _now):
        yield
        raise ValueError("broken turn")

    assert isinstance(engine.steps(steps).exception(10), ValueError)
    assert engine.call(lambda e, _now: ("still here", e.under_way)).result(10) == ("still here", 0)


def test_a_message_in_turns_answers_byte_for_byte_as_in_one_go():
    """Nothing else between its turns: the same pacs.002 and camt.054s as in one go, the
    transactions queued (beyond A's liquidity, and those behind it) included."""
    amounts = ["100.00", "200.00", "300.00", "150.00", "1200.00", "50.00", "25.00"]
    data = pacs008([Tx(number=n, amount=a) for n, a in enumerate(amounts, start=1)])
    whole = process_message(small_hub(), data, 10)
    turned: list[tuple[int, int]] = []
    hub = small_hub()
    steps = message_steps(hub, data, 10, step_tx=2, turned=lambda a, b: turned.append((a, b)))
    turns = 0
    try:
        steps.send(None)
        while True:
            turns += 1  # the first ended; the next begins
            steps.send(10 + turns)
    except StopIteration as stop:
        turns += 1
        in_turns = stop.value
    assert [r.data for r in in_turns.responses] == [r.data for r in whole.responses]
    assert in_turns.statuses == whole.statuses == {"ACSC": 4, "ACSP": 3}
    # Four batches of at most two transactions, each a turn with events of its own; then
    # the report's turn, which makes none; then one turn per camt.054 (A's and B's).
    assert len(turned) == 4 + 1 and turns == 4 + 1 + 2
    assert all(b > a for a, b in turned[:4]) and turned[4][0] == turned[4][1] == len(hub.events)


def test_a_large_message_lets_a_payment_through_between_its_batches(service, monkeypatch):
    """With batches of two, a message of five transactions takes three rounds at least; a
    payment asked after it settles between its batches, in a command of its own, and is
    not in the message's camt.054s."""
    monkeypatch.setattr(service.engine, "message_batch", 2)
    engine = service.engine
    data = bulk_pacs008(5, debtor=DEBTOR + "XXX", creditors=(CREDITOR + "XXX",),
                        first_uetr=81_000, msg_id="TURNS-1", settlement_date=None)  # fmt: skip
    single = Payment(uuid.UUID(int=99_001).int, DEBTOR, CREDITOR, 100, "CNY")
    before = engine.durable.commands
    gate, blocker = _held(engine)
    message = engine.steps(lambda e, now: submit_message_steps(e, data, now, caller=DEBTOR))
    # Asked after the message's first turn, in the same round: then decided before its
    # second (a single payment request of the round would go first: batched, see `_round`).
    paid = engine.call(lambda e, now: e.durable.submit([single], now))
    gate.set()
    assert blocker.result(5) is True
    assert paid.result(10) == [None]
    outcome = message.result(10)
    assert outcome.answer.data.count(b"<TxSts>ACSC</TxSts>") == 5
    assert engine.durable.commands == before + 3 + 1  # three batches, one payment
    events = engine.call(lambda e, _now: list(e.durable.hub.events)).result(10)
    settled = [e.uetr for e in events if e.status is Status.SETTLED]
    position = settled.index(single.uetr)
    mine = [settled.index(u) for u in _uetrs(data)]
    assert mine == sorted(mine) and min(mine) < position < max(
        mine
    )  # decided between the message's batches
    assert not [r for r in outcome.processed.responses if b"camt.054" in r.data]
    camt054 = [r.data for r in render(outcome.processed.notifications)]  # made by the writer
    assert len(camt054) == 2  # the debtor's and the creditor's
    assert all(d.count(b"<Ntry>") == 5 for d in camt054)  # the single's posting not among them


def test_the_same_message_sent_again_while_under_way_waits_and_gets_the_same_answer(
    service, monkeypatch
):
    monkeypatch.setattr(service.engine, "message_batch", 2)
    engine = service.engine
    data = bulk_pacs008(5, debtor=DEBTOR + "XXX", creditors=(CREDITOR + "XXX",),
                        first_uetr=82_000, msg_id="TURNS-2", settlement_date=None)  # fmt: skip
    gate, blocker = _held(engine)
    first = engine.steps(lambda e, now: submit_message_steps(e, data, now, caller=DEBTOR))
    again = engine.steps(lambda e, now: submit_message_steps(e, data, now, caller=DEBTOR))
    gate.set()
    assert blocker.result(5) is True
    one, two = first.result(10), again.result(10)
    assert not one.processed.replayed and two.processed.replayed
    assert two.answer.data == one.answer.data
    assert one.answer.data.count(b"<TxSts>ACSC</TxSts>") == 5  # no DUPL: nothing ran twice
    entries = engine.call(lambda e, _now: e.durable.hub.engine.entries).result(10)
    assert all(entries[u].status is Status.SETTLED for u in _uetrs(data))
    events = engine.call(lambda e, _now: list(e.durable.hub.events)).result(10)
    settled = [e.uetr for e in events if e.status is Status.SETTLED]
    assert sorted(settled) == sorted(set(settled)) and set(_uetrs(data)) <= set(settled)


@pytest.mark.parametrize("size", [3, 4])
def test_a_message_in_turns_settles_each_transaction_once_in_order(service, monkeypatch, size):
    """Batches of two: the transactions settle in the message's order, whatever the last
    batch's size."""
    monkeypatch.setattr(service.engine, "message_batch", 2)
    engine = service.engine
    data = bulk_pacs008(size, debtor=DEBTOR + "XXX", creditors=(CREDITOR + "XXX",),
                        first_uetr=83_000, msg_id=f"T-{size}", settlement_date=None)  # fmt: skip
    before = engine.durable.commands
    outcome = engine.steps(lambda e, now: submit_message_steps(e, data, now, caller=DEBTOR)).result(
        10
    )
    assert outcome.answer.data.count(b"<TxSts>ACSC</TxSts>") == size
    assert engine.durable.commands == before + (size + 1) // 2  # a command per batch
    events = engine.call(lambda e, _now: list(e.durable.hub.events)).result(10)
    settled = [e.uetr for e in events if e.status is Status.SETTLED]
    assert [u for u in settled if u in set(_uetrs(data))] == _uetrs(data)


def test_a_message_cut_off_between_batches_is_completed_when_sent_again(service, monkeypatch):
    """The store fails as the second batch goes to the hub: the message is not answered,
    its first batch stays settled, and it stays begun; sent again, it submits the rest and
    reports every transaction, its camt.054s carrying all five settlements."""
    from samarkand.store import StoreError

    monkeypatch.setattr(service.engine, "message_batch", 2)
    engine = service.engine
    data = bulk_pacs008(5, debtor=DEBTOR + "XXX", creditors=(CREDITOR + "XXX",),
                        first_uetr=84_000, msg_id="TURNS-CUT", settlement_date=None)  # fmt: skip
    real = service_messages._CallerHub.submit
    calls: list[int] = []

    def failing_second(self, payments, now):
        calls.append(len(payments))
        if len(calls) == 2:
            raise StoreError("disk I/O error")
        return real(self, payments, now)

    monkeypatch.setattr(service_messages._CallerHub, "submit", failing_second)
    cut = engine.steps(lambda e, now: submit_message_steps(e, data, now, caller=DEBTOR))
    assert isinstance(cut.exception(10), StoreError)
    entries = engine.call(lambda e, _now: dict(e.durable.hub.engine.entries)).result(10)
    uetrs = _uetrs(data)
    assert [u in entries for u in uetrs] == [True, True, False, False, False]
    assert not engine.messages_under_way  # not left blocking a resend
    outcome = engine.steps(lambda e, now: submit_message_steps(e, data, now, caller=DEBTOR)).result(
        10
    )
    assert calls[2:] == [2, 1]  # the three transactions not held yet, in two batches
    assert outcome.answer.data.count(b"<TxSts>ACSC</TxSts>") == 5
    camt054 = [r.data for r in render(outcome.processed.notifications)]
    assert len(camt054) == 2 and all(d.count(b"<Ntry>") == 5 for d in camt054)
