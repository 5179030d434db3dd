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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from . import schemas
from .markup import XML_DECLARATION, checked_column, checked_text
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

_HEAD = f'{XML_DECLARATION}<Document xmlns="{schemas.namespace(MESSAGE_ID)}">'


def build_status_report(
    message: CreditTransferMessage,
    rejections: Iterable[TxRejection],
    *,
    msg_id: str,
    created_at: str,
    accepted_status: str | Mapping[int, str] = ACCEPTED_TECHNICAL,
    original_name: str = PACS_008_ID,
    xml_declaration: bool = True,
) -> bytes:
    """Return the UTF-8 pacs.002.001.10 reporting on every transaction of ``message``.

    ``accepted_status`` is one status for every accepted transaction, or one per
    transaction index (ACSC for those settled, ACSP for those queued, ...). Without
    ``xml_declaration`` the report has no XML declaration (for an envelope, which has its
    own: a large report is then not copied to drop it).
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

    accepted = {statuses[tx.index] for tx in message.transactions if tx.index not in by_index}
    group_accepted = accepted.pop() if len(accepted) == 1 else ACCEPTED_SETTLEMENT_IN_PROCESS
    group_status = _group_status(message, group_rejections, by_index, group_accepted)
    # Written as text, the bytes lxml writes for the same elements: a bulk message's report
    # has a TxInfAndSts per transaction, and filling texts is many times faster than
    # building them. Every value is checked and escaped as lxml would (``markup``), by
    # column where values are many.
    group_reasons = "".join(map(_rejection_markup, group_rejections))
    parts = [
        "<OrgnlGrpInfAndSts><OrgnlMsgId>",
        checked_text("OrgnlMsgId", message.msg_id),
        "</OrgnlMsgId><OrgnlMsgNmId>",
        checked_text("OrgnlMsgNmId", original_name),
        f"</OrgnlMsgNmId><GrpSts>{group_status}</GrpSts>{group_reasons}</OrgnlGrpInfAndSts>",
    ]
    transactions = message.transactions
    instruction_ids = checked_column(
        "OrgnlInstrId", [tx.instruction_id or "" for tx in transactions]
    )
    end_to_end_ids = checked_column(
        "OrgnlEndToEndId", [tx.end_to_end_id or "" for tx in transactions]
    )
    uetrs = checked_column(
        "OrgnlUETR",
        [(tx.uetr_text or "") if tx.uetr is not None else "" for tx in transactions],
    )
    tx_reasons = {
        index: group_reasons + "".join(map(_rejection_markup, problems))
        for index, problems in by_index.items()
    }
    for tx, instruction_id, end_to_end_id, uetr in zip(
        transactions, instruction_ids, end_to_end_ids, uetrs, strict=True
    ):
        reasons = tx_reasons.get(tx.index, group_reasons)
        status = REJECTED if reasons else statuses[tx.index]
        parts += (
            "<TxInfAndSts>",
            f"<OrgnlInstrId>{instruction_id}</OrgnlInstrId>" if instruction_id else "",
            f"<OrgnlEndToEndId>{end_to_end_id}</OrgnlEndToEndId>" if end_to_end_id else "",
            f"<OrgnlUETR>{uetr}</OrgnlUETR>" if uetr else "",
            f"<TxSts>{status}</TxSts>{reasons}</TxInfAndSts>",
        )
    return _document(msg_id, created_at, *parts, xml_declaration=xml_declaration)


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A transaction an earlier report answered ACSP (queued), now final: ACSC, or RJCT with
    its reason (``reason_code`` and the text after it)."""

    instruction_id: str  # "" when the original had none
    end_to_end_id: str
    uetr: str  # canonical text
    status: str
    reason_code: str | None = None
    reason: str = ""


