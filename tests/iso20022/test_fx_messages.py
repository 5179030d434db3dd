"""Cross-currency pacs.008, built with pyiso20022, through a real hub with FX providers and
tiers: the quote cited as InstrForNxtAgt/InstrInf /FXQT/<id>, InstdAmt in the source
currency, IntrBkSttlmAmt in the destination currency, XchgRate optional."""

from __future__ import annotations

import uuid
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samarkand.fx.routing import Quote
from samarkand.hub.messages import (
    Processed,
    process_message,
    rate_agrees,
    settlement_notifications,
)
from samarkand.settlement.payments import Payment, Status
from tests.iso20022.builders import uetr
from tests.iso20022.conftest import HubStore
from tests.settlement.fx_world import CNY, CYCLE_TIERS, RUB, A, B, FxDay, P

from .iso_builders import fx_pacs008
from .test_process_message import checked, tx_statuses

TX = "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf"


def day_with_quote(*, provider_rub: int = 5_000_00) -> tuple[FxDay, Quote]:
    day = FxDay()
    day.post(*CYCLE_TIERS)
    day.fund(A, CNY, 1_000_00)
    if provider_rub:
        day.fund(P, RUB, provider_rub)
    found = day.quote(A, CNY, RUB, 100_00)
    assert isinstance(found, Quote) and found.deliver_amount == 1_250_00
    return day, found


def fx_tx(number: int, quote_id: object, **changes: object) -> dict[str, object]:
    tx: dict[str, object] = {
        "uetr": uetr(number),
        "debtor": A + "XXX",
        "creditor": B + "XXX",
        "settled": ("1250.00", RUB),
        "instructed": ("100.00", CNY),
        "rate": "12.5",
        "quote": f"/FXQT/{quote_id}",
    }
    tx.update(changes)
    return tx


def reasons(processed: Processed) -> list[tuple[str, str]]:
    """(code, element path) of each refused transaction, in order."""
    [report] = checked(processed)["pacs.002.001.10"]
    found = []
    for item in report.fito_fipmt_sts_rpt.tx_inf_and_sts:  # type: ignore[attr-defined]
        if str(item.tx_sts) == "RJCT":
            reason = item.sts_rsn_inf[0]
            found.append((reason.rsn.cd, " ".join(reason.addtl_inf)))
    return found


def test_a_covered_cross_currency_pacs008_settles_and_notifies_every_agent_moved() -> None:
    day, found = day_with_quote()
    processed = process_message(day.hub, fx_pacs008([fx_tx(1, found.id)]), day.clock())
    assert processed.statuses == {"ACSC": 1}
    parsed = checked(processed)
    [report] = parsed["pacs.002.001.10"]
    assert tx_statuses(report) == ["ACSC"]  # type: ignore[arg-type]
    assert (day.balance(A, CNY), day.balance(P, CNY)) == (900_00, 100_00)
    assert (day.balance(P, RUB), day.balance(B, RUB)) == (3_750_00, 1_250_00)
    assert day.hub.quotes.is_used(found.id)
    # camt.054: A debited in CNY, B credited in RUB, P credited in CNY and debited in RUB.
    moves = {}
    for response, notification in zip(
        [r for r in processed.responses if ".camt.054." in r.name],
        parsed["camt.054.001.08"],
        strict=True,
    ):
        for account in notification.bk_to_cstmr_dbt_cdt_ntfctn.ntfctn:  # type: ignore[attr-defined]
            for entry in account.ntry:
                moves.setdefault(response.receiver, []).append(
                    (str(entry.cdt_dbt_ind.value), entry.amt.ccy, entry.amt.value)
                )
    assert moves == {
        A: [("DBIT", CNY, Decimal("100.00"))],
        B: [("CRDT", RUB, Decimal("1250.00"))],
        P: [("CRDT", CNY, Decimal("100.00")), ("DBIT", RUB, Decimal("1250.00"))],
    }


