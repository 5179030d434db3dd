"""Which message a file holds, with its business application header (head.001.001.02).

A file is either a ``Document`` alone, or an envelope: a root element named ``BizMsg``
(in no namespace) holding exactly an ``AppHdr`` of head.001.001.02 and then the
``Document``. ISO 20022 leaves the transport envelope to each network; this is the
shape Samarkand reads and writes. The message is told by the namespace of its Document
(``urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08``); the AppHdr, when given, is checked
against pyiso20022's head.001.001.02 model and its MsgDefIdr must name the same message.

``open_message`` never raises for bad input; ``wrap`` builds the envelope of a response.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from lxml import etree

from . import schemas
from .parse import MESSAGE_BYTES_MAX, parse_document
from .problems import INVALID_FILE_FORMAT, IsoRejection, local_name
from .validate import validate_document

ENVELOPE = "BizMsg"
NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"
INBOUND_IDS = (
    schemas.PACS_008,
    schemas.PACS_009,
    schemas.PACS_004,
    schemas.CAMT_050,
    schemas.CAMT_056,
)
_HEAD = "{" + schemas.namespace(schemas.HEAD_001) + "}"


@dataclass(frozen=True, slots=True)
class AppHeader:
    """The parts of a head.001.001.02 AppHdr the hub reads."""

    from_bic: str | None
    to_bic: str | None
    business_message_id: str
    message_definition: str
    created: str


@dataclass(frozen=True, slots=True)
class Incoming:
    """A file the hub can route: its message id, its Document root, its AppHdr if any."""

    message_id: str
    document: etree._Element
    header: AppHeader | None


def message_id_of(element: etree._Element) -> str | None:
    """The ISO message id a Document's namespace names, or None if it names none."""
    namespace = etree.QName(element).namespace if isinstance(element.tag, str) else None
    if not namespace or not namespace.startswith(NAMESPACE_PREFIX):
        return None
    return namespace[len(NAMESPACE_PREFIX) :]


def open_message(
    data: bytes, *, max_bytes: int = MESSAGE_BYTES_MAX
) -> Incoming | list[IsoRejection]:
    """Parse ``data`` and tell which inbound message it is; a list of problems otherwise."""
    root = parse_document(data, max_bytes=max_bytes)
    if isinstance(root, IsoRejection):
        return [root]
    header = None
    document = root
    if local_name(root.tag) == ENVELOPE and etree.QName(root).namespace is None:
        children = list(root)
        if len(children) != 2 or children[0].tag != _HEAD + "AppHdr":
            reason = f"a {ENVELOPE} envelope holds an AppHdr (head.001.001.02) and a Document"
            return [IsoRejection(INVALID_FILE_FORMAT, reason, path=f"/{ENVELOPE}")]
        app_header = copy.deepcopy(children[0])
        problems = validate_document(app_header, schemas.HEAD_001, root_name="AppHdr")
        if problems:
            return problems
        header = _read_header(app_header)
        # Detached from the envelope, the Document is the top of its paths (/Document/...)
        # and declares every namespace it uses; its elements keep their lines. Moved, not
        # copied: copying a bulk message's tree, then freeing the one it came from, cost
        # more than parsing the file.
        document = children[1]
        root.remove(document)
    name = local_name(document.tag)
    if name != "Document":
        reason = f"expected an ISO 20022 Document (or a {ENVELOPE} envelope), found <{name}>"
        return [IsoRejection(INVALID_FILE_FORMAT, reason, path="/" + name)]
    message_id = message_id_of(document)
    if message_id not in INBOUND_IDS:
        found = message_id or f"namespace {etree.QName(document).namespace or '(none)'}"
        reason = f"the hub takes in {', '.join(INBOUND_IDS)}; this file is {found}"
        return [IsoRejection(INVALID_FILE_FORMAT, reason, path="/Document")]
    if header is not None and header.message_definition != message_id:
        reason = f"AppHdr/MsgDefIdr {header.message_definition!r} but the Document is {message_id}"
        return [IsoRejection(INVALID_FILE_FORMAT, reason, path="/AppHdr/MsgDefIdr")]
    return Incoming(message_id, document, header)


def _read_header(element: etree._Element) -> AppHeader:
    def bic(side: str) -> str | None:
        return element.findtext(f"{_HEAD}{side}/{_HEAD}FIId/{_HEAD}FinInstnId/{_HEAD}BICFI")

    return AppHeader(
        from_bic=bic("Fr"),
        to_bic=bic("To"),
        business_message_id=element.findtext(_HEAD + "BizMsgIdr") or "",
        message_definition=element.findtext(_HEAD + "MsgDefIdr") or "",
        created=element.findtext(_HEAD + "CreDt") or "",
    )


def app_header(
    *, from_bic: str, to_bic: str, business_message_id: str, message_id: str, created: str,
    related: AppHeader | None = None,
) -> etree._Element:  # fmt: skip
    """A head.001.001.02 AppHdr for a message the hub sends."""
    header = etree.Element(_HEAD + "AppHdr", nsmap={None: schemas.namespace(schemas.HEAD_001)})
    for side, bic in (("Fr", from_bic), ("To", to_bic)):
        party = etree.SubElement(etree.SubElement(header, _HEAD + side), _HEAD + "FIId")
        institution = etree.SubElement(party, _HEAD + "FinInstnId")
        etree.SubElement(institution, _HEAD + "BICFI").text = bic
    etree.SubElement(header, _HEAD + "BizMsgIdr").text = business_message_id
    etree.SubElement(header, _HEAD + "MsgDefIdr").text = message_id
    etree.SubElement(header, _HEAD + "CreDt").text = created
    if related is not None and related.from_bic:
        # Rltd: the header of the message this one answers, as received.
        rltd = etree.SubElement(header, _HEAD + "Rltd")
        for side, bic in (("Fr", related.from_bic), ("To", related.to_bic or from_bic)):
            party = etree.SubElement(etree.SubElement(rltd, _HEAD + side), _HEAD + "FIId")
            institution = etree.SubElement(party, _HEAD + "FinInstnId")
            etree.SubElement(institution, _HEAD + "BICFI").text = bic
        etree.SubElement(rltd, _HEAD + "BizMsgIdr").text = related.business_message_id
        etree.SubElement(rltd, _HEAD + "MsgDefIdr").text = related.message_definition
        etree.SubElement(rltd, _HEAD + "CreDt").text = related.created
    return header


def wrap(header: etree._Element, document: bytes) -> bytes:
    """The envelope ``<BizMsg>`` holding ``header`` and ``document`` (UTF-8 bytes the hub
    built, with or without an XML declaration): joined as bytes, so a large statement is
    never parsed again."""
    if document.startswith(b"<?xml"):
        document = document[document.index(b"?>") + 2 :].lstrip()
    return b"".join(
        (
            b"<?xml version='1.0' encoding='UTF-8'?>\n<",
            ENVELOPE.encode(),
            b">",
            etree.tostring(header, encoding="UTF-8"),
            document,
            b"</",
            ENVELOPE.encode(),
            b">",
        )
    )


def unwrap(data: bytes) -> tuple[etree._Element, etree._Element]:
    """The AppHdr and Document of an envelope the hub wrote (for readers and tests)."""
    root = parse_document(data)
    if isinstance(root, IsoRejection) or root.tag != ENVELOPE or len(root) != 2:
        raise ValueError(f"not a {ENVELOPE} envelope")
    return copy.deepcopy(root[0]), copy.deepcopy(root[1])
