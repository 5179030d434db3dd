"""The camt.053 (bank to customer statement) the hub issues for one settlement account.

Pure: the caller passes every value, ids and times included; this folder reads no clock and
no ledger. One statement per message: the account, the booked opening balance (OPBD), one
booked entry (Ntry, status BOOK) per posting of the period and the booked closing balance
(CLBD). Balances are signed minor units: the XSD amount is never negative, so the sign goes
into CdtDbtInd (a zero balance is CRDT). Entries carry the UETR in NtryDtls/TxDtls/Refs when
the reference is one (UUIDv4Identifier), else the reference in Refs/AcctSvcrRef; the
counterparty's BIC (or name) goes in RltdAgts as debtor agent of a credit, creditor agent of
a debit. The bank transaction code is proprietary (the ledger's transfer code name).

Payments settled together (offsetting, a DNS window) move the account by their net only:
such a booking is one batch entry (``BatchEntry``): the net in Amt, NtryDtls/Btch with the
number of payments, their total (the net) and its CdtDbtInd, then one TxDtls per payment
with its UETR, its own amount and CdtDbtInd and its counterparty, so that each payment can
be matched while the entries still add up to the balances.

Bounds of camt.053.001.08 that the ledger does not share: an amount has at most 18 digits
(``amount_fits``), an account id and a reference at most 34 and 35 characters. A value past
them is a ``ValueError``: the caller checks first and reports it to its user.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import product, repeat

from lxml import etree

from samarkand.money import format_amount
from samarkand.money.currency import Currency

from . import schemas
from .markup import checked_text, escape_text

MESSAGE_ID = schemas.CAMT_053
AMOUNT_DIGITS_MAX = 18  # totalDigits of ActiveOrHistoricCurrencyAndAmount_SimpleType
ENTRIES_MAX = 1_000_000  # a bound on one file (~1 KiB per entry)
DETAILS_MAX = 1_000_000  # TxDtls of batch entries in one file (~0.4 KiB each)
BOOKED = "BOOK"
CREDIT = "CRDT"
DEBIT = "DBIT"
OPENING_BOOKED = "OPBD"
CLOSING_BOOKED = "CLBD"
CODE_ISSUER = "SAMARKAND"
PAYMENT = "PAYMENT"  # the transaction code of a payment

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
    transaction_code: str = PAYMENT  # proprietary bank transaction code


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One booked Ntry for payments settled together (offsetting, a DNS window): the net
    ``amount`` >= 0 they moved on the account (0: they cancel out on it, and nothing was
    posted), with NtryDtls/Btch (their number, the total = the net, its indicator) and one
    TxDtls per payment: its reference (a UETR goes in Refs/UETR), amount, indicator and
    counterparty. The payments' signed amounts add up to the entry's. ``position``: how
    many of the statement's single entries are booked before it."""

    position: int
    amount: int
    credit: bool  # of the net (a zero net is CRDT, as a zero balance)
    booked_at: str  # ISO 8601 date-time
    reference: str  # the hub's reference of the booking: Ntry/AcctSvcrRef (Max35Text)
    transaction_code: str
    amounts: tuple[int, ...]  # each payment's, > 0
    credits: tuple[bool, ...]
    references: tuple[str, ...]  # each payment's UETR, or the hub's reference of it
    counterparties: tuple[str, ...]  # the BIC (or name) of each payment's other party


def amount_fits(minor: int) -> bool:
    """Whether ``minor`` (any sign) fits the 18 digits of a camt.053 amount."""
    return abs(minor) < 10**AMOUNT_DIGITS_MAX


