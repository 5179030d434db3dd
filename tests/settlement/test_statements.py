"""Statements (camt.053) of a durable hub's settlement accounts: the payments behind a net
settlement posting are listed under it by UETR, and the statements of consecutive dates
neither overlap nor leave a gap, whether the days were opened by hand or by a calendar."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from samarkand.hub.durable import DurableHub
from samarkand.hub.settlement import Liquidity, QuoteRequest
from samarkand.hub.statements import (
    StatementRefusal,
    StatementRefused,
    participant_statement,
    select_statement,
    settlement_statement,
)
from samarkand.iso20022 import schemas
from samarkand.iso20022.envelope import unwrap
from samarkand.iso20022.validate import validate_document
from samarkand.ledger.state import PENDING, VOID
from samarkand.settlement.payments import FxPayment
from tests.settlement.conftest import payment
from tests.settlement.fx_world import (
    CNY,
    CYCLE_TIERS,
    INR,
    LEDGERS,
    RUB,
    START_NS,
    A,
    B,
    C,
    P,
    fx_directory,
)

NS = {"c": schemas.namespace(schemas.CAMT_053)}
HOUR = 3_600 * 10**9
DAY = 24 * HOUR
FAR = 10**18  # a cut-off no test reaches


def uetr(number: int) -> int:
    """A version 4 UUID (as camt.053 carries in Refs/UETR) numbered `number`."""
    return uuid.UUID(int=(number << 96) | (0x4 << 76) | (0x2 << 62) | number).int


def uetr_text(number: int) -> str:
    return str(uuid.UUID(int=uetr(number)))


def at(text: str) -> int:
    """ns of a UTC time, e.g. "1970-01-02T22:00"."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 10**9


@pytest.fixture
def hub(tmp_path: Path):
    with DurableHub.open(str(tmp_path / "hub.db")) as durable:
        durable.configure(fx_directory(), cut_off_ns=dict.fromkeys(LEDGERS, FAR))
        durable.open_accounts(START_NS)
        yield durable


def account(durable: DurableHub, bic: str, currency: str = CNY) -> int:
    directory = durable.hub.directory
    return directory.settlement_account(directory.get(bic), currency)


def statement(durable: DurableHub, bic: str, day: str, currency: str = CNY) -> etree._Element:
    """The camt.053 Document of `bic`'s account in `currency` for `day`, checked against
    the XSD."""
    moment = datetime.fromisoformat(day).replace(tzinfo=UTC)
    document, _ = settlement_statement(durable, account(durable, bic, currency), moment)
    _, root = unwrap(document)
    assert validate_document(root, schemas.CAMT_053) == []
    return root


def batch_entries(root: etree._Element) -> list[etree._Element]:
    return root.xpath(".//c:Ntry[c:NtryDtls/c:Btch]", namespaces=NS)


def minor(parent: etree._Element) -> int:
    """The signed amount of an Ntry, TxDtls or Btch, in minor units (CNY: 2 decimals)."""
    amount = Decimal(
        parent.findtext("c:Amt", namespaces=NS) or parent.findtext("c:TtlAmt", namespaces=NS)
    )
    indicator = parent.findtext("c:CdtDbtInd", namespaces=NS)
    return int(amount * 100) * (1 if indicator == "CRDT" else -1)


def test_each_refusal_says_why_and_names_the_argument_at_fault(hub):
    """The code a caller maps to its answer (the service: `errors.STATEMENT_STATUS`) and the
    argument as that caller named it: an account id, or a participant's currency."""
    from samarkand.service.errors import STATEMENT_STATUS

    day = datetime(1970, 1, 1, tzinfo=UTC)
    cases = [
        (lambda: select_statement(hub, 5, day), StatementRefusal.ACCOUNT_UNKNOWN, "account"),
        (lambda: select_statement(hub, account(hub, A), day, owner=B),
         StatementRefusal.NOT_OWNER, "account"),
        (lambda: select_statement(hub, account(hub, A), datetime(1969, 12, 31, tzinfo=UTC)),
         StatementRefusal.DATE_INVALID, "date"),
        (lambda: participant_statement(hub, A, "XXX", day),
         StatementRefusal.CURRENCY_UNKNOWN, "currency"),
        (lambda: participant_statement(hub, "NOSUCHXX", CNY, day),
         StatementRefusal.ACCOUNT_UNKNOWN, "currency"),
        (lambda: participant_statement(hub, A, CNY, datetime(2262, 4, 11, tzinfo=UTC)),
         StatementRefusal.DATE_INVALID, "date"),
    ]  # fmt: skip
    for call, refusal, field in cases:
        with pytest.raises(StatementRefused) as refused:
            call()
        assert (refused.value.refusal, refused.value.field) == (refusal, field)
    assert participant_statement(hub, A, CNY, day).account_id == account(hub, A)
    assert set(STATEMENT_STATUS) == set(StatementRefusal)  # every refusal has its status