def build_status_update(
    updates: Sequence[StatusUpdate],
    *,
    original_msg_id: str,
    original_name: str,
    msg_id: str,
    created_at: str,
    xml_declaration: bool = True,
) -> bytes:
    """Return the pacs.002 telling the final status of ``updates``, transactions of the
    message ``original_msg_id`` an earlier report answered ACSP: one TxInfAndSts each; the
    group ACSC or RJCT when they all are, else PART."""
    statuses = {update.status for update in updates}
    if not updates or not statuses <= {ACCEPTED_SETTLEMENT_COMPLETED, REJECTED}:
        raise ValueError("a status update reports ACSC or RJCT transactions")
    group = statuses.pop() if len(statuses) == 1 else PARTIALLY_ACCEPTED
    parts = [
        "<OrgnlGrpInfAndSts><OrgnlMsgId>",
        checked_text("OrgnlMsgId", original_msg_id),
        "</OrgnlMsgId><OrgnlMsgNmId>",
        checked_text("OrgnlMsgNmId", original_name),
        f"</OrgnlMsgNmId><GrpSts>{group}</GrpSts></OrgnlGrpInfAndSts>",
    ]
    for update in updates:
        instruction = checked_text("OrgnlInstrId", update.instruction_id)
        end_to_end = checked_text("OrgnlEndToEndId", update.end_to_end_id)
        reasons = (
            _reason_markup(update.reason_code, _clip(update.reason))
            if update.reason_code is not None
            else ""
        )
        parts += (
            "<TxInfAndSts>",
            f"<OrgnlInstrId>{instruction}</OrgnlInstrId>" if instruction else "",
            f"<OrgnlEndToEndId>{end_to_end}</OrgnlEndToEndId>" if end_to_end else "",
            f"<OrgnlUETR>{checked_text('OrgnlUETR', update.uetr)}</OrgnlUETR>",
            f"<TxSts>{update.status}</TxSts>{reasons}</TxInfAndSts>",
        )
    return _document(msg_id, created_at, *parts, xml_declaration=xml_declaration)


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
    reasons = []
    for problem in list(problems)[:GROUP_REASONS_MAX]:
        where = f"{problem.path}: " if problem.path else ""
        reasons.append(_reason_markup(problem.code, _clip(where + problem.message)))
    return _document(
        msg_id,
        created_at,
        "<OrgnlGrpInfAndSts><OrgnlMsgId>",
        checked_text("OrgnlMsgId", original_msg_id),
        "</OrgnlMsgId><OrgnlMsgNmId>",
        checked_text("OrgnlMsgNmId", original_name),
        f"</OrgnlMsgNmId><GrpSts>{REJECTED}</GrpSts>",
        *reasons,
        "</OrgnlGrpInfAndSts>",
    )


def _document(msg_id: str, created_at: str, *parts: str, xml_declaration: bool = True) -> bytes:
    """The UTF-8 report: its GrpHdr, then ``parts`` (markup)."""
    return "".join(
        (
            _HEAD if xml_declaration else _HEAD.removeprefix(XML_DECLARATION),
            "<FIToFIPmtStsRpt><GrpHdr><MsgId>",
            checked_text("MsgId", msg_id),
            "</MsgId><CreDtTm>",
            checked_text("CreDtTm", created_at),
            "</CreDtTm></GrpHdr>",
            *parts,
            "</FIToFIPmtStsRpt></Document>",
        )
    ).encode("utf-8")


def _reason_markup(code: str, text: str) -> str:
    """A StsRsnInf: the reason ``code`` and ``text`` as AddtlInf."""
    code = checked_text("StsRsnInf/Rsn/Cd", code)
    text = checked_text("StsRsnInf/AddtlInf", text)
    return f"<StsRsnInf><Rsn><Cd>{code}</Cd></Rsn><AddtlInf>{text}</AddtlInf></StsRsnInf>"


def _group_status(
    message: CreditTransferMessage,
    group_rejections: list[TxRejection],
    by_index: dict[int, list[TxRejection]],
    accepted_status: str,
) -> str:
    if group_rejections or (by_index and len(by_index) >= len(message.transactions)):
        return REJECTED
    return PARTIALLY_ACCEPTED if by_index else accepted_status


def _rejection_markup(problem: TxRejection) -> str:
    return _reason_markup(problem.code, _clip(f"{problem.path}: {problem.reason}"))


def _clip(text: str) -> str:
    if len(text) <= ADDITIONAL_INFORMATION_LENGTH_MAX:
        return text
    return text[: ADDITIONAL_INFORMATION_LENGTH_MAX - 3] + "..."
