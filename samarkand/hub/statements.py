"""camt.053 statements of settlement accounts, read from a durable hub's ledger.

One function serves `samarkand statement` and the service's statement route: the postings
(pending and void transfers move no balance) of one settlement account on one business day
(the span the calendar gave it, or a UTC day), the opening balance from everything before,
and a closing balance checked against the ledger. It is made in two steps: the rows are
taken from the hub as columns (`select_statement`, on the service's hub thread), then
written out (`render_statement`, on another thread), so a statement of many postings holds
up no payment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from samarkand.hub.durable import DurableHub
from samarkand.hub.messages import HUB_BIC, message_bic
from samarkand.iso20022.camt053 import StatementEntry, amount_fits, build_statement
from samarkand.iso20022.envelope import app_header, wrap
from samarkand.iso20022.schemas import CAMT_053
from samarkand.ledger.state import PENDING, VOID
from samarkand.ledger.types import INT64_MAX, AccountCode, TransferCode
from samarkand.money import default_registry
from samarkand.settlement.participants import account_parts
from samarkand.settlement.payments import uetr_text

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


@dataclass(frozen=True, slots=True)
class StatementRows:
    """What a statement is made of, taken from the hub at one moment (`select_statement`):
    plain values, so the camt.053 can be written (`render_statement`) on another thread
    than the hub's, which goes on meanwhile."""

    account_id: int
    owner: str  # the account owner's BIC (the AppHdr's To)
    currency: str
    exponent: int
    day: datetime
    opening: int
    closing: int
    amounts: list[int]  # the day's postings, as columns
    credits: list[bool]
    times_ns: list[int]
    transfer_ids: list[int]
    codes: list[int]
    user_data: list[int]
    counterparties: list[str]  # the BIC of the other account's owner, or a name
    latest_ns: int  # the hub's time when taken: the statement's creation time


def settlement_statement(durable: DurableHub, account_id: int, day: datetime) -> tuple[bytes, int]:
    """The camt.053.001.08 of `account_id` for the business day of `day`'s date (see
    `select_statement`), in a BizMsg envelope with a head.001 AppHdr from the hub to the
    account's owner, and its number of entries."""
    return render_statement(select_statement(durable, account_id, day))


def select_statement(durable: DurableHub, account_id: int, day: datetime) -> StatementRows:
    """The rows of the statement of `account_id` for the business day of `day`'s date,
    checked against the ledger's balance: column work over the journal, quick enough for
    the hub's thread; `StatementRefused` when there is no such statement. A day the
    business calendar opened and dated spans from its opening to the next day's; any other
    is the UTC day starting at `day`."""
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
    span = durable.hub.engine.day_span(f"{day:%Y-%m-%d}")
    if span is None:
        start_ns = int(day.timestamp()) * 10**9
        end_ns = start_ns + NS_PER_DAY
    else:
        start_ns, end_ns = span[0], INT64_MAX if span[1] is None else span[1]
    journal = state.journal.columns()
    posting = (journal.flags.astype(np.int64) & (PENDING | VOID)) == 0
    debit = np.asarray(journal.debit_account_id == account_id, dtype=bool)
    credit = np.asarray(journal.credit_account_id == account_id, dtype=bool)
    rows = np.flatnonzero(posting & (debit | credit))
    times = journal.timestamp[rows]
    before, during = rows[times < start_ns], rows[(times >= start_ns) & (times < end_ns)]
    later = int(np.count_nonzero(times >= end_ns))
    credited = credit[before]
    opening = _total(journal.amount[before[credited]]) - _total(journal.amount[before[~credited]])
    amounts = journal.amount[during].tolist()
    credits = credit[during].tolist()
    others = np.where(
        credit[during], journal.debit_account_id[during], journal.credit_account_id[during]
    ).tolist()
    closing = opening + sum(a if c else -a for a, c in zip(amounts, credits, strict=True))
    if later == 0 and closing != state.balance(account_id).net_credit:
        raise StatementInconsistent(
            f"closing balance {closing} != the ledger's balance "
            f"{state.balance(account_id).net_credit} of account {account_id}"
        )
    for value in [opening, closing, *amounts]:
        if not amount_fits(value):
            raise StatementRefused("account", f"amount {value} is beyond the 18 digits of camt.053")
    owners = {other: account_owner(durable, int(other)) for other in set(others)}
    return StatementRows(
        account_id=account_id,
        owner=account_owner(durable, account_id),
        currency=currency.code,
        exponent=currency.exponent,
        day=day,
        opening=opening,
        closing=closing,
        amounts=amounts,
        credits=credits,
        times_ns=journal.timestamp[during].tolist(),
        transfer_ids=journal.id[during].tolist(),
        codes=journal.code[during].tolist(),
        user_data=journal.user_data[during].tolist(),
        counterparties=[owners[other] for other in others],
        latest_ns=max(durable.hub.clock, state.timestamp),
    )


