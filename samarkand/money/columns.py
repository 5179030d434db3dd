"""Rows as columns: objects made a column at a time, and two columns interleaved.

The helpers of the batch shape that every domain folder may use (DESIGN §3: they all
depend on ``money``): a message's transactions, the engine's payments and its entries and
events are made from columns rather than one ``__init__`` call at a time; a batch's two
rows per payment (its two events, its debit and credit postings) are two columns woven.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import fields
from itertools import repeat
from types import MemberDescriptorType
from typing import Any, TypeVar

_T = TypeVar("_T")


def instances(cls: type[_T], count: int, columns: dict[str, Iterable[Any]]) -> list[_T]:
    """``count`` instances of the slotted dataclass ``cls``, a column per field (a constant
    column is ``itertools.repeat``): what a batch's rows become when they must be objects (a
    message's transactions, the engine's payments and events). Each slot is set a column at a
    time, in C: the generated ``__init__`` costs twice as much for a wide class, or a frozen
    one, which sets each field through ``object.__setattr__``. No default is applied (every
    field needs its column) and ``cls`` must have no ``__post_init__``."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    slots = [getattr(cls, name, None) for name in names]
    if sorted(names) != sorted(columns) or hasattr(cls, "__post_init__"):
        raise ValueError(f"the columns of {cls.__name__} are {', '.join(names)}")
    if not all(isinstance(slot, MemberDescriptorType) for slot in slots):
        raise ValueError(f"{cls.__name__} is not a dataclass with slots")
    made = list(map(object.__new__, repeat(cls, count)))
    for name, slot in zip(names, slots, strict=True):
        deque(map(slot.__set__, made, columns[name]), maxlen=0)  # type: ignore[union-attr]
    return made


def interleaved(first: Sequence[Any], second: Sequence[Any]) -> list[Any]:
    """``first[0], second[0], first[1], second[1], ...`` of two sequences of one length,
    by two slice assignments (in C)."""
    if len(first) != len(second):
        raise ValueError(f"columns of {len(first)} and {len(second)} items")
    both: list[Any] = [None] * (2 * len(first))
    both[0::2] = first
    both[1::2] = second
    return both
