"""The FX commands (tiers, quote requests, cross-currency payments) are logged before they
run: a reopened hub has the same rate book, quotes, queues, histories and balances, and a
quote used before the close stays used after it."""

from __future__ import annotations

from samarkand.fx.routing import Quote
from samarkand.hub.durable import DurableHub
from samarkand.hub.settlement import Liquidity, QuoteRequest, TierPost
from samarkand.ledger.invariants import problems
from samarkand.settlement.participants import ParticipantStatus
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
    P,
    Q,
    fx_directory,
    log_written_before,
    tier,
)


def _quote(hub: DurableHub, bic: str, source: str, destination: str, send: int, now: int):
    found = hub.request_quote(QuoteRequest(bic, source, destination, send, None, 10**9), now)
    assert isinstance(found, Quote), found
    return found


def _state(hub: DurableHub):
    engine = hub.hub.engine
    state = hub.durable_ledger.state
    return (
        {u: (e.status, e.via, tuple(e.history)) for u, e in engine.entries.items()},
        {s: [[e.payment.uetr for e in q] for q in qs] for s, qs in engine.fx_queues.items()},
        [(a.id, state.balance(a.id)) for a in state.accounts],
        list(hub.hub.book.tiers()),
        hub.hub.quotes_issued,
        hub.hub.events,
        dict(engine.stats.fx_provider_net),
    )


def test_a_reopened_hub_replays_tiers_quotes_and_cross_currency_payments(tmp_path):
    store = str(tmp_path / "hub.db")
    now = START_NS
    with DurableHub.open(store) as hub:
        hub.configure(fx_directory(), cut_off_ns=dict.fromkeys(LEDGERS, CUT_OFF_NS))
        hub.open_accounts(now)
        hub.liquidity([Liquidity(A, CNY, 20_00), Liquidity(P, RUB, 250_00)], now + 1)
        assert hub.post_tiers(CYCLE_TIERS, now + 2) == [None, None, None]
        too_precise = TierPost(P, CNY, RUB, 1, 9, "1.1234567890123", 10, 0, 5)
        assert hub.post_tiers([too_precise], now + 2) == [Reason.RATE_INVALID]
        first = _quote(hub, A, CNY, RUB, 100_00, now + 3)
        second = _quote(hub, B, RUB, INR, 1_000_00, now + 3)
        third = _quote(hub, C, INR, CNY, 1_280_00, now + 3)
        spare = _quote(hub, A, CNY, RUB, 1_00, now + 3)
        outcome = hub.submit_fx(
            [FxPayment(1, A, B, first.id), FxPayment(2, B, C, second.id)], now + 4
        )
        assert outcome == [None, None]
        assert hub.submit_fx([FxPayment(9, A, B, first.id)], now + 4) == [Reason.QUOTE_USED]
        assert hub.hub.engine.fx_queued == 2
        assert hub.submit_fx([FxPayment(3, C, A, third.id)], now + 5) == [None]
        assert hub.optimise(now + 6) == 3
        before = _state(hub)
    with DurableHub.open(store) as hub:
        assert hub.replay_errors == []
        assert _state(hub) == before
        assert [hub.hub.engine.entries[u].status for u in (1, 2, 3)] == [Status.SETTLED] * 3
        assert problems(hub.durable_ledger.state) == []
        # The quote registry came back with the replay: a used quote stays used, an unused
        # one issued before the close binds a payment after it.
        assert hub.submit_fx([FxPayment(10, A, B, first.id)], now + 7) == [Reason.QUOTE_USED]
        assert hub.submit_fx([FxPayment(11, A, B, spare.id)], now + 7) == [None]
        assert _quote(hub, A, CNY, RUB, 2_00, now + 8).id == spare.id + 1


def test_no_quote_routes_through_a_suspended_provider_replayed_or_live(tmp_path):
    store = str(tmp_path / "hub.db")
    now = START_NS
    with DurableHub.open(store, snapshots=False) as hub:
        hub.configure(fx_directory(), cut_off_ns=dict.fromkeys(LEDGERS, CUT_OFF_NS))
        hub.open_accounts(now)
        hub.liquidity([Liquidity(A, CNY, 20_00), Liquidity(P, RUB, 250_00)], now + 1)
        hub.liquidity([Liquidity(Q, RUB, 250_00)], now + 1)
        assert hub.post_tiers([tier(P, CNY, RUB, "12.5"), tier(Q, CNY, RUB, "12")], now + 2) == [
            None,
            None,
        ]
        assert hub.set_participant_status(P, ParticipantStatus.SUSPENDED, now + 3) is None
        found = _quote(hub, A, CNY, RUB, 10_00, now + 4)
        assert [h.provider for h in found.hops] == [Q] and found.deliver_amount == 120_00
        assert hub.submit_fx([FxPayment(1, A, B, found.id)], now + 5) == [None]
        before = _state(hub)
    with DurableHub.open(store, snapshots=False) as hub:
        assert hub.replay_errors == [] and _state(hub) == before


# A log written before suspended providers were skipped (its configure command is written by
# this code): that code quoted through the suspended P, and the payment citing the quote was
# refused AG01. Replayed, the quote is the one it issued, and so is the refusal.
OLD_QUOTE_ROWS = [
    '{"now":"100","op":"open_accounts"}',
    '{"now":"101","op":"liquidity","transfers":[["SMAACN22","CNY","2000",true],'
    '["SMPPCN22","RUB","25000",true],["SMPQRU22","RUB","25000",true]]}',
    '{"now":"102","op":"post_tiers","tiers":[["SMPPCN22","CNY","RUB","1","1000000000000000",'
    '"12.5","1000000000000000","0","1000000000000000000"],["SMPQRU22","CNY","RUB","1",'
    '"1000000000000000","12","1000000000000000","0","1000000000000000000"]],'
    '"commitment":"total"}',
    '{"now":"103","op":"set_status","bic":"SMPPCN22","status":"suspended"}',
    '{"now":"104","op":"quotes","requests":[["SMAACN22","CNY","RUB","1000",null,"1000000000"]]}',
    '{"now":"105","op":"submit_fx","payments":[["1","SMAACN22","SMABRU22","1","1"]]}',
]


def test_a_log_written_before_suspended_providers_were_skipped_replays_its_quotes(tmp_path):
    store = str(tmp_path / "hub.db")
    log_written_before(store, OLD_QUOTE_ROWS)
    with DurableHub.open(store, snapshots=False) as hub:
        assert hub.replay_errors == [] and hub.commands == 1 + len(OLD_QUOTE_ROWS)
        issued = hub.hub.quotes.get(1)
        assert issued is not None and [h.provider for h in issued.hops] == [P]
        refused = [(e.status, e.reason) for e in hub.hub.events if e.uetr == 1]
        assert refused == [(Status.REJECTED, Reason.PROVIDER_NOT_DIRECT)]
        # This code's quotes on the same hub pass the suspended provider by.
        assert [h.provider for h in _quote(hub, A, CNY, RUB, 10_00, 106).hops] == [Q]
