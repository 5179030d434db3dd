"""The double-entry ledger: accounts, two-phase transfers, linked chains, batch apply."""

from samarkand.ledger.columns import TransferColumns
from samarkand.ledger.journal import BatchRecord, Expiries, Journal
from samarkand.ledger.state import LedgerState
from samarkand.ledger.types import (
    BATCH_EVENTS_MAX,
    U128_MAX,
    Account,
    AccountFlags,
    Balance,
    CreateAccountResult,
    CreateTransferResult,
    LimitChange,
    PendingStatus,
    SetLimitResult,
    Transfer,
    TransferFlags,
)

__all__ = [
    "BATCH_EVENTS_MAX",
    "U128_MAX",
    "Account",
    "AccountFlags",
    "Balance",
    "BatchRecord",
    "CreateAccountResult",
    "CreateTransferResult",
    "Expiries",
    "Journal",
    "LedgerState",
    "LimitChange",
    "PendingStatus",
    "SetLimitResult",
    "Transfer",
    "TransferColumns",
    "TransferFlags",
]
