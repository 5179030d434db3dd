"""ISO 20022 codecs and validation (DESIGN §7; docs/messages.md): pacs.008.001.08,
pacs.009.001.08, pacs.004.001.09, camt.050.001.07 and camt.056.001.08 in; pacs.002.001.10,
camt.029.001.09, camt.053.001.08 and camt.054.001.08 out; head.001.001.02 both ways.

Untrusted bytes go through ``envelope.open_message`` (``parse.parse_document``: hardened lxml,
bounded size and depth, no DOCTYPE; the message told by its namespace), then
``validate.validate_document`` (the vendored official XSD in ``xsd/``, or pyiso20022's model
through ``model_check`` where no official XSD could be vendored), then each message's reader
and rules (``pacs008``, ``pacs004``, ``camt050``, ``cancellation``); ``pacs002``,
``cancellation``, ``camt053`` and ``camt054`` build the answers. Problems are values
carrying ISO 20022 ExternalStatusReason1Code (see ``problems``). No clock, environment or
network; the only files read are the XSDs shipped in the package.
"""

from .pacs002 import build_status_report
from .pacs008 import (
    CreditTransferMessage,
    CreditTransferTx,
    Intake,
    TxRejection,
    check_rules,
    intake_pacs008,
    read_credit_transfer,
)
from .parse import parse_document
from .problems import IsoRejection
from .validate import validate_document

__all__ = [
    "CreditTransferMessage",
    "CreditTransferTx",
    "Intake",
    "IsoRejection",
    "TxRejection",
    "build_status_report",
    "check_rules",
    "intake_pacs008",
    "parse_document",
    "read_credit_transfer",
    "validate_document",
]
