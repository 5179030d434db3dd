"""The camt.054 (bank to customer debit/credit notification) the hub sends a participant.

One message per participant, one notification (Ntfctn) per settlement account touched, one
booked entry per posting: the same entries as the camt.053 statement (``camt053.entries_markup``:
UETR in Refs, the counterparty's BIC in RltdAgts, proprietary bank transaction code), sent
as they happen instead of at the end of the day. Pure: the caller passes ids and times.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from samarkand.money.currency import Currency

from . import schemas
from .camt053 import EntryColumns, StatementEntry, add_entries_markup, require_text
from .markup import XML_DECLARATION, checked_text, escape_text

MESSAGE_ID = schemas.CAMT_054


@dataclass(frozen=True, slots=True)
class AccountEntries:
    """The postings on one settlement account to notify: entries, or their columns (how
    the hub collects a bulk message's postings)."""

    account_id_text: str
    currency: str
    exponent: int
    entries: Sequence[StatementEntry] | EntryColumns


def build_notification(
    accounts: Sequence[AccountEntries],
    *,
    msg_id: str,
    created_at: str,
    xml_declaration: bool = True,
) -> bytes:
    """Return the UTF-8 camt.054.001.08 with one Ntfctn per account (``msg_id``-n ids);
    without its XML declaration if ``xml_declaration`` is false (for an envelope, which has
    its own: a large document is then not copied to drop it).

    Written as text around ``entries_markup`` (the bytes lxml would write for the same
    elements): a bulk message notifies every participant it touches, and building a tree
    for each notification's few fixed elements would cost more than its entries."""
    if not accounts or any(not account.entries for account in accounts):
        raise ValueError("a notification needs at least one account, each with an entry")
    require_text("msg_id", msg_id, 35)
    created = checked_text("created_at", created_at)
    parts = [
        _HEAD if xml_declaration else _HEAD.removeprefix(XML_DECLARATION),
        f"<GrpHdr><MsgId>{checked_text('msg_id', msg_id)}</MsgId>",
        f"<CreDtTm>{created}</CreDtTm></GrpHdr>",
    ]
    for number, account in enumerate(accounts, start=1):
        money = _money(account.currency, account.exponent)
        require_text("account id", account.account_id_text, 34)
        account_id = checked_text("account id", account.account_id_text)
        parts += (
            f"<Ntfctn><Id>{escape_text(msg_id[:30])}-{number}</Id><CreDtTm>{created}</CreDtTm>",
            f"<Acct><Id><Othr><Id>{account_id}</Id></Othr></Id><Ccy>{money.code}</Ccy></Acct>",
        )
        entries = account.entries
        columns = entries if isinstance(entries, EntryColumns) else EntryColumns.of(entries)
        add_entries_markup(parts, columns, money)
        parts.append("</Ntfctn>")
    parts.append("</BkToCstmrDbtCdtNtfctn></Document>")
    return "".join(parts).encode("utf-8")


@functools.lru_cache(maxsize=64, typed=True)  # typed: an exponent True is refused
def _money(code: str, exponent: int) -> Currency:
    """The currency of an account's amounts (checked: three letters, exponent 0 to 4)."""
    return Currency(code, 1, exponent, exponent, code, True)


_HEAD = (
    f'{XML_DECLARATION}<Document xmlns="{schemas.namespace(MESSAGE_ID)}"><BkToCstmrDbtCdtNtfctn>'
)
