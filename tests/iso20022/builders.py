"""Readable pacs.008.001.08 fixtures, built with lxml: a valid message, then one change."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from lxml import etree

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"
NS = "{" + NAMESPACE + "}"
BICS = ("BKCHCNBJXXX", "SABRRUMMXXX", "SBININBBXXX", "HABBPKKAXXX", "HSBKKZKXXXX")


def uetr(number: int) -> str:
    """A deterministic UUID version 4 text for ``number``."""
    return f"{number % 16**8:08x}-{number % 16**4:04x}-4abc-8def-{number:012x}"


@dataclass(frozen=True)
class Tx:
    number: int = 1
    amount: str = "1000.00"
    currency: str = "CNY"
    debtor_agent: str = "BKCHCNBJXXX"
    creditor_agent: str = "SABRRUMMXXX"
    uetr: str | None = "default"
    priority: str | None = None
    settlement_date: str | None = None  # IntrBkSttlmDt; the hub wants the UTC date of its now

    def uetr_text(self) -> str | None:
        return uetr(self.number) if self.uetr == "default" else self.uetr


def bulk(count: int) -> list[Tx]:
    """``count`` valid transactions in CNY, RUB and INR between the five BICS."""
    currencies = ("CNY", "RUB", "INR")
    return [
        Tx(
            number=n,
            amount=f"{n % 9_000 + 1}.{n % 100:02d}",
            currency=currencies[n % 3],
            debtor_agent=BICS[n % 5],
            creditor_agent=BICS[(n + 1) % 5],
            priority="HIGH" if n % 10 == 0 else None,
        )
        for n in range(1, count + 1)
    ]


def pacs008(
    transactions: list[Tx] | None = None,
    *,
    msg_id: str = "MSG-1",
    number_of_transactions: int | None = None,
    control_sum: str | None = "auto",
) -> bytes:
    """A pacs.008.001.08 document; NbOfTxs and CtrlSum are right unless given."""
    transactions = transactions if transactions is not None else [Tx()]
    root = etree.Element(NS + "Document", nsmap={None: NAMESPACE})
    document = sub(root, "FIToFICstmrCdtTrf")
    header = sub(document, "GrpHdr")
    sub(header, "MsgId", msg_id)
    sub(header, "CreDtTm", "2026-11-27T10:00:00+03:00")
    count = len(transactions) if number_of_transactions is None else number_of_transactions
    sub(header, "NbOfTxs", str(count))
    if control_sum == "auto":
        control_sum = str(sum(Decimal(tx.amount) for tx in transactions))
    if control_sum is not None:
        sub(header, "CtrlSum", control_sum)
    sub(sub(header, "SttlmInf"), "SttlmMtd", "CLRG")
    for tx in transactions:
        add_tx(document, tx)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def add_tx(document: etree._Element, tx: Tx) -> None:
    element = sub(document, "CdtTrfTxInf")
    payment_id = sub(element, "PmtId")
    sub(payment_id, "InstrId", f"INSTR-{tx.number}")
    sub(payment_id, "EndToEndId", f"E2E-{tx.number}")
    if tx.uetr_text() is not None:
        sub(payment_id, "UETR", tx.uetr_text())
    if tx.priority is not None:
        sub(sub(element, "PmtTpInf"), "InstrPrty", tx.priority)
    amount = sub(element, "IntrBkSttlmAmt", tx.amount)
    amount.set("Ccy", tx.currency)
    if tx.settlement_date is not None:
        sub(element, "IntrBkSttlmDt", tx.settlement_date)
    sub(element, "ChrgBr", "SHAR")
    sub(sub(element, "Dbtr"), "Nm", f"Debtor {tx.number}")
    sub(sub(sub(element, "DbtrAgt"), "FinInstnId"), "BICFI", tx.debtor_agent)
    sub(sub(sub(element, "CdtrAgt"), "FinInstnId"), "BICFI", tx.creditor_agent)
    sub(sub(element, "Cdtr"), "Nm", f"Creditor {tx.number}")


def sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, NS + name)
    if text is not None:
        element.text = text
    return element


__all__ = ["BICS", "Tx", "bulk", "pacs008", "replace", "uetr"]
