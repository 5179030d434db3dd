"""`instances`: slotted dataclasses made a column at a time, equal to those made one by
one by their own ``__init__``."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from samarkand.money.columns import instances, interleaved
from samarkand.settlement.payments import Method, Payment, Priority


@dataclass(frozen=True, slots=True)
class Row:
    number: int
    name: str
    note: str | None = None


@given(st.lists(st.tuples(st.integers(), st.text(max_size=5), st.none() | st.text(max_size=3))))
def test_made_by_columns_equals_made_one_by_one(rows):
    columns = {
        "number": [r[0] for r in rows],
        "name": [r[1] for r in rows],
        "note": [r[2] for r in rows],
    }
    made = instances(Row, len(rows), columns)
    assert made == [Row(*r) for r in rows]
    assert all(type(m) is Row for m in made)


def test_a_constant_column_is_a_repeat_and_the_hubs_payments_are_made_so():
    payments = instances(
        Payment, 2,
        {"uetr": [1, 2], "debtor_agent": repeat("SMAACN22"), "creditor_agent": ["A", "B"],
         "amount": [5, 6], "currency": repeat("CNY"), "priority": repeat(Priority.NORMAL),
         "method": repeat(Method.RTGS), "earliest_ns": repeat(0), "latest_ns": repeat(0)},
    )  # fmt: skip
    assert payments == [
        Payment(1, "SMAACN22", "A", 5, "CNY"),
        Payment(2, "SMAACN22", "B", 6, "CNY"),
    ]


def test_it_refuses_what_it_cannot_make_exactly():
    with pytest.raises(ValueError, match="the columns of Row are number, name, note"):
        instances(Row, 1, {"number": [1], "name": ["a"]})

    @dataclass(frozen=True)
    class NoSlots:
        number: int

    with pytest.raises(ValueError, match="not a dataclass with slots"):
        instances(NoSlots, 1, {"number": [1]})

    @dataclass(frozen=True, slots=True)
    class Checked:
        number: int

        def __post_init__(self) -> None:
            if self.number < 0:
                raise ValueError("negative")

    with pytest.raises(ValueError, match="the columns of Checked"):
        instances(Checked, 1, {"number": [-1]})


def test_a_mutable_class_with_a_factory_default_is_made_with_every_column_given():
    """The engine's entries (slotted, not frozen, a list made per entry by default): each
    gets the list its column gives, none shared, equal to one made by `__init__`."""

    @dataclass(slots=True)
    class Open:
        number: int
        seen: list[int] = field(default_factory=list)

    made = instances(Open, 3, {"number": [1, 2, 3], "seen": map(list, zip([4, 5, 6]))})
    assert made == [Open(1, [4]), Open(2, [5]), Open(3, [6])]
    made[0].seen.append(7)
    assert made[1].seen == [5]
    with pytest.raises(ValueError, match="the columns of Open are number, seen"):
        instances(Open, 1, {"number": [1]})  # a default is not applied: every column given


@given(st.lists(st.integers()), st.integers())
def test_two_columns_interleave_item_by_item(first: list[int], shift: int) -> None:
    second = [value + shift for value in first]
    both = interleaved(first, second)
    assert both[0::2] == first and both[1::2] == second and len(both) == 2 * len(first)


def test_columns_of_two_lengths_do_not_interleave() -> None:
    with pytest.raises(ValueError, match="columns of 2 and 1 items"):
        interleaved([1, 2], [3])
