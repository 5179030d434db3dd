"""camt.053 statements of settlement accounts, read from a durable hub's ledger.

One function serves `samarkand statement` and the service's statement route: the postings
(pending and void transfers move no balance) of one settlement account on one business day,
the opening balance from everything before, and a closing balance checked against the
ledger. It is made in two steps: the rows are taken from the hub as columns
(`select_statement`, on the service's hub thread), then written out (`render_statement`, on
another thread), so a statement of many postings holds up no payment.

A date's statement spans what the hub recorded of its business days (`DayStart`: where
each day opened, and the date its calendar gave it), by `calendar.statement_window`: the
spans of consecutive dates meet, so each statement opens with the balance the one before
closed with, whether the days were opened by hand or by the calendar. A posting belongs to
the day it was made in (its journal row), at its ledger time.

A posting of a set settled at once (offsetting, a DNS window: code NET_SETTLEMENT) moves the
account by the set's net; its statement entry is a batch entry with one detail per payment
behind it, as the engine recorded them when it settled the set (`NetDetails`): the bank
matches each payment by its UETR, and the entry still carries the net. A set whose payments
cancel out on the account posted nothing there: it is a batch entry of zero.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from samarkand.hub.calendar import NEVER, statement_window
from samarkand.hub.durable import DurableHub
from samarkand.hub.messages import HUB_BIC, message_bic
from samarkand.hub.statement_details import (
    DayPostings,
    StatementBatch,
    StatementInconsistent,
    batches_of,
    day_times,
)
from samarkand.iso20022.camt053 import BatchEntry, EntryColumns, amount_fits, build_statement
from samarkand.iso20022.envelope import app_header, wrap
from samarkand.iso20022.schemas import CAMT_053
from samarkand.ledger.state import PENDING, VOID
from samarkand.ledger.types import AccountCode, TransferCode
from samarkand.money import default_registry
from samarkand.settlement.participants import account_parts
from samarkand.settlement.payments import uetr_text


class StatementRefusal(enum.Enum):
    """Why there is no statement. The service's one table (`service.errors.STATEMENT_STATUS`)
    gives each its HTTP status; the CLI names the refusal's field as its option."""

    DATE_INVALID = "date_invalid"  # outside the dates the hub's clock (ns, 64 bits) holds
    DAY_NOT_BEGUN = "day_not_begun"  # no business day of the hub has reached that date yet
    CURRENCY_UNKNOWN = "currency_unknown"  # not a currency the hub settles
    ACCOUNT_UNKNOWN = "account_unknown"  # no such account (none of the participant's there)
    NOT_SETTLEMENT_ACCOUNT = "not_settlement_account"  # an account, but no settlement one
    NOT_OWNER = "not_owner"  # another participant's account
    AMOUNT_BEYOND_CAMT053 = "amount_beyond_camt053"  # a balance or posting over 18 digits


