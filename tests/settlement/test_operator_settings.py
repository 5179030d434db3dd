"""The operator's settings of the hub: the register of FX providers (who may post tiers),
vehicle-currency corridors, one currency's cut-off and the queue limit. Each is a logged
command: a reopened hub has the same settings, a refused one is never logged, and a hub
configured without a register (every log written before it existed) stays open."""

from __future__ import annotations

import json
import sqlite3
import zoneinfo

import pytest

from samarkand.fx.routing import Quote
from samarkand.hub.calendar import BusinessCalendar
from samarkand.hub.durable import COMMANDS_SUFFIX, DurableHub
from samarkand.hub.settlement import DAY_NS, Liquidity, QuoteRequest, SettlementHub
from samarkand.settlement.payments import FxPayment, Reason, Status
from samarkand.store import DurableLedger, MemoryStore
from tests.settlement.conftest import payment
from tests.settlement.fx_world import (
    CNY,
    CUT_OFF_NS,
    INR,
    LEDGERS,
    RUB,
    START_NS,
    USD,
    A,
    B,
    C,
    FxDay,
    P,
    Q,
    fx_directory,
    tier,
)


def registered_day(providers: dict | None) -> FxDay:
    hub = SettlementHub(
        fx_directory(),
        DurableLedger.open(MemoryStore()),
        cut_off_ns=dict.fromkeys(LEDGERS, CUT_OFF_NS),
        fx_providers=providers,
    )
    hub.open_accounts(START_NS)
    return FxDay(hub)


def quoted(day: FxDay, bic: str, source: str, destination: str, send: int) -> Quote:
    found = day.quote(bic, source, destination, send)
    assert isinstance(found, Quote), found
    return found


# ---------------------------------------------------------------------- the register


def test_without_a_register_any_direct_bank_posts_tiers():
    day = FxDay()
    assert day.hub.providers is None
    assert day.post(tier(P, CNY, RUB, "12.5"), tier(Q, RUB, INR, "1.28")) == [None, None]


def test_only_registered_providers_post_tiers_and_only_on_their_pairs():
    day = registered_day({P: None, Q: [(INR, RUB)]})
    refused = day.post(
        tier(P, CNY, RUB, "12.5"),  # every pair of its currencies
        tier(Q, RUB, INR, "1.28"),  # its pair, one way
        tier(Q, INR, RUB, "0.78"),  # ... and the other
        tier(Q, CNY, RUB, "12"),  # not its pair
        tier(A, CNY, RUB, "12"),  # not registered
        tier("PBOCCNBJ", CNY, RUB, "12"),  # not a direct participant at all
    )
    assert refused == [
        None,
        None,
        None,
        Reason.PROVIDER_NOT_REGISTERED,
        Reason.PROVIDER_NOT_REGISTERED,
        Reason.PROVIDER_NOT_DIRECT,
    ]
    assert Reason.PROVIDER_NOT_REGISTERED.iso == "AG01"
    assert {t.provider for t in day.hub.book.tiers()} == {P, Q}
    assert len(day.hub.book) == 3


def test_registering_checks_the_participant_and_the_pairs():
    hub = registered_day({}).hub
    assert hub.register_provider("PBOCCNBJ", None, START_NS) is Reason.PROVIDER_NOT_DIRECT
    assert hub.register_provider("NOSUCHXX", None, START_NS) is Reason.PROVIDER_NOT_DIRECT
    assert hub.register_provider(A, [(CNY, CNY)], START_NS) is Reason.FX_SAME_CURRENCY
    assert hub.register_provider(A, [(CNY, "EUR")], START_NS) is Reason.CURRENCY_NOT_ALLOWED
    assert hub.providers == {}
    with pytest.raises(ValueError, match="FX provider"):
        SettlementHub(
            fx_directory(),
            DurableLedger.open(MemoryStore()),
            cut_off_ns={},
            fx_providers={"PBOCCNBJ": None},
        )
    with pytest.raises(ValueError, match="without a register"):
        FxDay().hub.register_provider(A, None, START_NS)


