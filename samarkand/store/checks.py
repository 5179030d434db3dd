"""Checks around persistence: right before a record is written and right after the journal is
read back (STYLE habit 4). They raise, never `assert`, so they survive `python -O`.

Before writing, a record must follow the journal: the next sequence number, a clock that moves
forward, columns of one length, row timestamps strictly increasing inside the batch's window.
After reading, the journal must be whole: sequences 1..n without a gap, every batch holding
exactly the rows its summary counts (written in the same transaction, so a half-written batch
shows as a mismatch), timestamps strictly increasing, ids unique, values in range, and limit
changes naming accounts that were created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from samarkand.ledger.columns import (
    FIELD_NAMES,
    NARROW_DTYPES,
    WIDE_FIELDS,
    TransferColumns,
    column,
)
from samarkand.ledger.journal import BatchRecord, Expiries
from samarkand.ledger.types import U16_MAX, U32_MAX, U64_MAX, U128_MAX, Account, LimitChange
from samarkand.store.port import BatchSummary, LoadedJournal, RecordRejected, StoreCorrupted

PROBLEMS_SHOWN_MAX = 10


@dataclass(slots=True)
class StoredRows:
    """The journal as an adapter read it, before any check: values are plain ints.

    `transfers` maps each transfer field to its values in journal order; the `*_batches`
    lists give the batch sequence each row was written with.
    """

    batches: list[BatchSummary]
    accounts: list[Account]
    account_batches: Sequence[int]
    transfers: dict[str, Sequence[int] | np.ndarray]
    transfer_batches: Sequence[int] | np.ndarray
    expiry_pending_ids: list[int]
    expiry_timestamps: list[int]
    expiry_batches: Sequence[int]
    limits: list[LimitChange]
    limit_batches: Sequence[int]


# ---------------------------------------------------------------------------- before writing


def before_write(record: BatchRecord, last_sequence: int, last_timestamp: int) -> None:
    """Raise `RecordRejected` unless `record` can follow a journal that ends as given."""
    found: list[str] = []
    if record.sequence != last_sequence + 1:
        found.append(f"sequence {record.sequence} does not follow {last_sequence}")
    if not (_is_u64(record.now) and _is_u64(record.timestamp)):
        found.append(f"now {record.now!r} and clock {record.timestamp!r} must be u64 ints")
    elif not record.now <= record.timestamp or record.timestamp <= last_timestamp:
        found.append(
            f"clock {record.timestamp} must be at least now {record.now} and past the "
            f"last stored clock {last_timestamp}"
        )
    transfers = record.transfers
    lengths = {len(getattr(transfers, name)) for name in FIELD_NAMES}
    if len(lengths) != 1:
        found.append(f"transfer columns of different lengths {sorted(lengths)}")
    window = (last_timestamp, record.timestamp)
    if not _increasing_within(transfers.timestamp, *window):
        found.append("transfer timestamps not strictly increasing inside the batch's window")
    if not _increasing_within([a.timestamp for a in record.accounts], *window):
        found.append("account timestamps not strictly increasing inside the batch's window")
    if len(record.expiries.pending_id) != len(record.expiries.timestamp):
        found.append("expiries with pending ids and timestamps of different lengths")
    elif not _increasing_within(record.expiries.timestamp, *window):
        found.append("expiry timestamps not strictly increasing inside the batch's window")
    if not all(_limit_change_in_range(c) for c in record.limits):
        found.append("a limit change holds a value out of range")
    elif not _increasing_within([c.timestamp for c in record.limits], *window):
        found.append("limit change timestamps not strictly increasing inside the batch's window")
    if found:
        raise RecordRejected(f"batch {record.sequence}: " + "; ".join(found))


def _is_u64(value: object) -> bool:
    return type(value) is int and 0 <= value <= U64_MAX


def _increasing_within(values: Sequence[int] | np.ndarray, low: int, high: int) -> bool:
    """Strictly increasing, every value in (low, high]."""
    if not len(values):
        return True
    if not (low < int(values[0]) and int(values[-1]) <= high):
        return False
    if isinstance(values, np.ndarray):
        return bool(np.all(values[1:] > values[:-1]))
    return all(a < b for a, b in zip(values, values[1:], strict=False))


# ---------------------------------------------------------------------------- after reading


def after_read(rows: StoredRows) -> LoadedJournal:
    """The checked journal; `StoreCorrupted` listing what is wrong otherwise."""
    found: list[str] = []
    transfers = _transfer_columns(rows, found)
    batches = rows.batches
    if [b.sequence for b in batches] != list(range(1, len(batches) + 1)):
        found.append("batch sequence is not 1..n without gaps")
    clocks = [b.timestamp for b in batches]
    if not all(_is_u64(b.now) and _is_u64(b.timestamp) and b.now <= b.timestamp for b in batches):
        found.append("a batch's now or clock is out of range")
    elif not _increasing_within(clocks, 0, U64_MAX):
        found.append("batch clocks are not strictly increasing")
    else:
        tables: list[tuple[str, str, Sequence[int] | np.ndarray, Sequence[int] | np.ndarray]] = [
            ("account", "accounts", rows.account_batches, [a.timestamp for a in rows.accounts]),
            ("expiry", "expiries", rows.expiry_batches, rows.expiry_timestamps),
            ("limit change", "limits", rows.limit_batches, [c.timestamp for c in rows.limits]),
        ]
        if transfers is not None:
            tables.append(("transfer", "transfers", rows.transfer_batches, transfers.timestamp))
        for kind, count_field, row_batches, stamps in tables:
            counts = [getattr(b, count_field) for b in batches]
            _check_rows(found, kind, batches, counts, row_batches, stamps)
    account_ids = [a.id for a in rows.accounts]
    if len(set(account_ids)) != len(account_ids):
        found.append("an account id appears twice")
    if not all(_account_in_range(a) for a in rows.accounts):
        found.append("an account holds a value out of range")
    if not all(_limit_change_in_range(c) for c in rows.limits):
        found.append("a limit change holds a value out of range")
    elif not {c.account_id for c in rows.limits} <= set(account_ids):
        found.append("a limit change names an account that was never created")
    if transfers is not None and _has_duplicates(transfers.id):
        found.append("a transfer id appears twice")
    if len(set(rows.expiry_pending_ids)) != len(rows.expiry_pending_ids):
        found.append("a pending transfer expired twice")
    if found or transfers is None:
        shown = "; ".join(found[:PROBLEMS_SHOWN_MAX])
        raise StoreCorrupted(f"the stored journal is corrupted: {shown}")
    return LoadedJournal(
        accounts=tuple(rows.accounts),
        transfers=transfers,
        expiries=Expiries(tuple(rows.expiry_pending_ids), tuple(rows.expiry_timestamps)),
        batches=tuple(batches),
        limits=tuple(rows.limits),
    )


def _account_in_range(a: Account) -> bool:
    return (
        all(type(v) is int for v in (a.id, a.ledger, a.code, a.flags, a.user_data, a.limit))
        and 0 < a.id < U128_MAX
        and 0 < a.ledger <= U32_MAX
        and 0 < a.code <= U16_MAX
        and 0 <= a.flags <= U16_MAX
        and 0 <= a.user_data <= U128_MAX
        and 0 <= a.limit <= U128_MAX
    )


def _limit_change_in_range(c: LimitChange) -> bool:
    return (
        all(type(v) is int for v in (c.account_id, c.limit, c.timestamp))
        and 0 < c.account_id < U128_MAX
        and 0 <= c.limit <= U128_MAX
        and 0 < c.timestamp <= U64_MAX
    )


def _transfer_columns(rows: StoredRows, found: list[str]) -> TransferColumns | None:
    lengths = {len(values) for values in rows.transfers.values()} | {len(rows.transfer_batches)}
    if set(rows.transfers) != set(FIELD_NAMES) or len(lengths) != 1:
        found.append("transfer columns are missing or of different lengths")
        return None
    made = {}
    for name in FIELD_NAMES:
        try:
            made[name] = _exact_column(rows.transfers[name], name)
        except (OverflowError, TypeError, ValueError) as error:
            found.append(f"transfer column {name}: {error}")
    return TransferColumns(**made) if len(made) == len(FIELD_NAMES) else None


def _exact_column(values: Sequence[int] | np.ndarray, name: str) -> np.ndarray:
    """The column `TransferColumns.build` would make, refusing any value out of its range."""
    dtype = NARROW_DTYPES[name]
    array = column(values, dtype)
    if array.dtype == object:
        # column() keeps what does not fit the narrow dtype: only u128 fields may hold that.
        if name not in WIDE_FIELDS:
            raise ValueError(f"value out of range for {np.dtype(dtype).name}")
        if not all(type(v) is int and 0 <= v <= U128_MAX for v in array.tolist()):
            raise ValueError("value out of range for u128")
    return array


def _has_duplicates(ids: np.ndarray) -> bool:
    if ids.dtype == object:
        return len(set(ids.tolist())) != len(ids)
    return len(np.unique(ids)) != len(ids)


def _check_rows(
    found: list[str],
    kind: str,
    batches: list[BatchSummary],
    counts: list[int],
    row_batches: Sequence[int] | np.ndarray,
    stamps: Sequence[int] | np.ndarray,
) -> None:
    """Each batch holds exactly `counts` rows of `kind`, stamped inside its clock window."""
    try:
        _check_rows_of(found, kind, batches, counts, row_batches, stamps)
    except (OverflowError, TypeError, ValueError) as error:
        found.append(f"{kind} rows or counts out of range: {error}")


def _check_rows_of(
    found: list[str],
    kind: str,
    batches: list[BatchSummary],
    counts: list[int],
    row_batches: Sequence[int] | np.ndarray,
    stamps: Sequence[int] | np.ndarray,
) -> None:
    sequences = np.array([b.sequence for b in batches], dtype=np.int64)
    if sum(counts) != len(row_batches) or len(row_batches) != len(stamps):
        found.append(f"{len(row_batches)} {kind} rows stored, batches count {sum(counts)}")
        return
    expected = np.repeat(sequences, counts)
    if not np.array_equal(np.asarray(row_batches, dtype=np.int64), expected):
        found.append(f"{kind} rows do not match the counts of their batches (a half batch?)")
        return
    clocks = np.array([b.timestamp for b in batches], dtype=np.uint64)
    previous = np.concatenate([np.zeros(1, dtype=np.uint64), clocks])[:-1]
    stamps = np.asarray(stamps, dtype=np.uint64)
    lower, upper = np.repeat(previous, counts), np.repeat(clocks, counts)
    increasing = bool(np.all(stamps[1:] > stamps[:-1]))
    if not (increasing and np.all(stamps > lower) and np.all(stamps <= upper)):
        found.append(f"{kind} timestamps are not strictly increasing inside their batches")


def with_packed(
    values: dict[str, Sequence[int] | np.ndarray],
    batches_of_rows: Sequence[int] | np.ndarray,
    packed: list[tuple],
) -> tuple[dict[str, Sequence[int] | np.ndarray], np.ndarray]:
    """The transfer columns read row by row (`values`, of a store written before
    `transfer_columns`), followed by those of the `packed` rows (batch, count, bytes of
    `TransferColumns.packed`); `StoreCorrupted` naming the batch of a row that is none."""
    parts: dict[str, list[Sequence[int] | np.ndarray]] = {
        name: [values[name]] if len(batches_of_rows) else [] for name in FIELD_NAMES
    }
    counts = []
    for batch, count, blob in packed:
        if type(count) is not int or count < 0 or type(blob) is not bytes:
            raise StoreCorrupted(
                f"the stored journal is corrupted: transfer_columns row of batch {batch} is "
                "not a packed batch"
            )
        try:
            columns = TransferColumns.unpacked(blob, count)
        except ValueError as error:
            raise StoreCorrupted(
                f"the stored journal is corrupted: transfer_columns row of batch {batch}: {error}"
            ) from None
        for name in FIELD_NAMES:
            parts[name].append(columns[name])
        counts.append(count)
    joined: dict[str, Sequence[int] | np.ndarray] = {}
    for name, arrays in parts.items():
        dtypes = {a.dtype if isinstance(a, np.ndarray) else None for a in arrays}
        if len(dtypes) == 1 and None not in dtypes:
            joined[name] = np.concatenate(arrays)
        else:
            joined[name] = [
                v for a in arrays for v in (a.tolist() if isinstance(a, np.ndarray) else a)
            ]
    batches = np.concatenate(
        [np.asarray(batches_of_rows, dtype=np.int64),
         np.repeat(np.array([row[0] for row in packed], dtype=np.int64), counts)]
    )  # fmt: skip
    return joined, batches
