"""Safe parsing of an incoming ISO 20022 document: bytes in, an lxml tree or a refusal out.

A participant's file is untrusted, so the parser is hardened before it reads a byte:
no entity expansion, no DTD loading, no network, no "huge tree" relaxation. On top of
that three bounds turn classic XML attacks into an ``IsoRejection`` with FF01
(InvalidFileFormat) instead of work or memory spent:

- size: more than ``max_bytes`` is refused before parsing;
- DOCTYPE: refused outright. ISO 20022 messages are defined by XSD and never carry a
  DTD, and a DOCTYPE is the vehicle of entity-expansion bombs ("billion laughs") and
  external entities (XXE). A UTF-8 file is refused by a byte scan before parsing (so a
  bomb is never even tokenised); any other encoding is caught after parsing;
- depth: elements nested deeper than ``depth_max`` are refused. The deepest path in
  pacs.008.001.08 outside ``SplmtryData`` is about 12 levels; libxml2 itself stops at
  256 without ``huge_tree``, which is reported the same way.

Nothing here raises for bad input; exceptions mean a bug.
"""

from __future__ import annotations

from lxml import etree

from .problems import INVALID_FILE_FORMAT, IsoRejection, clip

MESSAGE_BYTES_MAX = 32 * 1024 * 1024  # a bulk pacs.008 of 10,000 transactions is ~9 MiB
DEPTH_MAX = 40  # element nesting; ISO 20022 business content stays well below
_DOCTYPE = b"<!DOCTYPE"


def parse_document(
    data: bytes, *, max_bytes: int = MESSAGE_BYTES_MAX, depth_max: int = DEPTH_MAX
) -> etree._Element | IsoRejection:
    """Return the root element of ``data``, or an FF01 ``IsoRejection`` saying why not."""
    if not isinstance(data, bytes | bytearray | memoryview):
        return IsoRejection(INVALID_FILE_FORMAT, f"expected bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        reason = f"file has {len(data)} bytes, more than the {max_bytes} allowed"
        return IsoRejection(INVALID_FILE_FORMAT, reason)
    if not data or data.isspace():
        return IsoRejection(INVALID_FILE_FORMAT, "file is empty")
    if _DOCTYPE in data:
        return _doctype_refused()
    try:
        root = etree.fromstring(data, _hardened_parser())
    except etree.XMLSyntaxError as error:
        return _syntax_refused(error)
    if root.getroottree().docinfo.doctype:  # a DOCTYPE in UTF-16 or another encoding
        return _doctype_refused()
    if _deeper_than(root, depth_max):
        reason = f"elements are nested more than {depth_max} levels deep"
        return IsoRejection(INVALID_FILE_FORMAT, reason)
    return root


def _hardened_parser() -> etree.XMLParser:
    # A new parser per document: lxml parsers keep state and must not be shared by threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_blank_text=True,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def _doctype_refused() -> IsoRejection:
    reason = "a DOCTYPE is not allowed in an ISO 20022 message (entities and DTDs are refused)"
    return IsoRejection(INVALID_FILE_FORMAT, reason, line=1)


def _syntax_refused(error: etree.XMLSyntaxError) -> IsoRejection:
    text = str(error.msg or error)
    if "depth" in text.lower():
        reason = f"elements are nested too deep for the parser: {clip(text, 120)}"
    else:
        reason = f"not well-formed XML: {clip(text, 200)}"
    return IsoRejection(INVALID_FILE_FORMAT, reason, line=error.lineno or 0)


def _deeper_than(root: etree._Element, depth_max: int) -> bool:
    # Each step of '/*/*/...' holds the elements of one level, so the whole check visits
    # every element at most once, in C.
    return bool(root.getroottree().xpath("boolean(" + "/*" * (depth_max + 1) + ")"))
