"""The pacs.002 the hub emits: statuses, reasons with element paths, and XSD-valid."""

from __future__ import annotations

from lxml import etree

from samarkand.iso20022 import build_status_report, intake_pacs008
from samarkand.iso20022.pacs002 import build_file_rejection
from samarkand.iso20022.parse import parse_document
from samarkand.iso20022.problems import IsoRejection
from samarkand.iso20022.validate import validate_document
from samarkand.money import default_registry

from .builders import BICS, Tx, bulk, pacs008, uetr

REGISTRY = default_registry()
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}


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
    assert validate_document(root, "pacs.002.001.10") == []
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
    assert texts(root, "//p:OrgnlGrpInfAndSts/p:StsRsnInf/p:Rsn/p:Cd") == ["AM18"]
    assert texts(root, "//p:TxInfAndSts/p:StsRsnInf/p:Rsn/p:Cd") == ["AM18", "AM18"]
    assert all("GrpHdr/NbOfTxs" in text for text in texts(root, "//p:AddtlInf"))


def test_a_refused_file_gets_a_group_rjct_with_every_reason() -> None:
    problems = [
        IsoRejection("CH21", "Missing child element SttlmInf", path="/Document/X/GrpHdr"),
        IsoRejection("CH16", "bad BIC", path="/Document/X/CdtTrfTxInf/DbtrAgt"),
    ]
    report = build_file_rejection(
        problems, original_msg_id="M-9", original_name="pacs.008.001.08",
        msg_id="S-9", created_at="2026-11-27T10:00:01Z",
    )  # fmt: skip
    root = parse_document(report)
    assert isinstance(root, etree._Element)
    assert validate_document(root, "pacs.002.001.10") == []
    assert texts(root, "//p:OrgnlMsgId") == ["M-9"]
    assert texts(root, "//p:GrpSts") == ["RJCT"]
    assert texts(root, "//p:Cd") == ["CH21", "CH16"]
    assert texts(root, "//p:AddtlInf")[0].startswith("/Document/X/GrpHdr: Missing")
    assert texts(root, "//p:TxInfAndSts") == []


def test_the_model_check_catches_what_the_schema_would() -> None:
    bad = (
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"><FIToFIPmtStsRpt>'
        b"<GrpHdr><MsgId>" + b"X" * 36 + b"</MsgId><CreDtTm>2026-11-27T10:00:01Z</CreDtTm>"
        b"</GrpHdr><Extra/></FIToFIPmtStsRpt></Document>"
    )
    root = parse_document(bad)
    assert isinstance(root, etree._Element)
    [problem] = validate_document(root, "pacs.002.001.10")
    assert problem.code == "CH17" and "Extra" in problem.message
    too_long = parse_document(bad.replace(b"<Extra/>", b""))
    assert isinstance(too_long, etree._Element)
    problems = [(p.code, p.path) for p in validate_document(too_long, "pacs.002.001.10")]
    assert problems == [("CH16", "/Document/FIToFIPmtStsRpt/GrpHdr/MsgId")]
    no_time = parse_document(
        bad.replace(b"<Extra/>", b"").replace(b"<CreDtTm>2026-11-27T10:00:01Z</CreDtTm>", b"")
    )
    assert isinstance(no_time, etree._Element)
    [missing] = validate_document(no_time, "pacs.002.001.10")
    assert missing.code == "CH21" and "CreDtTm" in missing.message


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


def test_a_status_update_tells_the_final_status_of_queued_transactions() -> None:
    from samarkand.iso20022.pacs002 import StatusUpdate, build_status_update

    settled = StatusUpdate("I-1", "E2E-1", "2d8e1ad0-8b1f-4a4e-9d55-2b0b2e0d0e01", "ACSC")
    refused = StatusUpdate("", "E2E-2", "2d8e1ad0-8b1f-4a4e-9d55-2b0b2e0d0e02", "RJCT",
                           "AB03", "the day closed with the payment still queued")  # fmt: skip
    for updates, group in (([settled], "ACSC"), ([refused], "RJCT"), ([settled, refused], "PART")):
        data = build_status_update(updates, original_msg_id="BULK-7",
                                   original_name="pacs.008.001.08", msg_id="SMKU000000000042-1",
                                   created_at="2026-11-28T12:00:00Z")  # fmt: skip
        root = parse_document(data)
        assert isinstance(root, etree._Element)
        assert validate_document(root, "pacs.002.001.10") == []
        assert texts(root, "//p:OrgnlGrpInfAndSts/p:OrgnlMsgId") == ["BULK-7"]
        assert texts(root, "//p:GrpSts") == [group]
        assert texts(root, "//p:TxInfAndSts/p:OrgnlUETR") == [u.uetr for u in updates]
        assert texts(root, "//p:TxInfAndSts/p:TxSts") == [u.status for u in updates]
    assert texts(root, "//p:TxInfAndSts/p:OrgnlInstrId") == ["I-1"]  # the second had none
    assert texts(root, "//p:StsRsnInf/p:Rsn/p:Cd") == ["AB03"]