def build_statement(
    *,
    account_id_text: str,
    currency: str,
    exponent: int,
    opening_balance: int,
    entries: Sequence[StatementEntry] | EntryColumns,
    closing_balance: int,
    msg_id: str,
    created_at: str,
    statement_id: str,
    from_date: str,
    to_date: str,
    batches: Sequence[BatchEntry] = (),
    from_time: str | None = None,
    to_time: str | None = None,
) -> bytes:
    """Return the UTF-8 camt.053.001.08 statement of one account for the business days
    ``from_date`` to ``to_date`` (ISO dates, inclusive), over the period ``from_time`` to
    ``to_time`` (ISO date-times; by default midnight UTC of the first date to the last
    second of the last), with the single ``entries`` and the ``batches`` in their places.
    The closing balance must equal the opening balance plus the credits minus the debits:
    a statement that does not add up is a bug."""
    money = Currency(currency, 1, exponent, exponent, currency, True)
    columns = entries if isinstance(entries, EntryColumns) else EntryColumns.of(entries)
    moves = list(zip(columns.amounts, columns.credits, strict=True))
    moves += [(batch.amount, batch.credit) for batch in batches]
    credits = sum(amount for amount, credit in moves if credit)
    debits = sum(amount for amount, credit in moves if not credit)
    if opening_balance + credits - debits != closing_balance:
        raise ValueError(
            f"closing balance {closing_balance} != opening {opening_balance} "
            f"+ credits {credits} - debits {debits}"
        )
    if len(entries) + len(batches) > ENTRIES_MAX:
        raise ValueError(
            f"{len(entries) + len(batches)} entries, more than the {ENTRIES_MAX} of one statement"
        )
    details = sum(len(batch.amounts) for batch in batches)
    if details > DETAILS_MAX:
        raise ValueError(f"{details} batch details, more than the {DETAILS_MAX} of one statement")
    positions = [batch.position for batch in batches]
    if positions != sorted(positions) or any(
        type(p) is not int or not 0 <= p <= len(entries) for p in positions
    ):
        raise ValueError(f"batch positions must rise from 0 to {len(entries)}, got {positions}")
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
    sub(period, "FrDtTm", f"{from_date}T00:00:00Z" if from_time is None else from_time)
    sub(period, "ToDtTm", f"{to_date}T23:59:59Z" if to_time is None else to_time)
    account = sub(statement, "Acct")
    sub(sub(sub(account, "Id"), "Othr"), "Id", account_id_text)
    sub(account, "Ccy", currency)
    _balance(statement, OPENING_BOOKED, opening_balance, money, from_date)
    _balance(statement, CLOSING_BOOKED, closing_balance, money, to_date)
    parts: list[str] = []
    add_entries_markup(parts, columns, money)
    for batch in reversed(batches):  # from the last: the places before it stay as they are
        parts.insert(batch.position * _SLOTS, batch_markup(batch, money))
    slots: list[str] = []
    entries_slot(statement, slots, "".join(parts))
    return with_entries(root, slots)


def batch_markup(batch: BatchEntry, money: Currency) -> str:
    """The Ntry of ``batch`` (see `BatchEntry`), as markup in the default namespace of the
    Stmt that ``with_entries`` puts it in; a ``ValueError`` naming the field for a value
    the message cannot carry, or details that do not add up to the entry's amount."""
    size = len(batch.amounts)
    lengths = {len(batch.credits), len(batch.references), len(batch.counterparties)}
    if lengths != {size} or size == 0:
        raise ValueError(f"batch entry details of lengths {sorted(lengths | {size})}: 1 or more")
    amounts = batch.amounts
    if set(map(type, amounts)) != {int} or min(amounts) <= 0:
        bad = next(a for a in amounts if type(a) is not int or a <= 0)
        raise ValueError(f"a batch detail amount must be a positive int, got {bad!r}")
    if type(batch.amount) is not int or batch.amount < 0:
        raise ValueError(f"a batch entry amount must be an int >= 0, got {batch.amount!r}")
    for value in (batch.amount, max(amounts)):
        if not amount_fits(value):
            raise ValueError(f"{value} minor units has more than {AMOUNT_DIGITS_MAX} digits")
    credits = [bool(credit) for credit in batch.credits]
    signed = sum(a if c else -a for a, c in zip(amounts, credits, strict=True))
    if signed != (batch.amount if batch.credit else -batch.amount):
        raise ValueError(
            f"batch entry {batch.reference!r}: its details add up to {signed}, not to its "
            f"{'credit' if batch.credit else 'debit'} of {batch.amount}"
        )
    require_text("batch reference", batch.reference, 35)
    require_text("transaction_code", batch.transaction_code, 35)
    references, uetr_flags = _references(list(batch.references))
    flags = repeat(True) if uetr_flags is None else uetr_flags
    code = escape_text(money.code, attribute=True)
    texts = _amount_texts([batch.amount, *amounts], money)
    total, indicator = texts[0], CREDIT if batch.credit else DEBIT
    parts = [
        f'<Ntry><Amt Ccy="{code}">{total}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>'
        f"<Sts><Cd>{BOOKED}</Cd></Sts>"
        f"<BookgDt><DtTm>{checked_text('booked_at', batch.booked_at)}</DtTm></BookgDt>"
        f"<AcctSvcrRef>{checked_text('batch reference', batch.reference)}</AcctSvcrRef>"
        f"<BkTxCd><Prtry><Cd>{checked_text('transaction_code', batch.transaction_code)}</Cd>"
        f"<Issr>{CODE_ISSUER}</Issr></Prtry></BkTxCd>"
        f'<NtryDtls><Btch><NbOfTxs>{size}</NbOfTxs><TtlAmt Ccy="{code}">{total}</TtlAmt>'
        f"<CdtDbtInd>{indicator}</CdtDbtInd></Btch>"
    ]
    agents = {}
    for party, credit in dict.fromkeys(zip(batch.counterparties, credits, strict=True)):
        agents[party, credit] = _agent_markup(party, credit)
    for reference, is_uetr, text, credit, party in zip(
        references, flags, texts[1:], credits, batch.counterparties, strict=False
    ):
        kind = "UETR" if is_uetr else "AcctSvcrRef"
        parts.append(
            f"<TxDtls><Refs><{kind}>{reference}</{kind}></Refs>"
            f'<Amt Ccy="{code}">{text}</Amt><CdtDbtInd>{CREDIT if credit else DEBIT}</CdtDbtInd>'
            f"{agents[party, credit]}</TxDtls>"
        )
    parts.append("</NtryDtls></Ntry>")
    return "".join(parts)


