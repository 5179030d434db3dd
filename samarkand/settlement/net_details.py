"""Which payments each net settlement posting carries.

A set settled at once (bilateral or multilateral offsetting, a DNS window, cross-currency
offsetting) moves each account by its net position only: the journal holds one pay-in or
pay-out per account (`netting.settlement_transfers`, code NET_SETTLEMENT, the set's number
in its user data) and nothing of the payments behind it. The engine's events say that a
payment settled and how, but not in which set (two sets may settle at one instant). So the
engine records, as it settles each set, one row per payment (per leg of a cross-currency
payment) with the journal transfer that booked its debit side and its credit side: a
statement reads the payments behind a net posting from here, as they were settled, and
recomputes nothing. A side whose account's net position in the set was zero was booked by
no transfer (id 0): the payment settled on that account all the same.

Rows are kept as columns: appended to lists as sets settle (a few appends per payment on
the settlement path), turned into arrays when read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

import numpy as np

from samarkand.ledger.columns import column

NO_TRANSFER = 0  # the side of an account whose net position in the set was zero


@dataclass(frozen=True, slots=True)
class NetDetailColumns:
    """The rows, one array per field, all of one length; row ``i`` of each is one payment
    (or one leg of a cross-currency payment) of a set settled at once."""

    reference: np.ndarray  # the set's number (the user data of its net transfers)
    at_ns: np.ndarray  # when the set settled (the engine's time)
    uetr: np.ndarray  # the payment's UETR
    debit_account_id: np.ndarray
    credit_account_id: np.ndarray
    amount: np.ndarray  # minor units, > 0
    debit_transfer_id: np.ndarray  # the net transfer that booked the debit side, or 0
    credit_transfer_id: np.ndarray  # the net transfer that booked the credit side, or 0

    def __len__(self) -> int:
        return len(self.reference)


_NAMES = tuple(f.name for f in fields(NetDetailColumns))
_DTYPES = dict.fromkeys(_NAMES, np.uint64)  # `column` widens any that does not fit
# The fields a leg fills, in `NetDetails.add`'s order.
_LEG_NAMES = (
    "uetr", "debit_account_id", "credit_account_id",
    "amount", "debit_transfer_id", "credit_transfer_id",
)  # fmt: skip


class NetDetails:
    """The rows of every set the engine settled at once, in the order it settled them."""

    __slots__ = ("_buffer", "_whole")

    def __init__(self) -> None:
        self._buffer: dict[str, list[int]] = {name: [] for name in _NAMES}
        self._whole = _empty()

    def __len__(self) -> int:
        return len(self._whole) + len(self._buffer["reference"])

    def add(
        self,
        reference: int,
        at_ns: int,
        legs: Iterable[tuple[int, int, int, int]],
        booked: Mapping[int, int],
    ) -> None:
        """Record set ``reference`` settled at ``at_ns``: its ``legs`` (UETR, debit account,
        credit account, amount) and ``booked``, the net transfer id of each account whose
        net position was not zero."""
        buffer = self._buffer
        # Bound appends, one row at a time as `legs` yields it: no row is kept beyond its
        # turn (a list of them would wake the garbage collector on a large set).
        uetr, debit_id, credit_id, amount, debit_by, credit_by = (
            buffer[name].append for name in _LEG_NAMES
        )
        get = booked.get
        before = len(buffer["uetr"])
        for payment, debit, credit, value in legs:
            uetr(payment)
            debit_id(debit)
            credit_id(credit)
            amount(value)
            debit_by(get(debit, NO_TRANSFER))
            credit_by(get(credit, NO_TRANSFER))
        count = len(buffer["uetr"]) - before
        buffer["reference"] += [reference] * count
        buffer["at_ns"] += [at_ns] * count

    def columns(self) -> NetDetailColumns:
        """Every row as columns (the rows added since the last call are made arrays once)."""
        buffer = self._buffer
        if buffer["reference"]:
            made = {name: column(buffer[name], _DTYPES[name]) for name in _NAMES}
            whole = self._whole
            self._whole = NetDetailColumns(
                **{name: np.concatenate([getattr(whole, name), made[name]]) for name in _NAMES}
            )
            self._buffer = {name: [] for name in _NAMES}
        return self._whole


def _empty() -> NetDetailColumns:
    return NetDetailColumns(**{name: np.empty(0, dtype=_DTYPES[name]) for name in _NAMES})
