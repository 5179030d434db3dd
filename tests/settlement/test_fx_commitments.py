"""A tier's committed liquidity is honoured in total: each settled hop counts against it, a
payment that would take it past its commitment does not settle (AM02), new quotes price
against what is left, and the count is the same replayed, from a snapshot, or after a tier is
posted again. A log written before the count existed replays as it ran."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samarkand.fx.routing import Quote
from samarkand.hub.durable import DurableHub
from samarkand.hub.settlement import Liquidity, QuoteRequest
from samarkand.ledger.invariants import problems
from samarkand.settlement.engine import FX_SEARCH, Decision, Via
from samarkand.settlement.payments import FxPayment, Reason, Status
from tests.settlement.fx_world import (
    CNY,
    CUT_OFF_NS,
    CYCLE_TIERS,
    INR,
    LEDGERS,
    RUB,
    START_NS,
    A,
    B,
    C,
    FxDay,
    P,
    Q,
    fx_directory,
    log_written_before,
    tier,
)


def quoted(day: FxDay, bic: str, source: str, destination: str, send: int) -> Quote:
    found = day.quote(bic, source, destination, send)
    assert isinstance(found, Quote), found
    return found


def commitment(day: FxDay, provider: str, sell: str, buy: str) -> int:
    (offer,) = [o for o in day.hub.book.offers(sell, buy) if o.tier.provider == provider]
    return offer.commitment


def rejected(day: FxDay, uetr: int) -> Reason | None:
    """The reason of the last REJECTED event of payment `uetr` (None: none)."""
    found = [e.reason for e in day.hub.events if e.uetr == uetr and e.status is Status.REJECTED]
    return found[-1] if found else None


# ---------------------------------------------------------------------- the count


def test_two_quotes_that_together_exceed_a_tiers_commitment_settle_only_the_first():
    """Each quote of 999.97 RUB fits the 1,000.00 RUB committed; both together do not."""
    day = FxDay()
    day.post(tier(P, CNY, RUB, "12.49963", liquidity=1_000_00))
    day.fund(A, CNY, 1_000_00)
    day.fund(P, RUB, 5_000_00)  # the provider's account holds more than it committed
    first, second = quoted(day, A, CNY, RUB, 80_00), quoted(day, A, CNY, RUB, 80_00)
    assert first.deliver_amount == second.deliver_amount == 999_97
    assert day.pay(1, A, B, first.id) is None
    assert day.pay(2, A, B, second.id) is Reason.FX_PROVIDER_LIQUIDITY
    assert Reason.FX_PROVIDER_LIQUIDITY.iso == "AM02"
    assert day.hub.engine.entries[1].status is Status.SETTLED
    assert 2 not in day.hub.engine.entries and rejected(day, 2) is Reason.FX_PROVIDER_LIQUIDITY
    assert not day.hub.quotes.is_used(second.id)  # a refused payment burns no quote
    assert day.hub.engine.tier_paid == {commitment(day, P, CNY, RUB): 999_97}
    assert (day.balance(P, RUB), day.balance(B, RUB)) == (5_000_00 - 999_97, 999_97)
    assert problems(day.hub.ledger.state) == []


def test_a_quote_after_a_settlement_is_priced_against_what_is_left():
    day = FxDay()
    day.post(tier(P, CNY, RUB, "12.5", liquidity=1_000_00), tier(Q, CNY, RUB, "12.4"))
    day.fund(A, CNY, 1_000_00)
    day.fund(P, RUB, 5_000_00)
    assert day.pay(1, A, B, quoted(day, A, CNY, RUB, 60_00).id) is None  # 750.00 of P's
    # 40.00 CNY would buy 500.00 RUB of P, but 250.00 are left: Q's worse rate it is.
    later = quoted(day, A, CNY, RUB, 40_00)
    assert [(h.provider, h.buy_amount) for h in later.hops] == [(Q, 496_00)]
    # What is left exactly is still P's.
    rest = quoted(day, A, CNY, RUB, 20_00)
    assert [(h.provider, h.buy_amount) for h in rest.hops] == [(P, 250_00)]
    assert day.pay(2, A, B, rest.id) is None
    assert day.hub.engine.tier_paid[commitment(day, P, CNY, RUB)] == 1_000_00
    assert [h.provider for h in quoted(day, A, CNY, RUB, 1).hops] == [Q]


def test_every_hop_of_a_route_counts_and_deliver_quotes_price_against_what_is_left():
    day = FxDay()
    # CNY -> INR only through RUB: 12.5 and then 1.28, P committing 2,000.00 INR.
    day.post(tier(P, CNY, RUB, "12.5"), tier(P, RUB, INR, "1.28", liquidity=2_000_00))
    day.fund(A, CNY, 1_000_00)
    day.fund(P, RUB, 10_000_00)
    day.fund(P, INR, 10_000_00)
    found = day.hub.request_quote(QuoteRequest(A, CNY, INR, None, 1_600_00), day.clock())
    assert isinstance(found, Quote)
    assert [(h.sell_amount, h.buy_amount) for h in found.hops] == [(100_00, 1_250_00),
                                                                  (1_250_00, 1_600_00)]  # fmt: skip
    assert day.pay(1, A, C, found.id) is None
    paid = day.hub.engine.tier_paid
    assert paid == {commitment(day, P, CNY, RUB): 1_250_00, commitment(day, P, RUB, INR): 1_600_00}
    # 400.00 INR are left: a quote to deliver 400.01 finds none, 400.00 is still given.
    over = day.hub.request_quote(QuoteRequest(A, CNY, INR, None, 400_01), day.clock())
    assert over is Reason.FX_PROVIDER_LIQUIDITY
    rest = day.hub.request_quote(QuoteRequest(A, CNY, INR, None, 400_00), day.clock())
    assert isinstance(rest, Quote) and rest.deliver_amount == 400_00


@pytest.mark.parametrize(("over", "settles"), [(0, True), (1, False)])
def test_exactly_the_commitment_settles_and_one_minor_unit_more_does_not(over, settles):
    day = FxDay()
    day.post(tier(P, CNY, RUB, "1", liquidity=1_000_00))  # 1 fen buys 1 kopeck
    day.fund(A, CNY, 10_000_00)
    day.fund(P, RUB, 10_000_00)
    first, second = quoted(day, A, CNY, RUB, 600_00), quoted(day, A, CNY, RUB, 400_00 + over)
    assert day.pay(1, A, B, first.id) is None
    outcome = day.pay(2, A, B, second.id)
    assert outcome is (None if settles else Reason.FX_PROVIDER_LIQUIDITY)
    paid = day.hub.engine.tier_paid[commitment(day, P, CNY, RUB)]
    assert paid == (1_000_00 if settles else 600_00)
    assert day.balance(B, RUB) == paid


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    committed=st.integers(1, 2_000),
    amounts=st.lists(st.integers(1, 2_000), min_size=1, max_size=8),
)
def test_payments_settle_in_turn_while_what_is_left_covers_them(committed, amounts):
    """Quotes first (each within the commitment, as the router gives them), payments after:
    each settles exactly when what the earlier ones left covers it; the count never passes
    the commitment and is what the settled payments bought."""
    day = FxDay()
    day.post(tier(P, CNY, RUB, "1", liquidity=committed))
    day.fund(A, CNY, sum(amounts))
    day.fund(P, RUB, sum(amounts))
    quotes = [day.quote(A, CNY, RUB, amount) for amount in amounts]
    paid = 0
    for uetr, (amount, found) in enumerate(zip(amounts, quotes, strict=True), start=1):
        if amount > committed:
            assert found is Reason.FX_PROVIDER_LIQUIDITY
            continue
        assert isinstance(found, Quote)
        outcome = day.pay(uetr, A, B, found.id)
        if paid + amount <= committed:
            assert outcome is None and day.hub.engine.entries[uetr].status is Status.SETTLED
            paid += amount
        else:
            assert outcome is Reason.FX_PROVIDER_LIQUIDITY
    assert day.hub.engine.tier_paid.get(commitment(day, P, CNY, RUB), 0) == paid <= committed
    assert day.balance(B, RUB) == paid
    assert problems(day.hub.ledger.state) == []


def test_a_queued_payment_is_rejected_once_others_leave_its_tier_too_little():
    """It would wait in vain (a commitment never grows back), holding up its sender's queue."""
    day = FxDay()
    day.post(tier(P, CNY, RUB, "1", liquidity=1_000_00))
    day.fund(P, RUB, 10_000_00)
    day.fund(B, CNY, 1_000_00)
    waiting = quoted(day, A, CNY, RUB, 700_00)
    assert day.pay(1, A, B, waiting.id) is None  # A holds no CNY: queued, its draw fits
    engine = day.hub.engine
    assert engine.entries[1].status is Status.QUEUED
    assert day.pay(2, B, A, quoted(day, B, CNY, RUB, 500_00).id) is None  # B's settles
    assert engine.entries[2].status is Status.SETTLED
    entry = engine.entries[1]
    assert (entry.status, entry.history[-1].reason) == (
        Status.REJECTED,
        Reason.FX_PROVIDER_LIQUIDITY,
    )
    assert engine.fx_queues == {} and engine.fx_queued == 0
    day.fund(A, CNY, 1_000_00)  # nothing left to release
    assert engine.tier_paid == {commitment(day, P, CNY, RUB): 500_00}