def test_a_date_no_day_of_the_calendar_has_reached_has_no_statement_yet(hub):
    """The calendar's day of 1970-01-03, opened the evening before, is still open: the next
    date has no instant yet (its span would start at the end of time), so it is refused
    naming the date, not made a statement dated 2262."""
    hub.open_day(dict.fromkeys(LEDGERS, FAR), at("1970-01-02T19:00"), "1970-01-03")
    a = account(hub, A)
    assert select_statement(hub, a, datetime(1970, 1, 3, tzinfo=UTC)).start_ns == at(
        "1970-01-02T19:00"
    )
    with pytest.raises(StatementRefused) as refused:
        select_statement(hub, a, datetime(1970, 1, 4, tzinfo=UTC))
    assert (refused.value.refusal, refused.value.field) == (StatementRefusal.DAY_NOT_BEGUN, "date")


def test_payments_settled_by_offsetting_and_in_a_dns_window_are_under_their_net_entry(hub):
    hub.liquidity([Liquidity(A, CNY, 100), Liquidity(B, CNY, 50)], at("1970-01-01T01:00"))
    # A pays B 3.00 it does not have: queued; B's 2.80 back offsets it at entry.
    assert hub.submit([payment(uetr(1), A, B, 300)], at("1970-01-01T02:00")) == [None]
    assert hub.submit([payment(uetr(2), B, A, 280)], at("1970-01-01T03:00")) == [None]
    dns = [payment(uetr(3), A, B, 40, dns=True), payment(uetr(4), B, A, 10, dns=True),
           payment(uetr(5), A, P, 5, dns=True)]  # fmt: skip
    assert hub.submit(dns, at("1970-01-01T04:00")) == [None, None, None]
    assert hub.close_window(CNY, at("1970-01-01T05:00")) == (3, [])
    # Two that cancel out on A and B: the window posts nothing to either.
    even = [payment(uetr(6), A, B, 15, dns=True), payment(uetr(7), B, A, 15, dns=True)]
    assert hub.submit(even, at("1970-01-01T06:00")) == [None, None]
    assert hub.close_window(CNY, at("1970-01-01T07:00")) == (2, [])
    engine = hub.hub.engine
    assert [engine.entries[uetr(n)].via for n in (1, 2, 3, 6)] == [
        "bilateral offsetting", "bilateral offsetting", "deferred net settlement",
        "deferred net settlement",
    ]  # fmt: skip

    root = statement(hub, A, "1970-01-01")
    entries = root.findall(".//c:Ntry", NS)
    balances = [minor(b) for b in root.findall(".//c:Bal", NS)]
    assert balances[0] + sum(minor(e) for e in entries) == balances[1] == 45
    assert balances[1] == hub.durable_ledger.state.balance(account(hub, A)).net_credit
    batches = batch_entries(root)
    assert [minor(e) for e in batches] == [-20, -35, 0]
    listed = {}
    for entry in batches:
        batch = entry.find("c:NtryDtls/c:Btch", NS)
        details = entry.findall("c:NtryDtls/c:TxDtls", NS)
        assert batch.findtext("c:NbOfTxs", namespaces=NS) == str(len(details))
        assert minor(batch) == minor(entry) == sum(minor(d) for d in details)
        assert entry.findtext("c:BkTxCd/c:Prtry/c:Cd", namespaces=NS) == "NET_SETTLEMENT"
        for detail in details:
            listed[detail.findtext("c:Refs/c:UETR", namespaces=NS)] = minor(detail)
    signed = {1: -300, 2: 280, 3: -40, 4: 10, 5: -5, 6: -15, 7: 15}
    assert listed == {uetr_text(number): amount for number, amount in signed.items()}
    agents = batches[1].findall(".//c:TxDtls/c:RltdAgts", NS)
    assert [a[0].tag.split("}")[1] for a in agents] == ["CdtrAgt", "DbtrAgt", "CdtrAgt"]
    assert [a.findtext(".//c:BICFI", namespaces=NS) for a in agents] == [B, B, P]

    # P only received: its entry of the window lists the one payment, a credit.
    (p_entry,) = batch_entries(statement(hub, P, "1970-01-01"))
    assert minor(p_entry) == 5
    assert p_entry.findtext(".//c:TxDtls/c:Refs/c:UETR", namespaces=NS) == uetr_text(5)