def test_deregistering_withdraws_the_tiers_and_issued_quotes_still_bind():
    day = registered_day({P: None})
    day.post(tier(P, CNY, RUB, "12.5"), tier(P, RUB, INR, "1.28"))
    day.fund(A, CNY, 1_000_00)
    day.fund(P, RUB, 5_000_00)
    issued = quoted(day, A, CNY, RUB, 100_00)
    assert day.hub.deregister_provider(P, day.clock()) == 2
    assert len(day.hub.book) == 0 and day.hub.providers == {}
    assert day.quote(A, CNY, RUB, 100_00) is Reason.FX_NO_ROUTE
    assert day.post(tier(P, CNY, RUB, "12.5")) == [Reason.PROVIDER_NOT_REGISTERED]
    # The provider committed to the quoted rate: the quote binds a payment until it expires.
    assert day.pay(1, A, B, issued.id) is None
    assert day.hub.engine.entries[1].status is Status.SETTLED
    assert day.balance(B, RUB) == 1_250_00
    assert day.hub.deregister_provider(P, day.clock()) is Reason.PROVIDER_NOT_REGISTERED


def test_registering_again_on_fewer_pairs_withdraws_the_tiers_outside_them():
    day = registered_day({P: None})
    day.post(tier(P, CNY, RUB, "12.5"), tier(P, RUB, CNY, "0.08"), tier(P, RUB, INR, "1.28"))
    assert day.hub.register_provider(P, [(RUB, CNY)], day.clock()) == 1
    assert sorted((t.sell, t.buy) for t in day.hub.book.tiers()) == [(CNY, RUB), (RUB, CNY)]
    assert day.post(tier(P, RUB, INR, "1.28")) == [Reason.PROVIDER_NOT_REGISTERED]
    assert day.hub.register_provider(P, None, day.clock()) == 0
    assert day.post(tier(P, RUB, INR, "1.28")) == [None]


# ---------------------------------------------------------------------- vehicle corridors


def test_a_corridor_allowed_a_vehicle_routes_through_usd_and_forbidden_again_is_am03():
    day = FxDay()
    day.post(tier(Q, CNY, USD, "0.14"), tier(Q, USD, INR, "88"))
    day.post(tier(Q, INR, USD, "0.0114"), tier(Q, USD, CNY, "7"))
    assert day.quote(A, CNY, INR, 100_00) is Reason.FX_FORBIDDEN_VEHICLE
    assert day.hub.set_vehicle_corridor(CNY, INR, True, day.clock()) is True
    via_usd = quoted(day, A, CNY, INR, 100_00)
    assert [(h.sell, h.buy) for h in via_usd.hops] == [(CNY, USD), (USD, INR)]
    assert via_usd.deliver_amount == 1_232_00
    # One direction only.
    assert day.quote(C, INR, CNY, 100_00) is Reason.FX_FORBIDDEN_VEHICLE
    assert day.hub.set_vehicle_corridor(CNY, INR, True, day.clock()) is False
    assert day.hub.set_vehicle_corridor(CNY, INR, False, day.clock()) is True
    refused = day.quote(A, CNY, INR, 100_00)
    assert refused is Reason.FX_FORBIDDEN_VEHICLE and refused.iso == "AM03"


def test_a_corridor_needs_two_different_currencies_of_the_hub():
    hub = FxDay().hub
    assert hub.set_vehicle_corridor(CNY, "EUR", True, START_NS) is Reason.CURRENCY_NOT_ALLOWED
    assert hub.set_vehicle_corridor(CNY, CNY, True, START_NS) is Reason.FX_SAME_CURRENCY
    assert hub.book.allowed_vehicle_corridors == frozenset()


# ---------------------------------------------------------------------- cut-off, queue limit


def test_a_cut_off_moves_within_the_day_only_and_only_for_a_carried_currency():
    hub = FxDay().hub
    now = START_NS + 10
    assert hub.set_cut_off("EUR", now + 5, now) is Reason.CURRENCY_NOT_ALLOWED
    assert hub.set_cut_off(CNY, now, now) == "the cut-off is not in the future"
    assert "24 hours" in hub.set_cut_off(CNY, now + DAY_NS + 1, now)
    assert hub.engine.cut_off_ns[CNY] == CUT_OFF_NS
    assert hub.set_cut_off(CNY, now + DAY_NS, now) is None
    assert hub.engine.cut_off_ns == {**dict.fromkeys(LEDGERS, CUT_OFF_NS), CNY: now + DAY_NS}


