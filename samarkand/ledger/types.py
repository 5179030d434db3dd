"""Accounts, transfers, flags and result codes of the double-entry ledger.

The semantics follow TigerBeetle's accounts and transfers so that an engineer who knows one
knows the other: two-phase transfers, linked chains, idempotent ids and one precise result
code per event. Values are plain Python ints: ids, amounts and balances go up to 2**128 - 1.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

U128_MAX = 2**128 - 1
U64_MAX = 2**64 - 1
U32_MAX = 2**32 - 1
U16_MAX = 2**16 - 1
INT64_MAX = 2**63 - 1

BATCH_EVENTS_MAX = 8190
"""Most events one batch may carry (TigerBeetle's batch size for transfers)."""

NS_PER_SECOND = 1_000_000_000


class AccountFlags(enum.IntFlag):
    NONE = 0
    LINKED = 1 << 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1 << 1
    CREDITS_MUST_NOT_EXCEED_DEBITS = 1 << 2
    CLOSED = 1 << 3


ACCOUNT_FLAGS_KNOWN = int(
    AccountFlags.LINKED
    | AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    | AccountFlags.CLOSED
)


class TransferFlags(enum.IntFlag):
    NONE = 0
    LINKED = 1 << 0
    PENDING = 1 << 1
    POST_PENDING = 1 << 2
    VOID_PENDING = 1 << 3


TRANSFER_FLAGS_KNOWN = int(
    TransferFlags.LINKED
    | TransferFlags.PENDING
    | TransferFlags.POST_PENDING
    | TransferFlags.VOID_PENDING
)
TRANSFER_FLAGS_PHASE = int(
    TransferFlags.PENDING | TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING
)


@dataclass(frozen=True, slots=True)
class Account:
    """An account in one ledger (one ledger per currency).

    `limit` is the intraday credit a central bank grants: an account that must not let debits
    exceed credits may still go `limit` below zero (or, for the mirror flag, above).
    `timestamp` is assigned by the engine; callers leave it 0.
    """

    id: int
    ledger: int
    code: int
    flags: int = 0
    user_data: int = 0
    limit: int = 0
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class Transfer:
    """One event of a transfer batch.

    For `post_pending` and `void_pending`, `debit_account_id`, `credit_account_id`, `ledger`
    and `code` may be 0 (taken from the pending transfer) or must match it. For
    `post_pending`, `amount` 0 posts the whole pending amount; a smaller amount posts part
    and releases the rest. `timeout` (seconds) applies to pending transfers only.
    `user_data` carries the payment's UETR as a 128-bit integer.
    """

    id: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    ledger: int
    code: int
    flags: int = 0
    pending_id: int = 0
    timeout: int = 0
    user_data: int = 0
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class LimitChange:
    """One event of a limit batch: `account_id`'s intraday credit becomes `limit`.

    Only its central bank grants intraday credit, so only the hub (on the central bank's
    word) sends these. `timestamp` is assigned by the engine; callers leave it 0.
    """

    account_id: int
    limit: int
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class Balance:
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    @property
    def net_credit(self) -> int:
        """Posted credits minus posted debits: what a settlement account holds."""
        return self.credits_posted - self.debits_posted


class CreateAccountResult(enum.IntEnum):
    OK = 0
    LINKED_EVENT_FAILED = 1
    LINKED_EVENT_CHAIN_OPEN = 2
    TIMESTAMP_MUST_BE_ZERO = 3
    RESERVED_FLAG = 4
    ID_MUST_NOT_BE_ZERO = 5
    ID_MUST_NOT_BE_INT_MAX = 6
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = 7
    LEDGER_MUST_NOT_BE_ZERO = 8
    CODE_MUST_NOT_BE_ZERO = 9
    VALUE_OUT_OF_RANGE = 10
    EXISTS_WITH_DIFFERENT_FLAGS = 11
    EXISTS_WITH_DIFFERENT_USER_DATA = 12
    EXISTS_WITH_DIFFERENT_LEDGER = 13
    EXISTS_WITH_DIFFERENT_CODE = 14
    EXISTS_WITH_DIFFERENT_LIMIT = 15
    EXISTS = 16
    BATCH_TOO_LARGE = 17


class CreateTransferResult(enum.IntEnum):
    OK = 0
    LINKED_EVENT_FAILED = 1
    LINKED_EVENT_CHAIN_OPEN = 2
    TIMESTAMP_MUST_BE_ZERO = 3
    RESERVED_FLAG = 4
    ID_MUST_NOT_BE_ZERO = 5
    ID_MUST_NOT_BE_INT_MAX = 6
    VALUE_OUT_OF_RANGE = 7
    EXISTS_WITH_DIFFERENT_FLAGS = 8
    EXISTS_WITH_DIFFERENT_PENDING_ID = 9
    EXISTS_WITH_DIFFERENT_TIMEOUT = 10
    EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID = 11
    EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID = 12
    EXISTS_WITH_DIFFERENT_AMOUNT = 13
    EXISTS_WITH_DIFFERENT_USER_DATA = 14
    EXISTS_WITH_DIFFERENT_LEDGER = 15
    EXISTS_WITH_DIFFERENT_CODE = 16
    EXISTS = 17
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = 18
    DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO = 19
    DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX = 20
    CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO = 21
    CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX = 22
    ACCOUNTS_MUST_BE_DIFFERENT = 23
    PENDING_ID_MUST_BE_ZERO = 24
    PENDING_ID_MUST_NOT_BE_ZERO = 25
    PENDING_ID_MUST_NOT_BE_INT_MAX = 26
    PENDING_ID_MUST_BE_DIFFERENT = 27
    TIMEOUT_RESERVED_FOR_PENDING_TRANSFER = 28
    AMOUNT_MUST_NOT_BE_ZERO = 29
    LEDGER_MUST_NOT_BE_ZERO = 30
    CODE_MUST_NOT_BE_ZERO = 31
    DEBIT_ACCOUNT_NOT_FOUND = 32
    CREDIT_ACCOUNT_NOT_FOUND = 33
    ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER = 34
    TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS = 35
    PENDING_TRANSFER_NOT_FOUND = 36
    PENDING_TRANSFER_NOT_PENDING = 37
    PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID = 38
    PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID = 39
    PENDING_TRANSFER_HAS_DIFFERENT_LEDGER = 40
    PENDING_TRANSFER_HAS_DIFFERENT_CODE = 41
    EXCEEDS_PENDING_TRANSFER_AMOUNT = 42
    PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT = 43
    PENDING_TRANSFER_ALREADY_POSTED = 44
    PENDING_TRANSFER_ALREADY_VOIDED = 45
    PENDING_TRANSFER_EXPIRED = 46
    OVERFLOWS_DEBITS_PENDING = 47
    OVERFLOWS_CREDITS_PENDING = 48
    OVERFLOWS_DEBITS_POSTED = 49
    OVERFLOWS_CREDITS_POSTED = 50
    OVERFLOWS_DEBITS = 51
    OVERFLOWS_CREDITS = 52
    OVERFLOWS_TIMEOUT = 53
    EXCEEDS_CREDITS = 54
    EXCEEDS_DEBITS = 55
    DEBIT_ACCOUNT_ALREADY_CLOSED = 56
    CREDIT_ACCOUNT_ALREADY_CLOSED = 57
    BATCH_TOO_LARGE = 58


class SetLimitResult(enum.IntEnum):
    """The outcome of one LimitChange.

    A change is checked for its values' range, then its timestamp, its account, the account's
    flags and last what the account already uses: the first check it fails is its result.
    """

    OK = 0
    ACCOUNT_NOT_FOUND = 1
    VALUE_OUT_OF_RANGE = 2  # account id or limit not an int in 0..2**128 - 1
    ACCOUNT_NOT_LIMITED = 3  # neither limit flag: a limit would bound nothing
    BATCH_TOO_LARGE = 4
    LIMIT_BELOW_USE = 5  # the account already uses more credit than the new limit
    TIMESTAMP_MUST_BE_ZERO = 6


class PendingStatus(enum.IntEnum):
    """What became of a pending transfer."""

    PENDING = 1
    POSTED = 2
    VOIDED = 3
    EXPIRED = 4


class AccountCode(enum.IntEnum):
    """What an account is for (the `code` of an account)."""

    SETTLEMENT = 1
    MIRROR = 2  # a central bank's own account: the source of its currency in the hub
    FX_INVENTORY = 3
    SUSPENSE = 4
    FEE = 5
    CLEARING = 6  # a currency's technical account for sets settled at once; zero at rest


class TransferCode(enum.IntEnum):
    """Why money moved (the `code` of a transfer)."""

    PAYMENT = 1
    LIQUIDITY = 2
    FX = 3
    RETURN = 4
    NET_SETTLEMENT = 5  # pay-in or pay-out of a set settled at once (LSM or DNS window)