def render_statement(rows: StatementRows) -> tuple[bytes, int]:
    """The camt.053 of `rows` in its envelope, and its number of entries (no hub needed)."""
    code_names = {int(c): c.name for c in TransferCode}
    # The codes whose transfers carry their payment's UETR (a cross-currency payment's legs
    # too); a liquidity transfer's or a net settlement's user data is no UETR.
    of_payments = {int(TransferCode.PAYMENT), int(TransferCode.FX), int(TransferCode.RETURN)}
    booked_at: dict[int, str] = {}
    entries = []
    for amount, is_credit, at_ns, transfer_id, code, user_data, counterparty in zip(
        rows.amounts, rows.credits, rows.times_ns, rows.transfer_ids, rows.codes,
        rows.user_data, rows.counterparties, strict=True,
    ):  # fmt: skip
        second = at_ns // 10**9
        booked = booked_at.get(second)
        if booked is None:
            booked = booked_at[second] = datetime.fromtimestamp(second, UTC).strftime(
                "%Y-%m-%dT%H:%M:%S"
            )
        entries.append(
            StatementEntry(
                amount=amount,
                credit=is_credit,
                booked_at=f"{booked}.{at_ns % 10**9:09d}Z",
                reference=_reference(transfer_id, user_data if code in of_payments else 0),
                counterparty=counterparty,
                transaction_code=code_names.get(code, str(code)),
            )
        )
    day, account_id = rows.day, rows.account_id
    created = datetime.fromtimestamp(rows.latest_ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hashlib.sha256(f"{account_id}:{day:%Y-%m-%d}:{rows.latest_ns}".encode()).hexdigest()
    msg_id = "SMKSTMT" + digest[:20].upper()
    document = build_statement(
        account_id_text=str(account_id),
        currency=rows.currency,
        exponent=rows.exponent,
        opening_balance=rows.opening,
        entries=entries,
        closing_balance=rows.closing,
        msg_id=msg_id,
        created_at=created,
        statement_id=f"{day:%Y%m%d}-{account_id:x}",
        from_date=f"{day:%Y-%m-%d}",
        to_date=f"{day:%Y-%m-%d}",
    )
    header = app_header(
        from_bic=HUB_BIC,
        to_bic=message_bic(rows.owner),
        business_message_id=msg_id,
        message_id=CAMT_053,
        created=created,
    )
    return wrap(header, document), len(entries)


def _reference(transfer_id: int, uetr: int) -> str:
    """A payment's UETR when it carries a valid one (a version 4 UUID); else the hub's
    transfer id, in hex when the decimal would not fit the 35 characters of Max35Text."""
    if uetr and (uetr >> 76) & 0xF == 4 and (uetr >> 62) & 0x3 == 2:
        return uetr_text(uetr)
    reference = f"transfer {transfer_id}"
    return reference if len(reference) <= 35 else f"{transfer_id:#x}"


def _total(amounts: np.ndarray) -> int:
    """The sum of a column of amounts, exactly (as Python integers: no uint64 overflow)."""
    return int(sum(amounts.tolist()))