def _amount_texts(amounts: list[int], money: Currency) -> list[str]:
    """The decimal texts of ``amounts`` (ints >= 0) in ``money``'s exponent."""
    if not money.exponent:
        return list(map(str, amounts))
    fractions = _fractions(money.exponent)
    unit = 10**money.exponent
    return [f"{whole}.{fractions[part]}" for whole, part in map(divmod, amounts, repeat(unit))]


@functools.lru_cache(maxsize=4096)
def _agent_markup(party: str, credit: bool) -> str:
    """The RltdAgts of a payment with ``party`` (a BIC, or a name) on its other side: the
    debtor agent of a credit, the creditor agent of a debit."""
    is_bic = isinstance(party, str) and _BIC.fullmatch(party) is not None
    if not is_bic:
        require_text("counterparty", party, 140)
    text = checked_text("counterparty", party)
    agent = "DbtrAgt" if credit else "CdtrAgt"
    kind = "BICFI" if is_bic else "Nm"
    return (
        f"<RltdAgts><{agent}><FinInstnId><{kind}>{text}</{kind}></FinInstnId></{agent}></RltdAgts>"
    )


def _balance(parent: etree._Element, code: str, minor: int, money: Currency, day: str) -> None:
    balance = sub(parent, "Bal")
    sub(sub(sub(balance, "Tp"), "CdOrPrtry"), "Cd", code)
    _amount(balance, abs(minor), money)
    sub(balance, "CdtDbtInd", DEBIT if minor < 0 else CREDIT)
    sub(sub(balance, "Dt"), "Dt", day)


def entry_markup(entry: StatementEntry, money: Currency) -> str:
    """One booked Ntry for ``entry``, as markup in the default namespace of the Stmt or
    camt.054 Ntfctn that ``with_entries`` puts it in."""
    return entries_markup(EntryColumns.of([entry]), money)


@dataclass(frozen=True, slots=True)
class EntryColumns:
    """The postings of one account as columns, item ``i`` of each being entry ``i``.

    A bulk message books thousands of postings on a handful of accounts, with a few
    distinct counterparties and booking times: as columns they are collected without an
    object per posting, checked once per column or once per distinct value, and rendered
    in one pass (``entries_markup``). ``transaction_codes`` None is PAYMENT for every entry.
    """

    amounts: list[int]
    credits: list[bool]
    booked_at: list[str]
    references: list[str]
    counterparties: list[str]
    transaction_codes: list[str] | None = None

    @classmethod
    def of(cls, entries: Iterable[StatementEntry]) -> EntryColumns:
        columns = cls([], [], [], [], [], [])
        for entry in entries:
            columns.append(
                entry.amount,
                entry.credit,
                entry.booked_at,
                entry.reference,
                entry.counterparty,
                entry.transaction_code,
            )
        return columns

    def append(
        self,
        amount: int,
        credit: bool,
        booked_at: str,
        reference: str,
        counterparty: str,
        transaction_code: str = PAYMENT,
    ) -> None:
        self.amounts.append(amount)
        self.credits.append(credit)
        self.booked_at.append(booked_at)
        self.references.append(reference)
        self.counterparties.append(counterparty)
        if self.transaction_codes is not None:
            self.transaction_codes.append(transaction_code)

    def __len__(self) -> int:
        return len(self.amounts)


