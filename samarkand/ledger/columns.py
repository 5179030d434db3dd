"""Transfer batches as columns.

A batch travels as one NumPy array per field, the shape the fast path computes on and the
stores write in one statement. A column whose values all fit its narrow type (uint64 for ids
and amounts, uint32/uint16 for the small fields) has that dtype; otherwise it falls back to an
object array of Python ints, and the engine takes the exact plain path for those events.

`packed` and `unpacked` turn a batch into one byte string and back, the form a store keeps
a batch's transfers in (one row per batch, not per transfer). Field after field, in
`FIELD_NAMES` order, each is one tag byte and its values, little-endian: tag `n`, the
field's narrow dtype (a uint64 column: 8 bytes a value); tag `c`, one value of that dtype,
which every transfer of the batch has (the ledger, code, flags, pending id and timeout of
a batch of payments); tag `w`, 16 bytes a value (an unsigned 128-bit integer), for a column
that holds Python ints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

import numpy as np

from samarkand.ledger.types import Transfer

WIDE_FIELDS = ("id", "debit_account_id", "credit_account_id", "amount", "pending_id", "user_data")
NARROW_DTYPES: dict[str, type[np.generic]] = {
    "id": np.uint64,
    "debit_account_id": np.uint64,
    "credit_account_id": np.uint64,
    "amount": np.uint64,
    "ledger": np.uint32,
    "code": np.uint16,
    "flags": np.uint16,
    "pending_id": np.uint64,
    "timeout": np.uint32,
    "user_data": np.uint64,
    "timestamp": np.uint64,
}
FIELD_NAMES = tuple(f.name for f in fields(Transfer))
NARROW, CONSTANT, WIDE = b"n", b"c", b"w"  # tags of a packed column (module docstring)
WIDE_BYTES = 16
_LITTLE = {name: np.dtype(dtype).newbyteorder("<") for name, dtype in NARROW_DTYPES.items()}


def column(values: Sequence[int] | np.ndarray, dtype: type[np.generic]) -> np.ndarray:
    """The narrowest exact array for `values`: `dtype` when every value fits, else object."""
    if isinstance(values, np.ndarray):
        if values.dtype == dtype:
            return values
        if values.dtype.kind in "ui" and np.can_cast(values.dtype, dtype, casting="safe"):
            return values.astype(dtype)
        values = values.tolist()
    try:
        array = np.array(values, dtype=dtype)
    except (OverflowError, TypeError, ValueError):
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
        return array
    if len(values) and array.dtype.kind == "u":
        # NumPy wraps negative Python ints silently on some paths, and truncates floats and
        # takes bools as numbers: make sure every value was an int, and none wrapped.
        info = np.iinfo(np.dtype(dtype))
        lowest = min(values)
        if (
            not all(_is_integer_type(kind) for kind in set(map(type, values)))
            or lowest < 0
            or max(values) > info.max
        ):
            wide = np.empty(len(values), dtype=object)
            wide[:] = list(values)
            return wide
    return array


def _is_integer_type(kind: type) -> bool:
    return issubclass(kind, int | np.integer) and not issubclass(kind, bool)


@dataclass(slots=True)
class TransferColumns:
    """A batch of transfers, one array per field, all of one length."""

    id: np.ndarray
    debit_account_id: np.ndarray
    credit_account_id: np.ndarray
    amount: np.ndarray
    ledger: np.ndarray
    code: np.ndarray
    flags: np.ndarray
    pending_id: np.ndarray
    timeout: np.ndarray
    user_data: np.ndarray
    timestamp: np.ndarray

    @classmethod
    def build(cls, **arrays: Sequence[int] | np.ndarray) -> TransferColumns:
        """Columns from keyword arrays; missing optional fields are zeros."""
        length = len(arrays["id"])
        made = {}
        for name in FIELD_NAMES:
            values = arrays.get(name)
            if values is None:
                made[name] = np.zeros(length, dtype=NARROW_DTYPES[name])
            else:
                if len(values) != length:
                    raise ValueError(f"column {name} has {len(values)} values, expected {length}")
                made[name] = column(values, NARROW_DTYPES[name])
        return cls(**made)

    @classmethod
    def from_transfers(cls, transfers: Iterable[Transfer]) -> TransferColumns:
        rows = list(transfers)
        return cls.build(**{name: [getattr(t, name) for t in rows] for name in FIELD_NAMES})

    @classmethod
    def empty(cls) -> TransferColumns:
        return cls.build(id=np.zeros(0, dtype=np.uint64))

    @classmethod
    def concat(cls, parts: Sequence[TransferColumns]) -> TransferColumns:
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        made = {}
        for name in FIELD_NAMES:
            arrays = [getattr(p, name) for p in parts]
            if all(a.dtype == arrays[0].dtype for a in arrays):
                made[name] = np.concatenate(arrays)
            else:
                joined = np.empty(sum(len(a) for a in arrays), dtype=object)
                joined[:] = [v for a in arrays for v in a.tolist()]
                made[name] = joined
        return cls(**made)

    def __len__(self) -> int:
        return len(self.id)

    def take(self, index: slice | np.ndarray) -> TransferColumns:
        return TransferColumns(**{name: getattr(self, name)[index] for name in FIELD_NAMES})

    def transfer_at(self, row: int) -> Transfer:
        return Transfer(**{name: int(getattr(self, name)[row]) for name in FIELD_NAMES})

    def to_transfers(self) -> list[Transfer]:
        lists = [getattr(self, name).tolist() for name in FIELD_NAMES]
        return [Transfer(*values) for values in zip(*lists, strict=True)]

    def packed(self) -> bytes:
        """The batch as one byte string (see the module docstring); `unpacked` reads it."""
        parts: list[bytes] = []
        for name in FIELD_NAMES:
            values = getattr(self, name)
            if values.dtype != object:
                raw = values.astype(_LITTLE[name], copy=False).tobytes()
                first = raw[: _LITTLE[name].itemsize]
                parts += (CONSTANT, first) if raw and first * len(values) == raw else (NARROW, raw)
            else:
                parts += (WIDE, b"".join([v.to_bytes(WIDE_BYTES, "little") for v in values]))
        return b"".join(parts)

    @staticmethod
    def unpacked(data: bytes, count: int) -> dict[str, np.ndarray | list[int]]:
        """The columns of `count` transfers that `packed` made: a narrow field as an array
        of its dtype, a wide one as a list of ints (`TransferColumns.build` takes either);
        `ValueError` unless `data` is exactly such a string."""
        made: dict[str, np.ndarray | list[int]] = {}
        offset = 0
        for name in FIELD_NAMES:
            tag = data[offset : offset + 1]
            offset += 1
            values = 1 if tag == CONSTANT else count
            width = WIDE_BYTES if tag == WIDE else _LITTLE[name].itemsize
            if tag not in (NARROW, CONSTANT, WIDE) or offset + width * values > len(data):
                raise ValueError(f"packed transfers: field {name} is cut short or has no tag")
            if tag == WIDE:
                stop = offset + WIDE_BYTES * count
                made[name] = [
                    int.from_bytes(data[at : at + WIDE_BYTES], "little")
                    for at in range(offset, stop, WIDE_BYTES)
                ]
            else:
                array = np.frombuffer(data, _LITTLE[name], values, offset)
                array = array.astype(NARROW_DTYPES[name])  # a copy: the buffer's is read-only
                made[name] = np.resize(array, count) if tag == CONSTANT else array
            offset += width * values
        if offset != len(data):
            raise ValueError(f"packed transfers: {len(data) - offset} bytes after the last field")
        return made

    def is_narrow(self) -> bool:
        """Every column has its narrow dtype (no value needs a Python int)."""
        return all(getattr(self, name).dtype != object for name in FIELD_NAMES)
