"""The camt.054s that tell participants of settlements, made from plain columns.

A message's settlements are gathered on the hub's thread into a `Settlements` (the
postings as columns of numbers and texts, with the owner of each account notified and the
currency of each ledger): no object of the hub is in it, so it can be made into camt.054s
later, on another thread or in another process, with the same bytes (`render`). The
service hands a bulk message's `Settlements` to a process of its own
(`samarkand.service.render`): making a thousand payments' camt.054s is the largest part of
a bulk message's work that needs nothing of the hub.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from samarkand.iso20022 import schemas
from samarkand.iso20022.camt053 import EntryColumns
from samarkand.iso20022.camt054 import AccountEntries, build_notification
from samarkand.iso20022.envelope import AppHeader, app_header, wrap
from samarkand.iso20022.markup import uuid_texts
from samarkand.money import default_registry
from samarkand.money.columns import interleaved
from samarkand.settlement.participants import account_parts


@dataclass(frozen=True, slots=True)
class Response:
    name: str  # a file name: <MsgId>.<message>[.<receiver>].xml
    receiver: str  # the BIC it is for
    data: bytes  # a BizMsg envelope: AppHdr + Document


@dataclass(frozen=True, slots=True)
class Envelope:
    """What every response of one message shares: ids derived from the message's digest
    (``base``), its creation time, the AppHdr it answers (None: none), the hub's BIC."""

    base: str
    created: str
    related: AppHeader | None
    hub_bic: str

    def wrap(self, message_id: str, suffix: str, document: bytes, receiver: str) -> Response:
        msg_id = f"{self.base}-{suffix}"
        header = app_header(
            from_bic=self.hub_bic,
            to_bic=message_bic(receiver),
            business_message_id=msg_id,
            message_id=message_id,
            created=self.created,
            related=self.related,
        )
        kind = message_id.rsplit(".", 2)[0]  # pacs.002
        return Response(f"{msg_id}.{kind}.xml", receiver, wrap(header, document))


@dataclass(frozen=True, slots=True)
class Settlements:
    """The settlements to notify, as columns. Per payment: its settlement time (ns) and
    UETR. Per posting (two per payment, its debit then its credit; a cross-currency
    payment: those of each leg): the account, the amount, whether a credit, the
    counterparty's BIC and the payment's row. ``owners``: the BIC notified of each account
    (an account of no one notified is not in it); ``currencies``: the currency of each
    ledger; ``mailboxes``: whose mailbox each owner's messages go to."""

    envelope: Envelope
    at_ns: list[int]
    uetrs: list[int]
    accounts: list[int]
    amounts: list[int]
    credits: list[bool]
    counterparties: list[str]
    of_payment: list[int]
    owners: dict[int, str]
    currencies: dict[int, str]
    mailboxes: dict[str, str]

    def __len__(self) -> int:
        return len(self.uetrs)


def settlements(
    envelope: Envelope,
    settled: Sequence[tuple[int, Any]],
    owner_of: Any,
    currencies: dict[int, str],
    mailbox_of: Any = None,
) -> Settlements | None:
    """The `Settlements` of ``settled`` (settlement time in ns, the hub's entry), or None
    when there are none: ``owner_of(account)`` is the BIC to notify of an account (None:
    no one), ``mailbox_of(bic)`` the mailbox its messages go to (the BIC itself when not
    given)."""
    if not settled:
        return None
    entries = [entry for _, entry in settled]
    payments = [entry.payment for entry in entries]
    if all(entry.fx is None for entry in entries):
        accounts = interleaved([e.sender for e in entries], [e.receiver for e in entries])
        amounts = [payment.amount for payment in payments]
        amounts = interleaved(amounts, amounts)
        credits = [False, True] * len(entries)
        counterparties = interleaved(
            [p.creditor_agent for p in payments], [p.debtor_agent for p in payments]
        )
        of_payment = interleaved(range(len(entries)), range(len(entries)))
    else:
        accounts, amounts, credits, counterparties, of_payment = [], [], [], [], []
        for row, (entry, payment) in enumerate(zip(entries, payments, strict=True)):
            sides = (
                [
                    side
                    for leg in entry.fx.legs
                    for side in (
                        (leg.debit_account_id, leg.amount, False, leg.creditor),
                        (leg.credit_account_id, leg.amount, True, leg.debtor),
                    )
                ]
                if entry.fx is not None
                else (
                    (entry.sender, payment.amount, False, payment.creditor_agent),
                    (entry.receiver, payment.amount, True, payment.debtor_agent),
                )
            )
            for account, amount, credit, counterparty in sides:
                accounts.append(account)
                amounts.append(amount)
                credits.append(credit)
                counterparties.append(counterparty)
                of_payment.append(row)
    owners = {}
    for account in set(accounts):
        owner = owner_of(account)
        if owner is not None:
            owners[account] = owner
    return Settlements(
        envelope,
        [at_ns for at_ns, _ in settled],
        [payment.uetr for payment in payments],
        accounts,
        amounts,
        credits,
        counterparties,
        of_payment,
        owners,
        {ledger: currencies[ledger] for ledger in {account_parts(a)[0] for a in owners}},
        {bic: bic if mailbox_of is None else mailbox_of(bic) for bic in set(owners.values())},
    )


