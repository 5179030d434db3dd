"""Snapshots of a durable hub: what its command log's replay made, kept so an open need not
replay every command again.

A snapshot is a cache, never the source of truth. It holds the replay's state after the
first `log_length` rows of the command log (the `_Runner`: the hub, its engine, its ledger
state and the service's governance), with a header that ties it to that log and to this
code:

    {"format": 1, "code": <digest of the package's sources>, "log_length": n,
     "log_decided": d, "log_digest": <digest of rows 1..n>, "batches": b}\\n<pickle>

An open uses it only when the header's `code` is this code's (any other code could decide
differently, or lay its objects out otherwise), the log still begins with the same `n` rows
(their digest) and the store holds at least its `b` batches; it then replays the rows after
`n` on it and checks the real store against the result as a full replay would be checked
(the whole journal and every balance). Otherwise, or if the snapshot cannot be read, the
open replays the whole log, as it always could.

The state is pickled. Reading a pickle may run code, so the reader takes only the classes
and functions a hub's state is made of (`_allowed`): the package's own data classes, named
tuples, enums and state holders, and the few library types they hold (numpy arrays,
fractions); anything else makes the snapshot unusable, never a call.
"""

from __future__ import annotations

import contextlib
import copyreg
import dataclasses
import enum
import functools
import gc
import hashlib
import io
import json
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

FORMAT = 1
_PACKAGE = Path(__file__).resolve().parent.parent
_STORE_ID = "ledger-store"


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """A digest of the package's Python sources: a snapshot is read only by the code that
    wrote it."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Header:
    log_length: int  # rows of the command log (decision records included) it covers
    log_decided: int  # of which decision records
    log_digest: str  # `CommandLog`'s running digest after those rows
    batches: int  # ledger batches the state holds
    code: str = ""
    format: int = FORMAT

    def usable(self) -> bool:
        return self.format == FORMAT and self.code == code_digest()


def _positional(cls: type) -> Any:
    """A reducer that pickles an instance of the slotted dataclass `cls` as its fields in
    order (about half the bytes and time of the default slot-state form)."""
    fields = attrgetter(*(f.name for f in dataclasses.fields(cls)))
    return lambda instance: (cls, fields(instance))


@functools.lru_cache(maxsize=1)
def _reducers() -> dict[type, Any]:
    from samarkand.settlement.engine import Entry
    from samarkand.settlement.payments import Event, Payment

    return {cls: _positional(cls) for cls in (Event, Payment, Entry)}


def prepare() -> None:
    """Make now what `dumps` would make on its first call (the code's digest, the
    reducers): before a fork, so the child only pickles and writes."""
    code_digest()
    _reducers()


def dumps(header: Header, runner: Any, store: Any) -> bytes:
    """The snapshot of `runner` (its ledger's `store` is written as a reference: a read gives
    the state a fresh in-memory store)."""
    out = io.BytesIO()
    fields = {**dataclasses.asdict(header), "code": code_digest()}
    out.write(json.dumps(fields, sort_keys=True).encode() + b"\n")

    class _Pickler(pickle.Pickler):
        def persistent_id(self, obj: Any) -> str | None:
            return _STORE_ID if obj is store else None

    pickler = _Pickler(out, protocol=5)
    pickler.dispatch_table = copyreg.dispatch_table | _reducers()  # type: ignore[misc]
    with _collector_paused():
        pickler.dump(runner)
    return out.getvalue()


def header_of(data: bytes) -> Header | None:
    """The header of a snapshot, or None when it cannot be read as one."""
    line, _, _ = data.partition(b"\n")
    try:
        fields = json.loads(line)
        return Header(**fields) if isinstance(fields, dict) else None
    except (ValueError, TypeError):
        return None


def loads(data: bytes, new_store: Any) -> Any:
    """The runner a snapshot holds, its ledger on `new_store`; `SnapshotUnusable` if it
    cannot be read or names anything a hub's state is not made of."""
    _, _, body = data.partition(b"\n")

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            found = _allowed(module, name)
            if found is None:
                raise SnapshotUnusable(f"the snapshot names {module}.{name}")
            return found

        def persistent_load(self, pid: Any) -> Any:
            if pid != _STORE_ID:
                raise SnapshotUnusable(f"the snapshot refers to {pid!r}")
            return new_store

    try:
        with _collector_paused():
            return _Unpickler(io.BytesIO(body)).load()
    except SnapshotUnusable:
        raise
    except Exception as error:  # noqa: BLE001 - any unreadable snapshot is only unusable
        raise SnapshotUnusable(f"the snapshot does not load: {error!r}") from error


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection meanwhile: a snapshot makes or reads about a million
    objects, every one of which would otherwise be walked again by each pass (a load took
    three times as long)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class SnapshotUnusable(Exception):
    """A snapshot that cannot be used: the open replays the whole log instead."""


_LIBRARY = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("fractions", "Fraction"),
    ("decimal", "Decimal"),
    ("collections", "deque"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
}
# State holders of the package that are neither dataclasses nor enums.
_STATE_CLASSES = {
    ("samarkand.hub.durable", "_Runner"),
    ("samarkand.hub.settlement", "SettlementHub"),
    ("samarkand.hub.settlement", "EventLog"),
    ("samarkand.settlement.engine", "SettlementEngine"),
    ("samarkand.settlement.archive", "ArchivedPayments"),
    ("samarkand.settlement.net_details", "NetDetails"),
    ("samarkand.settlement.participants", "Directory"),
    ("samarkand.ledger.state", "LedgerState"),
    ("samarkand.ledger.journal", "Journal"),
    ("samarkand.ledger.columns", "TransferColumns"),
    ("samarkand.store.ledger", "DurableLedger"),
    ("samarkand.fx.book", "RateBook"),
    ("samarkand.fx.quotes", "QuoteRegistry"),
    ("samarkand.money.registry", "CurrencyRegistry"),
}


def _allowed(module: str, name: str) -> Any:
    """The class (or numpy's reconstructor) `module.name` names, if a hub's state is made of
    it; else None."""
    import importlib

    if (module, name) in _LIBRARY:
        return getattr(importlib.import_module(module), name)
    if not module.startswith("samarkand.") or "." in name:
        return None
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    if not isinstance(found, type) or found.__module__ != module:
        return None
    if (module, name) in _STATE_CLASSES:
        return found
    if dataclasses.is_dataclass(found) or issubclass(found, enum.Enum):
        return found
    if issubclass(found, tuple) and hasattr(found, "_fields"):  # a NamedTuple
        return found
    return None
