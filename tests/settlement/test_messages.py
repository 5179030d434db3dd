"""pacs.008 in, settlement, pacs.002 out: statuses follow what the hub did."""

from __future__ import annotations

from lxml import etree

from samarkand.hub.messages import participant_bic, submit_credit_transfers
from samarkand.hub.settlement import SettlementHub
from samarkand.iso20022.parse import parse_document
from samarkand.iso20022.validate import validate_document
from tests.iso20022.builders import Tx, pacs008, uetr
from tests.iso20022.iso_builders import small_hub

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}


def hub() -> SettlementHub:
    return small_hub()


def statuses(report: bytes) -> list[str]:
    root = parse_document(report)
    assert isinstance(root, etree._Element)
    assert validate_document(root, "pacs.002.001.10") == []
    return [str(t) for t in root.xpath("//p:TxInfAndSts/p:TxSts/text()", namespaces=NS)]


def test_settled_queued_and_refused_transactions_get_acsc_acsp_rjct() -> None:
    settlement = hub()
    data = pacs008([
        Tx(number=1, amount="1000.00"),  # A has 1,500.00 CNY: settles
        Tx(number=2, amount="1000.00"),  # only 500.00 left: queues
        Tx(number=3, amount="1.00", debtor_agent="SABRRUMMXXX", creditor_agent="SABRRUMMXXX"),
        Tx(number=4, amount="1.005"),  # three decimals in CNY: a message rule
    ])  # fmt: skip
    outcome = submit_credit_transfers(
        settlement, data, 10, msg_id="S-1", created_at="2026-11-28T10:00:00Z"
    )
    assert outcome.report is not None
    assert statuses(outcome.report) == ["ACSC", "ACSP", "RJCT", "RJCT"]
    assert outcome.statuses == {1: "ACSC", 2: "ACSP", 3: "RJCT", 4: "RJCT"}
    text = outcome.report.decode()
    assert "AG01" in text and "AM12" in text and "CdtTrfTxInf[3]" in text
    state = settlement.ledger.state
    account = settlement.directory.settlement_account(settlement.directory.get("SABRRUMM"), "CNY")
    assert state.balance(account).credits_posted == 100_000  # only the first settled


def test_a_resent_message_never_settles_twice() -> None:
    settlement = hub()
    data = pacs008([Tx(number=7, amount="10.00")])
    first = submit_credit_transfers(
        settlement, data, 10, msg_id="S-1", created_at="2026-11-28T10:00:00Z"
    )
    again = submit_credit_transfers(
        settlement, data, 11, msg_id="S-2", created_at="2026-11-28T10:00:00Z"
    )
    assert first.statuses == {1: "ACSC"}
    assert again.statuses == {1: "RJCT"}
    assert again.report is not None and b"DUPL" in again.report
    assert settlement.engine.entries[int(uetr(7).replace("-", ""), 16)].status.value == "settled"
    assert len(settlement.ledger.state.journal) == 2  # funding + one payment


def test_a_file_that_is_not_a_message_gets_no_report_but_its_problems() -> None:
    outcome = submit_credit_transfers(
        hub(), b"<not a message", 10, msg_id="S", created_at="2026-11-28T10:00:00Z"
    )
    assert outcome.report is None
    assert outcome.file_problems and outcome.file_problems[0].code == "FF01"


def test_primary_office_bics_map_to_the_participant() -> None:
    assert participant_bic("BKCHCNBJXXX") == "BKCHCNBJ"
    assert participant_bic("BKCHCNBJ") == "BKCHCNBJ"
    assert participant_bic("BKCHCNBJ001") == "BKCHCNBJ001"
