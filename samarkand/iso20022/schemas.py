"""The vendored official XSDs (``xsd/`` beside this file), compiled once per process.

Reading files that ship inside the package is the one exception to "no I/O" in this
domain folder: the schemas are part of the code, not input, and are read through
``importlib.resources`` (never from a path the environment could point elsewhere).
Compiling a schema takes tens of milliseconds, so each is compiled on first use and kept.
"""

from __future__ import annotations

import functools
from importlib import resources

from lxml import etree

PACS_008 = "pacs.008.001.08"
PACS_002 = "pacs.002.001.12"
CAMT_053 = "camt.053.001.08"
MESSAGE_IDS = (PACS_008, PACS_002, CAMT_053)


def namespace(message_id: str) -> str:
    """Return the XML namespace of the ``Document`` of ``message_id``."""
    return f"urn:iso:std:iso:20022:tech:xsd:{message_id}"


@functools.cache
def schema(message_id: str) -> etree.XMLSchema:
    """Return the compiled XSD of ``message_id`` (one of ``MESSAGE_IDS``)."""
    if message_id not in MESSAGE_IDS:
        raise ValueError(f"no vendored XSD for {message_id!r}; have {', '.join(MESSAGE_IDS)}")
    text = resources.files(__package__).joinpath("xsd", f"{message_id}.xsd").read_bytes()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.fromstring(text, parser))