def test_notifications_of_plain_and_cross_currency_settlements_keep_each_account_in_order() -> None:
    """camt.054s over events of both kinds: a cross-currency payment's legs move the
    provider's accounts too, a plain payment its two agents', each account's entries in
    the order the events made them, for every owner or only those asked for."""
    day, found = day_with_quote()
    before = Payment(uuid.UUID(int=7, version=4).int, A, P, 3_00, CNY)
    after = Payment(uuid.UUID(int=8, version=4).int, P, A, 2_00, CNY)
    assert day.hub.submit([before], day.clock()) == [None]
    process_message(day.hub, fx_pacs008([fx_tx(1, found.id)]), day.clock())
    assert day.hub.submit([after], day.clock()) == [None]

    def moves(owners: set[str] | None) -> dict[str, list[tuple[str, str, Decimal]]]:
        made = settlement_notifications(day.hub, day.hub.events, "SMKTEST", day.clock(), owners)
        found: dict[str, list[tuple[str, str, Decimal]]] = {}
        for response, notification in zip(
            made, checked(Processed(None, None, tuple(made), {}))["camt.054.001.08"], strict=True
        ):
            for account in notification.bk_to_cstmr_dbt_cdt_ntfctn.ntfctn:  # type: ignore[attr-defined]
                for entry in account.ntry:
                    found.setdefault(response.receiver, []).append(
                        (str(entry.cdt_dbt_ind.value), entry.amt.ccy, entry.amt.value)
                    )
        return found

    everyone = {
        A: [("DBIT", CNY, Decimal("3.00")), ("DBIT", CNY, Decimal("100.00")),
            ("CRDT", CNY, Decimal("2.00"))],
        B: [("CRDT", RUB, Decimal("1250.00"))],
        P: [("CRDT", CNY, Decimal("3.00")), ("CRDT", CNY, Decimal("100.00")),
            ("DBIT", CNY, Decimal("2.00")), ("DBIT", RUB, Decimal("1250.00"))],
    }  # fmt: skip
    assert moves(None) == everyone
    assert moves({P}) == {P: everyone[P]}


def test_a_cross_currency_pacs008_without_provider_liquidity_is_acsp_then_settles() -> None:
    day, found = day_with_quote(provider_rub=0)
    data = fx_pacs008([fx_tx(1, found.id, rate=None)])
    processed = process_message(day.hub, data, day.clock())
    assert processed.statuses == {"ACSP": 1}
    assert day.hub.engine.entries[int(uetr(1).replace("-", ""), 16)].status is Status.QUEUED
    assert [r.receiver for r in processed.responses] == [A]  # no camt.054: nothing moved
    day.fund(P, RUB, 1_250_00)
    assert day.balance(B, RUB) == 1_250_00


def test_every_bad_cross_currency_transaction_is_refused_with_its_code_and_path() -> None:
    day, found = day_with_quote()
    late = day.quote(A, CNY, RUB, 100_00, ttl=1)
    assert isinstance(late, Quote)
    transactions = [
        fx_tx(1, 99),  # unknown quote
        fx_tx(2, found.id, instructed=("100.01", CNY)),
        fx_tx(3, found.id, settled=("1250.00", CNY)),
        fx_tx(4, found.id, rate="12.4"),
        fx_tx(5, found.id, instructed=None),
        fx_tx(6, "abc"),
        fx_tx(7, late.id),  # expired by the time the message arrives
        fx_tx(8, found.id, quote=None),  # InstdAmt in CNY, no quote
        fx_tx(9, found.id, instructed=("100.00", RUB)),
        fx_tx(10, found.id),  # the only good one
        fx_tx(11, found.id),  # the quote is used by then
    ]
    processed = process_message(day.hub, fx_pacs008(transactions), day.clock() + 10)
    assert processed.statuses == {"ACSC": 1, "RJCT": 10}
    codes = reasons(processed)
    expected = [
        ("CH16", f"{TX}[1]/InstrForNxtAgt/InstrInf"),
        ("AM09", f"{TX}[2]/InstdAmt"),
        ("CURR", f"{TX}[3]/IntrBkSttlmAmt"),
        ("AM09", f"{TX}[4]/XchgRate"),
        ("CH21", f"{TX}[5]/InstdAmt"),
        ("CH16", f"{TX}[6]/InstrForNxtAgt/InstrInf"),
        ("TM01", f"{TX}[7]/InstrForNxtAgt/InstrInf"),
        ("CH21", f"{TX}[8]/InstrForNxtAgt"),
        ("CURR", f"{TX}[9]/InstdAmt"),
        ("DUPL", f"{TX}[11]/InstrForNxtAgt/InstrInf"),
    ]
    assert [code for code, _ in codes] == [code for code, _ in expected]
    for (_, text), (_, path) in zip(codes, expected, strict=True):
        assert path in text
    assert (day.balance(A, CNY), day.balance(B, RUB)) == (900_00, 1_250_00)  # once


