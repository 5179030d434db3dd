"""The vendored official XSDs (``xsd/`` beside this file), compiled once per process.

Reading files that ship inside the package is the one exception to "no I/O" in this
domain folder: the schemas are part of the code, not input, and are read through
``importlib.resources`` (never from a path the environment could point elsewhere).
Compiling a schema takes tens of milliseconds, so each is compiled on first use and kept (one
per thread: see ``schema``).
"""

from __future__ import annotations

import functools
import threading
from importlib import resources

from lxml import etree

PACS_008 = "pacs.008.001.08"
PACS_002 = "pacs.002.001.10"
CAMT_053 = "camt.053.001.08"
CAMT_054 = "camt.054.001.08"
PACS_009 = "pacs.009.001.08"
PACS_004 = "pacs.004.001.09"
CAMT_050 = "camt.050.001.07"
CAMT_056 = "camt.056.001.08"
CAMT_029 = "camt.029.001.09"
HEAD_001 = "head.001.001.02"
# Messages with an official XSD in xsd/; the others are checked against pyiso20022's model
# (``model_check``), because no official XSD of that version could be vendored.
MESSAGE_IDS = (PACS_008, CAMT_053, CAMT_054)
MODEL_CHECKED_IDS = (PACS_002, PACS_009, PACS_004, CAMT_050, CAMT_056, CAMT_029, HEAD_001)
ALL_IDS = MESSAGE_IDS + MODEL_CHECKED_IDS


def namespace(message_id: str) -> str:
    """Return the XML namespace of the ``Document`` of ``message_id``."""
    return f"urn:iso:std:iso:20022:tech:xsd:{message_id}"


def schema(message_id: str) -> etree.XMLSchema:
    """Return the compiled XSD of ``message_id`` (one of ``MESSAGE_IDS``), this thread's own.

    An lxml ``XMLSchema`` must not validate in two threads at once: shared, it judged an
    invalid document valid while another thread validated (a service reads messages on
    several threads). So each thread compiles its own, once, and compiling is serialised."""
    compiled: dict[str, etree.XMLSchema] = _THREAD.__dict__.setdefault("schemas", {})
    found = compiled.get(message_id)
    if found is None:
        if message_id not in MESSAGE_IDS:
            have = ", ".join(MESSAGE_IDS)
            raise ValueError(f"no vendored XSD for {message_id!r}; have {have}")
        with _COMPILING:
            found = compiled[message_id] = etree.XMLSchema(_xsd(message_id))
    return found


@functools.cache
def _xsd(message_id: str) -> etree._ElementTree:
    text = resources.files(__package__).joinpath("xsd", f"{message_id}.xsd").read_bytes()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.ElementTree(etree.fromstring(text, parser))


_THREAD = threading.local()
_COMPILING = threading.Lock()
