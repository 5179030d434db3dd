"""The camt.054 (bank to customer debit/credit notification) the hub sends a participant.

One message per participant, one notification (Ntfctn) per settlement account touched, one
booked entry per posting: the same entries as the camt.053 statement (``camt053.entry_markup``:
UETR in Refs, the counterparty's BIC in RltdAgts, proprietary bank transaction code), sent
as they happen instead of at the end of the day. Pure: the caller passes ids and times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from samarkand.money.currency import Currency

from . import schemas
from .camt053 import StatementEntry, entries_slot, entry_markup, require_text, sub, with_entries

MESSAGE_ID = schemas.CAMT_054
_NS = "{" + schemas.namespace(MESSAGE_ID) + "}"


@dataclass(frozen=True, slots=True)
class AccountEntries:
    """The postings on one settlement account to notify."""

    account_id_text: str
    currency: str
    exponent: int
    entries: Sequence[StatementEntry]


def build_notification(
    accounts: Sequence[AccountEntries], *, msg_id: str, created_at: str
) -> bytes:
    """Return the UTF-8 camt.054.001.08 with one Ntfctn per account (``msg_id``-n ids)."""
    if not accounts or any(not account.entries for account in accounts):
        raise ValueError("a notification needs at least one account, each with an entry")
    require_text("msg_id", msg_id, 35)
    root = etree.Element(_NS + "Document", nsmap={None: schemas.namespace(MESSAGE_ID)})
    message = sub(root, "BkToCstmrDbtCdtNtfctn")
    header = sub(message, "GrpHdr")
    sub(header, "MsgId", msg_id)
    sub(header, "CreDtTm", created_at)
    slots: list[str] = []
    for number, account in enumerate(accounts, start=1):
        money = Currency(
            account.currency, 1, account.exponent, account.exponent, account.currency, True
        )
        require_text("account id", account.account_id_text, 34)
        notification = sub(message, "Ntfctn")
        sub(notification, "Id", f"{msg_id[:30]}-{number}")
        sub(notification, "CreDtTm", created_at)
        node = sub(notification, "Acct")
        sub(sub(sub(node, "Id"), "Othr"), "Id", account.account_id_text)
        sub(node, "Ccy", account.currency)
        entries_slot(notification, slots, "".join(entry_markup(e, money) for e in account.entries))
    return with_entries(root, slots)
