"""The Document of a BizMsg envelope is checked as if it came alone: the same problems, at
the same element paths, with the lines of the envelope file it came in."""

from __future__ import annotations

from lxml import etree

from samarkand.iso20022 import schemas
from samarkand.iso20022.envelope import Incoming, open_message
from samarkand.iso20022.problems import element_path
from samarkand.iso20022.validate import validate_document

from .builders import bulk, pacs008
from .iso_builders import envelope

NAMESPACE = schemas.namespace(schemas.PACS_008)


def opened(data: bytes) -> Incoming:
    result = open_message(data)
    assert isinstance(result, Incoming), result
    return result


def broken_document() -> bytes:
    """A pretty-printed pacs.008 with a bad ChrgBr, an element not allowed and one missing."""
    data = pacs008(bulk(4))
    data = data.replace(b"<ChrgBr>SHAR</ChrgBr>", b"<ChrgBr>XXXX</ChrgBr>", 1)
    data = data.replace(b"<ChrgBr>", b"<Junk/><ChrgBr>", 2)
    data = data.replace(b"<EndToEndId>E2E-4</EndToEndId>", b"")
    return etree.tostring(etree.fromstring(data), pretty_print=True)


def test_problems_of_an_enveloped_document_are_those_of_the_document_alone() -> None:
    document = broken_document()
    header = etree.fromstring(
        envelope(document, sender="BKCHCNBJXXX", message_id=schemas.PACS_008)
    )[0]
    # The Document's namespace declared on the envelope, under a prefix: the Document must
    # still declare it once it stands alone.
    wrapped = etree.Element("BizMsg", nsmap={"d": NAMESPACE})
    wrapped.append(header)
    wrapped.append(etree.fromstring(document))
    data = etree.tostring(wrapped, pretty_print=True)
    alone, inside = opened(document), opened(data)
    assert inside.header is not None and inside.header.from_bic == "BKCHCNBJXXX"
    expected = validate_document(alone.document, schemas.PACS_008)
    found = validate_document(inside.document, schemas.PACS_008)
    assert len(found) == len(expected) >= 3
    assert [(p.code, p.path, p.message) for p in found] == [
        (p.code, p.path, p.message) for p in expected
    ]
    assert {p.path.split("/")[3] for p in found} >= {"CdtTrfTxInf[1]", "CdtTrfTxInf[4]"}
    # Each line is where that element is in the envelope file.
    lines = data.decode().splitlines()
    for problem in found:
        name = problem.path.rsplit("/", 1)[1].split("[")[0]
        assert f"{name}" in lines[problem.line - 1], (problem, lines[problem.line - 1])
    assert [p.line for p in found] != [p.line for p in expected]


def test_an_enveloped_document_stands_alone() -> None:
    document = pacs008(bulk(2))
    inside = opened(envelope(document, sender="BKCHCNBJXXX", message_id=schemas.PACS_008))
    root = inside.document
    assert root.getparent() is None
    assert element_path(root[0][1]) == "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[1]"
    assert etree.tostring(root) == etree.tostring(etree.fromstring(document))
    assert validate_document(root, schemas.PACS_008) == []
