"""The pacs.002.001.10 (FI to FI payment status report) the hub sends back for a pacs.008,
a pacs.009, a camt.050 or a pacs.004, and for a file it refuses as a whole.

Built from the values ``pacs008`` produced, never from the incoming tree, so what goes out
depends only on what the hub decided. The caller passes the report's own ``msg_id`` and
``created_at``: this folder reads no clock and makes no ids.

Statuses (ExternalPaymentTransactionStatus1Code / ExternalPaymentGroupStatus1Code):
a transaction with no rejection gets ``accepted_status`` (ACTC after intake, ACSC once
settled), a rejected one RJCT with one StsRsnInf per problem: the reason code, and AddtlInf
"<element path>: <reason>" cut to the 105 characters of Max105Text. The group is RJCT when
a group rule failed (NbOfTxs, CtrlSum: the group carries the StsRsnInf and every transaction
is RJCT with that reason too, so a reader of either level sees why) or when every
transaction is rejected, PART when some are, else ``accepted_status``.

``build_file_rejection`` answers a file refused before its transactions were read (it failed
the schema, or its header is unusable): one OrgnlGrpInfAndSts, GrpSts RJCT, one StsRsnInf per
problem. pacs.002.001.10 is the CBPR+ version paired with pacs.008.001.08; no official XSD of
it could be vendored, so it is checked against pyiso20022's model (``model_check``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lxml import etree

from . import schemas
from .pacs008 import MESSAGE_ID as PACS_008_ID
from .pacs008 import CreditTransferMessage, TxRejection
from .problems import IsoRejection

MESSAGE_ID = schemas.PACS_002
ACCEPTED_TECHNICAL = "ACTC"
ACCEPTED_SETTLEMENT_IN_PROCESS = "ACSP"  # accepted, queued for settlement
ACCEPTED_SETTLEMENT_COMPLETED = "ACSC"
REJECTED = "RJCT"
PARTIALLY_ACCEPTED = "PART"
PENDING = "PDNG"  # not refused, outcome not known here (an interrupted liquidity transfer)
ACCEPTED_STATUSES = frozenset(
    {ACCEPTED_TECHNICAL, ACCEPTED_SETTLEMENT_IN_PROCESS, ACCEPTED_SETTLEMENT_COMPLETED, PENDING}
)
ADDITIONAL_INFORMATION_LENGTH_MAX = 105  # Max105Text
GROUP_REASONS_MAX = 20  # StsRsnInf of a refused file; the CLI prints every problem

_NS = "{" + schemas.namespace(MESSAGE_ID) + "}"


def build_status_report(
    message: CreditTransferMessage,
    rejections: Iterable[TxRejection],
    *,
    msg_id: str,
    created_at: str,
    accepted_status: str | Mapping[int, str] = ACCEPTED_TECHNICAL,
    original_name: str = PACS_008_ID,
) -> bytes:
    """Return the UTF-8 pacs.002.001.10 reporting on every transaction of ``message``.

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

    root, report = _report(msg_id, created_at)
    original = _sub(report, "OrgnlGrpInfAndSts")
    _sub(original, "OrgnlMsgId", message.msg_id)
    _sub(original, "OrgnlMsgNmId", original_name)
    accepted = {statuses[tx.index] for tx in message.transactions if tx.index not in by_index}
    group_accepted = accepted.pop() if len(accepted) == 1 else ACCEPTED_SETTLEMENT_IN_PROCESS
    _sub(original, "GrpSts", _group_status(message, group_rejections, by_index, group_accepted))
    for problem in group_rejections:
        _reason(original, problem.code, _additional_information(problem))
    for tx in message.transactions:
        problems = group_rejections + by_index.get(tx.index, [])
        status = _sub(report, "TxInfAndSts")
        if tx.instruction_id:
            _sub(status, "OrgnlInstrId", tx.instruction_id)
        if tx.end_to_end_id:
            _sub(status, "OrgnlEndToEndId", tx.end_to_end_id)
        if tx.uetr is not None and tx.uetr_text:
            _sub(status, "OrgnlUETR", tx.uetr_text)
        _sub(status, "TxSts", REJECTED if problems else statuses[tx.index])
        for problem in problems:
            _reason(status, problem.code, _additional_information(problem))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def build_file_rejection(
    problems: Iterable[IsoRejection],
    *,
    original_msg_id: str,
    original_name: str,
    msg_id: str,
    created_at: str,
) -> bytes:
    """Return the pacs.002 refusing a whole message: GrpSts RJCT with every problem's code
    and "<path>: <reason>" (at most ``GROUP_REASONS_MAX`` of them)."""
    root, report = _report(msg_id, created_at)
    original = _sub(report, "OrgnlGrpInfAndSts")
    _sub(original, "OrgnlMsgId", original_msg_id)
    _sub(original, "OrgnlMsgNmId", original_name)
    _sub(original, "GrpSts", REJECTED)
    for problem in list(problems)[:GROUP_REASONS_MAX]:
        where = f"{problem.path}: " if problem.path else ""
        _reason(original, problem.code, _clip(where + problem.message))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _report(msg_id: str, created_at: str) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(_NS + "Document", nsmap={None: schemas.namespace(MESSAGE_ID)})
    report = _sub(root, "FIToFIPmtStsRpt")
    header = _sub(report, "GrpHdr")
    _sub(header, "MsgId", msg_id)
    _sub(header, "CreDtTm", created_at)
    return root, report


def _reason(parent: etree._Element, code: str, text: str) -> None:
    reason = _sub(parent, "StsRsnInf")
    _sub(_sub(reason, "Rsn"), "Cd", code)
    _sub(reason, "AddtlInf", text)


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
    return _clip(f"{problem.path}: {problem.reason}")


def _clip(text: str) -> str:
    if len(text) <= ADDITIONAL_INFORMATION_LENGTH_MAX:
        return text
    return text[: ADDITIONAL_INFORMATION_LENGTH_MAX - 3] + "..."


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _NS + name)
    if text is not None:
        element.text = text
    return element
