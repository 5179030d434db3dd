"""The engine's batch path (`SettlementEngine._submit_gross`) against one payment at a time.

A batch in which every payment settles gross on arrival is decided as columns; any other
batch goes one payment at a time. The two must be indistinguishable: same outcomes, entries,
events, stats, ledger journal and balances, whatever the batch holds (refusals, duplicates,
queued senders, DNS, windows, shortfalls). Each case runs on two identical hubs, one with the
batch path switched off.
"""

from __future__ import annotations

from dataclasses import astuple

from hypothesis import given, settings
from hypothesis import strategies as st

from samarkand.hub.settlement import SettlementHub
from samarkand.ledger.types import BATCH_EVENTS_MAX
from samarkand.settlement.engine import GROSS_BATCH_MIN, SettlementEngine
from samarkand.settlement.payments import Method, Payment, Priority
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
    S,
    directory,
    open_hub,
)

AGENTS = (A, B, C, D, I, S, "SMZZCN22")


def _day() -> Day:
    return Day(open_hub(directory(), (CNY, RUB, INR)))


def _one_at_a_time(hub: SettlementHub) -> None:
    hub.engine._submit_gross = lambda payments, now: None  # type: ignore[method-assign]


def _observed(day: Day) -> tuple:
    engine: SettlementEngine = day.engine
    state = day.hub.ledger.state
    entries = {
        uetr: (e.payment, e.sequence, e.sender, e.receiver, e.ledger, e.received_ns, e.status,
               e.settled_ns, e.via, list(e.history))
        for uetr, e in engine.entries.items()
    }  # fmt: skip
    journal = [astuple(state.journal.row(row)) for row in range(len(state.journal))]
    balances = {a.id: astuple(state.balance(a.id)) for a in state.accounts}
    queues = {k: [[e.payment.uetr for e in q] for q in qs] for k, qs in engine.queues.items()}
    return (entries, list(day.hub.events), astuple(engine.stats), journal, balances, queues,
            dict(engine.queued_per_ledger), engine._next_id, engine._changed)  # fmt: skip


payments = st.builds(
    Payment,
    uetr=st.integers(1, 40) | st.integers(2**127, 2**128 + 1),
    debtor_agent=st.sampled_from(AGENTS),
    creditor_agent=st.sampled_from(AGENTS),
    amount=st.integers(-1, 60) | st.just(2**128),
    currency=st.sampled_from((CNY, CNY, CNY, RUB, INR, "XXX")),
    priority=st.sampled_from(Priority),
    method=st.sampled_from((Method.RTGS,) * 5 + (Method.DNS,)),
    earliest_ns=st.sampled_from((0,) * 8 + (5, 10**5)),
    latest_ns=st.sampled_from((0,) * 8 + (10**5,)),
)


@settings(max_examples=150, deadline=None)
@given(
    funding=st.lists(st.tuples(st.sampled_from((A, B, C, D)), st.integers(0, 3_000)), max_size=5),
    before=st.lists(payments, max_size=4),
    batch=st.lists(payments, min_size=GROSS_BATCH_MIN, max_size=40),
    clean=st.booleans(),
    odd=st.integers(0, 200),
)
def test_a_batch_is_decided_as_one_payment_at_a_time_would_be(
    funding: list[tuple[str, int]],
    before: list[Payment],
    batch: list[Payment],
    clean: bool,
    odd: int,
) -> None:
    if clean:  # batches that mostly qualify: distinct UETRs, known agents, plain RTGS, funded
        pays_to = {A: B, B: C, C: D, D: A, I: B}
        raw = batch
        batch = [
            Payment(1_000 + n, debtor, pays_to[debtor], max(1, p.amount) % 100 + 1, CNY, p.priority)
            for n, p in enumerate(raw)
            for debtor in [p.debtor_agent if p.debtor_agent in pays_to else A]
        ]
        if odd < len(batch):  # one payment as generated: it may send the batch the other way
            batch[odd] = raw[odd]
        funding = [*funding, (A, 5_000), (B, 5_000), (C, 5_000), (D, 5_000)]
    fast, slow = _day(), _day()
    _one_at_a_time(slow.hub)
    outcomes = []
    for day in (fast, slow):
        for bic, amount in funding:
            day.fund(bic, amount, RUB if bic == D and amount < 5_000 else CNY)
        day.send_all(before)
        outcomes.append(day.send_all(batch))
        day.optimise()
        assert day.problems() == []
    assert outcomes[0] == outcomes[1]
    assert _observed(fast) == _observed(slow)


def test_a_qualifying_batch_takes_the_batch_path_and_settles_every_payment() -> None:
    day = _day()
    day.fund(A, 10_000)
    day.fund(B, 400)
    taken = []
    engine = day.engine
    original = engine._submit_gross
    engine._submit_gross = lambda p, now: taken.append(original(p, now)) or taken[-1]  # type: ignore[method-assign]
    batch = [Payment(n, A if n % 3 else B, C if n % 2 else D, 10, CNY) for n in range(1, 101)]
    assert day.send_all(batch) == [None] * 100
    assert taken == [[None] * 100]
    assert all(day.status(p.uetr).value == "settled" for p in batch)


def test_a_batch_that_outruns_a_senders_liquidity_goes_one_at_a_time() -> None:
    day = _day()
    day.fund(A, 100)
    taken = []
    engine = day.engine
    original = engine._submit_gross
    engine._submit_gross = lambda p, now: taken.append(original(p, now)) or taken[-1]  # type: ignore[method-assign]
    batch = [Payment(n, A, B, 6, CNY) for n in range(1, GROSS_BATCH_MIN + 2)]  # 17 x 6 > 100
    outcome = day.send_all(batch)
    assert taken == [None]
    assert outcome == [None] * len(batch)
    assert [day.status(p.uetr).value for p in batch].count("queued") == 1


def test_a_block_larger_than_a_ledger_batch_is_cut_where_single_transfers_would_be() -> None:
    fast, slow = _day(), _day()
    _one_at_a_time(slow.hub)
    count = BATCH_EVENTS_MAX + 500
    batch = [Payment(n, A, B, 1, CNY) for n in range(1, count + 1)]
    for day in (fast, slow):
        day.fund(A, count)
        assert day.send_all(batch) == [None] * count
    assert fast.hub.ledger.state.batches == slow.hub.ledger.state.batches
    assert _observed(fast) == _observed(slow)
    assert fast.balance(B) == count and fast.clearing() == 0 and CUT_OFF_NS > fast.now
