"""camt.053 statements of settlement accounts, read from a durable hub's ledger.

One function serves `samarkand statement` and the service's statement route: the postings
(pending and void transfers move no balance) of one settlement account on one UTC day, the
opening balance from everything before, and a closing balance checked against the ledger.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import numpy as np

from samarkand.hub.durable import DurableHub
from samarkand.hub.messages import HUB_BIC, message_bic
from samarkand.iso20022.camt053 import StatementEntry, amount_fits, build_statement
from samarkand.iso20022.envelope import app_header, wrap
from samarkand.iso20022.schemas import CAMT_053
from samarkand.ledger.state import PENDING, VOID
from samarkand.ledger.types import AccountCode, TransferCode
from samarkand.money import default_registry
from samarkand.settlement.participants import account_parts

NS_PER_DAY = 86_400 * 10**9


class StatementRefused(ValueError):
    """No statement for this request; `field` names the argument at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class StatementInconsistent(RuntimeError):
    """The entries do not add up to the ledger's balance (a bug: nothing is written)."""


def account_owner(durable: DurableHub, account_number: int) -> str:
    """The BIC of the participant whose number an account id carries."""
    _, number, _ = account_parts(account_number)
    participant = durable.hub.directory.by_number.get(number)
    return participant.bic if participant else f"account {account_number}"


def settlement_statement(durable: DurableHub, account_id: int, day: datetime) -> tuple[bytes, int]:
    """The camt.053.001.08 of `account_id` for the UTC day starting at `day`, in a BizMsg
    envelope with a head.001 AppHdr from the hub to the account's owner, and its number of
    entries."""
    state = durable.durable_ledger.state
    currency_of = {ledger: code for code, ledger in durable.hub.directory.ledgers.items()}
    found = state.account(account_id) if account_id >= 0 else None
    if found is None:
        raise StatementRefused("account", f"no account {account_id}")
    if found.code != AccountCode.SETTLEMENT or found.ledger not in currency_of:
        raise StatementRefused(
            "account", f"{account_id} is not a settlement account (code {found.code})"
        )
    currency = default_registry().get(currency_of[found.ledger])
    start_ns = int(day.timestamp()) * 10**9
    end_ns = start_ns + NS_PER_DAY
    journal = state.journal.columns()
    code_names = {int(c): c.name for c in TransferCode}
    posting = (journal.flags.astype(np.int64) & (PENDING | VOID)) == 0
    debit = np.asarray(journal.debit_account_id == account_id, dtype=bool)
    credit = np.asarray(journal.credit_account_id == account_id, dtype=bool)
    rows = np.flatnonzero(posting & (debit | credit)).tolist()
    opening = 0
    later = 0
    entries = []
    for row in rows:
        at_ns = int(journal.timestamp[row])
        amount = int(journal.amount[row])
        is_credit = bool(credit[row])
        if at_ns < start_ns:
            opening += amount if is_credit else -amount
            continue
        if at_ns >= end_ns:
            later += 1
            continue
        transfer_id = int(journal.id[row])
        code = int(journal.code[row])
        user_data = int(journal.user_data[row])
        # A UETR when the payment carries a valid one; else the hub's transfer id, in
        # hex when the decimal would not fit the 35 characters of Max35Text.
        reference = f"transfer {transfer_id}"
        if len(reference) > 35:
            reference = f"{transfer_id:#x}"
        if code == TransferCode.PAYMENT and user_data:
            uetr = str(uuid.UUID(int=user_data))
            if uuid.UUID(uetr).version == 4 and uetr[19] in "89ab":
                reference = uetr
        other = int(journal.debit_account_id[row] if is_credit else journal.credit_account_id[row])
        booked = datetime.fromtimestamp(at_ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        entries.append(
            StatementEntry(
                amount=amount,
                credit=is_credit,
                booked_at=f"{booked}.{at_ns % 10**9:09d}Z",
                reference=reference,
                counterparty=account_owner(durable, other),
                transaction_code=code_names.get(code, str(code)),
            )
        )
    closing = opening + sum(e.amount if e.credit else -e.amount for e in entries)
    if later == 0 and closing != state.balance(account_id).net_credit:
        raise StatementInconsistent(
            f"closing balance {closing} != the ledger's balance "
            f"{state.balance(account_id).net_credit} of account {account_id}"
        )
    for value in [opening, closing, *(e.amount for e in entries)]:
        if not amount_fits(value):
            raise StatementRefused("account", f"amount {value} is beyond the 18 digits of camt.053")
    latest_ns = max(durable.hub.clock, state.timestamp)
    created = datetime.fromtimestamp(latest_ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hashlib.sha256(f"{account_id}:{day:%Y-%m-%d}:{latest_ns}".encode()).hexdigest()
    msg_id = "SMKSTMT" + digest[:20].upper()
    document = build_statement(
        account_id_text=str(account_id),
        currency=currency.code,
        exponent=currency.exponent,
        opening_balance=opening,
        entries=entries,
        closing_balance=closing,
        msg_id=msg_id,
        created_at=created,
        statement_id=f"{day:%Y%m%d}-{account_id:x}",
        from_date=f"{day:%Y-%m-%d}",
        to_date=f"{day:%Y-%m-%d}",
    )
    header = app_header(
        from_bic=HUB_BIC,
        to_bic=message_bic(account_owner(durable, account_id)),
        business_message_id=msg_id,
        message_id=CAMT_053,
        created=created,
    )
    return wrap(header, document), len(entries)