def _two_cycles(day: FxDay) -> None:
    """A pays B (CNY -> RUB), B pays C (RUB -> INR), C pays A (INR -> CNY), twice; funded
    with both cycles' residuals, so only the commitments can stop one."""
    day.fund(A, CNY, 2 * 20_00)
    day.fund(P, RUB, 2 * 250_00)
    legs = [(A, B, CNY, RUB, 100_00), (B, C, RUB, INR, 1_000_00), (C, A, INR, CNY, 1_280_00)]
    for uetr, (payer, payee, source, destination, send) in enumerate(legs * 2, start=1):
        found = quoted(day, payer, source, destination, send)
        assert day.pay(uetr, payer, payee, found.id) is None


def test_offsetting_keeps_the_set_within_every_commitment_it_draws_on():
    day = FxDay()
    # P commits 1,250.00 RUB on CNY -> RUB: one cycle's first payment, not two.
    day.post(tier(P, CNY, RUB, "12.5", liquidity=1_250_00), *CYCLE_TIERS[1:])
    _two_cycles(day)
    engine = day.hub.engine
    assert [engine.entries[u].status for u in range(1, 7)] == [Status.QUEUED] * 6
    assert day.hub.optimise(day.clock()) == 3
    assert [engine.entries[u].status for u in (1, 2, 3)] == [Status.SETTLED] * 3
    assert {engine.entries[u].via for u in (1, 2, 3)} == {Via.FX_OFFSET}
    assert rejected(day, 4) is Reason.FX_PROVIDER_LIQUIDITY  # its draw no longer fits
    assert [engine.entries[u].status for u in (5, 6)] == [Status.QUEUED] * 2
    assert engine.tier_paid[commitment(day, P, CNY, RUB)] == 1_250_00
    assert problems(day.hub.ledger.state) == []