def entries_markup(columns: EntryColumns, money: Currency) -> str:
    """Every booked Ntry of ``columns``, in order, as ``entry_markup`` makes each one."""
    parts: list[str] = []
    add_entries_markup(parts, columns, money)
    return "".join(parts)


def add_entries_markup(parts: list[str], columns: EntryColumns, money: Currency) -> None:
    """Append the markup of every booked Ntry of ``columns`` to ``parts`` (texts to join:
    a caller writing a whole message joins them once, not once per account).

    The checks run once per column (a type, a bound, one match over the joined references)
    or once per distinct value (counterparties and booking times repeat); each entry is
    then the prepared texts of its kind (credit or debit, UETR or not, its counterparty)
    joined with its values: many times faster than building the 21 elements of each, for
    the same bytes. A value past the bounds of the module docstring is a ``ValueError``.
    """
    amounts = columns.amounts
    size = len(amounts)
    codes = columns.transaction_codes
    lengths = {len(columns.credits), len(columns.booked_at), len(columns.references)}
    lengths |= {len(columns.counterparties), size if codes is None else len(codes)}
    if lengths != {size}:
        raise ValueError(f"entry columns of different lengths {sorted(lengths | {size})}")
    if size == 0:
        return
    if set(map(type, amounts)) != {int} or min(amounts) <= 0:
        bad = next(a for a in amounts if type(a) is not int or a <= 0)
        raise ValueError(f"an entry amount must be a positive int, got {bad!r}")
    if max(amounts) >= _AMOUNT_BOUND:
        bad = next(a for a in amounts if not amount_fits(a))
        raise ValueError(f"{bad} minor units has more than {AMOUNT_DIGITS_MAX} digits")
    references, uetr_flags = _references(columns.references)
    fixed = _entry_texts(money.code)
    tails = {}
    for party in dict.fromkeys(columns.counterparties):
        tails[party, False], tails[party, True] = _party_tails(money.code, party)
    booked = _texts("booked_at", columns.booked_at)
    code_texts = [PAYMENT] if codes is None else _texts("transaction_code", codes)
    credits = columns.credits
    if set(map(type, credits)) != {bool}:
        credits = [bool(credit) for credit in credits]
    amount_texts = _amount_texts(amounts, money)
    # The texts between the values, by column: the ones that depend on the credit, the
    # kind of reference or the counterparty looked up with map, the others repeated.
    if codes is None and uetr_flags is None:
        middle = [fixed.after_booked + PAYMENT + fixed.after_code[True]] * size
    else:
        middles = {
            (code, is_uetr): fixed.after_booked + code + fixed.after_code[is_uetr]
            for code in dict.fromkeys(code_texts)
            for is_uetr in (False, True)
        }
        code_column = repeat(PAYMENT) if codes is None else code_texts
        flag_column = repeat(True) if uetr_flags is None else uetr_flags
        pairs = zip(code_column, flag_column, strict=False)  # one of them is a list
        middle = list(map(middles.__getitem__, pairs))
    after_reference = (
        [fixed.after_reference[True]] * size
        if uetr_flags is None
        else list(map(fixed.after_reference.__getitem__, uetr_flags))
    )
    block = [fixed.start] * (_SLOTS * size)
    block[1::_SLOTS] = amount_texts
    block[2::_SLOTS] = map(fixed.after_amount.__getitem__, credits)
    block[3::_SLOTS] = booked
    block[4::_SLOTS] = middle
    block[5::_SLOTS] = references
    block[6::_SLOTS] = after_reference
    block[7::_SLOTS] = amount_texts
    block[8::_SLOTS] = map(tails.__getitem__, zip(columns.counterparties, credits, strict=True))
    parts += block


_SLOTS = 9  # texts of an entry in add_entries_markup: 5 values, 4 between them
_AMOUNT_BOUND = 10**AMOUNT_DIGITS_MAX


@functools.cache
def _fractions(exponent: int) -> tuple[str, ...]:
    """The decimals of 0 to 10**exponent - 1 minor units (exponents are 0 to 4)."""
    return tuple(f"{fraction:0{exponent}d}" for fraction in range(10**exponent))


def _references(references: list[str]) -> tuple[list[str], list[bool] | None]:
    """The references as text and whether each is a UETR (None: all are), checked. The
    hub's are all UETRs (no escaping, no XML check needed): ``_all_uetrs`` says so."""
    if _all_uetrs(references):
        return references, None
    kinds = {}
    for reference in dict.fromkeys(references):
        is_uetr = isinstance(reference, str) and _UETR.fullmatch(reference) is not None
        require_text("reference", reference, 36 if is_uetr else 35)
        kinds[reference] = (checked_text("reference", reference), is_uetr)
    texts = [kinds[reference][0] for reference in references]
    return texts, [kinds[reference][1] for reference in references]


