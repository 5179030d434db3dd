"""The pacs.002 (FI to FI payment status report) the hub sends back for a pacs.008.

Built from the values ``pacs008`` produced, never from the incoming tree, so what goes out
depends only on what the hub decided. The caller passes the report's own ``msg_id`` and
``created_at``: this folder reads no clock and makes no ids.

Statuses (ExternalPaymentTransactionStatus1Code / ExternalPaymentGroupStatus1Code):
a transaction with no rejection gets ``accepted_status`` (ACTC after intake, ACSC once
settled), a rejected one RJCT with one StsRsnInf per problem: the reason code, and AddtlInf
"<element path>: <reason>" cut to the 105 characters of Max105Text. The group is RJCT when
a group rule failed (NbOfTxs, CtrlSum: then every transaction is RJCT with that reason too,
because the vendored reduced pacs.002.001.12 has no group-level StsRsnInf) or when every
transaction is rejected, PART when some are, else ``accepted_status``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lxml import etree

from . import schemas
from .pacs008 import MESSAGE_ID as PACS_008_ID
from .pacs008 import CreditTransferMessage, TxRejection

MESSAGE_ID = schemas.PACS_002
ACCEPTED_TECHNICAL = "ACTC"
ACCEPTED_SETTLEMENT_IN_PROCESS = "ACSP"  # accepted, queued for settlement
ACCEPTED_SETTLEMENT_COMPLETED = "ACSC"
REJECTED = "RJCT"
PARTIALLY_ACCEPTED = "PART"
ACCEPTED_STATUSES = frozenset(
    {ACCEPTED_TECHNICAL, ACCEPTED_SETTLEMENT_IN_PROCESS, ACCEPTED_SETTLEMENT_COMPLETED}
)
ADDITIONAL_INFORMATION_LENGTH_MAX = 105  # Max105Text

_NS = "{" + schemas.namespace(MESSAGE_ID) + "}"


def build_status_report(
    message: CreditTransferMessage,
    rejections: Iterable[TxRejection],
    *,
    msg_id: str,
    created_at: str,
    accepted_status: str | Mapping[int, str] = ACCEPTED_TECHNICAL,
) -> bytes:
    """Return the UTF-8 pacs.002.001.12 reporting on every transaction of ``message``.

    ``accepted_status`` is one status for every accepted transaction, or one per
    transaction index (ACSC for those settled, ACSP for those queued, ...).
    """
    statuses = (
        dict.fromkeys((tx.index for tx in message.transactions), accepted_status)
        if isinstance(accepted_status, str)
        else dict(accepted_status)
    )
    if not set(statuses.values()) <= ACCEPTED_STATUSES:
        raise ValueError(f"accepted statuses must be among {sorted(ACCEPTED_STATUSES)}")
    group_rejections: list[TxRejection] = []
    by_index: dict[int, list[TxRejection]] = {}
    for rejection in rejections:
        if rejection.index is None:
            group_rejections.append(rejection)
        else:
            by_index.setdefault(rejection.index, []).append(rejection)

    root = etree.Element(_NS + "Document", nsmap={None: schemas.namespace(MESSAGE_ID)})
    report = _sub(root, "FIToFIPmtStsRpt")
    header = _sub(report, "GrpHdr")
    _sub(header, "MsgId", msg_id)
    _sub(header, "CreDtTm", created_at)
    original = _sub(report, "OrgnlGrpInfAndSts")
    _sub(original, "OrgnlMsgId", message.msg_id)
    _sub(original, "OrgnlMsgNmId", PACS_008_ID)
    accepted = {statuses[tx.index] for tx in message.transactions if tx.index not in by_index}
    group_accepted = accepted.pop() if len(accepted) == 1 else ACCEPTED_SETTLEMENT_IN_PROCESS
    _sub(original, "GrpSts", _group_status(message, group_rejections, by_index, group_accepted))
    for tx in message.transactions:
        problems = group_rejections + by_index.get(tx.index, [])
        status = _sub(report, "TxInfAndSts")
        if tx.end_to_end_id:
            _sub(status, "OrgnlEndToEndId", tx.end_to_end_id)
        _sub(status, "TxSts", REJECTED if problems else statuses[tx.index])
        for problem in problems:
            reason = _sub(status, "StsRsnInf")
            _sub(_sub(reason, "Rsn"), "Cd", problem.code)
            _sub(reason, "AddtlInf", _additional_information(problem))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _group_status(
    message: CreditTransferMessage,
    group_rejections: list[TxRejection],
    by_index: dict[int, list[TxRejection]],
    accepted_status: str,
) -> str:
    if group_rejections or (by_index and len(by_index) >= len(message.transactions)):
        return REJECTED
    return PARTIALLY_ACCEPTED if by_index else accepted_status


def _additional_information(problem: TxRejection) -> str:
    text = f"{problem.path}: {problem.reason}"
    if len(text) <= ADDITIONAL_INFORMATION_LENGTH_MAX:
        return text
    return text[: ADDITIONAL_INFORMATION_LENGTH_MAX - 3] + "..."


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _NS + name)
    if text is not None:
        element.text = text
    return element
