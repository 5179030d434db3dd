"""A batch of transfers packed into one byte string (how the SQLite store keeps it) and back."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from samarkand.ledger.columns import FIELD_NAMES, NARROW_DTYPES, TransferColumns


def _field(name: str, count: int) -> st.SearchStrategy[list[int]]:
    top = int(np.iinfo(NARROW_DTYPES[name]).max)
    wide = name in ("id", "debit_account_id", "credit_account_id", "amount", "pending_id",
                    "user_data")  # fmt: skip
    values = st.integers(0, 2**128 - 1 if wide else top) | st.integers(0, top)
    return st.lists(values, min_size=count, max_size=count)


@st.composite
def batches(draw: st.DrawFn) -> TransferColumns:
    count = draw(st.integers(0, 12))
    return TransferColumns.build(**{name: draw(_field(name, count)) for name in FIELD_NAMES})


@given(batches())
def test_a_packed_batch_reads_back_exactly(columns: TransferColumns) -> None:
    packed = columns.packed()
    back = TransferColumns.build(**TransferColumns.unpacked(packed, len(columns)))
    for name in FIELD_NAMES:
        original, read = getattr(columns, name), getattr(back, name)
        assert read.dtype == original.dtype, name
        assert read.tolist() == original.tolist(), name
    # Each field: its tag, then 16 bytes a value if it holds Python ints, else its dtype's:
    # one value only when every transfer has the same.
    assert len(packed) == len(FIELD_NAMES) + sum(_width(columns, n) for n in FIELD_NAMES)


def _width(columns: TransferColumns, name: str) -> int:
    values = getattr(columns, name)
    if values.dtype == object:
        return 16 * len(values)
    same = len(values) > 0 and len(set(values.tolist())) == 1
    return values.dtype.itemsize * (1 if same else len(values))


def test_a_column_of_one_value_is_packed_once() -> None:
    columns = TransferColumns.build(id=[1, 2, 3], amount=[5, 5, 5], ledger=[156, 156, 156])
    packed = columns.packed()
    # id (3 values) and timestamp (zeros: one value) aside, every field has one value.
    assert len(packed) == len(FIELD_NAMES) + 3 * 8 + sum(
        np.dtype(NARROW_DTYPES[n]).itemsize for n in FIELD_NAMES if n != "id"
    )
    back = TransferColumns.unpacked(packed, 3)
    assert back["amount"].tolist() == [5, 5, 5] and back["ledger"].tolist() == [156] * 3
    assert back["ledger"].dtype == np.uint32 and back["amount"].flags.writeable