def test_another_agents_quote_is_agnt_and_a_refused_payment_leaves_the_quote_unused() -> None:
    day, found = day_with_quote()
    stolen = fx_tx(1, found.id, debtor=P + "XXX")
    processed = process_message(day.hub, fx_pacs008([stolen]), day.clock())
    assert [code for code, _ in reasons(processed)] == ["AGNT"]
    wrong = fx_tx(2, found.id, instructed=("99.00", CNY))
    processed = process_message(day.hub, fx_pacs008([wrong], msg_id="FX-2"), day.clock())
    assert [code for code, _ in reasons(processed)] == ["AM09"]
    assert not day.hub.quotes.is_used(found.id)
    good = process_message(day.hub, fx_pacs008([fx_tx(3, found.id)], msg_id="FX-3"), day.clock())
    assert good.statuses == {"ACSC": 1}


def test_a_cross_currency_message_and_a_plain_one_in_one_bulk(hub_store: HubStore) -> None:
    day, found = day_with_quote()
    plain = fx_tx(2, found.id, settled=("10.00", CNY), instructed=None, rate=None, quote=None)
    plain["creditor"] = P + "XXX"
    data = fx_pacs008([fx_tx(1, found.id), plain])
    with hub_store.messages() as log:
        first = process_message(day.hub, data, day.clock(), log=log)
        assert first.statuses == {"ACSC": 2}
        again = process_message(day.hub, data, day.clock(), log=log)
        assert again.replayed and again.responses == first.responses
    assert (day.balance(A, CNY), day.balance(B, RUB)) == (890_00, 1_250_00)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10**12), st.integers(1, 10**12))
def test_the_rate_given_agrees_only_when_it_is_the_quotes_rate_to_full_precision(
    send: int, deliver: int
) -> None:
    rate = Fraction(deliver, send)
    whole = len(str(int(rate))) if rate >= 1 else 0
    places = max(0, min(10, 11 - whole))
    rounded = Decimal(round(rate * 10**places)).scaleb(-places)
    quote = Quote(1, CNY, RUB, send, deliver, (), rate, 0, 1)
    assert rate_agrees(rounded, quote)
    step = Decimal(1).scaleb(-places)
    assert not rate_agrees(rounded + step, quote) or Fraction(rounded + step) == rate
    if places > 1 and Fraction(rounded) != rate:
        assert not rate_agrees(rounded.quantize(Decimal(1).scaleb(1 - places)), quote)


@pytest.mark.parametrize("text", ["/FXQT/", "/FXQT/0", "/FXQT/1x", "/FXQT/" + "9" * 19])
def test_a_quote_reference_that_is_not_an_id_is_ch16(text: str) -> None:
    day, _ = day_with_quote()
    processed = process_message(day.hub, fx_pacs008([fx_tx(1, 0, quote=text)]), day.clock())
    assert reasons(processed) == [("CH16", reasons(processed)[0][1])]
    assert f"{TX}/InstrForNxtAgt/InstrInf" in reasons(processed)[0][1]


def test_the_settlement_date_is_the_hubs_business_day_or_dt01() -> None:
    from samarkand.hub.messages import business_day
    from tests.iso20022.builders import Tx, pacs008

    from .iso_builders import small_hub

    hub = small_hub()
    noon = 43_200 * 10**9  # 1970-01-01T12:00:00Z, before the small hub's cut-off
    assert business_day(noon) == "1970-01-01"
    today, yesterday = "1970-01-01", "1969-12-31"
    data = pacs008([
        Tx(number=1, amount="1.00", settlement_date=today),
        Tx(number=2, amount="1.00", settlement_date=yesterday),
        Tx(number=3, amount="1.00"),  # no date: today
    ])  # fmt: skip
    processed = process_message(hub, data, noon)
    assert processed.statuses == {"ACSC": 2, "RJCT": 1}
    [(code, text)] = reasons(processed)
    assert code == "DT01" and f"{TX}[2]/IntrBkSttlmDt" in text and yesterday in text
    # A date in the group header applies to every transaction; refused there, it says so.
    day, found = day_with_quote()
    late = fx_pacs008([fx_tx(4, found.id)], msg_id="FX-9", settlement_date="2026-11-28")
    processed = process_message(day.hub, late, day.clock())
    [(code, text)] = reasons(processed)
    assert code == "DT01" and "/Document/FIToFICstmrCdtTrf/GrpHdr/IntrBkSttlmDt" in text
    assert not day.hub.quotes.is_used(found.id)


