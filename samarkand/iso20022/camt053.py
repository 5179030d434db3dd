"""The camt.053 (bank to customer statement) the hub issues for one settlement account.

Pure: the caller passes every value, ids and times included; this folder reads no clock and
no ledger. One statement per message: the account, the booked opening balance (OPBD), one
booked entry (Ntry, status BOOK) per posting of the period and the booked closing balance
(CLBD). Balances are signed minor units: the XSD amount is never negative, so the sign goes
into CdtDbtInd (a zero balance is CRDT). Entries carry the UETR in NtryDtls/TxDtls/Refs when
the reference is one (UUIDv4Identifier), else the reference in Refs/AcctSvcrRef; the
counterparty's BIC (or name) goes in RltdAgts as debtor agent of a credit, creditor agent of
a debit. The bank transaction code is proprietary (the ledger's transfer code name).

Bounds of camt.053.001.08 that the ledger does not share: an amount has at most 18 digits
(``amount_fits``), an account id and a reference at most 34 and 35 characters. A value past
them is a ``ValueError``: the caller checks first and reports it to its user.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from lxml import etree

from samarkand.money import format_amount
from samarkand.money.currency import Currency

from . import schemas

MESSAGE_ID = schemas.CAMT_053
AMOUNT_DIGITS_MAX = 18  # totalDigits of ActiveOrHistoricCurrencyAndAmount_SimpleType
ENTRIES_MAX = 1_000_000  # a bound on one file (~1 KiB per entry)
BOOKED = "BOOK"
CREDIT = "CRDT"
DEBIT = "DBIT"
OPENING_BOOKED = "OPBD"
CLOSING_BOOKED = "CLBD"
CODE_ISSUER = "SAMARKAND"

_NS = "{" + schemas.namespace(MESSAGE_ID) + "}"
_UETR = re.compile(r"[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}")
_BIC = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?")


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """One posting on the account: ``amount`` > 0 minor units, credit or debit."""

    amount: int
    credit: bool
    booked_at: str  # ISO 8601 date-time, e.g. 2026-01-05T09:30:00Z
    reference: str  # a UETR, or the hub's reference of the transfer (Max35Text)
    counterparty: str  # the BIC of the other account's owner, or a name
    transaction_code: str = "PAYMENT"  # proprietary bank transaction code


def amount_fits(minor: int) -> bool:
    """Whether ``minor`` (any sign) fits the 18 digits of a camt.053 amount."""
    return abs(minor) < 10**AMOUNT_DIGITS_MAX


def build_statement(
    *,
    account_id_text: str,
    currency: str,
    exponent: int,
    opening_balance: int,
    entries: Sequence[StatementEntry],
    closing_balance: int,
    msg_id: str,
    created_at: str,
    statement_id: str,
    from_date: str,
    to_date: str,
) -> bytes:
    """Return the UTF-8 camt.053.001.08 statement of one account from ``from_date`` to
    ``to_date`` (ISO dates, inclusive). The closing balance must equal the opening balance
    plus the credits minus the debits: a statement that does not add up is a bug."""
    money = Currency(currency, 1, exponent, exponent, currency, True)
    credits = sum(e.amount for e in entries if e.credit)
    debits = sum(e.amount for e in entries if not e.credit)
    if opening_balance + credits - debits != closing_balance:
        raise ValueError(
            f"closing balance {closing_balance} != opening {opening_balance} "
            f"+ credits {credits} - debits {debits}"
        )
    if len(entries) > ENTRIES_MAX:
        raise ValueError(f"{len(entries)} entries, more than the {ENTRIES_MAX} of one statement")
    require_text("account id", account_id_text, 34)
    for label, text in (("msg_id", msg_id), ("statement_id", statement_id)):
        require_text(label, text, 35)

    root = etree.Element(_NS + "Document", nsmap={None: schemas.namespace(MESSAGE_ID)})
    message = sub(root, "BkToCstmrStmt")
    header = sub(message, "GrpHdr")
    sub(header, "MsgId", msg_id)
    sub(header, "CreDtTm", created_at)
    statement = sub(message, "Stmt")
    sub(statement, "Id", statement_id)
    sub(statement, "CreDtTm", created_at)
    period = sub(statement, "FrToDt")
    sub(period, "FrDtTm", f"{from_date}T00:00:00Z")
    sub(period, "ToDtTm", f"{to_date}T23:59:59Z")
    account = sub(statement, "Acct")
    sub(sub(sub(account, "Id"), "Othr"), "Id", account_id_text)
    sub(account, "Ccy", currency)
    _balance(statement, OPENING_BOOKED, opening_balance, money, from_date)
    _balance(statement, CLOSING_BOOKED, closing_balance, money, to_date)
    slots: list[str] = []
    entries_slot(statement, slots, "".join(entry_markup(e, money) for e in entries))
    return with_entries(root, slots)


def _balance(parent: etree._Element, code: str, minor: int, money: Currency, day: str) -> None:
    balance = sub(parent, "Bal")
    sub(sub(sub(balance, "Tp"), "CdOrPrtry"), "Cd", code)
    _amount(balance, abs(minor), money)
    sub(balance, "CdtDbtInd", DEBIT if minor < 0 else CREDIT)
    sub(sub(balance, "Dt"), "Dt", day)


def entry_markup(entry: StatementEntry, money: Currency) -> str:
    """One booked Ntry for ``entry``, as markup in the default namespace of the Stmt or
    camt.054 Ntfctn that ``with_entries`` puts it in."""
    if type(entry.amount) is not int or entry.amount <= 0:
        raise ValueError(f"an entry amount must be a positive int, got {entry.amount!r}")
    is_uetr = _UETR.fullmatch(entry.reference) is not None
    require_text("reference", entry.reference, 36 if is_uetr else 35)
    is_bic = _BIC.fullmatch(entry.counterparty) is not None
    if not is_bic:
        require_text("counterparty", entry.counterparty, 140)
    if not amount_fits(entry.amount):
        raise ValueError(f"{entry.amount} minor units has more than {AMOUNT_DIGITS_MAX} digits")
    for label, text in (
        ("booked_at", entry.booked_at),
        ("transaction_code", entry.transaction_code),
        ("reference", entry.reference),
        ("counterparty", entry.counterparty),
    ):
        if not isinstance(text, str) or _NOT_XML.search(text):
            raise ValueError(f"{label} holds a character XML cannot carry: {text!r}")
    # Entries are most of a statement: filling a prepared text is about ten times faster
    # than building (or copying) the 21 elements of each.
    return _entry_format(entry.credit, is_uetr, is_bic).format(
        amount=format_amount(entry.amount, money),
        currency=escape(money.code, {'"': "&quot;"}),
        booked_at=escape(entry.booked_at),
        code=escape(entry.transaction_code),
        reference=escape(entry.reference),
        counterparty=escape(entry.counterparty),
    )


def entries_slot(parent: etree._Element, slots: list[str], markup: str) -> None:
    """Mark the end of ``parent`` as the place of ``markup`` (entries) in ``slots``."""
    parent.append(etree.ProcessingInstruction(_SLOT, str(len(slots))))
    slots.append(markup)


def with_entries(root: etree._Element, slots: Sequence[str]) -> bytes:
    """``root`` as UTF-8 bytes with each slot's entries in its place."""
    text = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    parts = _SLOT_MARK.split(text)
    # split() alternates text and slot numbers: text, n, text, n, ..., text
    return b"".join(
        part if index % 2 == 0 else slots[int(part)].encode("utf-8")
        for index, part in enumerate(parts)
    )


