"""XSD validation of a parsed ISO 20022 document against the vendored official schema
(or, for a message with no vendored XSD, against pyiso20022's model: ``model_check``).

Every problem comes back as an ``IsoRejection`` with the element path by local names
(``/Document/FIToFICstmrCdtTrf/GrpHdr/NbOfTxs``) and the line, so a participant sees
all problems of a file at once (capped at ``PROBLEMS_MAX``, as every list here is bounded).
A document of another message or version is refused first, with FF01 naming the namespace
the hub expected. Codes: CH16 for a value that breaks its type, CH17 for an element that
is not allowed there, CH21 for a missing mandatory element, FF01 for anything else.
"""

from __future__ import annotations

import re

from lxml import etree

from . import schemas
from .model_check import validate_with_model
from .problems import (
    ELEMENT_CONTENT_INCORRECT,
    ELEMENT_NOT_ADMITTED,
    INVALID_FILE_FORMAT,
    REQUIRED_ELEMENT_MISSING,
    IsoRejection,
    clip,
    element_path,
    local_name,
)

PROBLEMS_MAX = 100
_PREFIX = re.compile(r"/[A-Za-z_][\w.-]*:")


def validate_document(
    root: etree._Element, message_id: str, *, root_name: str = "Document"
) -> list[IsoRejection]:
    """Return the problems of ``root`` against the XSD of ``message_id``; [] when valid.
    ``root_name`` is ``AppHdr`` for a business application header."""
    expected = f"{{{schemas.namespace(message_id)}}}{root_name}"
    if root.tag != expected:
        found_namespace = etree.QName(root).namespace if isinstance(root.tag, str) else None
        reason = (
            f"expected a {message_id} {root_name} in namespace {schemas.namespace(message_id)}, "
            f"found <{local_name(root.tag)}> in namespace {found_namespace or '(none)'}"
        )
        return [IsoRejection(INVALID_FILE_FORMAT, reason, path="/" + local_name(root.tag))]
    if message_id not in schemas.MESSAGE_IDS:
        return validate_with_model(root, message_id)
    schema = schemas.schema(message_id)
    if schema.validate(root):
        return []
    # The tree topped by ``root`` (a Document detached from its envelope has no parent).
    tree = etree.ElementTree(root)
    problems = []
    for entry in list(schema.error_log)[:PROBLEMS_MAX]:
        problems.append(_problem(tree, entry))
    return problems


def _problem(tree: etree._ElementTree, entry: etree._LogEntry) -> IsoRejection:
    path = entry.path or ""
    # libxml2 writes the path with the document's prefixes (e.g. /ns0:Document/...).
    prefixes = {k: v for k, v in tree.getroot().nsmap.items() if k}
    try:
        found = tree.xpath(path, namespaces=prefixes) if path.startswith("/") else []
    except etree.XPathError:
        found = []
    if found and isinstance(found, list) and isinstance(found[0], etree._Element):
        path = element_path(found[0])
    else:
        path = _PREFIX.sub("/", path)
    return IsoRejection(_code(entry), _readable(entry.message), path=path, line=entry.line)


def _code(entry: etree._LogEntry) -> str:
    message = entry.message
    if "Missing child element" in message:
        return REQUIRED_ELEMENT_MISSING
    if "is not expected" in message or "is not allowed" in message:
        return ELEMENT_NOT_ADMITTED
    if "[facet" in message or "is not a valid value" in message:
        return ELEMENT_CONTENT_INCORRECT
    return INVALID_FILE_FORMAT


def _readable(message: str) -> str:
    # libxml2 names every element with its {namespace}; the path already says where.
    for message_id in schemas.ALL_IDS:
        message = message.replace(f"{{{schemas.namespace(message_id)}}}", "")
    return clip(message)
