"""camt.056.001.08 (FI to FI payment cancellation request) in, camt.029.001.09 (resolution
of investigation) out: the CBPR+ versions. Neither has an official XSD vendored; both are
checked against pyiso20022's model.

A request names its assigner (``Assgnmt/Assgnr/Agt/FinInstnId/BICFI``: the agent asking,
who must be the debtor agent of each payment) and one ``Undrlyg/TxInf`` per payment to
cancel, found by ``OrgnlUETR``. The answer repeats the case, sets ``Sts/Conf`` for the whole
request and, per payment, ``TxCxlSts`` ACCR (cancelled) or RJCR with a reason code from
ExternalPaymentCancellationRejection1Code:

| code | when |
|---|---|
| NOOR | no payment with this UETR was received (or the request names none: CH21 in AddtlInf) |
| AGNT | the assigner is not the payment's debtor agent |
| ARDT | the payment is already settled, rejected or cancelled: nothing left to cancel |

``Sts/Conf`` is CNCL when every payment was cancelled, RJCR when none was, and PECR
(partially executed cancellation request) in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from . import schemas

REQUEST_ID = schemas.CAMT_056
RESOLUTION_ID = schemas.CAMT_029
_IN = "{" + schemas.namespace(REQUEST_ID) + "}"
_OUT = "{" + schemas.namespace(RESOLUTION_ID) + "}"
ACCEPTED = "ACCR"
REJECTED = "RJCR"
CANCELLED = "CNCL"
PARTIALLY_CANCELLED = "PECR"
NOT_FOUND = "NOOR"
NOT_DEBTOR_AGENT = "AGNT"
ALREADY_FINAL = "ARDT"
ADDITIONAL_INFORMATION_LENGTH_MAX = 105


@dataclass(frozen=True, slots=True)
class CancellationItem:
    index: int  # 1-based over every TxInf of the request
    cancellation_id: str | None
    original_msg_id: str | None
    original_message_name: str | None
    original_end_to_end_id: str | None
    original_uetr: str | None


@dataclass(frozen=True, slots=True)
class CancellationRequest:
    assignment_id: str
    assigner: str | None
    assignee: str | None
    created_at: str
    case_id: str | None
    items: tuple[CancellationItem, ...]


@dataclass(frozen=True, slots=True)
class CancellationOutcome:
    item: CancellationItem
    status: str  # ACCR or RJCR
    reason_code: str | None = None
    reason: str = ""


def read_cancellation_request(root: etree._Element) -> CancellationRequest:
    """The values of a camt.056.001.08 ``root`` that validation accepted."""
    ns = _IN
    body = root[0]
    assignment = body.find(ns + "Assgnmt")
    assert assignment is not None  # validated: mandatory

    def agent(side: str) -> str | None:
        return assignment.findtext(f"{ns}{side}/{ns}Agt/{ns}FinInstnId/{ns}BICFI")

    items = []
    for index, tx in enumerate(body.iterfind(f"{ns}Undrlyg/{ns}TxInf"), start=1):
        items.append(
            CancellationItem(
                index=index,
                cancellation_id=tx.findtext(ns + "CxlId"),
                original_msg_id=tx.findtext(f"{ns}OrgnlGrpInf/{ns}OrgnlMsgId"),
                original_message_name=tx.findtext(f"{ns}OrgnlGrpInf/{ns}OrgnlMsgNmId"),
                original_end_to_end_id=tx.findtext(ns + "OrgnlEndToEndId"),
                original_uetr=tx.findtext(ns + "OrgnlUETR"),
            )
        )
    return CancellationRequest(
        assignment_id=assignment.findtext(ns + "Id") or "",
        assigner=agent("Assgnr"),
        assignee=agent("Assgne"),
        created_at=assignment.findtext(ns + "CreDtTm") or "",
        case_id=body.findtext(f"{ns}Case/{ns}Id"),
        items=tuple(items),
    )


def build_resolution(
    request: CancellationRequest,
    outcomes: Sequence[CancellationOutcome],
    *,
    msg_id: str,
    created_at: str,
    hub_bic: str,
) -> bytes:
    """Return the UTF-8 camt.029.001.09 answering ``request`` (assigned by the hub back to
    the requester)."""
    root = etree.Element(_OUT + "Document", nsmap={None: schemas.namespace(RESOLUTION_ID)})
    body = _sub(root, "RsltnOfInvstgtn")
    assignment = _sub(body, "Assgnmt")
    _sub(assignment, "Id", msg_id)
    _agent(_sub(assignment, "Assgnr"), hub_bic)
    _agent(_sub(assignment, "Assgne"), request.assigner or hub_bic)
    _sub(assignment, "CreDtTm", created_at)
    if request.case_id:
        case = _sub(body, "RslvdCase")
        _sub(case, "Id", request.case_id)
        _agent(_sub(case, "Cretr"), request.assigner or hub_bic)
    accepted = sum(outcome.status == ACCEPTED for outcome in outcomes)
    if accepted == len(outcomes) and outcomes:
        confirmation = CANCELLED
    elif accepted == 0:
        confirmation = REJECTED
    else:
        confirmation = PARTIALLY_CANCELLED
    _sub(_sub(body, "Sts"), "Conf", confirmation)
    if outcomes:
        details = _sub(body, "CxlDtls")
        for outcome in outcomes:
            item = outcome.item
            status = _sub(details, "TxInfAndSts")
            if item.cancellation_id:
                _sub(status, "CxlStsId", item.cancellation_id)
            if item.original_msg_id and item.original_message_name:
                group = _sub(status, "OrgnlGrpInf")
                _sub(group, "OrgnlMsgId", item.original_msg_id)
                _sub(group, "OrgnlMsgNmId", item.original_message_name)
            if item.original_end_to_end_id:
                _sub(status, "OrgnlEndToEndId", item.original_end_to_end_id)
            if item.original_uetr:
                _sub(status, "OrgnlUETR", item.original_uetr)
            _sub(status, "TxCxlSts", outcome.status)
            if outcome.reason_code:
                reason = _sub(status, "CxlStsRsnInf")
                _sub(_sub(reason, "Rsn"), "Cd", outcome.reason_code)
                text = outcome.reason
                if len(text) > ADDITIONAL_INFORMATION_LENGTH_MAX:
                    text = text[: ADDITIONAL_INFORMATION_LENGTH_MAX - 3] + "..."
                _sub(reason, "AddtlInf", text)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _agent(parent: etree._Element, bic: str) -> None:
    _sub(_sub(_sub(parent, "Agt"), "FinInstnId"), "BICFI", bic)


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _OUT + name)
    if text is not None:
        element.text = text
    return element