def test_an_earlier_cut_off_refuses_later_payments_and_what_is_queued_ends_ab03():
    day = FxDay()
    hub = day.hub
    day.fund(B, RUB, 50_00)
    # Queued: A holds no CNY.
    assert hub.submit([payment(1, A, C, 100_00, CNY)], day.clock()) == [None]
    assert hub.set_cut_off(CNY, day.now + 1_000, day.clock()) is None
    # Before the new cut-off CNY is still taken; after it, refused TM01; RUB is not moved.
    assert hub.submit([payment(2, A, C, 1_00, CNY)], day.clock()) == [None]
    late = hub.submit([payment(3, A, C, 1_00, CNY)], day.clock(day.now + 1_000))
    assert late == [Reason.AFTER_CUT_OFF] and Reason.AFTER_CUT_OFF.iso == "TM01"
    assert hub.submit([payment(4, B, C, 1_00, RUB)], day.clock()) == [None]
    assert hub.engine.entries[1].status is Status.QUEUED
    assert hub.end_of_day(day.clock()) == 2
    for uetr in (1, 2):
        last = hub.engine.entries[uetr].history[-1]
        assert last.reason is Reason.NOT_SETTLED_BY_CUT_OFF and last.reason.iso == "AB03"


def test_the_queue_limit_refuses_payments_past_it_and_only_new_ones():
    day = FxDay()
    hub = day.hub
    assert hub.submit([payment(1, A, C, 100_00, CNY)], day.clock()) == [None]
    assert hub.submit([payment(2, A, C, 100_00, CNY)], day.clock()) == [None]
    assert hub.set_queue_limit(0, day.clock()) is not None
    assert hub.set_queue_limit(1, day.clock()) is None
    assert hub.submit([payment(3, A, C, 100_00, CNY)], day.clock()) == [Reason.QUEUE_FULL]
    assert [hub.engine.entries[u].status for u in (1, 2)] == [Status.QUEUED] * 2
    # Another currency's queue is its own.
    assert hub.submit([payment(4, B, C, 1_00, RUB)], day.clock()) == [None]


# ---------------------------------------------------------------------- durable


def settings(hub: DurableHub):
    inner = hub.hub
    return (
        inner.providers,
        inner.book.allowed_vehicle_corridors,
        dict(inner.engine.cut_off_ns),
        inner.engine.queue_limit,
        list(inner.book.tiers()),
        inner.clock,
    )


def test_the_settings_are_logged_replayed_and_refusals_never_logged(tmp_path):
    store = str(tmp_path / "hub.db")
    now = START_NS
    with DurableHub.open(store) as hub:
        hub.configure(
            fx_directory(), cut_off_ns=dict.fromkeys(LEDGERS, CUT_OFF_NS), fx_providers={P: None}
        )
        hub.open_accounts(now)
        hub.liquidity([Liquidity(A, CNY, 1_000_00), Liquidity(P, RUB, 5_000_00)], now + 1)
        assert hub.register_provider(Q, [(USD, INR), (CNY, USD)], now + 2) == 0
        assert hub.post_tiers([tier(P, CNY, RUB, "12.5"), tier(Q, CNY, USD, "0.14")], now + 3) == [
            None,
            None,
        ]
        assert hub.post_tiers([tier(Q, USD, INR, "88"), tier(A, CNY, RUB, "12")], now + 3) == [
            None,
            Reason.PROVIDER_NOT_REGISTERED,
        ]
        issued = hub.request_quote(QuoteRequest(A, CNY, RUB, 100_00, None, 10**9), now + 4)
        assert isinstance(issued, Quote)
        logged = hub.commands
        # Refused: nothing logged.
        assert hub.register_provider("PBOCCNBJ", None, now + 5) is Reason.PROVIDER_NOT_DIRECT
        assert hub.deregister_provider(A, now + 5) is Reason.PROVIDER_NOT_REGISTERED
        assert hub.set_vehicle_corridor(CNY, "EUR", True, now + 5) is Reason.CURRENCY_NOT_ALLOWED
        assert hub.set_vehicle_corridor(CNY, INR, False, now + 5) is False  # no change
        assert hub.set_cut_off(RUB, now + 5, now + 5) == "the cut-off is not in the future"
        assert hub.set_queue_limit(0, now + 5) is not None
        assert hub.commands == logged
        assert hub.deregister_provider(P, now + 6) == 1
        assert hub.set_vehicle_corridor(CNY, INR, True, now + 7) is True
        assert hub.set_cut_off(RUB, now + 1_000, now + 8) is None
        assert hub.set_queue_limit(7, now + 9) is None
        assert hub.commands == logged + 4
        before = settings(hub)
    with DurableHub.open(store) as hub:
        assert hub.replay_errors == []
        assert settings(hub) == before
        assert hub.hub.providers == {Q: frozenset({(CNY, USD), (INR, USD)})}
        assert hub.hub.book.allowed_vehicle_corridors == {(CNY, INR)}
        assert hub.hub.engine.cut_off_ns[RUB] == now + 1_000
        assert hub.hub.engine.queue_limit == 7
        # After the reopen the register still refuses, the corridor still routes via USD,
        # and the quote issued before P was deregistered still binds.
        assert hub.post_tiers([tier(P, CNY, RUB, "12.5")], now + 10) == [
            Reason.PROVIDER_NOT_REGISTERED
        ]
        via_usd = hub.request_quote(QuoteRequest(A, CNY, INR, 100_00, None, 10**9), now + 10)
        assert isinstance(via_usd, Quote) and [h.buy for h in via_usd.hops] == [USD, INR]
        assert hub.submit_fx([FxPayment(1, A, B, issued.id)], now + 11) == [None]
        assert hub.hub.engine.entries[1].status is Status.SETTLED


