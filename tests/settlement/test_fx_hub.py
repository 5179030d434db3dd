"""Cross-currency payments through the hub: a quote redeemed once, all legs settled in one
linked chain or queued without blocking anything else, released by liquidity, rejected at the
end of the day or when the quoted rates end, cancellable; every bad input refused with its
ISO 20022 reason and nothing half-applied; cross-currency offsetting of queued cycles."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samarkand.fx.routing import Quote
from samarkand.hub.settlement import QuoteRequest
from samarkand.ledger.invariants import problems
from samarkand.ledger.types import TransferCode, TransferFlags
from samarkand.settlement.engine import Via
from samarkand.settlement.payments import FxPayment, Reason, Status
from tests.settlement.conftest import payment
from tests.settlement.fx_world import (
    CNY,
    CUT_OFF_NS,
    CYCLE_TIERS,
    INR,
    RUB,
    USD,
    A,
    B,
    C,
    FxDay,
    P,
    Q,
    tier,
)

LINKED = int(TransferFlags.LINKED)


def snapshot(day: FxDay) -> tuple[int, list[tuple[int, int]], int]:
    state = day.hub.ledger.state
    balances = [(a.id, state.balance(a.id).net_credit) for a in state.accounts]
    return len(state.journal), balances, len(day.hub.engine.entries)


def quoted(day: FxDay, bic: str, source: str, destination: str, send: int, **kw) -> Quote:
    found = day.quote(bic, source, destination, send, **kw)
    assert isinstance(found, Quote), found
    return found


# ---------------------------------------------------------------------- one payment


def test_a_covered_payment_settles_at_once_with_all_legs_in_one_linked_chain():
    day = FxDay()
    day.post(*CYCLE_TIERS)
    day.fund(A, CNY, 1_000_00)
    day.fund(P, RUB, 5_000_00)
    q = quoted(day, A, CNY, RUB, 100_00)
    assert (q.deliver_amount, len(q.hops)) == (1_250_00, 1)
    batches = []
    apply = day.hub.ledger.apply

    def recording(batch, now):
        batches.append(list(batch))
        return apply(batch, now)

    day.hub.ledger.apply = recording
    assert day.pay(1, A, B, q.id) is None
    assert len(batches) == 1  # one ledger batch: durable all at once
    assert [t.flags & LINKED for t in batches[0]] == [LINKED, 0]  # one chain, closed
    entry = day.hub.engine.entries[1]
    assert (entry.status, entry.via) == (Status.SETTLED, Via.FX)
    assert (day.balance(A, CNY), day.balance(P, CNY)) == (900_00, 100_00)
    assert (day.balance(P, RUB), day.balance(B, RUB)) == (3_750_00, 1_250_00)
    legs = day.hub.ledger.state.journal.columns().take(slice(-2, None))
    assert legs.code.tolist() == [TransferCode.FX, TransferCode.FX]
    assert legs.user_data.tolist() == [1, 1]
    assert legs.ledger.tolist() == [156, 643]  # one chain across two currency ledgers
    assert "CNY 10000 minor units SMAACN22 -> SMPPCN22" in entry.history[0].detail
    assert "SMPPCN22 CNY/RUB 12.5" in entry.history[0].detail
    assert problems(day.hub.ledger.state) == []


def test_a_payment_whose_provider_lacks_liquidity_queues_and_is_released_when_it_comes():
    day = FxDay()
    day.post(*CYCLE_TIERS)
    day.fund(A, CNY, 1_000_00)
    q = quoted(day, A, CNY, RUB, 100_00)
    before = len(day.hub.ledger.state.journal)
    assert day.pay(1, A, B, q.id) is None
    entry = day.hub.engine.entries[1]
    assert entry.status is Status.QUEUED
    assert len(day.hub.ledger.state.journal) == before  # no leg moved
    day.fund(P, RUB, 1_250_00)
    assert (entry.status, entry.via) == (Status.SETTLED, Via.FX)
    assert [e.status for e in entry.history] == [Status.RECEIVED, Status.QUEUED, Status.SETTLED]
    assert (day.balance(P, RUB), day.balance(B, RUB)) == (0, 1_250_00)


def test_a_waiting_payment_keeps_its_senders_fifo_but_never_blocks_others():
    day = FxDay()
    day.post(*CYCLE_TIERS)
    day.fund(A, CNY, 1_000_00)
    day.fund(C, INR, 1_000_00)
    day.fund(P, RUB, 1_000_00)
    day.fund(P, CNY, 100_00)
    big = quoted(day, A, CNY, RUB, 100_00)  # needs 1,250.00 RUB of P: waits
    small = quoted(day, A, CNY, RUB, 10_00)  # needs 125.00: would fit, but comes second
    other = quoted(day, C, INR, CNY, 800_00)  # another sender, other currencies
    assert [day.pay(1, A, B, big.id), day.pay(2, A, B, small.id)] == [None, None]
    assert day.pay(3, C, A, other.id) is None
    engine = day.hub.engine
    assert [engine.entries[u].status for u in (1, 2, 3)] == [
        Status.QUEUED,
        Status.QUEUED,
        Status.SETTLED,
    ]
    # A's single-currency payments are not held behind its cross-currency queue.
    assert day.hub.submit([payment(4, A, P, 5_00)], day.clock()) == [None]
    assert engine.entries[4].status is Status.SETTLED
    day.fund(P, RUB, 375_00)
    assert [engine.entries[u].status for u in (1, 2)] == [Status.SETTLED, Status.SETTLED]
    assert engine.entries[1].settled_ns <= engine.entries[2].settled_ns


# ---------------------------------------------------------------------- bad input


def test_every_bad_quote_or_tier_gets_its_iso_reason_and_changes_nothing():
    day = FxDay()
    day.post(*CYCLE_TIERS)
    day.fund(A, CNY, 1_000_00)
    day.fund(P, RUB, 10_000_00)
    before = snapshot(day)
    cases = [
        (day.post(tier(P, CNY, RUB, "12.12345678901")), Reason.RATE_INVALID, "CH16"),
        (day.post(tier(P, CNY, RUB, "-3")), Reason.RATE_INVALID, "CH16"),
        (day.post(tier(P, CNY, RUB, "1e3")), Reason.RATE_INVALID, "CH16"),
        (day.post(tier(P, CNY, RUB, "12", low=5, high=4)), Reason.TIER_INVALID, "CH16"),
        (day.post(tier("PBOCCNBJ", CNY, RUB, "12")), Reason.PROVIDER_NOT_DIRECT, "AG01"),
        (day.post(tier(P, CNY, "XXX", "12")), Reason.CURRENCY_NOT_ALLOWED, "AM03"),
    ]
    for outcome, reason, iso in cases:
        assert outcome == [reason] and reason.iso == iso
    assert len(day.hub.book) == 3
    refusals = [
        (day.quote(A, CNY, "KZT", 100), Reason.CURRENCY_NOT_ALLOWED, "AM03"),
        (day.quote(A, CNY, USD, 100), Reason.FX_NO_ROUTE, "AM03"),  # unknown pair
        (day.quote(A, CNY, CNY, 100), Reason.FX_SAME_CURRENCY, "AM03"),
        (day.quote(A, CNY, RUB, 0), Reason.FX_AMOUNT_INVALID, "AM12"),
        (day.quote("UNKNCN22", CNY, RUB, 100), Reason.DEBTOR_AGENT_UNKNOWN, "DNOR"),
    ]
    for outcome, reason, iso in refusals:
        assert outcome is reason and reason.iso == iso
    assert day.hub.quotes_issued == 0
    assert snapshot(day) == before


def test_a_route_only_through_a_vehicle_currency_is_refused():
    day = FxDay()
    day.post(tier(Q, CNY, USD, "0.14"), tier(Q, USD, INR, "88"))
    assert day.quote(A, CNY, INR, 100_00) is Reason.FX_FORBIDDEN_VEHICLE
    assert Reason.FX_FORBIDDEN_VEHICLE.iso == "AM03"


def test_a_provider_asked_beyond_its_committed_liquidity_is_refused():
    day = FxDay()
    day.post(tier(P, CNY, RUB, "12.5", liquidity=1_000_00))
    assert isinstance(day.quote(A, CNY, RUB, 80_00), Quote)
    assert day.quote(A, CNY, RUB, 81_00) is Reason.FX_PROVIDER_LIQUIDITY
    assert Reason.FX_PROVIDER_LIQUIDITY.iso == "AM02"


def test_unknown_used_expired_and_foreign_quotes_are_refused_and_the_quote_stays_usable():
    day = FxDay()
    day.post(*CYCLE_TIERS)
    day.fund(A, CNY, 1_000_00)
    day.fund(C, INR, 1_000_00)
    day.fund(P, RUB, 10_000_00)
    q = quoted(day, A, CNY, RUB, 100_00)
    short = quoted(day, A, CNY, RUB, 10_00, ttl=5)
    day.clock(day.now + 10)
    before = snapshot(day)
    assert day.pay(1, A, B, 999) is Reason.QUOTE_UNKNOWN
    assert day.pay(2, C, B, q.id) is Reason.QUOTE_NOT_OWNER
    assert day.pay(3, A, B, short.id) is Reason.QUOTE_EXPIRED
    assert day.pay(4, A, A, q.id) is Reason.SAME_AGENTS
    assert snapshot(day) == before  # refusals burn no quote and move nothing
    assert day.pay(5, A, B, q.id) is None
    assert day.pay(6, A, B, q.id) is Reason.QUOTE_USED
    assert day.pay(5, A, B, quoted(day, A, CNY, RUB, 1_00).id) is Reason.DUPLICATE_UETR
    codes = [r.iso for r in (Reason.QUOTE_UNKNOWN, Reason.QUOTE_EXPIRED, Reason.QUOTE_USED)]
    assert codes == ["CH16", "TM01", "DUPL"]
    assert day.hub.engine.entries[5].status is Status.SETTLED


# ---------------------------------------------------------------------- lifecycle


def test_a_queued_payment_is_rejected_when_its_rates_stop_standing():
    day = FxDay()
    day.post(tier(P, CNY, RUB, "12.5", until=500))
    day.fund(A, CNY, 1_000_00)
    q = quoted(day, A, CNY, RUB, 100_00)
    assert day.pay(1, A, B, q.id) is None
    before = snapshot(day)
    day.hub.tick(499)
    assert day.hub.engine.entries[1].status is Status.QUEUED
    day.hub.tick(500)
    entry = day.hub.engine.entries[1]
    assert (entry.status, entry.history[-1].reason) == (Status.REJECTED, Reason.RATES_EXPIRED)
    assert Reason.RATES_EXPIRED.iso == "AB03"
    day.fund(P, RUB, 10_000_00)  # too late: nothing moves for it
    assert entry.status is Status.REJECTED
    assert snapshot(day)[2] == before[2]


def test_end_of_day_rejects_and_the_sender_may_cancel():
    day = FxDay()
    day.post(*CYCLE_TIERS)
    day.fund(A, CNY, 1_000_00)
    first, second = quoted(day, A, CNY, RUB, 100_00), quoted(day, A, CNY, RUB, 50_00)
    assert [day.pay(1, A, B, first.id), day.pay(2, A, B, second.id)] == [None, None]
    assert day.hub.cancel(2, B, day.clock()) is Reason.NOT_OWNER
    assert day.hub.cancel(2, A, day.clock()) is None
    assert day.hub.engine.entries[2].status is Status.CANCELLED
    assert day.hub.end_of_day(CUT_OFF_NS) == 1
    entry = day.hub.engine.entries[1]
    assert (entry.status, entry.history[-1].reason) == (
        Status.REJECTED,
        Reason.NOT_SETTLED_BY_CUT_OFF,
    )
    assert day.hub.engine.fx_queues == {}
    assert (day.balance(A, CNY), day.balance(B, RUB)) == (1_000_00, 0)


def test_a_queued_payment_is_rejected_at_the_cut_off_of_a_currency_it_moves_only():
    day = FxDay()
    day.post(*CYCLE_TIERS)
    day.fund(A, CNY, 1_000_00)
    assert day.pay(1, A, B, quoted(day, A, CNY, RUB, 100_00).id) is None  # P lacks RUB
    entry = day.hub.engine.entries[1]
    assert {leg.currency for leg in entry.fx.legs} == {CNY, RUB}
    assert day.hub.close_currency(INR, CUT_OFF_NS) == 0
    assert entry.status is Status.QUEUED  # no leg in INR
    assert day.hub.close_currency(RUB, CUT_OFF_NS) == 1
    assert (entry.status, entry.history[-1].reason) == (
        Status.REJECTED,
        Reason.NOT_SETTLED_BY_CUT_OFF,
    )
    assert day.hub.engine.fx_queues == {} and day.balance(A, CNY) == 1_000_00


# ---------------------------------------------------------------------- offsetting


def _cycle(day: FxDay, amounts: tuple[int, int, int]) -> None:
    """A pays B (CNY -> RUB), B pays C (RUB -> INR), C pays A (INR -> CNY)."""
    a_cny, b_rub, c_inr = amounts
    for uetr, (payer, payee, source, destination, send) in enumerate(
        [(A, B, CNY, RUB, a_cny), (B, C, RUB, INR, b_rub), (C, A, INR, CNY, c_inr)], start=1
    ):
        assert day.pay(uetr, payer, payee, quoted(day, payer, source, destination, send).id) is None


def test_a_three_currency_cycle_that_cannot_settle_gross_settles_together():
    day = FxDay()
    day.post(*CYCLE_TIERS)
    day.fund(A, CNY, 20_00)  # A pays 100.00 CNY and gets 80.00 back: its residual
    day.fund(P, RUB, 250_00)  # P sells 1,250.00 RUB, buys 1,000.00 back: its residual
    _cycle(day, (100_00, 1_000_00, 1_280_00))
    engine = day.hub.engine
    assert [engine.entries[u].status for u in (1, 2, 3)] == [Status.QUEUED] * 3
    assert day.hub.optimise(day.clock()) == 3
    assert {engine.entries[u].via for u in (1, 2, 3)} == {Via.FX_OFFSET}
    assert (day.balance(A, CNY), day.balance(B, RUB), day.balance(C, INR)) == (0, 250_00, 0)
    assert (day.balance(P, CNY), day.balance(P, RUB), day.balance(P, INR)) == (20_00, 0, 0)
    stats = engine.stats
    assert stats.fx_provider_gross == {156: 80_00, 643: 1_250_00, 356: 1_280_00}
    assert stats.fx_provider_net == {643: 250_00}  # all the providers needed, on net
    assert problems(day.hub.ledger.state) == []
    for currency in (CNY, RUB, INR):
        assert day.hub.ledger.balance(engine.clearing_account(currency)).net_credit == 0


def test_a_cycle_with_one_member_uncovered_does_not_half_settle():
    day = FxDay()
    day.post(*CYCLE_TIERS)
    day.fund(P, RUB, 250_00)  # A's residual of 20.00 CNY is missing
    _cycle(day, (100_00, 1_000_00, 1_280_00))
    before = snapshot(day)
    assert day.hub.optimise(day.clock()) == 0
    assert [day.hub.engine.entries[u].status for u in (1, 2, 3)] == [Status.QUEUED] * 3
    assert snapshot(day) == before
    day.fund(A, CNY, 20_00)
    assert day.hub.optimise(day.clock()) == 3


BANKS = (A, B, C)
HOME = {A: CNY, B: RUB, C: INR}
ALL_TIERS = [
    *CYCLE_TIERS,
    tier(Q, RUB, CNY, "0.08"),
    tier(Q, INR, RUB, "0.78125"),
    tier(Q, CNY, INR, "16"),
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payments=st.lists(
        st.tuples(st.sampled_from(BANKS), st.sampled_from(BANKS), st.integers(1, 5_000_00)),
        min_size=1,
        max_size=12,
    ),
    funding=st.lists(st.integers(0, 3_000_00), min_size=9, max_size=9),
)
def test_offsetting_keeps_every_ledger_balanced_and_every_account_within_its_limit(
    payments, funding
):
    day = FxDay()
    day.post(*ALL_TIERS)
    parties = [(bic, currency) for bic in (A, B, P) for currency in (CNY, RUB, INR)]
    for (bic, currency), amount in zip(parties, funding, strict=True):
        if amount:
            day.fund(bic, currency, amount)
    start = {key: day.balance(*key) for key in [(x, c) for x in (A, B, C, P, Q)
                                                 for c in (CNY, RUB, INR)]}  # fmt: skip
    uetrs = []
    for uetr, (payer, payee, send) in enumerate(payments, start=1):
        if payer == payee:
            continue
        found = day.quote(payer, HOME[payer], HOME[payee], send)
        if isinstance(found, Quote) and day.pay(uetr, payer, payee, found.id) is None:
            uetrs.append(uetr)
    day.hub.optimise(day.clock())
    engine = day.hub.engine
    assert problems(day.hub.ledger.state) == []  # debits = credits per ledger, limits held
    # Every account moved by exactly the settled payments' legs: nothing half-applied.
    expected = dict(start)
    directory = day.hub.directory
    owner = {
        directory.settlement_account(directory.get(x), c): (x, c) for (x, c) in start
    }  # fmt: skip
    for uetr in uetrs:
        entry = engine.entries[uetr]
        assert entry.status in (Status.SETTLED, Status.QUEUED)
        if entry.status is Status.SETTLED:
            for account, net in entry.fx.net.items():
                expected[owner[account]] += net
    assert {key: day.balance(*key) for key in start} == expected
    assert all(value >= 0 for value in expected.values())
    for currency in (CNY, RUB, INR):
        assert day.hub.ledger.balance(engine.clearing_account(currency)).net_credit == 0


def test_a_quote_request_object_carries_the_deliver_amount_too():
    day = FxDay()
    day.post(*CYCLE_TIERS)
    found = day.hub.request_quote(QuoteRequest(A, CNY, RUB, None, 1_250_00), day.clock())
    assert isinstance(found, Quote) and found.send_amount == 100_00
    assert day.hub.submit_fx([FxPayment(9, A, B, found.id)], day.clock()) == [None]


@pytest.mark.parametrize("ttl", [0, -1, 10**30])
def test_a_bad_quote_lifetime_is_refused(ttl):
    day = FxDay()
    day.post(*CYCLE_TIERS)
    request = QuoteRequest(A, CNY, RUB, 100, None, ttl)
    assert day.hub.request_quote(request, day.clock()) is Reason.SETTLEMENT_WINDOW_INVALID


def test_a_refused_payment_is_in_the_hubs_events_and_after_cut_off_nothing_is_accepted():
    day = FxDay()
    day.post(*CYCLE_TIERS)
    day.fund(A, CNY, 1_000_00)
    late = quoted(day, A, CNY, RUB, 10_00, ttl=2 * CUT_OFF_NS)
    assert day.pay(7, A, B, 424242) is Reason.QUOTE_UNKNOWN
    assert [(e.uetr, e.status, e.reason) for e in day.hub.events if e.uetr == 7] == [
        (7, Status.REJECTED, Reason.QUOTE_UNKNOWN)
    ]
    assert day.hub.submit_fx([FxPayment(8, A, B, late.id)], CUT_OFF_NS) == [Reason.AFTER_CUT_OFF]
    assert not day.hub.quotes.is_used(late.id)  # a refused payment burns no quote


def test_a_currency_resting_today_is_neither_quoted_nor_converted_through():
    """RUB rests (its own holiday): no quote to or from it, none through it, and a payment
    citing an earlier quote with a RUB leg is refused DT01; CNY still settles."""
    day = FxDay()
    day.post(*CYCLE_TIERS)
    day.fund(A, CNY, 1_000_00)
    day.fund(P, RUB, 5_000_00)
    earlier = quoted(day, A, CNY, RUB, 100_00, ttl=3 * CUT_OFF_NS)
    assert day.hub.end_of_day(CUT_OFF_NS) == 0
    # RUB's cut-off as given lies ahead: a resting currency is closed from the opening on.
    engine = day.hub.engine
    cut_offs = dict.fromkeys((CNY, RUB, INR), 2 * CUT_OFF_NS)
    engine.open_day(cut_offs, day.clock(CUT_OFF_NS + 1), None, [RUB])
    assert engine.resting == {RUB} and engine.closed == {RUB}
    assert engine.cut_off_ns[RUB] == CUT_OFF_NS + 1 and engine.next_cut_off() == 2 * CUT_OFF_NS
    assert day.quote(A, CNY, RUB, 100_00) is Reason.CURRENCY_RESTING
    assert day.quote(B, RUB, CNY, 100_00) is Reason.CURRENCY_RESTING
    assert day.quote(A, CNY, INR, 100_00) is Reason.CURRENCY_RESTING  # only through RUB
    assert day.pay(1, A, B, earlier.id) is Reason.CURRENCY_RESTING
    assert not day.hub.quotes.is_used(earlier.id)
    assert isinstance(day.hub.set_cut_off(RUB, 2 * CUT_OFF_NS, day.clock()), str)
    assert engine.cut_off_ns[RUB] == CUT_OFF_NS + 1
    (single,) = day.hub.submit([payment(2, A, C, 10_00, CNY)], day.clock())
    assert single is None and engine.entries[2].status is Status.SETTLED
    (resting,) = day.hub.submit([payment(3, P, B, 10_00, RUB)], day.clock())
    assert resting is Reason.CURRENCY_RESTING and Reason.CURRENCY_RESTING.iso == "DT01"
    # The next day RUB settles again.
    assert day.hub.end_of_day(2 * CUT_OFF_NS) == 0
    engine.open_day(dict.fromkeys((CNY, RUB, INR), 3 * CUT_OFF_NS), day.clock(2 * CUT_OFF_NS + 1))
    assert engine.resting == set() and engine.closed == set()
    assert day.pay(4, A, B, earlier.id) is None and engine.entries[4].status is Status.SETTLED
