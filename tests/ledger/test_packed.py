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
    # Each field: its tag, then 16 bytes a value if it holds Python ints, else its dtype's.
    widths = [
        16 if getattr(columns, n).dtype == object else np.dtype(NARROW_DTYPES[n]).itemsize
        for n in FIELD_NAMES
    ]
    assert len(packed) == len(FIELD_NAMES) + len(columns) * sum(widths)
