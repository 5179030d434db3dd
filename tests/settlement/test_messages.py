"""pacs.008 in, settlement, pacs.002 out: statuses follow what the hub did."""

from __future__ import annotations

from samarkand.hub.messages import Processed, participant_bic, process_message
from samarkand.hub.settlement import SettlementHub
from samarkand.iso20022.envelope import unwrap
from samarkand.iso20022.validate import validate_document
from tests.iso20022.builders import Tx, pacs008, uetr
from tests.iso20022.iso_builders import small_hub

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}


def hub() -> SettlementHub:
    return small_hub()


def report(processed: Processed) -> bytes:
    [pacs002] = [r.data for r in processed.responses if ".pacs.002." in r.name]
    return pacs002


def statuses(data: bytes) -> list[str]:
    _, root = unwrap(data)
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
    outcome = process_message(settlement, data, 10)
    assert statuses(report(outcome)) == ["ACSC", "ACSP", "RJCT", "RJCT"]
    assert outcome.statuses == {"ACSC": 1, "ACSP": 1, "RJCT": 2}
    text = report(outcome).decode()
    assert "AG01" in text and "AM12" in text and "CdtTrfTxInf[3]" in text
    state = settlement.ledger.state
    account = settlement.directory.settlement_account(settlement.directory.get("SABRRUMM"), "CNY")
    assert state.balance(account).credits_posted == 100_000  # only the first settled


def test_a_resent_message_never_settles_twice() -> None:
    settlement = hub()
    data = pacs008([Tx(number=7, amount="10.00")])
    first = process_message(settlement, data, 10)  # no message log: taken in again
    again = process_message(settlement, data, 11)
    assert statuses(report(first)) == ["ACSC"]
    assert statuses(report(again)) == ["RJCT"] and b"DUPL" in report(again)
    assert settlement.engine.entries[int(uetr(7).replace("-", ""), 16)].status.value == "settled"
    assert len(settlement.ledger.state.journal) == 2  # funding + one payment


def test_a_file_that_is_not_a_message_gets_no_report_but_its_problems() -> None:
    outcome = process_message(hub(), b"<not a message", 10)
    assert outcome.responses == ()
    assert outcome.problems and outcome.problems[0].code == "FF01"


def test_primary_office_bics_map_to_the_participant() -> None:
    assert participant_bic("BKCHCNBJXXX") == "BKCHCNBJ"
    assert participant_bic("BKCHCNBJ") == "BKCHCNBJ"
    assert participant_bic("BKCHCNBJ001") == "BKCHCNBJ001"
