"""ISO 20022 codecs and validation (DESIGN §7): pacs.008.001.08 in, pacs.002.001.12 out.

Untrusted bytes go through ``parse.parse_document`` (hardened lxml, bounded size and depth,
no DOCTYPE), ``validate.validate_document`` (the vendored official XSD in ``xsd/``), then
``pacs008.read_credit_transfer`` and ``pacs008.check_rules``; ``pacs002.build_status_report``
answers. Problems are values carrying ISO 20022 ExternalStatusReason1Code (see ``problems``).
No clock, environment or network; the only files read are the XSDs shipped in the package.
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
