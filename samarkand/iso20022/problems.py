"""Problems found in an ISO 20022 message: a value with a reason code, a sentence and a place.

Bad input is never an exception here (STYLE habit 3): every refusal is an ``IsoRejection``
carrying an ISO 20022 ``ExternalStatusReason1Code`` that a pacs.002 can send back as is.

| code | ISO name | used for |
|---|---|---|
| FF01 | InvalidFileFormat | not XML, DOCTYPE, too deep or large, wrong namespace, other XSD |
| CH16 | ElementContentFormallyIncorrect | XSD: a value breaks its type (pattern, length) |
| CH17 | ElementNotAdmitted | XSD: an element where none (or another) is allowed |
| CH21 | RequiredCompulsoryElementMissing | XSD: mandatory element missing; CBPR+: no UETR |
| AM18 | InvalidNumberOfTransactions | GrpHdr/NbOfTxs differs from the CdtTrfTxInf count |
| AM10 | InvalidControlSum | GrpHdr/CtrlSum differs from the sum of IntrBkSttlmAmt |
| DUPL | DuplicatePayment | a UETR seen earlier in the same message |
| DNOR | DebtorBankIsNotRegistered | DbtrAgt BIC is not a participant of the hub |
| CNOR | CreditorBankIsNotRegistered | CdtrAgt BIC is not a participant of the hub |
| AM01, AM02, AM03, AM11, AM12 | from ``MoneyError`` | zero, too large, currency refused, decimals |
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

INVALID_FILE_FORMAT = "FF01"
ELEMENT_CONTENT_INCORRECT = "CH16"
ELEMENT_NOT_ADMITTED = "CH17"
REQUIRED_ELEMENT_MISSING = "CH21"
INVALID_NUMBER_OF_TRANSACTIONS = "AM18"
INVALID_CONTROL_SUM = "AM10"
DUPLICATE_PAYMENT = "DUPL"
DEBTOR_BANK_NOT_REGISTERED = "DNOR"
CREDITOR_BANK_NOT_REGISTERED = "CNOR"

MESSAGE_LENGTH_MAX = 300  # characters of a problem's sentence; input echoed in it is cut


@dataclass(frozen=True, slots=True)
class IsoRejection:
    """One problem: ISO reason ``code``, a ``message`` a person can act on, and its place.

    ``path`` is the element path (``/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[2]/PmtId/UETR``),
    empty when the problem is the file as a whole; ``line`` is 0 when unknown.
    """

    code: str
    message: str
    path: str = ""
    line: int = 0

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        line = f" (line {self.line})" if self.line else ""
        return f"{self.code}{where}{line}: {self.message}"


def clip(text: str, length_max: int = MESSAGE_LENGTH_MAX) -> str:
    """Return ``text`` cut to ``length_max`` characters, marked with '...' when cut."""
    if len(text) <= length_max:
        return text
    return text[: length_max - 3] + "..."


def local_name(tag: object) -> str:
    """Return the tag without its ``{namespace}``; comments and PIs have no name."""
    if not isinstance(tag, str):
        return "?"
    return tag.rpartition("}")[2]


def element_path(element: etree._Element) -> str:
    """Return the path of ``element`` by local names, with [n] (1-based) among same-named.

    Namespaces are left out because every element of an ISO 20022 document shares one;
    the index is given only where a parent holds several elements of that name, so a
    path reads like the usage guidelines: ``/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[3]``.
    """
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        parent = node.getparent()
        name = local_name(node.tag)
        if parent is not None:
            same = [child for child in parent if child.tag == node.tag]
            if len(same) > 1:
                name = f"{name}[{same.index(node) + 1}]"
        steps.append(name)
        node = parent
    return "/" + "/".join(reversed(steps))
