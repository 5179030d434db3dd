"""A small ledger scenario touching every kind of row a store keeps, and a state comparison.

Ledger 1 is plain, ledger 2 holds accounts with limits, ledger 3 holds the big values: an
account id above 2**127, an amount of 2**128 - 1, transfer ids above 2**64, user data of
2**128 - 2. Steps run two seconds apart, so a pending transfer with a 1 s timeout expires at
the next step.
"""

from __future__ import annotations

from collections.abc import Iterator

from samarkand.ledger import Account, LedgerState, Transfer
from samarkand.ledger.columns import FIELD_NAMES
from samarkand.ledger.types import AccountFlags, PendingStatus, TransferFlags

LINKED = TransferFlags.LINKED
PENDING = TransferFlags.PENDING
POST = TransferFlags.POST_PENDING
VOID = TransferFlags.VOID_PENDING
DEBITS_LIMITED = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS

NS = 1_000_000_000
START_NS = 1_767_254_400 * NS
BIG_ACCOUNT = 2**127 + 5
BIG_AMOUNT = 2**128 - 1
BIG_USER_DATA = 2**128 - 2
BIG_ID = 2**64 + 3
ABOVE_INT64 = 2**63 + 11

ACCOUNTS = [
    Account(1, 1, 1),
    Account(2, 1, 1),
    Account(3, 1, 1, flags=DEBITS_LIMITED, user_data=7),
    Account(21, 2, 1, flags=DEBITS_LIMITED, limit=500),
    Account(22, 2, 1),
    Account(31, 3, 1),
    Account(BIG_ACCOUNT, 3, 1, user_data=BIG_USER_DATA),
    Account(33, 3, 1),
    Account(34, 3, 1),
]


def t(id: int, debit: int, credit: int, amount: int, ledger: int = 1, **fields: int) -> Transfer:
    return Transfer(id, debit, credit, amount, ledger, 1, **fields)


# Each step: transfers applied at START_NS + step * NS.
STEPS: list[list[Transfer]] = [
    [
        t(101, 1, 2, 1_000),
        t(102, 1, 3, 50),
        t(103, 21, 22, 400, ledger=2),
        t(104, 21, 22, 400, ledger=2),  # beyond the limit of 500: exceeds_credits
        t(105, 1, 2, 70, flags=PENDING, timeout=1),  # expires at the next step
        t(106, 1, 2, 80, flags=PENDING),
        t(107, 2, 1, 90, flags=PENDING),
    ],
    [
        Transfer(201, 0, 0, 30, 0, 0, flags=POST, pending_id=106),  # posts 30 of 80
        Transfer(202, 0, 0, 0, 0, 0, flags=VOID, pending_id=107),
        t(203, 1, 2, 5, flags=LINKED),
        t(204, 2, 3, 5, flags=LINKED),
        t(205, 3, 1, 5),  # a chain that succeeds
        t(206, 1, 2, 5, flags=LINKED),
        t(207, 3, 1, 10_000),  # 3 cannot go below zero: the whole chain fails
        t(101, 1, 2, 1_000),  # exists
    ],
    [
        t(BIG_ID, 31, BIG_ACCOUNT, BIG_AMOUNT, ledger=3, user_data=BIG_USER_DATA),
        t(BIG_ID + 1, 33, 34, ABOVE_INT64, ledger=3, flags=PENDING, user_data=2**100),
        t(301, 1, 2, 1),
    ],
    [
        Transfer(2**127 + 9, 0, 0, 0, 0, 0, flags=POST, pending_id=BIG_ID + 1),
        t(401, 2, 1, 3, flags=PENDING, timeout=1),
    ],
    [t(501, 1, 2, 2)],  # 401 expires here
]


def steps() -> Iterator[tuple[list[Transfer], int]]:
    for index, transfers in enumerate(STEPS, start=1):
        yield transfers, START_NS + index * 2 * NS


def differences(a: LedgerState, b: LedgerState) -> list[str]:
    """How two states differ (empty when they are the same ledger)."""
    found = []
    if a.accounts != b.accounts:
        found.append("accounts")
    for account in a.accounts:
        if account.id in b.account_slot and a.balance(account.id) != b.balance(account.id):
            found.append(f"balance of {account.id}")
    if a.pending_status != b.pending_status:
        found.append("pending statuses")
    if open_expiries(a) != open_expiries(b):
        found.append("expiry times of open pending transfers")
    journal_a, journal_b = a.journal.columns(), b.journal.columns()
    for name in FIELD_NAMES:
        if getattr(journal_a, name).tolist() != getattr(journal_b, name).tolist():
            found.append(f"journal column {name}")
    if (a.batches, a.timestamp) != (b.batches, b.timestamp):
        found.append(f"counter and clock {(a.batches, a.timestamp)} != {(b.batches, b.timestamp)}")
    return found


def open_expiries(state: LedgerState) -> dict[int, int]:
    """When each still-pending transfer expires (the live state keeps stale entries too)."""
    return {
        pending_id: expires_at
        for pending_id, expires_at in state.pending_expires_at.items()
        if state.pending_status.get(pending_id) == PendingStatus.PENDING
    }
