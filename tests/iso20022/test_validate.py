"""validate_document: XSD problems with the element path, and the namespace check first."""

from __future__ import annotations

from lxml import etree

from samarkand.iso20022.parse import parse_document
from samarkand.iso20022.problems import element_path
from samarkand.iso20022.validate import validate_document

from .builders import Tx, bulk, pacs008

PACS_008 = "pacs.008.001.08"


def root_of(data: bytes) -> etree._Element:
    root = parse_document(data)
    assert isinstance(root, etree._Element), root
    return root


def test_single_and_bulk_messages_are_valid() -> None:
    assert validate_document(root_of(pacs008()), PACS_008) == []
    assert validate_document(root_of(pacs008(bulk(50))), PACS_008) == []


def test_wrong_namespace_names_the_expected_one() -> None:
    data = pacs008().replace(b"pacs.008.001.08", b"pacs.008.001.02")
    [problem] = validate_document(root_of(data), PACS_008)
    assert problem.code == "FF01"
    assert "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08" in problem.message
    assert "pacs.008.001.02" in problem.message
    assert problem.path == "/Document"


def test_no_namespace_is_refused() -> None:
    [problem] = validate_document(root_of(b"<Document/>"), PACS_008)
    assert problem.code == "FF01"
    assert "(none)" in problem.message


def test_a_bad_value_has_its_path_line_and_ch16() -> None:
    data = pacs008([Tx(number=1), Tx(number=2, uetr="NOT-A-UUID"), Tx(number=3)])
    [problem] = validate_document(root_of(data), PACS_008)
    assert problem.code == "CH16"
    assert problem.path == "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[2]/PmtId/UETR"
    assert "NOT-A-UUID" in problem.message
    assert problem.line == 2  # the XML declaration, then the document on one line


def test_a_missing_mandatory_element_at_the_end_is_ch21() -> None:
    data = pacs008().replace(b"<Cdtr><Nm>Creditor 1</Nm></Cdtr>", b"")
    [problem] = validate_document(root_of(data), PACS_008)
    assert problem.code == "CH21"
    assert "Cdtr" in problem.message
    assert problem.path == "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf"


def test_a_missing_element_in_the_middle_shows_as_the_next_one_not_expected() -> None:
    # libxml2 reports the element after the gap; the message lists what was expected.
    data = pacs008().replace(b"<ChrgBr>SHAR</ChrgBr>", b"")
    [problem] = validate_document(root_of(data), PACS_008)
    assert problem.code == "CH17"
    assert problem.path == "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf/Dbtr"
    assert "ChrgBr" in problem.message


def test_an_unknown_element_is_ch17() -> None:
    data = pacs008().replace(b"<ChrgBr>SHAR</ChrgBr>", b"<ChrgBr>SHAR</ChrgBr><Oops/>")
    [problem] = validate_document(root_of(data), PACS_008)
    assert problem.code == "CH17"
    assert problem.path == "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf/Oops"


def test_four_decimals_too_many_for_the_xsd_still_have_a_path() -> None:
    data = pacs008([Tx(amount="1.123456")], control_sum=None)
    [problem] = validate_document(root_of(data), PACS_008)
    assert problem.code == "CH16"
    assert problem.path.endswith("/CdtTrfTxInf/IntrBkSttlmAmt")


def test_every_problem_is_reported_up_to_the_bound() -> None:
    transactions = [Tx(number=n, uetr="BAD") for n in range(1, 150)]
    problems = validate_document(root_of(pacs008(transactions)), PACS_008)
    assert len(problems) == 100
    assert problems[0].path.endswith("CdtTrfTxInf[1]/PmtId/UETR")


def test_element_path_uses_an_index_only_among_same_named_siblings() -> None:
    root = root_of(b"<a><b/><c><d/></c><c><d/><d/></c></a>")
    assert element_path(root[2][1]) == "/a/c[2]/d[2]"
    assert element_path(root[1][0]) == "/a/c[1]/d"
    assert element_path(root[0]) == "/a/b"


def test_a_prefixed_document_gets_its_problem_paths_without_prefixes() -> None:
    from tests.iso20022.iso_builders import fx_pacs008

    from .builders import uetr

    tx = {"uetr": uetr(1), "debtor": "BKCHCNBJXXX", "creditor": "SABRRUMMXXX",
          "settled": ("1.00", "CNY")}  # fmt: skip
    data = fx_pacs008([tx]).replace(b"<ns0:MsgId>FX-1</ns0:MsgId>", b"<ns0:MsgId></ns0:MsgId>")
    assert b"ns0:Document" in data  # the serializer names the namespace with a prefix
    [problem] = validate_document(etree.fromstring(data), "pacs.008.001.08")
    assert problem.path == "/Document/FIToFICstmrCdtTrf/GrpHdr/MsgId"
    assert problem.code == "CH16"
