"""pacs.008 intake: the values read, and each hub rule with its ISO code and element path."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from samarkand.iso20022 import Intake, TxRejection, intake_pacs008
from samarkand.money import default_registry

from .builders import BICS, Tx, bulk, pacs008, uetr

REGISTRY = default_registry()
KNOWN = frozenset(BICS)
TX_PATH = "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf"


def intake(data: bytes, known: frozenset[str] = KNOWN) -> Intake:
    result = intake_pacs008(data, registry=REGISTRY, known_bics=known)
    assert result.file_problems == (), result.file_problems
    assert result.message is not None
    return result


def only(result: Intake) -> TxRejection:
    [rejection] = result.rejections
    return rejection


def test_a_single_transfer_is_read_exactly() -> None:
    result = intake(pacs008([Tx(amount="1234.56", priority="HIGH", settlement_date="2026-11-27")]))
    assert result.rejections == ()
    message = result.message
    assert message is not None
    assert (message.msg_id, message.created_at) == ("MSG-1", "2026-11-27T10:00:00+03:00")
    assert (message.number_of_transactions, message.control_sum) == (1, Decimal("1234.56"))
    assert message.settlement_method == "CLRG"
    [tx] = message.transactions
    assert (tx.instruction_id, tx.end_to_end_id) == ("INSTR-1", "E2E-1")
    assert tx.uetr == int(uetr(1).replace("-", ""), 16)
    assert (tx.amount, tx.currency) == (123456, "CNY")
    assert (tx.debtor_agent, tx.creditor_agent) == ("BKCHCNBJXXX", "SABRRUMMXXX")
    assert (tx.debtor_name, tx.creditor_name) == ("Debtor 1", "Creditor 1")
    assert (tx.priority, tx.settlement_date) == ("URGENT", "2026-11-27")


def test_a_bulk_message_is_read_in_order_with_priorities() -> None:
    result = intake(pacs008(bulk(30)))
    assert result.rejections == ()
    assert result.message is not None
    transactions = result.message.transactions
    assert [tx.index for tx in transactions] == list(range(1, 31))
    assert [tx.priority for tx in transactions[8:11]] == ["NORMAL", "URGENT", "NORMAL"]
    assert transactions[2].amount == 403 and transactions[2].currency == "CNY"


def test_file_problems_stop_intake_before_the_rules() -> None:
    result = intake_pacs008(b"<broken", registry=REGISTRY, known_bics=KNOWN)
    assert result.message is None and result.rejections == ()
    assert [p.code for p in result.file_problems] == ["FF01"]


def test_wrong_number_of_transactions_is_am18_on_the_group() -> None:
    rejection = only(intake(pacs008(bulk(3), number_of_transactions=4)))
    assert (rejection.index, rejection.code) == (None, "AM18")
    assert rejection.path == "/Document/FIToFICstmrCdtTrf/GrpHdr/NbOfTxs"
    assert "NbOfTxs is 4 but the message holds 3" in rejection.reason


def test_wrong_control_sum_is_am10_on_the_group() -> None:
    rejection = only(intake(pacs008([Tx(amount="10.00"), Tx(number=2)], control_sum="10.01")))
    assert (rejection.index, rejection.code) == (None, "AM10")
    assert rejection.path == "/Document/FIToFICstmrCdtTrf/GrpHdr/CtrlSum"


def test_control_sum_compares_numbers_not_text() -> None:
    assert intake(pacs008([Tx(amount="10.5")], control_sum="10.50")).rejections == ()


def test_no_control_sum_is_fine() -> None:
    assert intake(pacs008(bulk(2), control_sum=None)).rejections == ()


def test_duplicate_uetr_rejects_the_later_transaction() -> None:
    same = uetr(7)
    transactions = [Tx(number=1, uetr=same), Tx(number=2), Tx(number=3, uetr=same)]
    rejection = only(intake(pacs008(transactions)))
    assert (rejection.index, rejection.end_to_end_id, rejection.code) == (3, "E2E-3", "DUPL")
    assert rejection.path == f"{TX_PATH}[3]/PmtId/UETR"


@pytest.mark.parametrize(
    ("tx", "code", "where"),
    [
        (Tx(debtor_agent="UNKNXXXXXXX"), "DNOR", "/DbtrAgt/FinInstnId/BICFI"),
        (Tx(creditor_agent="UNKNXXXXXXX"), "CNOR", "/CdtrAgt/FinInstnId/BICFI"),
        (Tx(uetr=None), "CH21", "/PmtId"),
        (Tx(amount="12.345", currency="CNY"), "AM12", "/IntrBkSttlmAmt"),
        (Tx(amount="12.5", currency="KWD"), None, None),  # KWD has 3 decimals: fine
        (Tx(amount="0.00"), "AM01", "/IntrBkSttlmAmt"),
        (Tx(currency="USD"), "AM03", "/IntrBkSttlmAmt"),  # carried, not settled
        (Tx(currency="GBP"), "AM11", "/IntrBkSttlmAmt"),  # not carried by the hub
    ],
)
def test_transaction_rules(tx: Tx, code: str | None, where: str | None) -> None:
    result = intake(pacs008([Tx(number=9), tx]))
    if code is None:
        assert result.rejections == ()
        return
    rejection = only(result)
    assert (rejection.index, rejection.code) == (2, code)
    assert rejection.path == f"{TX_PATH}[2]{where}"


def test_three_decimals_in_cny_says_why() -> None:
    rejection = only(intake(pacs008([Tx(amount="12.345", currency="CNY")])))
    assert rejection.code == "AM12"
    assert rejection.path == f"{TX_PATH}/IntrBkSttlmAmt"  # one transaction: no index
    assert "3 decimals but CNY allows 2" in rejection.reason


def test_one_transaction_may_break_several_rules() -> None:
    tx = Tx(uetr=None, amount="1.001", debtor_agent="UNKNXXXXXXX", creditor_agent="UNKNYYYYYYY")
    result = intake(pacs008([tx]))
    assert [r.code for r in result.rejections] == ["CH21", "AM12", "DNOR", "CNOR"]


@pytest.mark.slow
def test_ten_thousand_transactions_intake_and_rate() -> None:
    data = pacs008(bulk(10_000))
    started = time.perf_counter()
    result = intake(data)
    elapsed = time.perf_counter() - started
    assert result.rejections == ()
    assert result.message is not None and len(result.message.transactions) == 10_000
    # A benchmark, not a timed test (DESIGN §10): the rate is printed, not asserted.
    print(f"pacs.008 intake: {10_000 / elapsed:,.0f} transactions/s ({len(data):,} bytes)")
