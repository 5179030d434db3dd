"""The parts of a statement that come from what the engine recorded besides the journal: the
day each posting was made in (`day_times`) and the payments behind each net settlement
posting (`batches_of`), as columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from samarkand.hub.calendar import NEVER
from samarkand.ledger.types import TransferCode
from samarkand.settlement.net_details import NO_TRANSFER, NetDetailColumns

NET_SETTLEMENT = int(TransferCode.NET_SETTLEMENT)


class StatementInconsistent(RuntimeError):
    """The entries do not add up to the ledger's balance (a bug: nothing is written)."""


@dataclass(frozen=True, slots=True)
class StatementBatch:
    """The payments of one set settled at once that moved the account: behind the day's net
    posting `posting` (its index among the day's postings), or, when they cancel out on the
    account and nothing was posted, a batch of its own after `position` of the day's
    postings. `net`: what they moved, signed (credits positive)."""

    posting: int | None
    position: int
    reference: int  # the set's number (the user data of its net transfers)
    at_ns: int  # its booking time: its posting's ledger time, or when the set settled
    net: int
    uetrs: tuple[int, ...]
    amounts: tuple[int, ...]
    credits: tuple[bool, ...]
    counterparties: tuple[str, ...]  # the owner of each payment's other account


def day_times(times: np.ndarray, rows: np.ndarray, days: Sequence[tuple[int, int]]) -> np.ndarray:
    """The time by which each of `rows` (journal or `NetDetails` rows; `times`, theirs) is
    put on a statement: its own, kept within the business day it was made in. `days`: where
    each day starts (`DayStart.at_ns`) and how many rows were made before it opened. A day
    starts after every earlier row's time when the hub's clock runs forward, so this moves
    a time only when a clock went back (and a set that moved nothing, settled at the very
    instant a day then opened): a row is never put in a day it was not made in."""
    times = np.asarray(times).astype(np.int64)
    if not days or not len(rows):
        return times
    starts = np.array([0, *(at for at, _ in days)], dtype=np.int64)
    lasts = np.array([*(at - 1 for at, _ in days), NEVER], dtype=np.int64)
    counts = np.array([count for _, count in days], dtype=np.int64)
    day = np.searchsorted(counts, rows, side="right")
    return np.minimum(np.maximum(times, starts[day]), lasts[day])


class DayPostings(NamedTuple):
    """The day's postings on the account, as columns in journal order."""

    transfer_ids: list[int]
    codes: list[int]
    user_data: list[int]
    amounts: list[int]
    credits: list[bool]
    booked_ns: list[int]  # ledger timestamps
    day_ns: list[int]  # the times `day_times` puts them on statements by


def batches_of(
    details: NetDetailColumns,
    account_id: int,
    window: tuple[int, int],
    days: Sequence[tuple[int, int]],
    postings: DayPostings,
    owner_of: Callable[[int], str],
) -> tuple[StatementBatch, ...]:
    """The batches of the account `account_id` in the day `window` ([start, end) ns): one
    per net posting of the day that `details` explains, and one per set settled in the
    window whose payments cancelled out on the account. `days`: as for `day_times`, counted
    in `details` rows. `StatementInconsistent` if a net posting's payments do not add up to
    it (a bug)."""
    debit_rows = np.flatnonzero(np.asarray(details.debit_account_id == account_id, dtype=bool))
    credit_rows = np.flatnonzero(np.asarray(details.credit_account_id == account_id, dtype=bool))
    if not len(debit_rows) and not len(credit_rows):
        return ()
    # The account's side of each payment, in the order the sets settled.
    rows = np.concatenate([debit_rows, credit_rows])
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    side_credit = np.concatenate(
        [np.zeros(len(debit_rows), dtype=bool), np.ones(len(credit_rows), dtype=bool)]
    )[order]
    booked_by = np.concatenate(
        [details.debit_transfer_id[debit_rows], details.credit_transfer_id[credit_rows]]
    )[order]
    # Only the sides of this day: booked by one of its net postings, or by none in its span.
    net_postings = [i for i, code in enumerate(postings.codes) if code == NET_SETTLEMENT]
    keep = np.isin(booked_by, [postings.transfer_ids[i] for i in net_postings])
    unposted = np.flatnonzero(booked_by == NO_TRANSFER)
    times = day_times(details.at_ns[rows[unposted]], rows[unposted], days)
    inside = (times >= window[0]) & (times < window[1])
    keep[unposted[inside]] = True
    day_times_of = dict(zip(unposted[inside].tolist(), times[inside].tolist(), strict=True))
    kept = np.flatnonzero(keep)
    rows, side_credit, booked_by = rows[kept], side_credit[kept], booked_by[kept]
    sides = _Sides(details, rows, side_credit, owner_of)
    batches = []
    by_transfer = np.argsort(booked_by, kind="stable")  # a posting's payments stay in order
    keys = booked_by[by_transfer]
    for index in net_postings:
        transfer_id = postings.transfer_ids[index]
        low = int(np.searchsorted(keys, transfer_id, side="left"))
        high = int(np.searchsorted(keys, transfer_id, side="right"))
        if low == high:
            continue  # no record of this posting's payments: it stays one entry
        batch = sides.batch(
            by_transfer[low:high].tolist(), posting=index, at_ns=postings.booked_ns[index]
        )
        amount, reference = postings.amounts[index], postings.user_data[index]
        signed = amount if postings.credits[index] else -amount
        if batch.net != signed or batch.reference != reference:
            raise StatementInconsistent(
                f"net posting {transfer_id} of set {reference} moved {signed}; "
                f"its payments (set {batch.reference}) {batch.net}"
            )
        batches.append(batch)
    alone = np.flatnonzero(booked_by == NO_TRANSFER)  # in the day's span, in order
    if len(alone):
        day_ns = np.asarray(postings.day_ns, dtype=np.int64)
        sets = details.reference[rows[alone]]
        cuts = np.flatnonzero(sets[1:] != sets[:-1]) + 1  # a set's sides are next to each other
        for group in np.split(alone, cuts):
            moment = day_times_of[int(kept[group[0]])]
            position = int(np.searchsorted(day_ns, moment, side="right"))
            batches.append(sides.batch(group.tolist(), position=position, at_ns=moment))
    return tuple(batches)


class _Sides:
    """The account's side of each payment of `details` at `rows`, as Python values taken
    from the columns once."""

    def __init__(
        self,
        details: NetDetailColumns,
        rows: np.ndarray,
        side_credit: np.ndarray,
        owner_of: Callable[[int], str],
    ) -> None:
        self.references = details.reference[rows].tolist()
        self.uetrs = details.uetr[rows].tolist()
        self.amounts = details.amount[rows].tolist()
        self.credits = side_credit.tolist()
        others = np.where(
            side_credit, details.debit_account_id[rows], details.credit_account_id[rows]
        ).tolist()
        owners = {other: owner_of(int(other)) for other in set(others)}
        self.counterparties = [owners[other] for other in others]

    def batch(
        self, members: list[int], *, at_ns: int, posting: int | None = None, position: int = 0
    ) -> StatementBatch:
        """The batch of the sides at `members` (positions in `rows`, in order)."""
        amounts = tuple(self.amounts[m] for m in members)
        credits = tuple(self.credits[m] for m in members)
        return StatementBatch(
            posting=posting,
            position=position,
            reference=self.references[members[0]],
            at_ns=at_ns,
            net=sum(a if c else -a for a, c in zip(amounts, credits, strict=True)),
            uetrs=tuple(self.uetrs[m] for m in members),
            amounts=amounts,
            credits=credits,
            counterparties=tuple(self.counterparties[m] for m in members),
        )