class StatementRefused(ValueError):
    """No statement for this request: why (`refusal`), and the argument at fault (`field`,
    as the caller named it: `account`, `currency`, `date`)."""

    def __init__(self, refusal: StatementRefusal, field: str, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.field = field


# The dates a statement may be asked for: those whose span lies within the hub's clock,
# nanoseconds since 1970 in 64 bits (up to 2262-04-11T23:47:16Z). Beyond them a span would
# be cut to the clock's ends, and a year before 1000 is no ISODate as `render_statement`
# writes it.
DATE_FIRST = date(1970, 1, 1)
DATE_LAST = date(2262, 4, 10)


def _check_date(day: datetime) -> None:
    if not DATE_FIRST <= day.date() <= DATE_LAST:
        raise StatementRefused(
            StatementRefusal.DATE_INVALID,
            "date",
            f"the date must be in {DATE_FIRST.isoformat()}..{DATE_LAST.isoformat()}",
        )


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
    start_ns: int = 0  # the day's span [start_ns, end_ns) (`calendar.statement_window`)
    end_ns: int = NEVER
    batches: tuple[StatementBatch, ...] = ()  # the payments behind net postings


def settlement_statement(durable: DurableHub, account_id: int, day: datetime) -> tuple[bytes, int]:
    """The camt.053.001.08 of `account_id` for the business day of `day`'s date (see
    `select_statement`), in a BizMsg envelope with a head.001 AppHdr from the hub to the
    account's owner, and its number of entries."""
    return render_statement(select_statement(durable, account_id, day))


def participant_statement(
    durable: DurableHub, bic: str, currency: str, day: datetime
) -> StatementRows:
    """The rows of the statement of participant `bic`'s own settlement account in
    `currency` (`select_statement`), as the service's route asks for it: by currency, so a
    currency the hub does not settle, or one the participant holds no account in, is
    refused naming `currency`."""
    _check_date(day)
    directory = durable.hub.directory
    if currency not in directory.central_bank_of:
        raise StatementRefused(
            StatementRefusal.CURRENCY_UNKNOWN, "currency", f"the hub does not settle {currency}"
        )
    participant = directory.get(bic)
    account_id = (
        None if participant is None else directory.settlement_account(participant, currency)
    )
    if account_id is None or durable.durable_ledger.state.account(account_id) is None:
        raise StatementRefused(
            StatementRefusal.ACCOUNT_UNKNOWN,
            "currency",
            f"no settlement account of {bic} in {currency}",
        )
    return select_statement(durable, account_id, day, owner=bic)


def select_statement(
    durable: DurableHub, account_id: int, day: datetime, *, owner: str | None = None
) -> StatementRows:
    """The rows of the statement of `account_id` for the business day of `day`'s date,
    checked against the ledger's balance: column work over the journal, quick enough for
    the hub's thread; `StatementRefused` when there is no such statement (`owner`, when
    given: the BIC that asks, refused another's account). The day's span is the one
    `calendar.statement_window` gives the recorded business days, for a date whose span
    lies within the hub's clock (`DATE_FIRST`..`DATE_LAST`)."""
    _check_date(day)
    state = durable.durable_ledger.state
    engine = durable.hub.engine
    currency_of = {ledger: code for code, ledger in durable.hub.directory.ledgers.items()}
    found = state.account(account_id) if account_id >= 0 else None
    if found is None:
        raise StatementRefused(
            StatementRefusal.ACCOUNT_UNKNOWN, "account", f"no account {account_id}"
        )
    if found.code != AccountCode.SETTLEMENT or found.ledger not in currency_of:
        raise StatementRefused(
            StatementRefusal.NOT_SETTLEMENT_ACCOUNT,
            "account",
            f"{account_id} is not a settlement account (code {found.code})",
        )
    if owner is not None and account_owner(durable, account_id) != owner:
        raise StatementRefused(
            StatementRefusal.NOT_OWNER, "account", f"account {account_id} is not {owner}'s"
        )
    currency = default_registry().get(currency_of[found.ledger])
    days = engine.day_starts
    start_ns, end_ns = statement_window([(d.at_ns, d.date) for d in days], day.date().isoformat())
    if start_ns == NEVER:
        raise StatementRefused(
            StatementRefusal.DAY_NOT_BEGUN,
            "date",
            f"no business day has reached {day:%Y-%m-%d} yet",
        )
    journal = state.journal.columns()
    posting = (journal.flags.astype(np.int64) & (PENDING | VOID)) == 0
    debit = np.asarray(journal.debit_account_id == account_id, dtype=bool)
    credit = np.asarray(journal.credit_account_id == account_id, dtype=bool)
    rows = np.flatnonzero(posting & (debit | credit))
    times = day_times(journal.timestamp[rows], rows, [(d.at_ns, d.transfers) for d in days])
    during_mask = (times >= start_ns) & (times < end_ns)
    before, during = rows[times < start_ns], rows[during_mask]
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
            raise _beyond_camt053(value)
    codes = journal.code[during].tolist()
    transfer_ids = journal.id[during].tolist()
    user_data = journal.user_data[during].tolist()
    booked_ns = journal.timestamp[during].tolist()
    postings = DayPostings(
        transfer_ids, codes, user_data, amounts, credits, booked_ns, times[during_mask].tolist()
    )
    batches = batches_of(
        engine.net_details.columns(),
        account_id,
        (start_ns, end_ns),
        [(d.at_ns, d.net_details) for d in days],
        postings,
        lambda account: account_owner(durable, account),
    )
    for batch in batches:
        if not amount_fits(max(batch.amounts)):
            raise _beyond_camt053(max(batch.amounts))
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
        times_ns=booked_ns,
        transfer_ids=transfer_ids,
        codes=codes,
        user_data=user_data,
        counterparties=[owners[other] for other in others],
        latest_ns=max(durable.hub.clock, state.timestamp),
        start_ns=start_ns,
        end_ns=end_ns,
        batches=batches,
    )


def _beyond_camt053(minor: int) -> StatementRefused:
    return StatementRefused(
        StatementRefusal.AMOUNT_BEYOND_CAMT053,
        "account",
        f"amount {minor} is beyond the 18 digits of camt.053",
    )


