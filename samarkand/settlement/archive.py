"""Finished payments of past days, kept as columns instead of objects.

A hub that runs for months cannot keep every payment it ever took as objects: a payment,
its entry and its events take about 0.5 KB. Once a payment is final (settled, rejected or
cancelled) and its day is over, what anyone may still ask of it is small: is this UETR
taken (a resend is DUPL), what became of it (the tracker, a cancellation request, a
return), between whom and for how much. `ArchivedPayments` keeps exactly that, a row of
numpy columns per payment (about 100 bytes), sorted by UETR for lookups.

Pure: no I/O and no clock; the rows come from the engine's entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from samarkand.settlement.payments import (
    FINAL,
    Event,
    Method,
    Payment,
    Priority,
    Reason,
    Status,
)

_MASK = (1 << 64) - 1
_STATUSES = list(Status)
_REASONS = list(Reason)
_PRIORITIES = list(Priority)
_METHODS = list(Method)
_NO_REASON = -1
# Each member's code by its id(): a look-up with no Enum hashing, for a day's rows at once.
_STATUS_CODE = {id(status): code for code, status in enumerate(_STATUSES)}
_REASON_CODE = {id(reason): code for code, reason in enumerate(_REASONS)}
_METHOD_CODE = {id(method): code for code, method in enumerate(_METHODS)}

# The columns of a row, each a numpy dtype; `sender`, `receiver` and `ledger` are the
# engine's account ids (ints of up to 128 bits: objects).
_COLUMNS: dict[str, Any] = {
    "hi": np.uint64,  # the UETR's upper and lower 64 bits: the sort key
    "lo": np.uint64,
    "amount_hi": np.uint64,
    "amount_lo": np.uint64,
    "received_ns": np.int64,
    "final_ns": np.int64,  # when it became final (settled_ns for a settled one)
    "sequence": np.int64,
    "status": np.uint8,
    "reason": np.int16,  # of its final event, or -1
    "via": np.int16,  # index into `vias`, or -1
    "priority": np.uint8,
    "method": np.uint8,
    "debtor": np.int32,  # indexes into `names`
    "creditor": np.int32,
    "currency": np.int32,
    "sender": object,
    "receiver": object,
    "ledger": object,
}


class ArchivedPayments:
    """The archived payments: UETR lookups (one or a batch) and each one's entry rebuilt on
    demand, with its history reduced to its receipt and its final event."""

    def __init__(self) -> None:
        self.columns: dict[str, np.ndarray] = {
            name: np.empty(0, dtype=dtype) for name, dtype in _COLUMNS.items()
        }
        self.names: list[str] = []  # BICs and currency codes, each once
        self._name_index: dict[str, int] = {}
        self.vias: list[str] = []
        self.routes: dict[int, Any] = {}  # UETR -> the FxRoute of a cross-currency payment

    def __len__(self) -> int:
        return len(self.columns["hi"])

    def __contains__(self, uetr: object) -> bool:
        return type(uetr) is int and self._position(uetr) is not None

    def known(self, uetrs: Sequence[int]) -> set[int]:
        """Those of `uetrs` (128-bit ints) that are archived: one search for the batch."""
        if not len(self) or not uetrs:
            return set()
        hi = np.fromiter(((u >> 64) & _MASK for u in uetrs), np.uint64, len(uetrs))
        lo = np.fromiter((u & _MASK for u in uetrs), np.uint64, len(uetrs))
        keys_hi, keys_lo = self.columns["hi"], self.columns["lo"]
        left = np.searchsorted(keys_hi, hi, side="left")
        right = np.searchsorted(keys_hi, hi, side="right")
        found = set()
        for index in np.flatnonzero(right > left):
            start, stop = int(left[index]), int(right[index])
            if np.any(keys_lo[start:stop] == lo[index]):
                found.add(uetrs[int(index)])
        return found

    def add(self, entries: Iterable[Any]) -> int:
        """Archive these final entries (the engine's `Entry` objects); returns how many.
        Made a column at a time: a day's payments are archived at once."""
        entries = list(entries)
        if not entries:
            return 0
        final = {id(status) for status in FINAL}
        if not all(id(entry.status) in final for entry in entries):
            late = next(e for e in entries if id(e.status) not in final)
            raise ValueError(f"payment {late.payment.uetr:032x} is not final")
        payments = [entry.payment for entry in entries]
        lasts = [entry.history[-1] for entry in entries]
        uetrs = [payment.uetr for payment in payments]
        amounts = [payment.amount for payment in payments]
        for text in {t for p in payments for t in (p.debtor_agent, p.creditor_agent, p.currency)}:
            self._name(text)
        names = self._name_index
        for via in {entry.via for entry in entries} - {""}:
            if via not in self.vias:
                self.vias.append(via)
        vias = {via: index for index, via in enumerate(self.vias)} | {"": -1}
        rows: dict[str, list[Any]] = {
            "hi": [u >> 64 for u in uetrs],
            "lo": [u & _MASK for u in uetrs],
            "amount_hi": [a >> 64 for a in amounts],
            "amount_lo": [a & _MASK for a in amounts],
            "received_ns": [entry.received_ns for entry in entries],
            "final_ns": [last.at_ns for last in lasts],
            "sequence": [entry.sequence for entry in entries],
            "status": [_STATUS_CODE[id(entry.status)] for entry in entries],
            "reason": [_REASON_CODE.get(id(last.reason), _NO_REASON) for last in lasts],
            "via": [vias[entry.via] for entry in entries],
            "priority": [int(payment.priority) for payment in payments],
            "method": [_METHOD_CODE[id(payment.method)] for payment in payments],
            "debtor": [names[payment.debtor_agent] for payment in payments],
            "creditor": [names[payment.creditor_agent] for payment in payments],
            "currency": [names[payment.currency] for payment in payments],
            "sender": [entry.sender for entry in entries],
            "receiver": [entry.receiver for entry in entries],
            "ledger": [entry.ledger for entry in entries],
        }
        self.routes.update((e.payment.uetr, e.fx) for e in entries if e.fx is not None)
        merged = {
            name: np.concatenate([self.columns[name], np.array(values, dtype=_COLUMNS[name])])
            for name, values in rows.items()
        }
        order = np.lexsort((merged["lo"], merged["hi"]))
        self.columns = {name: column[order] for name, column in merged.items()}
        return len(entries)

    def entry(self, uetr: int, entry_type: type) -> Any | None:
        """The archived payment `uetr` as an `entry_type` (the engine's `Entry`), its history
        its receipt and its final event; None if it is not archived."""
        at = self._position(uetr) if type(uetr) is int else None
        if at is None:
            return None
        row = {name: column[at] for name, column in self.columns.items()}
        status = _STATUSES[int(row["status"])]
        reason = None if int(row["reason"]) == _NO_REASON else _REASONS[int(row["reason"])]
        final_ns, received_ns = int(row["final_ns"]), int(row["received_ns"])
        via = "" if int(row["via"]) < 0 else self.vias[int(row["via"])]
        payment = Payment(
            uetr,
            self.names[int(row["debtor"])],
            self.names[int(row["creditor"])],
            (int(row["amount_hi"]) << 64) | int(row["amount_lo"]),
            self.names[int(row["currency"])],
            priority=_PRIORITIES[int(row["priority"])],
            method=_METHODS[int(row["method"])],
        )
        history = [
            Event(uetr, Status.RECEIVED, received_ns),
            Event(uetr, status, final_ns, reason, via if status is Status.SETTLED else ""),
        ]
        return entry_type(
            payment=payment,
            sequence=int(row["sequence"]),
            sender=row["sender"],
            receiver=row["receiver"],
            ledger=row["ledger"],
            received_ns=received_ns,
            status=status,
            settled_ns=final_ns if status is Status.SETTLED else 0,
            via=via,
            history=history,
            fx=self.routes.get(uetr),
        )

    def between(self, debtor_agent: str, creditor_agent: str) -> list[int]:
        """The UETRs of the archived payments from `debtor_agent` to `creditor_agent`."""
        debtor, creditor = self._name_index.get(debtor_agent), self._name_index.get(creditor_agent)
        if debtor is None or creditor is None:
            return []
        columns = self.columns
        rows = np.flatnonzero((columns["debtor"] == debtor) & (columns["creditor"] == creditor))
        return [(int(columns["hi"][i]) << 64) | int(columns["lo"][i]) for i in rows]

    def _position(self, uetr: int) -> int | None:
        if not 0 <= uetr < 1 << 128:
            return None
        hi, lo = np.uint64(uetr >> 64), np.uint64(uetr & _MASK)
        keys_hi = self.columns["hi"]
        start = int(np.searchsorted(keys_hi, hi, side="left"))
        stop = int(np.searchsorted(keys_hi, hi, side="right"))
        if start == stop:
            return None
        match = np.flatnonzero(self.columns["lo"][start:stop] == lo)
        return start + int(match[0]) if len(match) else None

    def _name(self, text: str) -> int:
        index = self._name_index.get(text)
        if index is None:
            index = self._name_index[text] = len(self.names)
            self.names.append(text)
        return index