def test_a_hub_configured_without_a_register_logs_no_register_and_stays_open(tmp_path):
    store = str(tmp_path / "hub.db")
    with DurableHub.open(store) as hub:
        hub.configure(fx_directory(), cut_off_ns=dict.fromkeys(LEDGERS, CUT_OFF_NS))
        hub.open_accounts(START_NS)
        assert hub.post_tiers([tier(A, CNY, RUB, "12")], START_NS + 1) == [None]
        with pytest.raises(ValueError, match="without a register"):
            hub.register_provider(A, None, START_NS + 2)
    with DurableHub.open(str(tmp_path / "other.db")) as other:
        with pytest.raises(ValueError, match="FX provider"):
            other.configure(fx_directory(), cut_off_ns={}, fx_providers={"PBOCCNBJ": None})
        assert other.commands == 0 and not other.configured
    # The configure body is the one logs held before the register existed: no new key.
    with sqlite3.connect(store + COMMANDS_SUFFIX) as log:
        (body,) = log.execute("SELECT body FROM hub_commands WHERE sequence = 1").fetchone()
    assert set(json.loads(body)) == {"op", "participants", "ledgers", "cut_offs", "credit"}
    with DurableHub.open(store) as hub:
        assert hub.replay_errors == [] and hub.hub.providers is None
        assert [t.provider for t in hub.hub.book.tiers()] == [A]
        assert hub.post_tiers([tier(B, RUB, CNY, "0.08")], START_NS + 3) == [None]