def test_a_recorded_offsetting_decision_wins_over_the_commitments(monkeypatch):
    """A replay takes the log's decision as it was taken, even past a commitment (the code
    that took it may have counted otherwise); the count then shows the excess."""
    day = FxDay()
    day.post(tier(P, CNY, RUB, "12.5", liquidity=1_250_00), *CYCLE_TIERS[1:])
    _two_cycles(day)
    engine = day.hub.engine
    monkeypatch.setattr(
        "samarkand.settlement.engine.offset_prefixes",
        lambda *a: pytest.fail("searched instead of taking the recorded decision"),
    )
    engine.recorded = deque([Decision(FX_SEARCH, 0, 6, (1, 4, 2, 5, 3, 6))])
    assert day.hub.optimise(day.clock()) == 6
    assert not engine.recorded
    assert [engine.entries[u].status for u in range(1, 7)] == [Status.SETTLED] * 6
    assert engine.tier_paid[commitment(day, P, CNY, RUB)] == 2 * 1_250_00
    # No new quote is priced on it: nothing is left.
    assert day.quote(A, CNY, RUB, 1_00) is Reason.FX_PROVIDER_LIQUIDITY


# ---------------------------------------------------------------------- tiers posted again


def test_a_tier_posted_again_is_a_new_commitment_and_earlier_quotes_draw_on_the_old():
    day = FxDay()
    day.post(tier(P, CNY, RUB, "1", liquidity=1_000_00))
    old = commitment(day, P, CNY, RUB)
    day.fund(A, CNY, 10_000_00)
    day.fund(P, RUB, 10_000_00)
    early = quoted(day, A, CNY, RUB, 800_00)
    assert day.pay(1, A, B, quoted(day, A, CNY, RUB, 150_00).id) is None
    day.post(tier(P, CNY, RUB, "1", liquidity=1_000_00))  # the same band: replaced
    new = commitment(day, P, CNY, RUB)
    assert new != old
    # A quote given before still binds, on the old commitment: 150.00 + 800.00 of 1,000.00.
    assert day.pay(2, A, B, early.id) is None
    # The new posting counts from zero: 900.00 fits it, not what is left of the old.
    assert day.pay(3, A, B, quoted(day, A, CNY, RUB, 900_00).id) is None
    engine = day.hub.engine
    assert engine.tier_paid == {old: 950_00, new: 900_00}
    # At the end of the day the old count goes: no tier stands on it, no quote is left.
    day.hub.end_of_day(CUT_OFF_NS)
    assert engine.tier_paid == {new: 900_00} and engine.tier_liquidity == {new: 1_000_00}