def test_a_day_opened_by_a_calendar_has_the_calendars_date_for_settlement() -> None:
    """A day that opens the evening before its cut-off (on the calendar's clock) carries
    the next date: its payments are dated that day, not the UTC date of the moment."""
    from tests.iso20022.builders import Tx, pacs008

    from .iso_builders import small_hub

    hub = small_hub()
    evening = 79_200 * 10**9  # 1970-01-01T22:00:00Z
    cut_off = evening + 12 * 3_600 * 10**9
    hub.engine.open_day(dict.fromkeys(hub.engine.cut_off_ns, cut_off), evening, "1970-01-02")
    data = pacs008([
        Tx(number=1, amount="1.00", settlement_date="1970-01-02"),
        Tx(number=2, amount="1.00", settlement_date="1970-01-01"),  # the UTC date: not it
    ])  # fmt: skip
    processed = process_message(hub, data, evening + 1)
    assert processed.statuses == {"ACSC": 1, "RJCT": 1}
    [(code, text)] = reasons(processed)
    assert code == "DT01" and f"{TX}[2]/IntrBkSttlmDt" in text and "1970-01-01" in text
    # A day opened by hand has no calendar's date: the UTC date of the moment again.
    hub.engine.open_day(dict.fromkeys(hub.engine.cut_off_ns, cut_off), evening + 2)
    again = pacs008([Tx(number=3, amount="1.00", settlement_date="1970-01-01")], msg_id="M-3")
    assert process_message(hub, again, evening + 3).statuses == {"ACSC": 1}


def test_a_cross_currency_payment_is_not_returned_by_pacs004() -> None:
    from .iso_builders import pacs004

    day, found = day_with_quote()
    assert process_message(day.hub, fx_pacs008([fx_tx(1, found.id)]), day.clock()).statuses == {
        "ACSC": 1
    }
    for amount, currency in (("1250.00", RUB), ("100.00", CNY)):
        back = pacs004([(uetr(1), amount, currency)], sender=B + "XXX", msg_id=f"R-{currency}")
        processed = process_message(day.hub, back, day.clock())
        [(code, text)] = reasons(processed)
        assert code == "AG01" and "/OrgnlUETR" in text and "cross-currency" in text
    assert (day.balance(B, RUB), day.balance(A, CNY)) == (1_250_00, 900_00)


def test_an_interrupted_cross_currency_message_is_answered_from_the_hub_never_twice(
    hub_store: HubStore,
) -> None:
    import hashlib

    from samarkand.settlement.payments import FxPayment

    day, found = day_with_quote()
    data = fx_pacs008([fx_tx(1, found.id), fx_tx(2, found.id)])
    with hub_store.messages() as log:
        # The first attempt stopped after the hub took the payment, before the answers.
        log.begin("", "FX-1", "pacs.008.001.08", hashlib.sha256(data).hexdigest(), day.now)
        number = int(uetr(1).replace("-", ""), 16)
        assert day.hub.submit_fx([FxPayment(number, A, B, found.id)], day.clock()) == [None]
        processed = process_message(day.hub, data, day.clock(), log=log)
        assert processed.statuses == {"ACSC": 1, "RJCT": 1}  # the second cites a used quote
        assert [code for code, _ in reasons(processed)] == ["DUPL"]
        notified = {r.receiver for r in processed.responses if ".camt.054." in r.name}
        assert notified == {A, B, P}  # what the first attempt settled is still notified
    assert (day.balance(A, CNY), day.balance(B, RUB)) == (900_00, 1_250_00)


FX_VALUES = ["", "X" * 40, "-1", "0", "9" * 20, "/FXQT/1", "/FXQT/2", "/FXQT/x", "12.5",
             "12.50000000001", "100.00", "1250.00", "CNY", "RUB", "USD", A + "XXX", P + "XXX",
             "1969-12-31", "1970-01-01", uetr(9), "Ω", "<"]  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(FX_VALUES)), min_size=1,
                   max_size=3),
)  # fmt: skip
def test_wrong_values_in_a_cross_currency_pacs008_never_raise_nor_move_money_wrongly(
    edits: list[tuple[int, str]],
) -> None:
    from lxml import etree

    day, found = day_with_quote()
    totals = {c: sum(day.balance(b, c) for b in (A, B, P)) for c in (CNY, RUB)}
    root = etree.fromstring(fx_pacs008([fx_tx(1, found.id), fx_tx(2, found.id + 1)]))
    leaves = [e for e in root.iter() if isinstance(e.tag, str) and len(e) == 0]
    for position, value in edits:
        leaves[position % len(leaves)].text = value
    processed = process_message(day.hub, etree.tostring(root), day.clock())
    if processed.responses:
        checked(processed)
    else:
        assert processed.problems
    assert {c: sum(day.balance(b, c) for b in (A, B, P)) for c in (CNY, RUB)} == totals
    settled = processed.statuses.get("ACSC", 0)
    assert settled <= 1  # one quote: at most one payment converts with it
    assert day.balance(A, CNY) == 1_000_00 - settled * 100_00  # the quote's send amount
    assert day.hub.quotes.is_used(found.id) == (settled == 1)
