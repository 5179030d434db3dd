"""parse_document: every hostile or broken file is an FF01 value, never an exception."""

from __future__ import annotations

import pytest
from lxml import etree

from samarkand.iso20022.parse import DEPTH_MAX, parse_document
from samarkand.iso20022.problems import IsoRejection

from .builders import pacs008

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol9;</lolz>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>"""


def refusal(data: object, **bounds: int) -> IsoRejection:
    result = parse_document(data, **bounds)  # type: ignore[arg-type]
    assert isinstance(result, IsoRejection), result
    assert result.code == "FF01"
    return result


def test_a_valid_message_parses_to_its_document() -> None:
    root = parse_document(pacs008())
    assert isinstance(root, etree._Element)
    assert etree.QName(root).localname == "Document"


def test_malformed_xml_names_the_line() -> None:
    problem = refusal(b"<?xml version='1.0'?>\n<Document>\n<GrpHdr></Document>")
    assert "not well-formed" in problem.message
    assert problem.line == 3


@pytest.mark.parametrize("data", [b"", b"   \n", b"plain text", b"\xff\xfe\x00garbage"])
def test_empty_or_non_xml_is_refused(data: bytes) -> None:
    refusal(data)


def test_not_bytes_is_refused() -> None:
    assert "expected bytes" in refusal("<Document/>").message


def test_billion_laughs_is_refused_before_parsing() -> None:
    problem = refusal(BILLION_LAUGHS)
    assert "DOCTYPE" in problem.message


def test_external_entity_is_refused() -> None:
    assert "DOCTYPE" in refusal(EXTERNAL_ENTITY).message


def test_doctype_in_utf16_is_caught_after_parsing() -> None:
    data = BILLION_LAUGHS.replace(b'<?xml version="1.0"?>', b"").decode().encode("utf-16")
    assert "DOCTYPE" in refusal(data).message


def test_ten_thousand_levels_are_refused() -> None:
    problem = refusal(b"<a>" * 10_000 + b"</a>" * 10_000)
    assert "nested" in problem.message


def test_depth_just_over_the_bound_is_refused_and_at_it_accepted() -> None:
    at_bound = b"<a>" * DEPTH_MAX + b"</a>" * DEPTH_MAX
    assert isinstance(parse_document(at_bound), etree._Element)
    over = b"<a>" * (DEPTH_MAX + 1) + b"</a>" * (DEPTH_MAX + 1)
    assert f"more than {DEPTH_MAX} levels" in refusal(over).message


def test_oversized_file_is_refused_by_size() -> None:
    data = pacs008()
    problem = refusal(data, max_bytes=len(data) - 1)
    assert f"{len(data)} bytes" in problem.message
    assert isinstance(parse_document(data, max_bytes=len(data)), etree._Element)