# ---------------------------------------------------------------------- durability


def _durable_day(hub: DurableHub, now: int) -> None:
    hub.configure(fx_directory(), cut_off_ns=dict.fromkeys(LEDGERS, CUT_OFF_NS))
    hub.open_accounts(now)
    hub.liquidity([Liquidity(A, CNY, 1_000_00), Liquidity(P, RUB, 5_000_00)], now + 1)
    assert hub.post_tiers([tier(P, CNY, RUB, "12.49963", liquidity=1_000_00)], now + 2) == [None]
    requests = [QuoteRequest(A, CNY, RUB, 80_00, None, 10**9)] * 2
    first, second = hub.request_quotes(requests, now + 3)
    assert isinstance(first, Quote) and isinstance(second, Quote)
    assert hub.submit_fx([FxPayment(1, A, B, first.id)], now + 4) == [None]
    refused = hub.submit_fx([FxPayment(2, A, B, second.id)], now + 5)
    assert refused == [Reason.FX_PROVIDER_LIQUIDITY]
    small = QuoteRequest(A, CNY, RUB, 8, None, 10**9)  # buys 0.99 RUB: more than is left
    assert hub.request_quote(small, now + 6) is Reason.FX_PROVIDER_LIQUIDITY


def _counts(hub: DurableHub) -> tuple[dict[int, int], dict[int, int], dict[int, Status]]:
    engine = hub.hub.engine
    statuses = {uetr: entry.status for uetr, entry in engine.entries.items()}
    return dict(engine.tier_liquidity), dict(engine.tier_paid), statuses


def test_the_counts_are_the_same_replayed_and_from_a_snapshot(tmp_path):
    store = str(tmp_path / "hub.db")
    with DurableHub.open(store) as hub:
        _durable_day(hub, START_NS)
        live = _counts(hub)
    assert live == ({1: 1_000_00}, {1: 999_97}, {1: Status.SETTLED})
    with DurableHub.open(store) as hub:  # from the snapshot the close wrote
        assert hub.restored_from > 0
        from_snapshot = _counts(hub)
        hub.snapshots = False
    with DurableHub.open(store, snapshots=False) as hub:  # the whole log replayed
        assert hub.restored_from == 0 and hub.replay_errors == []
        assert _counts(hub) == from_snapshot == live
        # And the replayed hub goes on counting: what is left is still 0.03 RUB.
        q = hub.request_quote(QuoteRequest(A, CNY, RUB, 8, None, 10**9), START_NS + 7)
        assert q is Reason.FX_PROVIDER_LIQUIDITY


