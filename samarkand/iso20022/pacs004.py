"""Intake of pacs.004.001.09 (payment return), the CBPR+ version; no official XSD of it
could be vendored, so it is checked against pyiso20022's model.

Each ``TxInf`` returns (part of) a settled payment, named by ``OrgnlUETR``. This module reads
the values and applies the rules that need only the message; the hub adds the rules that
need the original payment (it exists and settled, the amount and currency fit, the sender
is its creditor agent: ``samarkand.hub.messages``).

| rule | code |
|---|---|
| GrpHdr/NbOfTxs equals the number of TxInf (rejects the message) | AM18 |
| GrpHdr/CtrlSum, when given, equals the sum of RtrdIntrBkSttlmAmt (rejects the message) | AM10 |
| OrgnlUETR present / a UUID v4 / not twice in the message | CH21 / CH16 / DUPL |
| RtrdIntrBkSttlmAmt acceptable to ``samarkand.money`` | MoneyError's code |
"""

from __future__ import annotations

from lxml import etree

from samarkand.money import CurrencyRegistry

from . import schemas
from .pacs008 import (
    CreditTransferMessage,
    CreditTransferTx,
    MinorUnits,
    TxRejection,
    amount_refusal,
    check_group,
    decimal_or_none,
    uetr_number,
)
from .problems import DUPLICATE_PAYMENT, ELEMENT_CONTENT_INCORRECT, REQUIRED_ELEMENT_MISSING

MESSAGE_ID = schemas.PACS_004
DOCUMENT_PATH = "/Document/PmtRtr"
_NS = "{" + schemas.namespace(MESSAGE_ID) + "}"


def read_return(root: etree._Element, registry: CurrencyRegistry) -> CreditTransferMessage:
    """The returns of a pacs.004.001.09 ``root`` that validation accepted, as credit transfer
    values: ``uetr`` is the ORIGINAL payment's UETR, ``amount`` the returned amount, and the
    agents are left empty (the hub takes them from the original payment, swapped)."""
    ns = _NS
    body = root[0]
    header = body.find(ns + "GrpHdr")
    assert header is not None  # validated: mandatory
    group_agent = header.findtext(f"{ns}InstgAgt/{ns}FinInstnId/{ns}BICFI")
    minor_units = MinorUnits(registry)
    transactions = []
    for index, tx in enumerate(body.iterfind(ns + "TxInf"), start=1):
        amount = tx.find(ns + "RtrdIntrBkSttlmAmt")
        assert amount is not None  # validated: mandatory
        amount_decimal = decimal_or_none(amount.text)
        currency = amount.get("Ccy", "")
        uetr_text = tx.findtext(ns + "OrgnlUETR")
        agent = tx.findtext(f"{ns}InstgAgt/{ns}FinInstnId/{ns}BICFI") or group_agent
        transactions.append(
            CreditTransferTx(
                index=index,
                instruction_id=tx.findtext(ns + "RtrId"),
                end_to_end_id=tx.findtext(ns + "OrgnlEndToEndId") or "",
                uetr=uetr_number(uetr_text),
                uetr_text=uetr_text,
                amount=minor_units.of(amount_decimal, currency),
                amount_decimal=amount_decimal,
                currency=currency,
                debtor_agent=agent,  # who sends the return; checked by the hub
                creditor_agent=None,
                debtor_name=None,
                creditor_name=None,
                priority="NORMAL",
                settlement_date=tx.findtext(ns + "IntrBkSttlmDt"),
            )
        )
    return CreditTransferMessage(
        msg_id=header.findtext(ns + "MsgId") or "",
        created_at=header.findtext(ns + "CreDtTm") or "",
        number_of_transactions=int(header.findtext(ns + "NbOfTxs") or "0"),
        control_sum=decimal_or_none(header.findtext(ns + "CtrlSum")),
        settlement_method=header.findtext(f"{ns}SttlmInf/{ns}SttlmMtd") or "",
        transactions=tuple(transactions),
        message_id=MESSAGE_ID,
        instructing_agent=group_agent,
        document_path=DOCUMENT_PATH,
    )


def check_return_rules(
    message: CreditTransferMessage, registry: CurrencyRegistry
) -> list[TxRejection]:
    """The message-only rules above, group first."""
    rejections = check_group(message)
    seen: set[int] = set()
    several = len(message.transactions) > 1
    for tx in message.transactions:
        path = f"{DOCUMENT_PATH}/TxInf[{tx.index}]" if several else f"{DOCUMENT_PATH}/TxInf"

        def reject(code: str, reason: str, where: str, tx: CreditTransferTx = tx) -> None:
            rejections.append(TxRejection(tx.index, tx.end_to_end_id, code, reason, where))

        if tx.uetr_text is None:
            reject(REQUIRED_ELEMENT_MISSING, "OrgnlUETR is missing: it names the payment", path)
        elif tx.uetr is None:
            reject(ELEMENT_CONTENT_INCORRECT, "OrgnlUETR is not a UUID v4", path + "/OrgnlUETR")
        elif tx.uetr in seen:
            reason = f"payment {tx.uetr_text} is returned earlier in this message"
            reject(DUPLICATE_PAYMENT, reason, path + "/OrgnlUETR")
        else:
            seen.add(tx.uetr)
        if tx.amount is None:
            code, reason = amount_refusal(tx, registry)
            reject(code, reason, path + "/RtrdIntrBkSttlmAmt")
    return rejections