def _all_uetrs(references: list[str]) -> bool:
    """Whether every reference is a UETR (``_UETR``), without a match per reference: their
    joined bytes hold only hex digits and hyphens, the hyphens where a UUID has them and
    nowhere else, then the version 4 and the variant (8, 9, a or b) in their places."""
    count = len(references)
    try:
        data = "".join(references).encode("ascii")
    except (TypeError, UnicodeEncodeError):
        return False
    if set(map(len, references)) != {36} or data.translate(None, _UUID_CHARACTERS):
        return False
    hyphens = b"-" * count
    return (
        data.count(b"-") == 4 * count
        and data[8::36] == hyphens
        and data[13::36] == hyphens
        and data[18::36] == hyphens
        and data[23::36] == hyphens
        and data[14::36] == b"4" * count
        and not data[19::36].translate(None, b"89ab")
    )


_UUID_CHARACTERS = b"0123456789abcdef-"


@functools.lru_cache(maxsize=4096)
def _party_tails(currency: str, party: str) -> tuple[str, str]:
    """The end of an Ntry in ``currency`` from its second CdtDbtInd, with ``party`` as
    counterparty (checked): as a debit, as a credit."""
    is_bic = isinstance(party, str) and _BIC.fullmatch(party) is not None
    if not is_bic:
        require_text("counterparty", party, 140)
    text = checked_text("counterparty", party)
    debit, credit = _entry_texts(currency).around_party[is_bic]
    return debit[0] + text + debit[1], credit[0] + text + credit[1]


def _texts(label: str, column: list[str]) -> list[str]:
    """``column`` checked and escaped once per distinct value."""
    first = column[0]
    if column.count(first) == len(column):  # one value, as a message's booking time
        text = checked_text(label, first)
        return column if text is first else [text] * len(column)
    escaped = {text: checked_text(label, text) for text in dict.fromkeys(column)}
    if all(key is value for key, value in escaped.items()):
        return column
    return [escaped[text] for text in column]


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


@dataclass(frozen=True, slots=True)
class _EntryTexts:
    """The fixed texts of an Ntry in one currency, between its values. Each depends on
    one flag at most (``_entry_texts`` checks it), so they are looked up by column."""

    start: str  # to the amount
    after_amount: tuple[str, str]  # by credit: to the booking time
    after_booked: str  # to the transaction code
    after_code: tuple[str, str]  # by is_uetr: to the reference
    after_reference: tuple[str, str]  # by is_uetr: to the amount again
    around_party: tuple[tuple[tuple[str, str], ...], ...]  # by [is_bic][credit]


@functools.lru_cache(maxsize=64)
def _entry_texts(currency: str) -> _EntryTexts:
    """The ``_EntryTexts`` of ``currency``, cut from the markup ``_entry_format`` has for
    every kind of entry."""
    code = escape_text(currency, attribute=True)

    def pieces(credit: bool, is_uetr: bool, is_bic: bool) -> tuple[str, ...]:
        text = _entry_format(credit, is_uetr, is_bic).replace("{currency}", code)
        parts = _FIELD.split(text)
        assert parts[1::2] == list(_FIELDS), parts[1::2]
        return tuple(parts[0::2])

    flags = (False, True)
    texts = _EntryTexts(
        start=pieces(False, False, False)[0],
        after_amount=(pieces(False, False, False)[1], pieces(True, False, False)[1]),
        after_booked=pieces(False, False, False)[2],
        after_code=(pieces(False, False, False)[3], pieces(False, True, False)[3]),
        after_reference=(pieces(False, False, False)[4], pieces(False, True, False)[4]),
        around_party=tuple(
            tuple((pieces(c, False, b)[5], pieces(c, False, b)[6]) for c in flags) for b in flags
        ),
    )
    for credit, is_uetr, is_bic in product(flags, repeat=3):
        assert pieces(credit, is_uetr, is_bic) == (
            texts.start,
            texts.after_amount[credit],
            texts.after_booked,
            texts.after_code[is_uetr],
            texts.after_reference[is_uetr],
            *texts.around_party[is_bic][credit],
        ), "an entry's fixed texts depend on more than one flag each"
    return texts


_FIELDS = ("amount", "booked_at", "code", "reference", "amount", "counterparty")
_FIELD = re.compile(r"\{(amount|booked_at|code|reference|counterparty)\}")


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