# The command log of `_durable_day` as the code before the count wrote it (its configure
# command, which did not change, is written by this code): `post_tiers` without
# "commitment". That code settled both payments, and quoted a third against the whole 1,000.00.
OLD_ROWS = [
    '{"now":"100","op":"open_accounts"}',
    '{"now":"101","op":"liquidity","transfers":[["SMAACN22","CNY","100000",true],'
    '["SMPPCN22","RUB","500000",true]]}',
    '{"now":"102","op":"post_tiers","tiers":[["SMPPCN22","CNY","RUB","1","1000000000000000",'
    '"12.49963","100000","0","1000000000000000000"]]}',
    '{"now":"103","op":"quotes","requests":[["SMAACN22","CNY","RUB","8000",null,"1000000000"]]}',
    '{"now":"103","op":"quotes","requests":[["SMAACN22","CNY","RUB","8000",null,"1000000000"]]}',
    '{"now":"104","op":"submit_fx","payments":[["1","SMAACN22","SMABRU22","1","1"]]}',
    '{"now":"105","op":"submit_fx","payments":[["2","SMAACN22","SMABRU22","2","1"]]}',
    '{"now":"106","op":"quotes","requests":[["SMAACN22","CNY","RUB","8000",null,"1000000000"]]}',
]


def test_a_log_written_before_the_count_replays_as_it_ran(tmp_path):
    store = str(tmp_path / "hub.db")
    log_written_before(store, OLD_ROWS)
    with DurableHub.open(store) as hub:  # no ledger batch stored yet: the replay writes them
        assert hub.replay_errors == [] and hub.commands == 1 + len(OLD_ROWS)
        engine = hub.hub.engine
        assert [engine.entries[u].status for u in (1, 2)] == [Status.SETTLED] * 2
        assert engine.tier_paid == {} and engine.tier_liquidity == {}
        assert [o.commitment for o in hub.hub.book.offers(CNY, RUB)] == [0]
        third = hub.hub.quotes.get(3)
        assert third is not None and third.deliver_amount == 999_97
        # The balances the code before wrote (both payments settled).
        state = hub.durable_ledger.state
        directory = hub.hub.directory
        balances = {
            (bic, currency): state.balance(
                directory.settlement_account(directory.by_bic[bic], currency)
            ).net_credit
            for bic, currency in ((A, CNY), (P, CNY), (P, RUB), (B, RUB))
        }
        assert balances == {
            (A, CNY): 84_000,
            (P, CNY): 16_000,
            (P, RUB): 300_006,
            (B, RUB): 199_994,
        }
        # Tiers this code posts on such a hub are counted.
        assert hub.post_tiers([tier(Q, CNY, RUB, "12", liquidity=100_00)], START_NS + 10) == [None]
        assert [o.commitment > 0 for o in hub.hub.book.offers(CNY, RUB)] == [False, True]
    with DurableHub.open(store, snapshots=False) as hub:
        assert hub.replay_errors == []
        assert [o.commitment > 0 for o in hub.hub.book.offers(CNY, RUB)] == [False, True]


# ---------------------------------------------------------------------- forgetting


HOUR_NS = 3_600 * 10**9


def _held(hub: DurableHub) -> tuple:
    """What bounds the memory of quotes and counts: the quotes held, their owners and the
    counts per commitment."""
    state = hub.hub
    quotes = sorted((q.id, q.expires_ns, state.quotes.is_used(q.id)) for q in state.quotes.issued())
    return quotes, dict(state.quote_owner), *_counts(hub)