def render_statement(rows: StatementRows) -> tuple[bytes, int]:
    """The camt.053 of `rows` in its envelope, and its number of entries (no hub needed)."""
    code_names = {int(c): c.name for c in TransferCode}
    # The codes whose transfers carry their payment's UETR (a cross-currency payment's legs
    # too); a liquidity transfer's or a net settlement's user data is no UETR.
    of_payments = {int(TransferCode.PAYMENT), int(TransferCode.FX), int(TransferCode.RETURN)}
    booked_at: dict[int, str] = {}

    def booked(at_ns: int) -> str:
        second = at_ns // 10**9
        text = booked_at.get(second)
        if text is None:
            text = booked_at[second] = datetime.fromtimestamp(second, UTC).strftime(
                "%Y-%m-%dT%H:%M:%S"
            )
        return f"{text}.{at_ns % 10**9:09d}Z"

    detailed = {batch.posting: batch for batch in rows.batches if batch.posting is not None}
    # The batches of sets that posted nothing, each before the posting of its `position`.
    unposted = iter([batch for batch in rows.batches if batch.posting is None])
    waiting = next(unposted, None)
    singles = EntryColumns([], [], [], [], [], [])
    batches: list[BatchEntry] = []
    for index, (amount, is_credit, at_ns, transfer_id, code, user_data, counterparty) in enumerate(
        zip(
            rows.amounts, rows.credits, rows.times_ns, rows.transfer_ids, rows.codes,
            rows.user_data, rows.counterparties, strict=True,
        )
    ):  # fmt: skip
        while waiting is not None and waiting.position <= index:
            batches.append(_batch_entry(waiting, len(singles), booked, code_names))
            waiting = next(unposted, None)
        batch = detailed.get(index)
        if batch is not None:
            batches.append(_batch_entry(batch, len(singles), booked, code_names))
            continue
        singles.append(
            amount,
            is_credit,
            booked(at_ns),
            _reference(transfer_id, user_data if code in of_payments else 0),
            counterparty,
            code_names.get(code, str(code)),
        )
    while waiting is not None:
        batches.append(_batch_entry(waiting, len(singles), booked, code_names))
        waiting = next(unposted, None)
    day, account_id = rows.day, rows.account_id
    created = datetime.fromtimestamp(rows.latest_ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hashlib.sha256(f"{account_id}:{day:%Y-%m-%d}:{rows.latest_ns}".encode()).hexdigest()
    msg_id = "SMKSTMT" + digest[:20].upper()
    # The period: the day's span, its last nanosecond included; a day still open ends
    # (for now) when the statement is made.
    last_ns = rows.end_ns - 1 if rows.end_ns != NEVER else rows.latest_ns
    document = build_statement(
        account_id_text=str(account_id),
        currency=rows.currency,
        exponent=rows.exponent,
        opening_balance=rows.opening,
        entries=singles,
        closing_balance=rows.closing,
        msg_id=msg_id,
        created_at=created,
        statement_id=f"{day:%Y%m%d}-{account_id:x}",
        from_date=f"{day:%Y-%m-%d}",
        to_date=f"{day:%Y-%m-%d}",
        batches=batches,
        from_time=booked(rows.start_ns),
        to_time=booked(max(rows.start_ns, last_ns)),
    )
    header = app_header(
        from_bic=HUB_BIC,
        to_bic=message_bic(rows.owner),
        business_message_id=msg_id,
        message_id=CAMT_053,
        created=created,
    )
    return wrap(header, document), len(singles) + len(batches)


def _batch_entry(
    batch: StatementBatch, position: int, booked: Callable[[int], str], code_names: dict[int, str]
) -> BatchEntry:
    """The camt.053 batch entry of `batch`, after `position` single entries."""
    return BatchEntry(
        position=position,
        amount=abs(batch.net),
        credit=batch.net >= 0,
        booked_at=booked(batch.at_ns),
        reference=f"net settlement {batch.reference}",
        transaction_code=code_names[int(TransferCode.NET_SETTLEMENT)],
        amounts=batch.amounts,
        credits=batch.credits,
        references=tuple(_reference(0, uetr, payment=True) for uetr in batch.uetrs),
        counterparties=batch.counterparties,
    )


def _reference(transfer_id: int, uetr: int, *, payment: bool = False) -> str:
    """A payment's UETR when it carries a valid one (a version 4 UUID); else the hub's
    transfer id (or, for a `payment` known by its UETR only, that number), in hex when the
    decimal would not fit the 35 characters of Max35Text."""
    if uetr and (uetr >> 76) & 0xF == 4 and (uetr >> 62) & 0x3 == 2:
        return uetr_text(uetr)
    number, kind = (uetr, "payment") if payment else (transfer_id, "transfer")
    reference = f"{kind} {number}"
    return reference if len(reference) <= 35 else f"{number:#x}"


def _total(amounts: np.ndarray) -> int:
    """The sum of a column of amounts, exactly (as Python integers: no uint64 overflow)."""
    return int(sum(amounts.tolist()))
