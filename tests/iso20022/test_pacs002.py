"""The pacs.002 the hub emits: statuses, reasons with element paths, and XSD-valid."""

from __future__ import annotations

from lxml import etree

from samarkand.iso20022 import build_status_report, intake_pacs008
from samarkand.iso20022.parse import parse_document
from samarkand.iso20022.validate import validate_document
from samarkand.money import default_registry

from .builders import BICS, Tx, bulk, pacs008, uetr

REGISTRY = default_registry()
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.12"}


def report_for(data: bytes, **options: str) -> etree._Element:
    result = intake_pacs008(data, registry=REGISTRY, known_bics=frozenset(BICS))
    assert result.message is not None, result.file_problems
    report = build_status_report(
        result.message,
        result.rejections,
        msg_id="SAMARKAND-STS-1",
        created_at="2026-11-27T10:00:01Z",
        **options,
    )
    root = parse_document(report)
    assert isinstance(root, etree._Element)
    assert validate_document(root, "pacs.002.001.12") == []
    return root


def texts(root: etree._Element, path: str) -> list[str]:
    return [str(text) for text in root.xpath(path + "/text()", namespaces=NS)]


def test_all_accepted_is_actc_for_the_group_and_every_transaction() -> None:
    root = report_for(pacs008(bulk(3)))
    assert texts(root, "//p:OrgnlMsgId") == ["MSG-1"]
    assert texts(root, "//p:OrgnlMsgNmId") == ["pacs.008.001.08"]
    assert texts(root, "//p:GrpSts") == ["ACTC"]
    assert texts(root, "//p:TxInfAndSts/p:TxSts") == ["ACTC"] * 3
    assert texts(root, "//p:OrgnlEndToEndId") == ["E2E-1", "E2E-2", "E2E-3"]


def test_settled_is_acsc() -> None:
    root = report_for(pacs008(), accepted_status="ACSC")
    assert texts(root, "//p:GrpSts") == texts(root, "//p:TxSts") == ["ACSC"]


def test_some_rejected_is_part_with_reason_and_path() -> None:
    transactions = [Tx(number=1), Tx(number=2, amount="1.234"), Tx(number=3)]
    root = report_for(pacs008(transactions))
    assert texts(root, "//p:GrpSts") == ["PART"]
    assert texts(root, "//p:TxSts") == ["ACTC", "RJCT", "ACTC"]
    assert texts(root, "//p:StsRsnInf/p:Rsn/p:Cd") == ["AM12"]
    [information] = texts(root, "//p:StsRsnInf/p:AddtlInf")
    assert information.startswith("/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[2]/IntrBkSttlmAmt: ")
    assert len(information) <= 105


def test_a_group_rule_rejects_the_group_and_every_transaction() -> None:
    root = report_for(pacs008(bulk(2), number_of_transactions=5))
    assert texts(root, "//p:GrpSts") == ["RJCT"]
    assert texts(root, "//p:TxSts") == ["RJCT", "RJCT"]
    assert texts(root, "//p:Cd") == ["AM18", "AM18"]
    assert all("GrpHdr/NbOfTxs" in text for text in texts(root, "//p:AddtlInf"))


def test_every_transaction_rejected_is_rjct() -> None:
    same = uetr(1)
    transactions = [Tx(number=1, uetr=None), Tx(number=2, debtor_agent="UNKNXXXXXXX", uetr=same)]
    root = report_for(pacs008(transactions))
    assert texts(root, "//p:GrpSts") == ["RJCT"]
    assert texts(root, "//p:Cd") == ["CH21", "DNOR"]


def test_long_reasons_are_cut_to_max105text() -> None:
    transactions = [Tx(number=n, creditor_agent="UNKNXXXXXXX") for n in range(1, 12)]
    root = report_for(pacs008(transactions))
    information = texts(root, "//p:AddtlInf")
    assert len(information) == 11
    assert all(len(text) <= 105 for text in information)
    assert any(text.endswith("...") for text in information)


def test_the_report_is_the_same_bytes_for_the_same_input() -> None:
    data = pacs008(bulk(4))
    assert etree.tostring(report_for(data)) == etree.tostring(report_for(data))