_SLOT = "samarkand-entries"
_SLOT_MARK = re.compile(rb"<\?" + _SLOT.encode() + rb" ([0-9]+)\?>")
# Characters XML 1.0 cannot carry (lxml refuses them in element text).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@functools.cache
def _entry_format(credit: bool, is_uetr: bool, is_bic: bool) -> str:
    """The markup of an Ntry with ``str.format`` fields where its values go."""
    node = _entry_template(_NS, credit, is_uetr, is_bic)
    parts = list(node.iter())
    for index in _AMOUNTS:
        parts[index].text = "{amount}"
        parts[index].set("Ccy", "{currency}")
    parts[_BOOKED_AT].text = "{booked_at}"
    parts[_CODE].text = "{code}"
    parts[_REFERENCE].text = "{reference}"
    parts[_COUNTERPARTY].text = "{counterparty}"
    text = etree.tostring(node, encoding="unicode")
    return re.sub(r' xmlns="[^"]*"', "", text, count=1)


# Positions in document order of an entry's elements whose text varies.
_AMOUNTS = (1, 15)
_BOOKED_AT = 6
_CODE = 9
_REFERENCE = 14
_COUNTERPARTY = 20


@functools.cache
def _entry_template(ns: str, credit: bool, is_uetr: bool, is_bic: bool) -> etree._Element:
    """An Ntry with every fixed text set; the varying ones are filled by ``add_entry``."""
    node = etree.Element(ns + "Ntry", nsmap={None: ns[1:-1]})
    indicator = CREDIT if credit else DEBIT
    sub(node, "Amt")
    sub(node, "CdtDbtInd", indicator)
    sub(sub(node, "Sts"), "Cd", BOOKED)
    sub(sub(node, "BookgDt"), "DtTm")
    code = sub(sub(node, "BkTxCd"), "Prtry")
    sub(code, "Cd")
    sub(code, "Issr", CODE_ISSUER)
    details = sub(sub(node, "NtryDtls"), "TxDtls")
    sub(sub(details, "Refs"), "UETR" if is_uetr else "AcctSvcrRef")
    sub(details, "Amt")
    sub(details, "CdtDbtInd", indicator)
    agent = sub(sub(details, "RltdAgts"), "DbtrAgt" if credit else "CdtrAgt")
    sub(sub(agent, "FinInstnId"), "BICFI" if is_bic else "Nm")
    return node


def _amount(parent: etree._Element, minor: int, money: Currency) -> None:
    if not amount_fits(minor):
        raise ValueError(f"{minor} minor units has more than {AMOUNT_DIGITS_MAX} digits")
    sub(parent, "Amt", format_amount(minor, money)).set("Ccy", money.code)


def require_text(label: str, text: str, length_max: int) -> None:
    if not isinstance(text, str) or not 1 <= len(text) <= length_max:
        raise ValueError(f"{label} must be 1 to {length_max} characters, got {text!r}")


def sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    # In the parent's namespace: camt.054 builds its entries with these same helpers.
    tag = parent.tag
    element = etree.SubElement(parent, tag[: tag.index("}") + 1] + name)
    if text is not None:
        element.text = text
    return element