def test_the_record_of_sets_is_rebuilt_from_the_log(tmp_path: Path):
    store = str(tmp_path / "hub.db")
    with DurableHub.open(store) as durable:
        durable.configure(fx_directory(), cut_off_ns=dict.fromkeys(LEDGERS, FAR))
        durable.open_accounts(START_NS)
        durable.liquidity([Liquidity(A, CNY, 100)], at("1970-01-01T01:00"))
        durable.submit([payment(uetr(1), A, B, 300)], at("1970-01-01T02:00"))
        durable.submit([payment(uetr(2), B, A, 280)], at("1970-01-01T03:00"))
        first = select_statement(durable, account(durable, A), datetime(1970, 1, 1, tzinfo=UTC))
    with DurableHub.open(store, snapshots=False) as durable:
        again = select_statement(durable, account(durable, A), datetime(1970, 1, 1, tzinfo=UTC))
    assert again == first and len(first.batches) == 1


def test_cross_currency_payments_offset_together_are_under_their_net_entries(hub):
    """A cycle A -> B -> C -> A across CNY, RUB and INR, settled together: each account's
    net posting lists the legs of the payments that moved it, by their UETRs."""
    now = iter(range(at("1970-01-01T01:00"), at("1970-01-01T02:00"), 10**9))
    assert hub.post_tiers(list(CYCLE_TIERS), next(now)) == [None] * 3
    hub.liquidity([Liquidity(A, CNY, 20_00), Liquidity(P, RUB, 250_00)], next(now))
    cycle = [(A, B, CNY, RUB, 100_00), (B, C, RUB, INR, 1_000_00), (C, A, INR, CNY, 1_280_00)]
    for number, (payer, payee, source, destination, send) in enumerate(cycle, start=1):
        quote = hub.request_quote(
            QuoteRequest(payer, source, destination, send, None, 10**12), next(now)
        )
        assert hub.submit_fx([FxPayment(uetr(number), payer, payee, quote.id)], next(now)) == [None]
    assert hub.optimise(next(now)) == 3
    (a_entry,) = batch_entries(statement(hub, A, "1970-01-01"))
    assert minor(a_entry) == -20_00
    details = a_entry.findall(".//c:TxDtls", NS)
    assert [(d.findtext("c:Refs/c:UETR", namespaces=NS), minor(d)) for d in details] == [
        (uetr_text(1), -100_00), (uetr_text(3), 80_00),
    ]  # fmt: skip
    # The provider, in RUB: it sold 1,250.00 to A's payment and bought 1,000.00 of B's.
    root = statement(hub, P, "1970-01-01", RUB)
    (p_entry,) = batch_entries(root)
    details = p_entry.findall(".//c:TxDtls", NS)
    assert minor(p_entry) == sum(minor(d) for d in details) == -250_00
    assert [d.findtext("c:Refs/c:UETR", namespaces=NS) for d in details] == [
        uetr_text(1), uetr_text(2),
    ]  # fmt: skip


# ---------------------------------------------------------------------- days