def test_the_calendar_is_logged_replayed_and_opens_each_day_once(tmp_path):
    """The calendar is a logged command (a refused one is not); the engine offers the next
    working day only once every currency's day is closed, and not a day opened already."""
    store = str(tmp_path / "hub.db")
    utc = zoneinfo.ZoneInfo("UTC")
    day_ns = 24 * 3_600 * 10**9
    calendar = BusinessCalendar(8 * 60, 18 * 60, "UTC", (1, 2, 3, 4, 5, 6, 7))
    with DurableHub.open(store) as hub:
        hub.configure(fx_directory(), cut_off_ns=dict.fromkeys(LEDGERS, CUT_OFF_NS))
        hub.open_accounts(START_NS)
        logged = hub.commands
        bad = BusinessCalendar(8 * 60, 8 * 60, "UTC", (1,))
        assert hub.set_calendar(bad, START_NS) == ("opens", "a day cannot open at its cut-off")
        assert hub.commands == logged
        assert hub.set_calendar(calendar, START_NS + 1) is None
        engine = hub.hub.engine
        assert hub.hub.next_day(START_NS + 2, utc) is None  # every currency's day is open
        hub.end_of_day(CUT_OFF_NS)
        assert engine.day_closed
        hour = 3_600 * 10**9
        assert CUT_OFF_NS < 8 * hour  # the fixture's day closes before 08:00 of 1970-01-01
        expected = (8 * hour, 18 * hour)
        after_close = CUT_OFF_NS + 1
        found = hub.hub.next_day(after_close, utc)
        assert (found.opening, found.cut_off) == expected
        hub.open_day(dict.fromkeys(LEDGERS, expected[1]), expected[0])
        assert hub.hub.next_day(expected[0] + 1, utc) is None  # the day is open
        hub.set_cut_off(CNY, expected[0] + 10, expected[0] + 1)  # the operator closes early
        for ledger in LEDGERS:
            if ledger != CNY:
                hub.set_cut_off(ledger, expected[0] + 10, expected[0] + 1)
        for ledger in engine.cut_offs_due(expected[0] + 10):
            hub.close_currency(ledger, expected[0] + 10)
        assert engine.day_closed
        # Today's day was opened already: the next is tomorrow's, not today's again.
        found = hub.hub.next_day(expected[0] + 11, utc)
        assert (found.opening, found.cut_off) == (expected[0] + day_ns, expected[1] + day_ns)
        audit = [(e.op, e.at_ns) for e in hub.audit() if e.op in ("calendar", "open_day")]
        assert audit == [("calendar", START_NS + 1), ("open_day", expected[0])]
    with DurableHub.open(store) as hub:  # from the snapshot the close wrote
        assert hub.restored_from > 0
        assert hub.hub.calendar == calendar and hub.hub.engine.opened_ns == expected[0]
    with DurableHub.open(store, snapshots=False) as hub:
        assert hub.replay_errors == []
        assert hub.hub.calendar == calendar
        assert hub.hub.engine.opened_ns == expected[0]
        assert hub.set_calendar(None, expected[0] + 20) is None
    with DurableHub.open(store) as hub:
        assert hub.hub.calendar is None
        assert hub.hub.next_day(expected[0] + 21, utc) is None


def test_a_statement_of_a_day_the_calendar_dated_spans_that_day_not_a_utc_day(tmp_path):
    """A day opened on the evening before its date (as a calendar opens it) is one business
    day: its statement runs from that opening to the next day's, across midnight UTC."""
    from datetime import UTC, datetime

    from samarkand.hub.statements import select_statement

    store = str(tmp_path / "hub.db")
    hour = 3_600 * 10**9
    evening = 22 * hour  # 1970-01-01T22:00:00Z
    with DurableHub.open(store) as hub:
        hub.configure(fx_directory(), cut_off_ns=dict.fromkeys(LEDGERS, hour))
        hub.open_accounts(START_NS)
        hub.liquidity([Liquidity(A, CNY, 1_00)], 10 * 60 * 10**9)  # 00:10, the first day
        hub.end_of_day(2 * hour)
        hub.open_day(dict.fromkeys(LEDGERS, evening + 20 * hour), evening, "1970-01-02")
        hub.liquidity([Liquidity(A, CNY, 20_00)], evening + hour // 2)  # 22:30 UTC
        hub.liquidity([Liquidity(A, CNY, 300_00)], evening + 7 * hour)  # 05:00 UTC next date
        account = hub.hub.directory.settlement_account(hub.hub.directory.get(A), CNY)

        def statement(durable, date: str) -> tuple[int, list[int]]:
            day = datetime.fromisoformat(date).replace(tzinfo=UTC)
            rows = select_statement(durable, account, day)
            return rows.opening, rows.amounts

        dated = statement(hub, "1970-01-02")
        assert dated == (1_00, [20_00, 300_00])  # the whole business day, opening 1.00
        # 1970-01-01, no calendar dated: its UTC day, up to the dated day's opening (the
        # 20.00 at 22:30 is that day's, on its statement only).
        assert statement(hub, "1970-01-01") == (0, [1_00])
    with DurableHub.open(store, snapshots=False) as hub:
        assert statement(hub, "1970-01-02") == dated  # the day's span replayed from the log
