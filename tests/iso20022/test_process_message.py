"""process_message: every inbound type, built with pyiso20022, through a real hub; every
response validates (XSD or pyiso20022's model) and parses back with pyiso20022."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from pyiso20022.camt.camt_029_001_09 import Document as Resolution
from pyiso20022.camt.camt_054_001_08 import Document as Notification
from pyiso20022.head.head_001_001_02 import AppHdr
from pyiso20022.pacs.pacs_002_001_10 import Document as StatusReport
from xsdata.formats.dataclass.parsers import XmlParser

from samarkand.hub.messages import (
    Caller,
    Processed,
    process_message,
    read_message,
    return_uetr,
)
from samarkand.hub.settlement import SettlementHub
from samarkand.iso20022.envelope import message_id_of, unwrap
from samarkand.iso20022.validate import validate_document
from samarkand.settlement.payments import Status
from tests.iso20022.builders import Tx, pacs008, uetr
from tests.iso20022.conftest import HubStore

from .iso_builders import CUT_OFF, camt050, camt056, envelope, pacs004, pacs009
from .iso_builders import small_hub as make_hub

A, B, C = "BKCHCNBJXXX", "SABRRUMMXXX", "SBININBBXXX"
MODELS = {
    "pacs.002.001.10": StatusReport,
    "camt.054.001.08": Notification,
    "camt.029.001.09": Resolution,
}


def balance(hub: SettlementHub, bic: str, currency: str = "CNY") -> int:
    account = hub.directory.settlement_account(hub.directory.get(bic), currency)
    found = hub.ledger.state.balance(account)
    return found.credits_posted - found.debits_posted


def checked(processed: Processed) -> dict[str, list[object]]:
    """Every response: a BizMsg whose AppHdr and Document validate and parse back with
    pyiso20022; returns the parsed Documents by message id."""
    parsed: dict[str, list[object]] = {}
    for response in processed.responses:
        header, document = unwrap(response.data)
        assert validate_document(header, "head.001.001.02", root_name="AppHdr") == []
        app = XmlParser().from_bytes(etree.tostring(header), AppHdr)
        message_id = message_id_of(document)
        assert message_id is not None and app.msg_def_idr == message_id
        assert validate_document(document, message_id) == [], response.name
        model = XmlParser().from_bytes(etree.tostring(document), MODELS[message_id])
        parsed.setdefault(message_id, []).append(model)
    return parsed


def tx_statuses(report: StatusReport) -> list[str]:
    return [str(item.tx_sts) for item in report.fito_fipmt_sts_rpt.tx_inf_and_sts]


def test_pacs008_settles_queues_refuses_and_notifies_both_agents() -> None:
    hub = make_hub()
    data = pacs008([Tx(number=1), Tx(number=2, amount="900.00"), Tx(number=3, amount="1.005")])
    processed = process_message(hub, data, 10)
    assert processed.message_id == "pacs.008.001.08" and processed.msg_id == "MSG-1"
    assert processed.statuses == {"ACSC": 1, "ACSP": 1, "RJCT": 1}
    parsed = checked(processed)
    [report] = parsed["pacs.002.001.10"]
    assert tx_statuses(report) == ["ACSC", "ACSP", "RJCT"]  # type: ignore[arg-type]
    notifications = parsed["camt.054.001.08"]
    assert len(notifications) == 2  # debtor agent and creditor agent
    sides = sorted(
        str(n.bk_to_cstmr_dbt_cdt_ntfctn.ntfctn[0].ntry[0].cdt_dbt_ind.value)  # type: ignore[attr-defined]
        for n in notifications
    )
    assert sides == ["CRDT", "DBIT"]


def test_pacs009_moves_money_between_institutions() -> None:
    hub = make_hub()
    data = pacs009([
        (uetr(1), "100.00", "CNY", A, B),
        (uetr(2), "1.00", "CNY", "NOPECN22XXX", B),
    ])  # fmt: skip
    processed = process_message(hub, data, 10)
    [report] = checked(processed)["pacs.002.001.10"]
    assert tx_statuses(report) == ["ACSC", "RJCT"]  # type: ignore[arg-type]
    reason = report.fito_fipmt_sts_rpt.tx_inf_and_sts[1].sts_rsn_inf[0]  # type: ignore[attr-defined]
    assert reason.rsn.cd == "DNOR"
    assert "/Document/FICdtTrf/CdtTrfTxInf[2]/Dbtr/FinInstnId/BICFI" in reason.addtl_inf[0]
    assert balance(hub, "SABRRUMM") == 10_000


def test_a_group_rule_refuses_the_whole_message_with_a_group_rjct() -> None:
    hub = make_hub()
    data = pacs009([(uetr(1), "100.00", "CNY", A, B)], number_of_transactions=3)
    processed = process_message(hub, data, 10)
    [report] = checked(processed)["pacs.002.001.10"]
    group = report.fito_fipmt_sts_rpt.orgnl_grp_inf_and_sts[0]  # type: ignore[attr-defined]
    assert group.grp_sts == "RJCT" and group.sts_rsn_inf[0].rsn.cd == "AM18"
    assert "GrpHdr/NbOfTxs" in group.sts_rsn_inf[0].addtl_inf[0]
    assert balance(hub, "SABRRUMM") == 0 and not hub.engine.entries  # nothing half-taken


def test_a_schema_failure_with_a_msg_id_is_a_group_rjct_with_the_path() -> None:
    broken = pacs008([Tx(number=1)]).replace(b"<SttlmMtd>CLRG</SttlmMtd>", b"")
    processed = process_message(make_hub(), broken, 10)
    [report] = checked(processed)["pacs.002.001.10"]
    group = report.fito_fipmt_sts_rpt.orgnl_grp_inf_and_sts[0]  # type: ignore[attr-defined]
    assert group.orgnl_msg_id == "MSG-1" and group.grp_sts == "RJCT"
    assert group.sts_rsn_inf[0].rsn.cd == "CH21"
    assert group.sts_rsn_inf[0].addtl_inf[0].startswith("/Document/FIToFICstmrCdtTrf/GrpHdr")


@pytest.mark.parametrize(
    "data",
    [
        b"not xml at all",
        b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:pain.001.001.09'/>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
        b"<a>" * 100 + b"</a>" * 100,
        b"",
    ],
    ids=["not-xml", "other-message", "entity-bomb", "deep", "empty"],
)
def test_a_file_that_is_no_message_gets_no_response_but_ff01(data: bytes) -> None:
    hub = make_hub()
    processed = process_message(hub, data, 10)
    assert processed.responses == () and processed.msg_id is None
    assert processed.problems and processed.problems[0].code == "FF01"


def test_camt050_funds_an_account_and_releases_its_queue() -> None:
    hub = make_hub()
    queued = process_message(hub, pacs008([Tx(number=1, amount="2000.00")]), 10)
    assert queued.statuses == {"ACSP": 1}
    funded = process_message(hub, camt050("600.00", "CNY", creditor=A, debtor="PBOCCNBJXXX"), 11)
    parsed = checked(funded)
    [report] = parsed["pacs.002.001.10"]
    assert tx_statuses(report) == ["ACSC"]  # type: ignore[arg-type]
    assert report.fito_fipmt_sts_rpt.orgnl_grp_inf_and_sts[0].orgnl_msg_nm_id == "camt.050.001.07"  # type: ignore[attr-defined]
    assert funded.responses[0].receiver == "BKCHCNBJ"
    # The queued payment settled on the new liquidity: both agents are notified of it.
    assert len(parsed["camt.054.001.08"]) == 2
    assert balance(hub, "SABRRUMM") == 200_000
    drained = process_message(hub, camt050("50.00", "CNY", creditor=None, debtor=A), 12)
    assert drained.statuses == {"ACSC": 1}
    assert balance(hub, "BKCHCNBJ") == 150_000 + 60_000 - 200_000 - 5_000


@pytest.mark.parametrize(
    ("creditor", "debtor", "code"),
    [(A, C, "AGNT"), (None, None, "AGNT"), ("NOPECN22XXX", None, "DNOR")],
)
def test_camt050_refusals(creditor: str | None, debtor: str | None, code: str) -> None:
    hub = make_hub()
    processed = process_message(hub, camt050("1.00", "CNY", creditor=creditor, debtor=debtor), 10)
    [report] = checked(processed)["pacs.002.001.10"]
    [status] = report.fito_fipmt_sts_rpt.tx_inf_and_sts  # type: ignore[attr-defined]
    assert status.tx_sts == "RJCT" and status.sts_rsn_inf[0].rsn.cd == code


def test_camt050_without_a_currency_is_refused_as_a_whole() -> None:
    processed = process_message(
        make_hub(), camt050("1.00", "CNY", creditor=A, debtor=None, with_currency=False), 10
    )
    [report] = checked(processed)["pacs.002.001.10"]
    group = report.fito_fipmt_sts_rpt.orgnl_grp_inf_and_sts[0]  # type: ignore[attr-defined]
    assert group.grp_sts == "RJCT" and group.sts_rsn_inf[0].rsn.cd == "CH21"


def test_camt056_cancels_a_queued_payment_and_refuses_the_rest() -> None:
    hub = make_hub()
    process_message(hub, pacs008([Tx(number=1), Tx(number=2, amount="900.00")]), 10)
    unknown = "00000000-0000-4000-8000-00000000beef"
    processed = process_message(hub, camt056([uetr(2), uetr(1), unknown], assigner=A), 11)
    [resolution] = checked(processed)["camt.029.001.09"]
    body = resolution.rsltn_of_invstgtn  # type: ignore[attr-defined]
    assert body.sts.conf == "PECR"
    items = body.cxl_dtls[0].tx_inf_and_sts
    assert [str(i.tx_cxl_sts.value) for i in items] == ["ACCR", "RJCR", "RJCR"]
    assert [i.cxl_sts_rsn_inf[0].rsn.cd for i in items[1:]] == ["ARDT", "NOOR"]
    assert hub.engine.entries[int(uetr(2).replace("-", ""), 16)].status is Status.CANCELLED
    # The creditor agent knows the payment: AGNT. Any other bank gets what an unknown UETR
    # gets, word for word: the payment's existence is not its business.
    for assigner, msg_id, code in ((B, "CXL-2", "AGNT"), (C, "CXL-3", "NOOR")):
        other = process_message(hub, camt056([uetr(1)], assigner=assigner, msg_id=msg_id), 12)
        [refused] = checked(other)["camt.029.001.09"]
        body = refused.rsltn_of_invstgtn  # type: ignore[attr-defined]
        assert body.sts.conf == "RJCR"
        [status] = body.cxl_dtls[0].tx_inf_and_sts
        assert status.cxl_sts_rsn_inf[0].rsn.cd == code
    assert [str(i.cxl_sts_rsn_inf[0].addtl_inf) for i in items[2:]] == [
        str(status.cxl_sts_rsn_inf[0].addtl_inf)
    ]


def test_pacs004_returns_a_settled_payment_once_and_never_more_than_it() -> None:
    hub = make_hub()
    process_message(hub, pacs008([Tx(number=1), Tx(number=2, amount="900.00")]), 10)
    assert balance(hub, "SABRRUMM") == 100_000
    processed = process_message(hub, pacs004([(uetr(1), "40.00", "CNY")], sender=B), 11)
    [report] = checked(processed)["pacs.002.001.10"]
    assert tx_statuses(report) == ["ACSC"]  # type: ignore[arg-type]
    assert report.fito_fipmt_sts_rpt.tx_inf_and_sts[0].orgnl_uetr == uetr(1)  # type: ignore[attr-defined]
    assert balance(hub, "SABRRUMM") == 96_000
    returned = hub.engine.entries[return_uetr(int(uetr(1).replace("-", ""), 16))]
    assert returned.payment.debtor_agent == "SABRRUMM"
    assert returned.payment.creditor_agent == "BKCHCNBJ"
    cases = [
        ([(uetr(1), "1.00", "CNY")], B, "DUPL"),  # returned already
        ([(uetr(2), "1.00", "CNY")], B, "AG01"),  # queued, not settled
        ([(uetr(3), "1.00", "CNY")], B, "NOOR"),
    ]
    for number, (returns, sender, code) in enumerate(cases):
        again = process_message(hub, pacs004(returns, sender=sender, msg_id=f"R-{number}"), 12)
        [report] = checked(again)["pacs.002.001.10"]
        [status] = report.fito_fipmt_sts_rpt.tx_inf_and_sts  # type: ignore[attr-defined]
        assert (status.tx_sts, status.sts_rsn_inf[0].rsn.cd) == ("RJCT", code)
    assert balance(hub, "SABRRUMM") == 96_000


def test_an_archived_payment_is_returned_once_and_not_cancelled() -> None:
    """A payment of a past day, archived, is still found: returned by pacs.004 (once: its
    archived return takes the UETR of a second), and a camt.056 hears it is settled."""
    hub = make_hub()
    process_message(hub, pacs008([Tx(number=1)]), 10)

    def next_day(now: int) -> None:
        hub.end_of_day(now)
        hub.engine.open_day(dict.fromkeys(hub.engine.cut_off_ns, 2 * CUT_OFF), now + 1)
        assert hub.archive(now + 1, now + 2)[0] == 1 and not hub.engine.entries

    next_day(20)
    processed = process_message(hub, pacs004([(uetr(1), "40.00", "CNY")], sender=B), 30)
    [report] = checked(processed)["pacs.002.001.10"]
    assert tx_statuses(report) == ["ACSC"]  # type: ignore[arg-type]
    assert balance(hub, "SABRRUMM") == 96_000
    next_day(40)  # the return is archived too
    again = process_message(hub, pacs004([(uetr(1), "1.00", "CNY")], sender=B, msg_id="R-2"), 50)
    [report] = checked(again)["pacs.002.001.10"]
    [status] = report.fito_fipmt_sts_rpt.tx_inf_and_sts  # type: ignore[attr-defined]
    assert (status.tx_sts, status.sts_rsn_inf[0].rsn.cd) == ("RJCT", "DUPL")
    cancelled = process_message(hub, camt056([uetr(1)], assigner=A), 51)
    [resolution] = checked(cancelled)["camt.029.001.09"]
    [item] = resolution.rsltn_of_invstgtn.cxl_dtls[0].tx_inf_and_sts  # type: ignore[attr-defined]
    assert item.cxl_sts_rsn_inf[0].rsn.cd == "ARDT"  # found, and final: not NOOR
    assert balance(hub, "SABRRUMM") == 96_000


@pytest.mark.parametrize(
    ("returned", "currency", "sender", "code"),
    [("1000.01", "CNY", B, "AM09"), ("1.00", "RUB", B, "AM09"), ("1.00", "CNY", A, "AGNT"),
     # Another bank learns nothing of the payment (not even that it exists): NOOR first,
     # also where the amount or currency would be wrong.
     ("1.00", "CNY", C, "NOOR"), ("1000.01", "RUB", C, "NOOR")],
)  # fmt: skip
def test_pacs004_refusals(returned: str, currency: str, sender: str, code: str) -> None:
    hub = make_hub()
    process_message(hub, pacs008([Tx(number=1)]), 10)
    processed = process_message(hub, pacs004([(uetr(1), returned, currency)], sender=sender), 11)
    [report] = checked(processed)["pacs.002.001.10"]
    [status] = report.fito_fipmt_sts_rpt.tx_inf_and_sts  # type: ignore[attr-defined]
    assert (status.tx_sts, status.sts_rsn_inf[0].rsn.cd) == ("RJCT", code)
    assert balance(hub, "SABRRUMM") == 100_000


def test_an_envelope_is_read_and_its_sender_checked() -> None:
    hub = make_hub()
    request = camt056([uetr(9)], assigner=A)
    wrapped = envelope(request, sender=A, message_id="camt.056.001.08")
    processed = process_message(hub, wrapped, 10)
    assert processed.statuses == {"RJCR": 1}
    header, _ = unwrap(processed.responses[0].data)
    app = XmlParser().from_bytes(etree.tostring(header), AppHdr)
    assert app.to.fiid.fin_instn_id.bicfi == A  # the answer goes back to the sender
    assert app.rltd and app.rltd[0].biz_msg_idr == "BAH-1"
    spoofed = envelope(request, sender=C, message_id="camt.056.001.08", msg_id="BAH-2")
    refused = process_message(hub, spoofed, 11)
    [report] = checked(refused)["pacs.002.001.10"]
    group = report.fito_fipmt_sts_rpt.orgnl_grp_inf_and_sts[0]  # type: ignore[attr-defined]
    assert group.grp_sts == "RJCT" and group.sts_rsn_inf[0].rsn.cd == "AGNT"
    mismatch = envelope(request, sender=A, message_id="pacs.008.001.08")
    assert process_message(hub, mismatch, 12).problems[0].code == "FF01"


def test_a_resent_message_gets_its_recorded_responses_and_settles_once(
    hub_store: HubStore,
) -> None:
    hub = make_hub()
    data = pacs008([Tx(number=1)])
    with hub_store.messages() as log:
        first = process_message(hub, data, 10, log=log)
        again = process_message(hub, data, 20, log=log)
        assert again.replayed and again.responses == first.responses
        assert balance(hub, "SABRRUMM") == 100_000
        other = pacs008([Tx(number=2, amount="1.00")])  # same MsgId, other content
        refused = process_message(hub, other, 21, log=log)
        [report] = checked(refused)["pacs.002.001.10"]
        group = report.fito_fipmt_sts_rpt.orgnl_grp_inf_and_sts[0]  # type: ignore[attr-defined]
        assert group.sts_rsn_inf[0].rsn.cd == "AM05"
        reuse = process_message(hub, pacs008([Tx(number=1)], msg_id="MSG-2"), 22, log=log)
        assert reuse.statuses == {"RJCT": 1}
        assert b"DUPL" in reuse.responses[0].data
    with hub_store.messages() as reopened:
        assert reopened.count() == 2  # refused messages are not recorded
        replay = process_message(hub, data, 30, log=reopened)
        assert replay.replayed and replay.responses == first.responses


def test_an_interrupted_message_is_answered_from_the_hub_never_twice(
    hub_store: HubStore,
) -> None:
    hub = make_hub()
    data = pacs008([Tx(number=1), Tx(number=2, amount="1.00")])
    with hub_store.messages() as log:
        # The first attempt stopped after the hub acted, before the responses were stored.
        log.begin("", "MSG-1", "pacs.008.001.08", _digest(data), 9)
        hub.submit([_payment(1)], 9)
        processed = process_message(hub, data, 10, log=log)
        assert processed.statuses == {"ACSC": 2}
        assert balance(hub, "SABRRUMM") == 100_000 + 100
        assert log.get("", "MSG-1").responses is not None  # type: ignore[union-attr]


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _payment(number: int):  # type: ignore[no-untyped-def]
    from samarkand.settlement.payments import Payment

    return Payment(int(uetr(number).replace("-", ""), 16), "BKCHCNBJ", "SABRRUMM", 100_000, "CNY")


SAMPLES = [
    pacs008([Tx(number=1), Tx(number=2, amount="900.00")]),
    pacs009([(uetr(1), "100.00", "CNY", A, B)]),
    camt050("600.00", "CNY", creditor=A, debtor=None),
    camt056([uetr(1)], assigner=A),
    pacs004([(uetr(1), "40.00", "CNY")], sender=B),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=st.sampled_from(SAMPLES),
    start=st.integers(0, 2_000),
    length=st.integers(0, 12),
    junk=st.binary(max_size=12),
)
def test_damaged_messages_never_raise_and_every_answer_validates(
    sample: bytes, start: int, length: int, junk: bytes
) -> None:
    hub = make_hub()
    process_message(hub, pacs008([Tx(number=1)], msg_id="SEED"), 5)  # something to act on
    damaged = sample[:start] + junk + sample[start + length :]
    processed = process_message(hub, damaged, 10)
    if processed.responses:
        checked(processed)
    else:
        assert processed.problems
    if processed.message_id != "camt.050.001.07":  # only liquidity changes the total
        total = balance(hub, "BKCHCNBJ") + balance(hub, "SABRRUMM") + balance(hub, "SBININBB")
        assert total == 150_000


def test_values_read_before_validation_never_reach_the_answer_unchecked() -> None:
    long_id = pacs009([(uetr(1), "1.00", "CNY", A, B)], msg_id="X" * 40)
    processed = process_message(make_hub(), long_id, 10)
    assert processed.responses == () and processed.problems[0].code == "CH16"
    bad_sender = envelope(
        pacs009([(uetr(1), "1.00", "CNY", A, B)]), sender="not a bic", message_id="pacs.009.001.08"
    )
    refused = process_message(make_hub(), bad_sender, 10)
    assert refused.responses == () and refused.problems  # the AppHdr itself is invalid
    spoofed = pacs008([Tx(number=1)]).replace(
        b"<SttlmInf>",
        b"<InstgAgt><FinInstnId><BICFI>bad bic</BICFI></FinInstnId></InstgAgt><SttlmInf>",
    )
    answered = process_message(make_hub(), spoofed, 10)
    [report] = checked(answered)["pacs.002.001.10"]  # the AppHdr goes to the hub, not "bad bic"
    assert answered.responses[0].receiver == "SMRKUZ2TXXX"


def test_the_app_header_names_the_hub_and_a_sender_allowed_to_act() -> None:
    hub = make_hub()
    elsewhere = envelope(pacs008([Tx(number=1)]), sender=A, message_id="pacs.008.001.08")
    elsewhere = elsewhere.replace(b"SMRKUZ2TXXX", b"SABRRUMMXXX")
    [report] = checked(process_message(hub, elsewhere, 10))["pacs.002.001.10"]
    group = report.fito_fipmt_sts_rpt.orgnl_grp_inf_and_sts[0]  # type: ignore[attr-defined]
    assert (
        group.sts_rsn_inf[0].rsn.cd == "AGNT" and "AppHdr/To" in group.sts_rsn_inf[0].addtl_inf[0]
    )
    # camt.050: only the participant or its central bank moves its liquidity.
    other = envelope(camt050("5.00", "CNY", creditor=A, debtor=None), sender=C,
                     message_id="camt.050.001.07")  # fmt: skip
    assert process_message(hub, other, 11).statuses == {"RJCT": 1}
    own = envelope(camt050("5.00", "CNY", creditor=A, debtor=None, msg_id="LQ-2"), sender=A,
                   message_id="camt.050.001.07")  # fmt: skip
    assert process_message(hub, own, 12).statuses == {"ACSC": 1}
    # pacs.004 without InstgAgt: the AppHdr's sender must be the payment's creditor agent
    # (another bank is answered as for an unknown payment).
    process_message(hub, pacs008([Tx(number=1)], msg_id="PAY"), 13)
    by_c = envelope(pacs004([(uetr(1), "1.00", "CNY")], sender=None), sender=C,
                    message_id="pacs.004.001.09")  # fmt: skip
    [report] = checked(process_message(hub, by_c, 14))["pacs.002.001.10"]
    assert report.fito_fipmt_sts_rpt.tx_inf_and_sts[0].sts_rsn_inf[0].rsn.cd == "NOOR"  # type: ignore[attr-defined]
    by_b = envelope(pacs004([(uetr(1), "1.00", "CNY")], sender=None, msg_id="RTR-2"), sender=B,
                    message_id="pacs.004.001.09")  # fmt: skip
    assert process_message(hub, by_b, 15).statuses == {"ACSC": 1}


@pytest.mark.parametrize(
    ("old", "new", "code", "words"),
    [
        (b"CLRG", b"XXXX", "CH16", "SttlmMtd in a SettlementInstruction7: XXXX is not a valid"),
        (b"2026-11-28T10:00:00Z", b"yesterday", "CH16", "CreDtTm in a GroupHeader93"),
        (b">1.00<", b">1.123456<", "CH16", "IntrBkSttlmAmt: 1.123456 has 6 decimals"),
        (b"<ns0:NbOfTxs>1</ns0:NbOfTxs>", b"", "CH21", "mandatory NbOfTxs missing"),
    ],
)
def test_model_checked_refusals_name_the_element(
    old: bytes, new: bytes, code: str, words: str
) -> None:
    data = pacs009([(uetr(1), "1.00", "CNY", A, B)]).replace(old, new)
    processed = process_message(make_hub(), data, 10)
    [report] = checked(processed)["pacs.002.001.10"]
    [reason] = report.fito_fipmt_sts_rpt.orgnl_grp_inf_and_sts[0].sts_rsn_inf  # type: ignore[attr-defined]
    assert reason.rsn.cd == code and words in reason.addtl_inf[0]


VALUES = ["", "X" * 40, "-1", "0", "9" * 20, A, "NOPE", "2026-13-01", "1.005", "cny", "ZZZ",
          uetr(1), "Ω", "&", "<"]  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=st.sampled_from(SAMPLES),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(VALUES)), min_size=1,
                   max_size=3),
)  # fmt: skip
def test_wrong_values_get_a_valid_answer_or_a_clear_refusal(
    sample: bytes, edits: list[tuple[int, str]]
) -> None:
    root = etree.fromstring(sample)
    leaves = [e for e in root.iter() if isinstance(e.tag, str) and len(e) == 0]
    for position, value in edits:
        leaves[position % len(leaves)].text = value
    processed = process_message(make_hub(), etree.tostring(root), 10)
    if processed.responses:
        checked(processed)
    else:
        assert processed.problems


def test_a_caller_may_send_only_what_it_acts_for() -> None:
    hub = make_hub()
    caller = Caller("SABRRUMM", lambda bic: bic.startswith("SABRRUMM"))
    before = (len(hub.events), balance(hub, "BKCHCNBJ"))
    # An AppHdr from A, handed in by B: refused before anything runs, with the header's path.
    document = pacs009([(uetr(1), "10.00", "CNY", A, C)], msg_id="THEIRS")
    foreign = envelope(document, sender=A, message_id="pacs.009.001.08")
    refused = process_message(hub, foreign, 10, caller=caller)
    assert refused.not_sender and refused.responses == ()
    assert [(p.code, p.path) for p in refused.problems] == [("AGNT", "/AppHdr/Fr")]
    assert (len(hub.events), balance(hub, "BKCHCNBJ")) == before
    # A bare camt.050 naming no sender is the caller's own: draining A's account is refused.
    drain = process_message(hub, camt050("1.00", "CNY", creditor=None, debtor=A), 10,
                            caller=caller)  # fmt: skip
    assert not drain.not_sender
    assert drain.statuses == {"RJCT": 1}
    assert balance(hub, "BKCHCNBJ") == before[1]
    # Without a caller (the CLI) the same file is taken as the central bank's or A's doing.
    assert process_message(hub, camt050("1.00", "CNY", creditor=None, debtor=A,
                                        msg_id="LQ-2"), 10).statuses == {"ACSC": 1}  # fmt: skip


@pytest.mark.parametrize(
    "data",
    [
        pacs008([Tx(number=1), Tx(number=2, amount="900.00"), Tx(number=3, amount="1.005")]),
        pacs008([Tx(number=1)]).replace(b"<SttlmMtd>CLRG</SttlmMtd>", b""),
        b"not xml at all",
    ],
    ids=["settles-queues-refuses", "schema-failure", "not-xml"],
)
def test_a_message_read_beforehand_is_processed_as_its_bytes_are(data: bytes) -> None:
    """A service reads messages on other threads (`read_message`): the hub's answer to what
    was read is its answer to the bytes, and the hub is left the same."""
    by_bytes, by_read = make_hub(), make_hub()
    first = process_message(by_bytes, data, 10)
    second = process_message(by_read, read_message(data), 10)
    assert first == second
    assert by_bytes.events == by_read.events
    assert balance(by_bytes, "SABRRUMM") == balance(by_read, "SABRRUMM")


def test_the_transactions_answered_acsp_are_named_for_a_later_status_update() -> None:
    """`Processed.queued`: exactly the transactions the report answers ACSP, with the
    identifiers the report names them by (a settled or refused one is not there)."""
    data = pacs008([Tx(number=1), Tx(number=2, amount="900.00"), Tx(number=3, amount="1.005")])
    processed = process_message(make_hub(), data, 10)
    report = etree.fromstring(processed.responses[0].data)
    answered = {
        (t.findtext("{*}OrgnlUETR"), t.findtext("{*}OrgnlInstrId") or "",
         t.findtext("{*}OrgnlEndToEndId") or "", t.findtext("{*}TxSts"))
        for t in report.iter("{*}TxInfAndSts")
    }  # fmt: skip
    assert processed.statuses == {"ACSC": 1, "ACSP": 1, "RJCT": 1}
    assert {(str(uuid.UUID(int=u)), i, e, "ACSP") for u, i, e in processed.queued} == {
        a for a in answered if a[3] == "ACSP"
    }
    assert len(processed.queued) == 1


def test_a_direct_participant_cancels_for_the_indirect_agent_it_settles_for() -> None:
    """The party check that hides another bank's payment lets the direct participant of an
    indirect agent act, as the hub's own cancel rule does."""
    from samarkand.hub.settlement import Liquidity
    from samarkand.settlement.participants import Directory, Participant, ParticipantKind
    from samarkand.store import DurableLedger, MemoryStore
    from tests.iso20022.iso_builders import CUT_OFF

    hub = make_hub()
    indirect = Participant(
        "BKCHCNB1", "A client bank of A", "CN", ParticipantKind.INDIRECT, 14, "CNY", via="BKCHCNBJ"
    )
    people = [*hub.directory, indirect]
    hub = SettlementHub(Directory(people, {"CNY": 156, "RUB": 643}),
                        DurableLedger.open(MemoryStore()),
                        cut_off_ns={"CNY": CUT_OFF, "RUB": CUT_OFF})  # fmt: skip
    hub.open_accounts(1)
    assert hub.liquidity([Liquidity("BKCHCNBJ", "CNY", 100)], 2) == [None]
    queued = pacs008([Tx(number=1, amount="900.00", debtor_agent="BKCHCNB1XXX")])
    assert process_message(hub, queued, 10).statuses == {"ACSP": 1}
    for assigner, msg_id, code in ((C, "CXL-C", "NOOR"), (A, "CXL-A", None)):
        processed = process_message(hub, camt056([uetr(1)], assigner=assigner, msg_id=msg_id), 11)
        [resolution] = checked(processed)["camt.029.001.09"]
        [item] = resolution.rsltn_of_invstgtn.cxl_dtls[0].tx_inf_and_sts  # type: ignore[attr-defined]
        if code is None:
            assert str(item.tx_cxl_sts.value) == "ACCR"
        else:
            assert item.cxl_sts_rsn_inf[0].rsn.cd == code
    assert hub.engine.entries[int(uetr(1).replace("-", ""), 16)].status is Status.CANCELLED