def render(job: Settlements) -> list[Response]:
    """One camt.054 per participant notified, in the order of their BICs."""
    made = render_turns(job)
    while True:
        try:
            next(made)
        except StopIteration as stop:
            return list(stop.value)


def render_turns(job: Settlements) -> Generator[None, Any, list[Response]]:
    """``render`` in turns: the postings gathered in one, each camt.054 made in one of its
    own.

    The postings are taken per account by their row numbers, with a counterparty's BICFI
    and a booking time worked out once per distinct value: a bulk message moves a few
    accounts many times, and this makes no object per posting."""
    times: dict[int, str] = {}
    booked = [
        times.get(at_ns // 1_000_000_000)
        or times.setdefault(at_ns // 1_000_000_000, iso_time(at_ns))
        for at_ns in job.at_ns
    ]
    references = uuid_texts(job.uetrs)
    rows_of: dict[int, list[int]] = {}
    for row, account in enumerate(job.accounts):
        rows_of.setdefault(account, []).append(row)
    bics = {party: message_bic(party) for party in set(job.counterparties)}
    by_owner: dict[str, dict[int, EntryColumns]] = {}
    for account, rows in rows_of.items():
        owner = job.owners.get(account)
        if owner is None:
            continue
        payment_rows = _taken(job.of_payment, rows)
        by_owner.setdefault(owner, {})[account] = EntryColumns(
            _taken(job.amounts, rows),
            _taken(job.credits, rows),
            _taken(booked, payment_rows),
            _taken(references, payment_rows),
            list(map(bics.__getitem__, _taken(job.counterparties, rows))),
        )
    envelope = job.envelope
    responses = []
    for number, bic in enumerate(sorted(by_owner), start=1):
        yield
        accounts = []
        for account, columns in sorted(by_owner[bic].items()):
            code = job.currencies[account_parts(account)[0]]
            accounts.append(AccountEntries(str(account), code, exponent(code), columns))
        document = build_notification(
            accounts,
            msg_id=f"{envelope.base}-054-{number}",
            created_at=envelope.created,
            xml_declaration=False,  # the envelope has one
        )
        responses.append(envelope.wrap(schemas.CAMT_054, f"054-{number}", document, bic))
    return responses


def _taken(column: Sequence[Any], rows: list[int]) -> list[Any]:
    """The items of ``column`` at ``rows``, in their order."""
    return [column[rows[0]]] if len(rows) == 1 else list(itemgetter(*rows)(column))


BRANCH_XXX = "XXX"  # a BIC's primary office


def message_bic(bic: str) -> str:
    """The 11-character BICFI a message carries for a directory BIC."""
    return bic + BRANCH_XXX if len(bic) == 8 else bic


def exponent(code: str) -> int:
    """The exponent the hub uses for ``code``: the default registry's."""
    return default_registry().get(code).exponent


def iso_time(now: int) -> str:
    """ISO 8601 UTC of ``now`` (ns), to the second: the CreDtTm of what the hub sends."""
    return datetime.fromtimestamp(now // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