def test_consecutive_statements_meet_across_days_opened_by_hand_and_by_the_calendar(hub):
    """Days opened by hand (UTC days) and by a calendar (their own spans, from the evening
    before their date) in turn, with a weekend, a hand day running past midnight UTC into a
    dated day's date and a calendar west of UTC whose day opens on the next UTC date: for
    every date, the statement opens with the closing balance of the date before, and every
    posting is on exactly one statement."""
    a = account(hub, A)
    moves = iter(range(1, 10_000))

    def fund(when: str) -> None:
        assert hub.liquidity([Liquidity(A, CNY, next(moves))], at(when)) == [None]

    def open_day(when: str, dated: str | None = None) -> None:
        hub.open_day(dict.fromkeys(LEDGERS, FAR), at(when), dated)

    fund("1970-01-01T10:00")  # before any day opened: a UTC day
    open_day("1970-01-01T20:00")  # by hand
    fund("1970-01-01T21:00")
    fund("1970-01-02T03:00")  # the hand day, past midnight UTC
    open_day("1970-01-02T19:00", "1970-01-03")  # the calendar's, the evening before
    fund("1970-01-02T20:00")
    fund("1970-01-03T09:00")
    # A bilateral offset in the dated day: its net posting, and its payments under it.
    hub.submit([payment(uetr(1), A, B, 10**6)], at("1970-01-03T09:30"))
    hub.liquidity([Liquidity(B, CNY, 500)], at("1970-01-03T09:40"))
    hub.submit([payment(uetr(2), B, A, 10**6 - 1)], at("1970-01-03T09:45"))
    open_day("1970-01-03T20:00")  # by hand, on the dated day's date
    fund("1970-01-03T21:00")
    fund("1970-01-04T02:00")
    open_day("1970-01-04T19:00", "1970-01-05")  # then a weekend: 01-06 and 01-07 have none
    fund("1970-01-05T08:00")
    # A window whose payments cancel out, closed at the instant the next day opens.
    even = [payment(uetr(3), A, B, 7, dns=True), payment(uetr(4), B, A, 7, dns=True)]
    hub.submit(even, at("1970-01-07T18:59"))
    hub.close_window(CNY, at("1970-01-07T19:00"))
    open_day("1970-01-07T19:00", "1970-01-08")
    fund("1970-01-07T23:00")
    open_day("1970-01-08T20:00")  # by hand, running into the next two UTC dates...
    fund("1970-01-09T12:00")
    fund("1970-01-10T00:30")
    open_day("1970-01-10T01:00", "1970-01-09")  # ...until a day of a calendar west of UTC
    fund("1970-01-10T02:00")
    open_day("1970-01-10T20:00")  # by hand again
    fund("1970-01-10T21:00")
    fund("1970-01-11T05:00")

    first, last = date(1970, 1, 1), date(1970, 1, 13)  # from the first date the clock has
    statements = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        rows = select_statement(hub, a, datetime(day.year, day.month, day.day, tzinfo=UTC))
        root = statement(hub, A, day.isoformat())
        opening, closing = (minor(b) for b in root.findall(".//c:Bal", NS))
        entries = root.findall(".//c:Ntry", NS)
        assert (opening, closing) == (rows.opening, rows.closing)
        assert opening + sum(minor(e) for e in entries) == closing
        statements.append((day, rows, len(entries)))
    for (_, before, _), (day, after, _) in zip(statements, statements[1:], strict=False):
        assert after.opening == before.closing, day
    state = hub.durable_ledger.state
    assert statements[0][1].opening == 0
    assert statements[-1][1].closing == state.balance(a).net_credit
    journal = state.journal.columns()
    postings = (journal.flags.astype(int) & (PENDING | VOID)) == 0
    mine = postings & ((journal.debit_account_id == a) | (journal.credit_account_id == a))
    listed = [tid for _, rows, _ in statements for tid in rows.transfer_ids]
    assert sorted(listed) == sorted(journal.id[mine].tolist())  # each exactly once
    for (_, before, _), (day, after, _) in zip(statements, statements[1:], strict=False):
        assert after.start_ns == before.end_ns, day  # the spans meet
    by_day = {day.isoformat(): rows for day, rows, _ in statements}
    assert {d for d, rows in by_day.items() if rows.amounts} == {
        "1970-01-01", "1970-01-02", "1970-01-03", "1970-01-04", "1970-01-05", "1970-01-08",
        "1970-01-09", "1970-01-10", "1970-01-11",
    }  # fmt: skip
    assert by_day["1970-01-01"].amounts == [1, 2]  # before any day, then the hand day
    assert by_day["1970-01-02"].amounts == [3]  # from midnight to the dated day's opening
    # The dated day from the evening before, its net posting, then the hand day opened on
    # its date (up to midnight UTC).
    assert by_day["1970-01-03"].amounts == [4, 5, 1, 6]
    assert [b.uetrs for b in by_day["1970-01-03"].batches] == [(uetr(2), uetr(1))]
    assert by_day["1970-01-04"].amounts == [7]
    assert by_day["1970-01-09"].amounts == [10, 11, 12]  # the hand day past 01-09, then its own
    assert by_day["1970-01-10"].amounts == [13]
    # The window that cancelled out closed before the 01-08 day opened, at the same instant.
    assert by_day["1970-01-05"].amounts == [8]
    assert [b.uetrs for b in by_day["1970-01-05"].batches] == [(uetr(3), uetr(4))]
    for weekend in ("1970-01-06", "1970-01-07"):
        assert by_day[weekend].amounts == [] and by_day[weekend].batches == ()
        assert by_day[weekend].start_ns == by_day[weekend].end_ns == at("1970-01-07T19:00")