def test_the_services_clock_forgets_expired_quotes_and_orphan_counts_when_a_day_opens(tmp_path):
    """The service's clock never runs `end_of_day`: it closes each currency at its cut-off
    and opens the calendar's next day (`run_hub_clock`). The day's opening forgets the
    quotes expired by then and the counts nothing holds (a tier posted again, its old
    quotes gone), as `end_of_day` does; a replay of the log, and the snapshot, forget the
    same."""
    from samarkand.hub.calendar import BusinessCalendar
    from samarkand.service.engine import run_hub_clock

    store = str(tmp_path / "hub.db")
    with DurableHub.open(store) as hub:
        hub.configure(fx_directory(), cut_off_ns=dict.fromkeys(LEDGERS, 2 * HOUR_NS))
        hub.open_accounts(START_NS)
        hub.liquidity([Liquidity(A, CNY, 1_000_00), Liquidity(P, RUB, 5_000_00)], START_NS + 1)
        # Days open at 08:00 UTC and cut off at 18:00, every day of the week.
        calendar = BusinessCalendar(8 * 60, 18 * 60, "UTC", (1, 2, 3, 4, 5, 6, 7))
        assert hub.set_calendar(calendar, START_NS + 2) is None
        until = 10 * 24 * HOUR_NS  # the tiers stand for ten days
        posted = hub.post_tiers([tier(P, CNY, RUB, "12.5", liquidity=1_000_00, until=until)], 10)
        assert posted == [None]
        minute = 60 * 10**9
        used, unused = hub.request_quotes([QuoteRequest(A, CNY, RUB, 10_00, None, minute)] * 2, 11)
        assert isinstance(used, Quote) and isinstance(unused, Quote)
        assert hub.submit_fx([FxPayment(1, A, B, used.id)], 12) == [None]
        old = used.hops[0].commitment
        # Posted again: a new commitment; the old one is held only by its two quotes now.
        posted = hub.post_tiers([tier(P, CNY, RUB, "12.5", liquidity=1_000_00, until=until)], 13)
        assert posted == [None]
        new = hub.hub.book.commitments() - {old}
        assert len(new) == 1 and old not in hub.hub.book.commitments()
        later = hub.request_quote(QuoteRequest(A, CNY, RUB, 10_00, None, 24 * HOUR_NS), 14)
        assert isinstance(later, Quote)  # still valid when the next day opens
        assert old in hub.hub.engine.tier_liquidity and len(hub.hub.quotes) == 3
        for now in (3 * HOUR_NS, 8 * HOUR_NS + 1):  # past the cut-off, then the next opening
            run_hub_clock(hub, now)
        assert len(hub.hub.engine.day_starts) == 1  # the calendar's day opened
        quotes, owners, liquidity, paid, statuses = live = _held(hub)
        assert [q[0] for q in quotes] == [later.id] and set(owners) == {later.id}
        assert old not in liquidity and old not in paid and set(liquidity) <= new
        assert statuses == {1: Status.SETTLED}
    with DurableHub.open(store) as hub:  # from the snapshot the close wrote
        assert hub.restored_from > 0 and _held(hub) == live
        hub.snapshots = False
    with DurableHub.open(store, snapshots=False) as hub:  # the whole log replayed
        assert hub.restored_from == 0 and hub.replay_errors == []
        assert _held(hub) == live


def test_a_day_opened_by_a_log_written_before_forgets_nothing_replayed(tmp_path):
    """An `open_day` logged without `forget_expired` forgot nothing when it ran: replayed,
    it still forgets nothing, so what the log's later commands saw is what they see."""
    store = str(tmp_path / "hub.db")
    cut_offs = ",".join(f'"{code}":"{10**15}"' for code in sorted(LEDGERS))
    opened = f'{{"cut_offs":{{{cut_offs}}},"now":"{10**14}","op":"open_day"}}'
    log_written_before(store, [*OLD_ROWS, opened])
    with DurableHub.open(store, snapshots=False) as hub:
        assert hub.replay_errors == [] and len(hub.hub.engine.day_starts) == 1
        assert len(hub.hub.quotes) == 3  # expired long before the day opened, still held
        # A day this code opens forgets them.
        hub.open_day(dict.fromkeys(LEDGERS, 10**16), 10**15)
        assert len(hub.hub.quotes) == 0 and hub.hub.quote_owner == {}
