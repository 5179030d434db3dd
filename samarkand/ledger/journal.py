"""The in-memory journal: every applied transfer in order, stored as column chunks."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from samarkand.ledger.columns import TransferColumns
from samarkand.ledger.types import Account, LimitChange, Transfer


@dataclass(frozen=True, slots=True)
class Expiries:
    """Pending transfers released by their timeout in one batch, with the time of release."""

    pending_id: tuple[int, ...] = ()
    timestamp: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.pending_id)


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """What one applied batch adds to the journal: the unit a store makes durable.

    `transfers` holds only the events that succeeded, resolved (a post or void carries the
    accounts, ledger and code of its pending transfer; a post carries the amount it posted).
    `timestamp` is the engine's clock after the batch: failed events use up timestamps too, so
    a store keeps it to let a reopened ledger stamp the next batch exactly as this one would.
    `limits` holds the limit changes that succeeded, stamped, in the order they applied.
    """

    sequence: int
    now: int
    accounts: tuple[Account, ...] = ()
    transfers: TransferColumns = field(default_factory=TransferColumns.empty)
    expiries: Expiries = field(default_factory=Expiries)
    timestamp: int = 0
    limits: tuple[LimitChange, ...] = ()

    @property
    def is_empty(self) -> bool:
        return (
            not self.accounts
            and not len(self.transfers)
            and not len(self.expiries)
            and not self.limits
        )


class Journal:
    """Append-only transfer rows, addressed by a global row number."""

    __slots__ = ("_chunks", "_starts", "_length")

    def __init__(self) -> None:
        self._chunks: list[TransferColumns] = []
        self._starts: list[int] = []
        self._length = 0

    def __len__(self) -> int:
        return self._length

    def append(self, chunk: TransferColumns) -> int:
        """Add a chunk; return the row number of its first transfer."""
        start = self._length
        if len(chunk):
            self._chunks.append(chunk)
            self._starts.append(start)
            self._length += len(chunk)
        return start

    def row(self, row: int) -> Transfer:
        index = bisect.bisect_right(self._starts, row) - 1
        if index < 0 or row >= self._length:
            raise IndexError(row)
        return self._chunks[index].transfer_at(row - self._starts[index])

    def field_at(self, name: str, row: int) -> int:
        index = bisect.bisect_right(self._starts, row) - 1
        return int(getattr(self._chunks[index], name)[row - self._starts[index]])

    def columns(self) -> TransferColumns:
        """All rows as one set of columns (used by replay and checks, not on the hot path)."""
        whole = TransferColumns.concat(self._chunks)
        if len(self._chunks) > 1:
            self._chunks = [whole]
            self._starts = [0]
        return whole

    def ids(self) -> np.ndarray:
        return self.columns().id
