"""The camt.054, camt.053 entries and pacs.002 written as text are byte for byte what
building every element with lxml gives: the reference builders here do that, slowly, for
random entries and transactions (large amounts, both sides, UETR or not, BIC or a name,
and texts that need escaping)."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from samarkand.iso20022 import schemas
from samarkand.iso20022.camt053 import (
    EntryColumns,
    StatementEntry,
    build_statement,
    entries_markup,
    entry_markup,
)
from samarkand.iso20022.camt054 import AccountEntries, build_notification
from samarkand.iso20022.markup import checked_column, escape_text, uuid_texts
from samarkand.iso20022.pacs002 import (
    ACCEPTED_STATUSES,
    build_file_rejection,
    build_status_report,
)
from samarkand.iso20022.pacs008 import CreditTransferMessage, TxRejection, intake_pacs008
from samarkand.iso20022.problems import IsoRejection
from samarkand.money import default_registry
from samarkand.money.currency import Currency

from .builders import BICS, bulk, pacs008

DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>\n"
UUID4 = re.compile(r"[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}")
BIC = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?")
CURRENCIES = [("CNY", 2), ("JPY", 0), ("KWD", 3), ("CLF", 4), ("IRR", 2)]


def element(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    tag = parent.tag
    child = etree.SubElement(parent, tag[: tag.index("}") + 1] + name)
    if text is not None:
        child.text = text
    return child


def decimal_text(minor: int, exponent: int) -> str:
    return f"{Decimal(minor).scaleb(-exponent):f}"


def reference_entry(parent: etree._Element, entry: StatementEntry, code: str, exponent: int):
    """An Ntry built element by element, as camt053 did before it wrote text."""
    indicator = "CRDT" if entry.credit else "DBIT"
    amount = decimal_text(entry.amount, exponent)
    node = element(parent, "Ntry")
    element(node, "Amt", amount).set("Ccy", code)
    element(node, "CdtDbtInd", indicator)
    element(element(node, "Sts"), "Cd", "BOOK")
    element(element(node, "BookgDt"), "DtTm", entry.booked_at)
    proprietary = element(element(node, "BkTxCd"), "Prtry")
    element(proprietary, "Cd", entry.transaction_code)
    element(proprietary, "Issr", "SAMARKAND")
    details = element(element(node, "NtryDtls"), "TxDtls")
    is_uetr = UUID4.fullmatch(entry.reference) is not None
    element(element(details, "Refs"), "UETR" if is_uetr else "AcctSvcrRef", entry.reference)
    element(details, "Amt", amount).set("Ccy", code)
    element(details, "CdtDbtInd", indicator)
    agent = element(element(details, "RltdAgts"), "DbtrAgt" if entry.credit else "CdtrAgt")
    is_bic = BIC.fullmatch(entry.counterparty) is not None
    element(element(agent, "FinInstnId"), "BICFI" if is_bic else "Nm", entry.counterparty)


def reference_notification(accounts: list[AccountEntries], msg_id: str, created_at: str) -> bytes:
    namespace = schemas.namespace(schemas.CAMT_054)
    root = etree.Element("{" + namespace + "}Document", nsmap={None: namespace})
    message = element(root, "BkToCstmrDbtCdtNtfctn")
    header = element(message, "GrpHdr")
    element(header, "MsgId", msg_id)
    element(header, "CreDtTm", created_at)
    for number, account in enumerate(accounts, start=1):
        notification = element(message, "Ntfctn")
        element(notification, "Id", f"{msg_id[:30]}-{number}")
        element(notification, "CreDtTm", created_at)
        node = element(notification, "Acct")
        element(element(element(node, "Id"), "Othr"), "Id", account.account_id_text)
        element(node, "Ccy", account.currency)
        assert isinstance(account.entries, list)
        for entry in account.entries:
            reference_entry(notification, entry, account.currency, account.exponent)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# Texts XML can carry, with every character element text or an attribute escapes.
TRICKY = st.text(
    st.sampled_from("&<>\"'\r\n\t ]]>;#aZ9-é€😀") | st.characters(codec="utf-8"),
    min_size=1,
    max_size=35,
).filter(
    lambda text: re.search("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]", text) is None
)
UETRS = st.uuids(version=4).map(str)


@st.composite
def near_uetrs(draw: st.DrawFn) -> str:
    """A UETR with one or two characters changed, dropped or added: most are no UETR."""
    text = draw(UETRS)
    for _ in range(draw(st.integers(1, 2))):
        at = draw(st.integers(0, len(text) - 1))
        other = draw(st.sampled_from("0123456789abcdefABCDEF-4g\n"))
        change = draw(st.sampled_from(["replace", "drop", "add"]))
        if change == "replace":
            text = text[:at] + other + text[at + 1 :]
        else:
            text = text[:at] + text[at + 1 :] if change == "drop" else text[:at] + other + text[at:]
    return text


CARRIED = near_uetrs().filter(lambda text: len(text) <= 35 or UUID4.fullmatch(text) is not None)
REFERENCES = UETRS | CARRIED | TRICKY | st.sampled_from(["transfer 42", "0x1f", "A&B <C>"])
PARTIES = (
    st.from_regex(BIC, fullmatch=True)
    | st.sampled_from(["SMAACN22XXX", "SMABRU22", "mirror", 'Bank "A" & <Sons>\r'])
    | TRICKY
)
AMOUNTS = st.integers(1, 10**18 - 1) | st.integers(1, 10**6)
TIMES = st.sampled_from(["2026-01-05T09:30:00Z", "2026-01-05T09:30:00.000000001Z"]) | TRICKY
CODES = st.sampled_from(["PAYMENT", "LIQUIDITY", "A&B<\r>"])


@st.composite
def entry_lists(draw: st.DrawFn) -> list[StatementEntry]:
    # Half the lists share one booking time and code (a message's notification), half
    # draw them per entry (a statement): the two ways entries_markup fills its texts.
    shared = draw(st.booleans())
    time, code = draw(TIMES), draw(CODES)
    return draw(
        st.lists(
            st.builds(
                StatementEntry,
                AMOUNTS,
                st.booleans(),
                st.just(time) if shared else TIMES,
                REFERENCES,
                PARTIES,
                st.just(code) if shared else CODES,
            ),
            min_size=1,
            max_size=12,
        )
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.sampled_from(CURRENCIES), entry_lists()), min_size=1, max_size=3),
    st.sampled_from(["SMK1-054-1", "M&<>\r", "x" * 35, "&<" * 17 + ">"]),
    st.booleans(),
)
def test_a_notification_is_the_element_by_element_one(
    accounts: list[tuple[tuple[str, int], list[StatementEntry]]], msg_id: str, as_columns: bool
) -> None:
    given_accounts = [
        AccountEntries(f"{156 << 64 | n}", code, exponent, entries)
        for n, ((code, exponent), entries) in enumerate(accounts)
    ]
    expected = reference_notification(given_accounts, msg_id, "2026-01-05T18:00:00Z")
    if as_columns:
        given_accounts = [
            replace(account, entries=EntryColumns.of(account.entries)) for account in given_accounts
        ]
    got = build_notification(given_accounts, msg_id=msg_id, created_at="2026-01-05T18:00:00Z")
    assert got == expected
    bare = build_notification(
        given_accounts, msg_id=msg_id, created_at="2026-01-05T18:00:00Z", xml_declaration=False
    )
    assert bare == expected.removeprefix(DECLARATION)


@settings(max_examples=200, deadline=None)
@given(entry_lists(), st.sampled_from(CURRENCIES))
def test_entry_markup_of_each_entry_joins_to_entries_markup(
    entries: list[StatementEntry], currency: tuple[str, int]
) -> None:
    code, exponent = currency
    money = Currency(code, 1, exponent, exponent, code, True)
    one_by_one = "".join(entry_markup(entry, money) for entry in entries)
    assert entries_markup(EntryColumns.of(entries), money) == one_by_one
    namespace = schemas.namespace(schemas.CAMT_053)
    parent = etree.Element("{" + namespace + "}Stmt", nsmap={None: namespace})
    for entry in entries:
        reference_entry(parent, entry, code, exponent)
    expected = etree.tostring(parent, encoding="unicode")
    assert f'<Stmt xmlns="{namespace}">{one_by_one}</Stmt>' == expected


def test_a_statement_carries_the_element_by_element_entries() -> None:
    uetr = str(uuid.UUID(int=0x3B0E0C2A5F1D4C3E9A7B1D2E3F405162))
    entries = [
        StatementEntry(10**18 - 1, True, "2026-01-05T09:30:00.000000001Z", uetr, "SMAARU22"),
        StatementEntry(
            5, False, "2026-01-05T09:31:00.000000002Z", "a<b>&c\r", 'Bank "A" & <Sons>', "CODE"
        ),
    ]
    arguments = {
        "account_id_text": "1",
        "currency": "IRR",
        "exponent": 2,
        "opening_balance": 0,
        "closing_balance": 10**18 - 6,
        "msg_id": "M",
        "created_at": "2026-01-05T18:00:00Z",
        "statement_id": "S",
        "from_date": "2026-01-05",
        "to_date": "2026-01-05",
    }
    from_entries = build_statement(entries=entries, **arguments)
    assert build_statement(entries=EntryColumns.of(entries), **arguments) == from_entries
    namespace = schemas.namespace(schemas.CAMT_053)
    parent = etree.Element("{" + namespace + "}Stmt", nsmap={None: namespace})
    for entry in entries:
        reference_entry(parent, entry, "IRR", 2)
    markup = etree.tostring(parent, encoding="unicode").split(">", 1)[1].rsplit("<", 1)[0]
    assert markup.encode() in from_entries
    assert b"a&lt;b&gt;&amp;c&#13;" in from_entries


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amounts": [0]}, "entry amount must be a positive int, got 0"),
        ({"amounts": [True]}, "entry amount must be a positive int, got True"),
        ({"amounts": [1.5]}, "entry amount must be a positive int, got 1.5"),
        ({"amounts": [10**18]}, "has more than 18 digits"),
        ({"references": ["x" * 36]}, "reference must be 1 to 35 characters"),
        ({"references": [""]}, "reference must be 1 to 35 characters"),
        ({"references": [7]}, "reference must be 1 to 35 characters"),
        ({"references": ["ref\x00"]}, "reference holds a character XML cannot carry"),
        ({"counterparties": ["n" * 141]}, "counterparty must be 1 to 140 characters"),
        ({"counterparties": ["Bank\x0b"]}, "counterparty holds a character XML cannot carry"),
        ({"booked_at": ["2026\ufffe"]}, "booked_at holds a character XML cannot carry"),
        ({"booked_at": [None]}, "booked_at holds a character XML cannot carry"),
        ({"transaction_codes": ["\x01"]}, "transaction_code holds a character XML"),
        ({"credits": [True, False]}, "entry columns of different lengths"),
    ],
)
def test_what_an_entry_cannot_carry_is_refused_naming_the_field(
    change: dict[str, list[object]], message: str
) -> None:
    columns = {
        "amounts": [1],
        "credits": [True],
        "booked_at": ["2026-01-05T09:30:00Z"],
        "references": ["transfer 1"],
        "counterparties": ["SMAACN22"],
        "transaction_codes": ["PAYMENT"],
    }
    money = Currency("CNY", 156, 2, 2, "CNY", True)
    with pytest.raises(ValueError, match=re.escape(message)):
        entries_markup(EntryColumns(**(columns | change)), money)  # type: ignore[arg-type]


def test_a_uetr_among_other_references_is_still_a_uetr() -> None:
    money = Currency("CNY", 156, 2, 2, "CNY", True)
    uetr = str(uuid.UUID(int=0x3B0E0C2A5F1D4C3E9A7B1D2E3F405162))
    columns = EntryColumns(
        [1, 2, 3], [True, False, True], ["t"] * 3, [uetr, "ref&", uetr], ["SMAACN22"] * 3
    )
    markup = entries_markup(columns, money)
    assert markup.count(f"<UETR>{uetr}</UETR>") == 2
    assert "<AcctSvcrRef>ref&amp;</AcctSvcrRef>" in markup
    # Not a UUIDv4Identifier (upper case): an AcctSvcrRef, and 36 characters are too many.
    with pytest.raises(ValueError, match="reference must be 1 to 35 characters"):
        entries_markup(replace(columns, references=[uetr, "ref&", uetr.upper()]), money)


def test_an_empty_column_set_is_no_entries() -> None:
    money = Currency("CNY", 156, 2, 2, "CNY", True)
    assert entries_markup(EntryColumns([], [], [], [], []), money) == ""


@settings(max_examples=1000, deadline=None)
@given(st.lists(UETRS | near_uetrs(), min_size=1, max_size=4))
def test_references_are_uetrs_exactly_when_each_matches_uuidv4identifier(
    references: list[str],
) -> None:
    money = Currency("CNY", 156, 2, 2, "CNY", True)
    size = len(references)
    if any(len(r) > 35 and UUID4.fullmatch(r) is None for r in references):
        with pytest.raises(ValueError, match="reference must be 1 to 35 characters"):
            entries_markup(
                EntryColumns(
                    [1] * size, [True] * size, ["t"] * size, references, ["SMAACN22"] * size
                ),
                money,
            )
        return
    markup = entries_markup(
        EntryColumns([1] * size, [True] * size, ["t"] * size, references, ["SMAACN22"] * size),
        money,
    )
    assert re.findall("<(UETR|AcctSvcrRef)>", markup) == [
        "UETR" if UUID4.fullmatch(r) else "AcctSvcrRef" for r in references
    ]


@pytest.mark.parametrize("at", range(35))
def test_a_uetr_with_two_neighbours_swapped_is_judged_as_the_pattern_judges_it(at: int) -> None:
    # Moves a hyphen, the version 4 or the variant to another place, or swaps two digits.
    money = Currency("CNY", 156, 2, 2, "CNY", True)
    uetr = "3b0e0c2a-5f1d-4c3e-9a7b-1d2e3f405162"
    swapped = uetr[:at] + uetr[at + 1] + uetr[at] + uetr[at + 2 :]
    columns = EntryColumns([1, 2], [True, False], ["t"] * 2, [uetr, swapped], ["SMAACN22"] * 2)
    if UUID4.fullmatch(swapped):
        assert entries_markup(columns, money).count("<UETR>") == 2
    else:
        with pytest.raises(ValueError, match="reference must be 1 to 35 characters"):
            entries_markup(columns, money)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 2**128 - 1) | st.sampled_from([0, 2**128 - 1]), max_size=50))
def test_uuid_texts_are_the_canonical_texts(numbers: list[int]) -> None:
    assert uuid_texts(numbers) == [str(uuid.UUID(int=number)) for number in numbers]


@pytest.mark.parametrize("number", [-1, 2**128])
def test_a_number_that_is_no_uuid_is_refused(number: int) -> None:
    with pytest.raises(ValueError, match="2\\*\\*128"):
        uuid_texts([1, number])


@given(st.lists(TRICKY | st.just(""), max_size=5))
def test_a_column_is_escaped_as_lxml_escapes_element_text(texts: list[str]) -> None:
    root = etree.Element("r")
    for text in texts:
        etree.SubElement(root, "t").text = text
    expected = [
        etree.tostring(node, encoding="unicode")[3:-4] if node.text else "" for node in root
    ]
    assert checked_column("t", texts) == expected
    attribute = etree.Element("r")
    for text in texts:
        attribute.set("a", text)
        shown = etree.tostring(attribute, encoding="unicode")
        assert shown == f'<r a="{escape_text(text, attribute=True)}"/>'


# pacs.002 -------------------------------------------------------------------------------

PACS_002_NS = "{" + schemas.namespace(schemas.PACS_002) + "}"


def reference_status_report(
    message: CreditTransferMessage,
    rejections: list[TxRejection],
    msg_id: str,
    created_at: str,
    statuses: dict[int, str],
    original_name: str,
) -> bytes:
    """pacs002.build_status_report as it was, built element by element."""
    group_rejections = [r for r in rejections if r.index is None]
    by_index: dict[int, list[TxRejection]] = {}
    for rejection in rejections:
        if rejection.index is not None:
            by_index.setdefault(rejection.index, []).append(rejection)
    root, report = reference_report(msg_id, created_at)
    original = element(report, "OrgnlGrpInfAndSts")
    element(original, "OrgnlMsgId", message.msg_id)
    element(original, "OrgnlMsgNmId", original_name)
    accepted = {statuses[tx.index] for tx in message.transactions if tx.index not in by_index}
    group_accepted = accepted.pop() if len(accepted) == 1 else "ACSP"
    if group_rejections or (by_index and len(by_index) >= len(message.transactions)):
        group = "RJCT"
    else:
        group = "PART" if by_index else group_accepted
    element(original, "GrpSts", group)
    for problem in group_rejections:
        reference_reason(original, problem.code, clip(f"{problem.path}: {problem.reason}"))
    for tx in message.transactions:
        problems = group_rejections + by_index.get(tx.index, [])
        status = element(report, "TxInfAndSts")
        if tx.instruction_id:
            element(status, "OrgnlInstrId", tx.instruction_id)
        if tx.end_to_end_id:
            element(status, "OrgnlEndToEndId", tx.end_to_end_id)
        if tx.uetr is not None and tx.uetr_text:
            element(status, "OrgnlUETR", tx.uetr_text)
        element(status, "TxSts", "RJCT" if problems else statuses[tx.index])
        for problem in problems:
            reference_reason(status, problem.code, clip(f"{problem.path}: {problem.reason}"))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def reference_report(msg_id: str, created_at: str) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(PACS_002_NS + "Document", nsmap={None: PACS_002_NS[1:-1]})
    report = element(root, "FIToFIPmtStsRpt")
    header = element(report, "GrpHdr")
    element(header, "MsgId", msg_id)
    element(header, "CreDtTm", created_at)
    return root, report


def reference_reason(parent: etree._Element, code: str, text: str) -> None:
    reason = element(parent, "StsRsnInf")
    element(element(reason, "Rsn"), "Cd", code)
    element(reason, "AddtlInf", text)


def clip(text: str) -> str:
    return text if len(text) <= 105 else text[:102] + "..."


def base_message(count: int) -> CreditTransferMessage:
    result = intake_pacs008(
        pacs008(bulk(count)), registry=default_registry(), known_bics=frozenset(BICS)
    )
    assert result.message is not None and not result.rejections
    return result.message


BASE = base_message(6)
IDS = st.none() | st.just("") | TRICKY | st.sampled_from(["I-1", "E2E-1"])


@st.composite
def reports(draw: st.DrawFn) -> tuple[CreditTransferMessage, list[TxRejection], dict[int, str]]:
    count = draw(st.integers(1, 6))
    transactions = []
    for tx in BASE.transactions[:count]:
        uetr_text = draw(st.none() | st.just("") | UETRS | TRICKY)
        transactions.append(
            replace(
                tx,
                instruction_id=draw(IDS),
                end_to_end_id=draw(IDS),
                uetr=draw(st.none() | st.just(tx.uetr)),
                uetr_text=uetr_text,
            )
        )
    message = replace(BASE, msg_id=draw(TRICKY), transactions=tuple(transactions))
    rejection = st.builds(
        TxRejection,
        st.none() | st.integers(1, count),
        st.none() | TRICKY,
        st.sampled_from(["AM12", "CH16", "R&<>"]),
        st.text(max_size=150) | TRICKY,
        st.sampled_from(["/Document/X/CdtTrfTxInf[1]/IntrBkSttlmAmt", "/a&b"]),
    )
    rejections = draw(st.lists(rejection, max_size=4))
    statuses = {tx.index: draw(st.sampled_from(sorted(ACCEPTED_STATUSES))) for tx in transactions}
    return message, rejections, statuses


def xml_safe(rejections: list[TxRejection]) -> bool:
    bad = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    return not any(bad.search(r.reason) for r in rejections)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reports(), st.sampled_from(["SMK1-002", "M&<\r>"]), st.booleans())
def test_a_status_report_is_the_element_by_element_one(
    report: tuple[CreditTransferMessage, list[TxRejection], dict[int, str]],
    msg_id: str,
    one_status: bool,
) -> None:
    message, rejections, statuses = report
    if not xml_safe(rejections):
        with pytest.raises(ValueError, match="XML cannot carry"):
            build_status_report(message, rejections, msg_id=msg_id, created_at="T")
        return
    accepted: str | dict[int, str] = statuses
    if one_status:
        accepted = next(iter(statuses.values()))
        statuses = dict.fromkeys(statuses, accepted)
    expected = reference_status_report(
        message, rejections, msg_id, "2026-11-27T10:00:01Z", statuses, "pacs.009.001.08"
    )
    got = build_status_report(
        message,
        rejections,
        msg_id=msg_id,
        created_at="2026-11-27T10:00:01Z",
        accepted_status=accepted,
        original_name="pacs.009.001.08",
    )
    assert got == expected
    bare = build_status_report(
        message,
        rejections,
        msg_id=msg_id,
        created_at="2026-11-27T10:00:01Z",
        accepted_status=accepted,
        original_name="pacs.009.001.08",
        xml_declaration=False,
    )
    assert bare == expected.removeprefix(DECLARATION)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.builds(
            IsoRejection, st.sampled_from(["CH21", "FF01", "&"]), TRICKY, st.just("") | TRICKY
        ),
        max_size=25,
    )
)
def test_a_file_rejection_is_the_element_by_element_one(problems: list[IsoRejection]) -> None:
    root, report = reference_report("SMK1-002", "2026-11-27T10:00:01Z")
    original = element(report, "OrgnlGrpInfAndSts")
    element(original, "OrgnlMsgId", "M<1>")
    element(original, "OrgnlMsgNmId", "pacs.008.001.08")
    element(original, "GrpSts", "RJCT")
    for problem in problems[:20]:
        where = f"{problem.path}: " if problem.path else ""
        reference_reason(original, problem.code, clip(where + problem.message))
    expected = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    got = build_file_rejection(
        problems,
        original_msg_id="M<1>",
        original_name="pacs.008.001.08",
        msg_id="SMK1-002",
        created_at="2026-11-27T10:00:01Z",
    )
    assert got == expected


@pytest.mark.parametrize("field", ["instruction_id", "end_to_end_id", "uetr_text"])
def test_an_id_xml_cannot_carry_is_refused_naming_it(field: str) -> None:
    tx = replace(BASE.transactions[0], **{field: "E2E\x00"})
    message = replace(BASE, transactions=(tx,))
    names = {"instruction_id": "OrgnlInstrId", "end_to_end_id": "OrgnlEndToEndId"}
    with pytest.raises(ValueError, match=names.get(field, "OrgnlUETR")):
        build_status_report(message, [], msg_id="M", created_at="T")
