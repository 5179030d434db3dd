"""Properties: no input bytes make intake raise; a refusal always carries a code."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from samarkand.iso20022 import build_status_report, intake_pacs008
from samarkand.iso20022.parse import parse_document
from samarkand.iso20022.validate import validate_document
from samarkand.money import default_registry

from .builders import BICS, Tx, pacs008

REGISTRY = default_registry()
VALID = pacs008([Tx(number=1), Tx(number=2, amount="5.5", currency="INR")])
CODES = {"FF01", "CH16", "CH17", "CH21", "AM18", "AM10", "DUPL", "DNOR", "CNOR"}
CODES |= {"AM01", "AM02", "AM03", "AM11", "AM12"}


@given(st.binary(max_size=4_000))
def test_arbitrary_bytes_parse_or_are_refused(data: bytes) -> None:
    result = parse_document(data)
    assert isinstance(result, etree._Element) or result.code == "FF01"


@settings(max_examples=300)
@given(st.integers(0, len(VALID)), st.integers(0, 40), st.binary(max_size=12))
def test_a_damaged_message_never_makes_intake_raise(start: int, cut: int, insert: bytes) -> None:
    data = VALID[:start] + insert + VALID[start + cut :]
    result = intake_pacs008(data, registry=REGISTRY, known_bics=frozenset(BICS))
    codes = {p.code for p in result.file_problems} | {r.code for r in result.rejections}
    assert codes <= CODES
    if result.message is None:
        assert result.file_problems
    else:
        report = build_status_report(
            result.message, result.rejections, msg_id="R", created_at="2026-11-27T10:00:00Z"
        )
        root = parse_document(report)
        assert isinstance(root, etree._Element)
        assert validate_document(root, "pacs.002.001.10") == []
