"""Command sourcing for the settlement hub: payment state that survives a crash.

`SettlementHub` keeps its queues, histories and the engine's entries in memory; only the
ledger is durable. `DurableHub` makes the rest durable by logging every command before it
runs, in an SQLite table next to the ledger store (`<store>.commands`, WAL, synchronous=FULL,
one transaction per command):

    hub_commands(sequence INTEGER PRIMARY KEY, body TEXT NOT NULL)

`body` is JSON; every integer is written as a decimal string (amounts and UETRs go up to
2**128 - 1). A submit holds its payments as nine columns (`"columns"`: uetr, debtor agent,
creditor agent, amount, currency, priority, method, earliest, latest); logs written before
that hold one row of those nine fields per payment (`"payments"`), and still replay.

A command returns, and so acknowledges, only after its log row is committed (fsynced) and
its ledger batches are in the store. An SQLite ledger store under the hub is written with
`synchronous=NORMAL`: its commits survive the process dying, and what a power loss may take
from its end the command log replays on the next open (below), so one fsync per command
suffices. (A PostgreSQL store commits synchronously.)

Opening replays every logged command, in order, against a fresh hub on an in-memory ledger
(or, from the log's snapshot when one fits, only the commands after it: see
`samarkand.hub.snapshot`; a clean close writes one).
The engine is deterministic (no clock of its own: `now` is in each command), so the replay
makes exactly the journal the real store holds, or extends it when the process died after
logging a command but before all of its batches were committed. The real store must then hold
a prefix of the replay's batches (else `StoreCorrupted`); the missing ones are appended, the
durable ledger is opened on the real store, checked against the replay, and the hub carries on
with it.

Liquidity-saving searches (`SettlementEngine.optimise`: FIFO and non-FIFO offsetting of each
currency's queues, cross-currency offsetting) are deterministic but slow, so a command that ran
one is followed in the log by a decision record of their outcomes, in the order they ran:

    {"op": "decided", "command": "<its sequence>", "sets": [[search, ledger, queued, [uetr...]]]}

(`samarkand.settlement.engine.Decision`: the search, the ledger, how many payments it searched
over, the UETRs it chose). A replay hands these to the engine, which takes them instead of
searching; a recorded choice that does not fit the replayed queues (another search or queue
length, a UETR not queued, a FIFO choice that is not a prefix, a set its accounts cannot cover)
or left over is a `CommandLogCorrupted`, never applied and never searched around: the log and
the replay disagree, which is what an open must report. A command with no record after it (the
process died before the record was written, or a log written before records existed) is
replayed by searching. Decision records are not commands: `DurableHub.commands` does not count
them.

Tiers' commitments. A `post_tiers` command is logged with `"commitment": "total"`: its tiers'
liquidity is committed in total and counted as the legs of quotes on them settle
(`samarkand.fx.book`). A `post_tiers` without the key was written before the count existed;
its tiers replay as they ran then, their liquidity bounding each quote alone, so such a log
replays to the journal it wrote. (Tiers posted after it, by this code, are counted.)
Likewise a `quotes` command is logged with `"suspended": "skipped"`: no route goes through a
suspended provider. Without the key (written before), its quotes replay as they were issued,
through such a provider too, so the quote ids that later payments cite stay the same.

Semantics: at least once. A command logged but cut short by a crash is completed by the next
open, although its caller never saw an acknowledgement; a caller retrying a submit then gets
DUPLICATE_UETR for what was in fact accepted.
"""

from __future__ import annotations

import bisect
import builtins  # _Reader's methods int/str/list/dict shadow the builtins in its body
import ctypes
import hashlib
import json
import os
import re
import signal
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from samarkand.fx.routing import Quote
from samarkand.hub import snapshot
from samarkand.hub.calendar import BusinessCalendar
from samarkand.hub.settlement import (
    Liquidity,
    QuoteRequest,
    SettlementHub,
    TierPost,
    currency_pair,
    provider_refusal,
    queue_limit_problem,
)
from samarkand.ledger.columns import FIELD_NAMES
from samarkand.ledger.journal import BatchRecord
from samarkand.money import MoneyError, default_registry
from samarkand.settlement.engine import SEARCHES, Decision, DecisionRefused
from samarkand.settlement.participants import (
    Directory,
    Participant,
    ParticipantKind,
    ParticipantStatus,
)
from samarkand.settlement.payments import FxPayment, Method, Payment, Priority, Reason, uetr_text
from samarkand.store import (
    DurableLedger,
    LedgerStore,
    MemoryStore,
    StoreCorrupted,
    StoreError,
    open_store,
)
from samarkand.store.factory import POSTGRES_PREFIXES
from samarkand.store.ledger import state_from
from samarkand.store.port import LoadedJournal
from samarkand.store.postgres import DEFAULT_SCHEMA, Reconnecting
from samarkand.store.sqlite_file import open_durable, transaction

COMMANDS_SUFFIX = ".commands"
SNAPSHOT_SUFFIX = ".snapshot"  # beside an SQLite store: its log's snapshot
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS hub_commands (sequence INTEGER PRIMARY KEY, body TEXT NOT NULL)"
)
_INTEGER = re.compile(r"-?[0-9]+")
DECIDED = "decided"  # the op of a decision record (module docstring)
WINDOW_FIRST_PROBLEM = "the first close is later than now and at most 24 h ahead"


class CommandLogCorrupted(StoreCorrupted):
    """A row of the command log cannot be read back as the command that was written."""


class HubBroken(StoreError):
    """A command failed while it ran: the hub in memory may not match what is durable.
    Open the store again (the replay completes the logged command)."""


class CommandInterrupted(HubBroken):
    """This command is logged (or may be: the answer to its log write was lost) but did not
    run to its end, because the store failed: opening the store again completes it."""


# ---------------------------------------------------------------------- encoding


def _int(value: object) -> str:
    if type(value) is not int:
        raise TypeError(f"a durable hub takes only int values, got {value!r}")
    return str(value)


def _str(value: object) -> str:
    if type(value) is not str:
        raise TypeError(f"a durable hub takes only str values here, got {value!r}")
    return value


def _encode_participant(p: Participant) -> dict[str, Any]:
    return {
        "bic": _str(p.bic),
        "name": _str(p.name),
        "country": _str(p.country),
        "kind": p.kind.value,
        "number": _int(p.number),
        "home_currency": _str(p.home_currency),
        "via": None if p.via is None else _str(p.via),
        "status": p.status.value,
    }


def _json_copy(body: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(body))


_PRIORITIES = {int(p): p for p in Priority}
_PRIORITY_TEXT = {p: str(int(p)) for p in Priority}
_METHODS = {m.value: m for m in Method}
# A column of encoded integers, joined by commas: checked with one match, not one per value.
_INTEGERS = re.compile(r"-?[0-9]+(?:,-?[0-9]+)*")


def _checked(values: list[Any], kind: type, what: str) -> list[Any]:
    if values and set(map(type, values)) != {kind}:
        bad = next(v for v in values if type(v) is not kind)
        raise TypeError(f"a durable hub takes only {kind.__name__} values as {what}, got {bad!r}")
    return values


def _encode_payments(payments: Sequence[Payment]) -> tuple[list[list[Any]], list[Payment]]:
    """A batch of payments as nine columns (integers as decimal strings), and the payments as a
    replay decodes them from those columns (priority and method as their enums): the payments
    themselves when they already are exactly that."""
    uetr = _checked([p.uetr for p in payments], int, "uetr")
    debtor = _checked([p.debtor_agent for p in payments], str, "debtor_agent")
    creditor = _checked([p.creditor_agent for p in payments], str, "creditor_agent")
    amount = _checked([p.amount for p in payments], int, "amount")
    currency = _checked([p.currency for p in payments], str, "currency")
    priority = [p.priority for p in payments]
    method = [p.method for p in payments]
    exact = set(map(type, payments)) <= {Payment} and set(map(type, priority)) <= {Priority}
    exact = exact and set(map(type, method)) <= {Method}
    if not exact:  # ints and texts for the enums: as a replay will decode them
        priority = [Priority(p) for p in priority]
        method = [Method(m) for m in method]
    earliest = _checked([p.earliest_ns for p in payments], int, "earliest_ns")
    latest = _checked([p.latest_ns for p in payments], int, "latest_ns")
    columns = [
        list(map(str, uetr)),
        debtor,
        creditor,
        list(map(str, amount)),
        currency,
        [_PRIORITY_TEXT[p] for p in priority],
        [m.value for m in method],
        list(map(str, earliest)),
        list(map(str, latest)),
    ]
    decoded = (
        list(payments)
        if exact
        else list(
            map(
                Payment,
                uetr,
                debtor,
                creditor,
                amount,
                currency,
                priority,
                method,
                earliest,
                latest,
            )
        )  # fmt: skip
    )
    return columns, decoded


class _Reader:
    """Typed access to one decoded command body; any mismatch is a `CommandLogCorrupted`."""

    def __init__(self, sequence: int, body: dict[str, Any]) -> None:
        self.sequence = sequence
        self.body = body

    def fail(self, what: str) -> CommandLogCorrupted:
        return CommandLogCorrupted(f"hub command {self.sequence}: {what}")

    def get(self, key: str, source: dict[str, Any] | None = None) -> Any:
        source = self.body if source is None else source
        if key not in source:
            raise self.fail(f"missing {key!r}")
        return source[key]

    def int(self, value: object) -> int:
        if type(value) is not str or not _INTEGER.fullmatch(value):
            raise self.fail(f"not an encoded integer: {value!r}")
        return int(value)

    def str(self, value: object) -> str:
        if type(value) is not str:
            raise self.fail(f"not a string: {value!r}")
        return value

    def bool(self, value: object) -> bool:
        if type(value) is not bool:
            raise self.fail(f"not a boolean: {value!r}")
        return value

    def list(self, value: object) -> list[Any]:
        if type(value) is not list:
            raise self.fail(f"not a list: {value!r}")
        return value

    def row(self, value: object, fields: builtins.int, what: builtins.str) -> builtins.list[Any]:
        row = self.list(value)
        if len(row) != fields:
            raise self.fail(f"{what} has {fields} fields, got {len(row)}")
        return row

    def dict(self, value: object) -> builtins.dict[builtins.str, Any]:
        if type(value) is not dict:
            raise self.fail(f"not an object: {value!r}")
        return value

    def now(self) -> builtins.int:
        return self.int(self.get("now"))

    def enum(self, kind: type, value: object) -> Any:
        try:
            return kind(value)
        except ValueError:
            raise self.fail(f"not a {kind.__name__}: {value!r}") from None

    def participant(self, value: object) -> Participant:
        item = self.dict(value)
        via = self.get("via", item)
        return Participant(
            bic=self.str(self.get("bic", item)),
            name=self.str(self.get("name", item)),
            country=self.str(self.get("country", item)),
            kind=self.enum(ParticipantKind, self.get("kind", item)),
            number=self.int(self.get("number", item)),
            home_currency=self.str(self.get("home_currency", item)),
            via=None if via is None else self.str(via),
            status=self.enum(ParticipantStatus, self.get("status", item)),
        )

    def payment(self, value: object) -> Payment:
        row = self.list(value)
        if len(row) != 9:
            raise self.fail(f"a payment has 9 fields, got {len(row)}")
        return Payment(
            uetr=self.int(row[0]),
            debtor_agent=self.str(row[1]),
            creditor_agent=self.str(row[2]),
            amount=self.int(row[3]),
            currency=self.str(row[4]),
            priority=self.enum(Priority, self.int(row[5])),
            method=self.enum(Method, row[6]),
            earliest_ns=self.int(row[7]),
            latest_ns=self.int(row[8]),
        )

    def int_column(self, value: object, length: builtins.int) -> builtins.list[builtins.int]:
        column = self.column(value, length)
        try:
            if column and not _INTEGERS.fullmatch(",".join(column)):
                raise ValueError
            return [int(v) for v in column]
        except (TypeError, ValueError):
            bad = next((v for v in column if type(v) is not str or not _INTEGER.fullmatch(v)), "")
            raise self.fail(f"not an encoded integer: {bad!r}") from None

    def str_column(self, value: object, length: builtins.int) -> builtins.list[builtins.str]:
        column = self.column(value, length)
        for v in column:
            if type(v) is not str:
                raise self.fail(f"not a string: {v!r}")
        return column

    def column(self, value: object, length: builtins.int) -> builtins.list[Any]:
        column = self.list(value)
        if len(column) != length:
            raise self.fail(f"a column has {len(column)} values, expected {length}")
        return column

    def payments(self) -> builtins.list[Payment]:
        """The payments of a submit: nine columns, or (logs written before columns) one row
        of nine fields per payment."""
        if "columns" not in self.body:
            return [self.payment(x) for x in self.list(self.get("payments"))]
        columns = self.row(self.get("columns"), 9, "the payment columns")
        count = len(self.list(columns[0]))
        uetr = self.int_column(columns[0], count)
        debtor = self.str_column(columns[1], count)
        creditor = self.str_column(columns[2], count)
        amount = self.int_column(columns[3], count)
        currency = self.str_column(columns[4], count)
        try:
            priority = [_PRIORITIES[v] for v in self.int_column(columns[5], count)]
            method = [_METHODS[v] for v in self.column(columns[6], count)]
        except (KeyError, TypeError):
            raise self.fail("a payment's priority or method is not one of its kind") from None
        earliest = self.int_column(columns[7], count)
        latest = self.int_column(columns[8], count)
        return list(
            map(
                Payment,
                uetr,
                debtor,
                creditor,
                amount,
                currency,
                priority,
                method,
                earliest,
                latest,
            )
        )

    def liquidity(self, value: object) -> Liquidity:
        row = self.list(value)
        if len(row) != 4:
            raise self.fail(f"a liquidity transfer has 4 fields, got {len(row)}")
        return Liquidity(self.str(row[0]), self.str(row[1]), self.int(row[2]), self.bool(row[3]))

    def int_map(self, value: object) -> builtins.dict[builtins.str, builtins.int]:
        return {self.str(k): self.int(v) for k, v in self.dict(value).items()}


# ---------------------------------------------------------------------- decision records


def _encode_decisions(command: int, decisions: Sequence[Decision]) -> dict[str, Any]:
    return {
        "op": DECIDED,
        "command": _int(command),
        "sets": [
            [d.search, _int(d.ledger), _int(d.queued), [_int(u) for u in d.chosen]]
            for d in decisions
        ],
    }


def _read_decisions(read: _Reader, command: int) -> deque[Decision]:
    """The decisions of the record `read`, which must follow the command `command`."""
    if read.int(read.get("command")) != command:
        raise read.fail(f"a decision record that does not follow its command {command}")
    decisions: deque[Decision] = deque()
    for item in read.list(read.get("sets")):
        row = read.row(item, 4, "a decision")
        search = read.str(row[0])
        if search not in SEARCHES:
            raise read.fail(f"not a search: {search!r}")
        chosen = read.list(row[3])
        uetrs = tuple(read.int_column(chosen, len(chosen)))
        decisions.append(Decision(search, read.int(row[1]), read.int(row[2]), uetrs))
    return decisions


# ---------------------------------------------------------------------- admissions

_SERVICE_OPS = frozenset(
    {
        "set_status",
        "propose_admission",
        "approve_admission",
        "propose_status",
        "approve_status",
        "set_key",
        "propose_key",
        "approve_key",
    }
)


@dataclass(slots=True)
class Admission:
    """A proposed participant waiting for the central banks in `needs` to approve it."""

    id: int
    participant: Participant
    ledger: int
    needs: tuple[str, ...]
    approved: list[str] = field(default_factory=list)
    admitted: bool = False
    public_key: str | None = None  # base64 Ed25519 key the participant will sign with

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "bic": self.participant.bic,
            "kind": self.participant.kind.value,
            "currency": self.participant.home_currency,
            "needs": list(self.needs),
            "approved": list(self.approved),
            "status": "admitted" if self.admitted else "pending",
            "public_key": self.public_key,
        }


@dataclass(slots=True)
class StatusChange:
    """A member's central bank suspended or reinstated: not on the operator's word alone, but
    once the central bank of every other member (`needs`) approves it."""

    id: int
    bic: str
    status: ParticipantStatus
    needs: tuple[str, ...]
    approved: list[str] = field(default_factory=list)
    applied: bool = False

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "bic": self.bic, "to": self.status.value, **_progress(self)}


@dataclass(slots=True)
class KeyChange:
    """A central bank's or the operator's key revoked (`public_key` None) or set anew: not on
    one party's word, but once the central bank of every member other than the key's holder
    (`needs`) approves. A central bank that proposes it approves it by proposing."""

    id: int
    key_id: str
    role: str
    public_key: str | None
    needs: tuple[str, ...]
    approved: list[str] = field(default_factory=list)
    applied: bool = False

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key_id": self.key_id,
            "role": self.role,
            "to": "revoked" if self.public_key is None else "set",
            "public_key": self.public_key,
            **_progress(self),
        }


def _progress(change: StatusChange | KeyChange) -> dict[str, Any]:
    """Where a change that central banks approve stands, as its view shows it."""
    return {
        "needs": list(change.needs),
        "approved": list(change.approved),
        "status": "applied" if change.applied else "pending",
    }


Proposal = Admission | StatusChange | KeyChange
# What central banks approve, by kind: the runner's table of proposals, and the command that
# logs an approval (`DurableHub.proposals`, `DurableHub.approve`).
PROPOSAL_KINDS = {
    "admission": ("admissions", "approve_admission"),
    "status change": ("status_changes", "approve_status"),
    "key change": ("key_changes", "approve_key"),
}


_APPROVAL_OPS = {op: kind for kind, (_, op) in PROPOSAL_KINDS.items()}


def _settled(proposal: Proposal) -> bool:
    """Whether a proposal was carried out (an admission admitted, a change applied)."""
    return proposal.admitted if isinstance(proposal, Admission) else proposal.applied


def _approval_refusal(
    proposal: Proposal | None, kind: str, proposal_id: int, by: str
) -> tuple[int, str] | None:
    """Why the central bank `by` may not approve this proposal (HTTP status, text), or None."""
    if proposal is None:
        return 404, f"no {kind} proposal {proposal_id}"
    if _settled(proposal):
        done = "admitted" if isinstance(proposal, Admission) else "applied"
        return 409, f"proposal {proposal_id} is already {done}"
    if by not in proposal.needs:
        return 403, f"{by} is not asked to approve proposal {proposal_id}"
    if by in proposal.approved:
        return 409, f"{by} already approved proposal {proposal_id}"
    return None


# ---------------------------------------------------------------------- the commands


# ---------------------------------------------------------------------- FX commands

FX_OPS = frozenset({"post_tiers", "quotes", "submit_fx"})


def _opt_int(value: int | None) -> str | None:
    return None if value is None else _int(value)


def _encode_tier(t: TierPost) -> list[Any]:
    return [
        _str(t.provider),
        _str(t.sell),
        _str(t.buy),
        _int(t.min_amount),
        _int(t.max_amount),
        _str(t.rate),
        _int(t.liquidity),
        _int(t.valid_from_ns),
        _int(t.valid_until_ns),
    ]


def _encode_fx_payment(p: FxPayment) -> list[Any]:
    return [
        _int(p.uetr),
        _str(p.debtor_agent),
        _str(p.creditor_agent),
        _int(p.quote_id),
        _int(int(Priority(p.priority))),
    ]


# The `commitment` of a `post_tiers` command (module docstring): logged by this code.
COMMITMENT_TOTAL = "total"
# The `suspended` of a `quotes` command (module docstring): logged by this code.
SUSPENDED_SKIPPED = "skipped"


def _run_fx(hub: SettlementHub, op: str, read: _Reader) -> Any:
    """The FX commands: providers' tiers, quote requests, cross-currency payments."""
    if op == "post_tiers":
        commitment = read.body.get("commitment")  # none: logged before the count existed
        if commitment is not None and commitment != COMMITMENT_TOTAL:
            raise read.fail(f"not a tier commitment: {commitment!r}")
        posts = []
        for item in read.list(read.get("tiers")):
            row = read.row(item, 9, "a tier")
            posts.append(
                TierPost(
                    read.str(row[0]),
                    read.str(row[1]),
                    read.str(row[2]),
                    read.int(row[3]),
                    read.int(row[4]),
                    read.str(row[5]),
                    read.int(row[6]),
                    read.int(row[7]),
                    read.int(row[8]),
                )
            )
        return hub.post_tiers(posts, read.now(), counted=commitment is not None)
    if op == "quotes":
        requests = []
        for item in read.list(read.get("requests")):
            row = read.row(item, 6, "a quote request")
            requests.append(
                QuoteRequest(
                    read.str(row[0]),
                    read.str(row[1]),
                    read.str(row[2]),
                    None if row[3] is None else read.int(row[3]),
                    None if row[4] is None else read.int(row[4]),
                    read.int(row[5]),
                )
            )
        suspended = read.body.get("suspended")  # none: logged before they were skipped
        if suspended is not None and suspended != SUSPENDED_SKIPPED:
            raise read.fail(f"not a policy for suspended providers: {suspended!r}")
        return hub.request_quotes(requests, read.now(), skip_suspended=suspended is not None)
    if op == "submit_fx":
        payments = []
        for item in read.list(read.get("payments")):
            row = read.row(item, 5, "a cross-currency payment")
            payments.append(
                FxPayment(
                    read.int(row[0]),
                    read.str(row[1]),
                    read.str(row[2]),
                    read.int(row[3]),
                    read.enum(Priority, read.int(row[4])),
                )
            )
        return hub.submit_fx(payments, read.now())
    raise read.fail(f"unknown command {op!r}")


# ---------------------------------------------------------------------- operator settings

# How often a scheduled DNS window may close: at most once a minute, at least once a day.
WINDOW_EVERY_MIN_NS = 60 * 10**9
WINDOW_EVERY_MAX_NS = 24 * 3_600 * 10**9

# The FX provider register, vehicle-currency corridors, one currency's cut-off, the queue
# limit and DNS window schedules. DurableHub checks each before logging it, so what is
# logged applies.
OPERATOR_OPS = frozenset(
    {
        "register_provider",
        "deregister_provider",
        "vehicle_corridor",
        "cut_off",
        "queue_limit",
        "window_schedule",
        "calendar",
        "archive",
    }
)


def _encode_pairs(pairs: Sequence[tuple[str, str]] | None) -> list[list[str]] | None:
    if pairs is None:
        return None
    return [list(p) for p in sorted({currency_pair(_str(a), _str(b)) for a, b in pairs})]


def _read_pairs(read: _Reader, value: object) -> list[tuple[str, str]] | None:
    if value is None:
        return None
    pairs = []
    for item in read.list(value):
        row = read.row(item, 2, "a currency pair")
        pairs.append((read.str(row[0]), read.str(row[1])))
    return pairs


def _read_providers(read: _Reader) -> dict[str, list[tuple[str, str]] | None] | None:
    """A configure's register of FX providers; absent (every log written before the register
    existed, and hubs configured with the open policy): None."""
    if "fx_providers" not in read.body:
        return None
    return {
        read.str(bic): _read_pairs(read, pairs)
        for bic, pairs in read.dict(read.get("fx_providers")).items()
    }


def _run_operator(hub: SettlementHub, op: str, read: _Reader) -> Any:
    if op == "register_provider":
        return hub.register_provider(
            read.str(read.get("bic")), _read_pairs(read, read.get("pairs")), read.now()
        )
    if op == "deregister_provider":
        return hub.deregister_provider(read.str(read.get("bic")), read.now())
    if op == "vehicle_corridor":
        return hub.set_vehicle_corridor(
            read.str(read.get("source")),
            read.str(read.get("destination")),
            read.bool(read.get("allowed")),
            read.now(),
        )
    if op == "cut_off":
        return hub.set_cut_off(
            read.str(read.get("currency")), read.int(read.get("cut_off")), read.now()
        )
    if op == "queue_limit":
        return hub.set_queue_limit(read.int(read.get("limit")), read.now())
    if op == "calendar":
        return hub.set_calendar(_read_calendar(read, read.get("calendar")), read.now())
    if op == "archive":
        limit = read.body.get("limit")
        return hub.archive(
            read.int(read.get("before")), read.now(), None if limit is None else read.int(limit)
        )
    if op == "window_schedule":
        currency = read.str(read.get("currency"))
        first = read.body.get("first")  # logs written before it have none
        return hub.engine.schedule_windows(
            currency, read.int(read.get("every")), read.now(),
            None if first is None else read.int(first),
        )  # fmt: skip
    raise read.fail(f"unknown command {op!r}")


def _encode_calendar(calendar: BusinessCalendar | None) -> dict[str, Any] | None:
    if calendar is None:
        return None
    return {
        "opens": _int(calendar.opens),
        "cut_off": _int(calendar.cut_off),
        "zone": _str(calendar.zone),
        "weekdays": [_int(day) for day in calendar.weekdays],
        "holidays": [_str(day) for day in calendar.holidays],
        "currency_cut_offs": [[_str(code), _int(m)] for code, m in calendar.currency_cut_offs],
        "currency_weekdays": [
            [_str(code), [_int(day) for day in days]] for code, days in calendar.currency_weekdays
        ],
        "currency_holidays": [
            [_str(code), [_str(day) for day in days]] for code, days in calendar.currency_holidays
        ],
        "keep_days": None if calendar.keep_days is None else _int(calendar.keep_days),
    }


def _per_currency(
    read: _Reader, body: dict[str, Any], name: str, what: str, value: Callable[[Any], Any]
) -> tuple[tuple[str, Any], ...]:
    """A calendar's setting of some currencies, (code, value) rows (older logs: none)."""
    rows = (read.row(item, 2, what) for item in read.list(body.get(name, [])))
    return tuple((read.str(code), value(item)) for code, item in rows)


def _read_calendar(read: _Reader, value: object) -> BusinessCalendar | None:
    if value is None:
        return None
    body = read.dict(value)
    calendar = BusinessCalendar(
        read.int(read.get("opens", body)),
        read.int(read.get("cut_off", body)),
        read.str(read.get("zone", body)),
        tuple(read.int(day) for day in read.list(read.get("weekdays", body))),
        tuple(read.str(day) for day in read.list(read.get("holidays", body))),
        _per_currency(read, body, "currency_cut_offs", "a currency's cut-off", read.int),
        _per_currency(
            read,
            body,
            "currency_weekdays",
            "a currency's weekdays",
            lambda days: tuple(read.int(day) for day in read.list(days)),
        ),
        _per_currency(
            read,
            body,
            "currency_holidays",
            "a currency's holidays",
            lambda days: tuple(read.str(day) for day in read.list(days)),
        ),
        None if body.get("keep_days") is None else read.int(body.get("keep_days")),
    )
    problem = calendar.problem()
    if problem is not None:
        raise read.fail(f"calendar: {problem[0]}: {problem[1]}")
    return calendar


# The commands of the hub's governance: who set up, suspended, admitted, keyed, credited,
# cancelled, closed or opened what. Each one run is kept in the audit trail (`_Runner.audit`,
# `DurableHub.audit`), with the key id that asked for it where the service logged one ("by").
AUDITED_OPS = frozenset(
    {
        "configure",
        "open_accounts",
        *_SERVICE_OPS,
        "set_credit",
        "cancel",
        "reorder",
        "priority",
        "close_window",
        "end_of_day",
        "close_currency",
        "open_day",
        *OPERATOR_OPS,
    }
)
# Arguments too large for an audit entry: what the entry says instead.
_AUDIT_SUMMARY = {"configure": ("participants", "ledgers", "cut_offs")}


@dataclass(frozen=True, slots=True)
class AuditEntry:
    sequence: int  # the command's place in the log
    op: str
    by: str | None  # the key id that asked for it; None: not logged (a setup, an older log)
    at_ns: int | None  # its business time (a setup has none)
    arguments: dict[str, Any]


def _audit_entry(op: str, read: _Reader) -> AuditEntry:
    body = read.body
    summarised = _AUDIT_SUMMARY.get(op, ())
    arguments = {
        key: (len(value) if key in summarised and hasattr(value, "__len__") else value)
        for key, value in body.items()
        if key not in ("op", "now", "by")
    }
    if "uetr" in arguments:  # a payment as people and messages name it
        arguments["uetr"] = uetr_text(read.int(arguments["uetr"]))
    by = body.get("by")
    at_ns = read.now() if "now" in body else None
    return AuditEntry(read.sequence, op, None if by is None else read.str(by), at_ns, arguments)


class _Runner:
    """Runs decoded commands against one `SettlementHub` (live or replaying)."""

    def __init__(self, ledger: DurableLedger) -> None:
        self.ledger = ledger
        self.hub: SettlementHub | None = None
        self.credit: dict[tuple[str, str], int] = {}
        self.admissions: dict[int, Admission] = {}
        self.status_changes: dict[int, StatusChange] = {}
        # A caller's key set or revoked through the service, by key id: (role, base64
        # public key, or None once revoked). Over the keyring and the admissions' keys.
        self.keys: dict[str, tuple[str, str | None]] = {}
        self.key_changes: dict[int, KeyChange] = {}
        self.audit: list[AuditEntry] = []

    def configured(self) -> SettlementHub:
        if self.hub is None:
            raise StoreError("the hub is not configured yet: call configure first")
        return self.hub

    def run(self, op: str, read: _Reader) -> Any:
        """Decode the arguments of `op` from `read` and run it; a governance command that ran
        joins the audit trail."""
        result = self._run(op, read)
        if op in AUDITED_OPS:
            self.audit.append(_audit_entry(op, read))
        return result

    def _run(self, op: str, read: _Reader) -> Any:
        if op == "configure":
            if self.hub is not None:
                raise read.fail("configure after the hub was configured")
            directory = Directory(
                [read.participant(p) for p in read.list(read.get("participants"))],
                read.int_map(read.get("ledgers")),
            )
            credit: dict[tuple[str, str], int] = {}
            for item in read.list(read.get("credit")):
                row = read.list(item)
                if len(row) != 3:
                    raise read.fail("a credit line has 3 fields")
                credit[(read.str(row[0]), read.str(row[1]))] = read.int(row[2])
            self.credit = credit
            self.hub = SettlementHub(
                directory,
                self.ledger,
                cut_off_ns=read.int_map(read.get("cut_offs")),
                fx_providers=_read_providers(read),
            )
            return None
        hub = self.configured()
        if op in FX_OPS:
            return _run_fx(hub, op, read)
        if op == "open_accounts":
            return hub.open_accounts(read.now(), self.credit)
        if op == "liquidity":
            items = [read.liquidity(x) for x in read.list(read.get("transfers"))]
            return hub.liquidity(items, read.now())
        if op == "set_credit":
            return hub.set_credit(
                read.str(read.get("bic")),
                read.str(read.get("currency")),
                read.int(read.get("limit")),
                read.now(),
                by_central_bank=read.str(read.get("by_central_bank")),
            )
        if op == "submit":
            return hub.submit(read.payments(), read.now())
        if op == "tick":
            return hub.tick(read.now())
        if op == "optimise":
            return hub.optimise(read.now(), non_fifo=read.bool(read.get("non_fifo")))
        if op == "close_window":
            return hub.close_window(read.str(read.get("currency")), read.now())
        if op == "end_of_day":
            return hub.end_of_day(read.now(), non_fifo=read.bool(read.get("non_fifo")))
        if op == "close_currency":
            return hub.close_currency(read.str(read.get("currency")), read.now())
        if op == "open_day":
            now = read.now() if "now" in read.body else None  # older logs have none
            date = read.body.get("date")  # a calendar's day: its date
            resting = [read.str(code) for code in read.list(read.body.get("resting", []))]
            # Older logs forgot nothing when a day opened: they replay as they ran.
            forget = read.bool(read.body.get("forget_expired", False))
            if forget and now is None:
                raise read.fail("forget_expired without now")
            hub.engine.open_day(
                read.int_map(read.get("cut_offs")),
                now,
                None if date is None else read.str(date),
                resting,
            )
            if forget:
                assert now is not None
                hub.forget_expired(now)
            return None
        if op == "cancel":
            return hub.cancel(read.int(read.get("uetr")), read.str(read.get("bic")), read.now())
        if op == "reorder":
            return hub.reorder(
                read.int(read.get("uetr")),
                read.str(read.get("bic")),
                to_front=read.bool(read.get("to_front")),
                now=read.now(),
            )
        if op == "priority":
            return hub.reprioritise(
                read.int(read.get("uetr")),
                read.str(read.get("bic")),
                read.enum(Priority, read.int(read.get("priority"))),
                read.now(),
            )
        if op in _SERVICE_OPS:
            return self.run_service(op, read, hub)
        if op in OPERATOR_OPS:
            return _run_operator(hub, op, read)
        raise read.fail(f"unknown command {op!r}")

    # Commands of the HTTP service: participant status and admissions.

    def run_service(self, op: str, read: _Reader, hub: SettlementHub) -> Any:
        if op == "set_status":
            hub.set_status(
                read.str(read.get("bic")), read.enum(ParticipantStatus, read.get("status"))
            )
            return None
        if op == "propose_admission":
            participant = read.participant(read.get("participant"))
            key = read.body.get("public_key")
            proposal = Admission(
                len(self.admissions) + 1,
                participant,
                read.int(read.get("ledger")),
                tuple(read.str(b) for b in read.list(read.get("needs"))),
                public_key=None if key is None else read.str(key),
            )
            self.admissions[proposal.id] = proposal
            return proposal.view()
        if op in _APPROVAL_OPS:
            kind = _APPROVAL_OPS[op]
            proposal = getattr(self, PROPOSAL_KINDS[kind][0]).get(read.int(read.get("id")))
            if proposal is None or _settled(proposal):
                raise read.fail(f"approval of no pending {kind}")
            proposal.approved.append(read.str(read.get("by")))
            self._when_approved(proposal, hub, read.now())
            return proposal.view()
        if op == "propose_status":
            change = StatusChange(
                len(self.status_changes) + 1,
                read.str(read.get("bic")),
                read.enum(ParticipantStatus, read.get("status")),
                tuple(read.str(b) for b in read.list(read.get("needs"))),
            )
            self.status_changes[change.id] = change
            self._when_approved(change, hub, read.now())
            return change.view()
        if op == "set_key":
            key = read.body.get("public_key")
            key_id, role = read.str(read.get("key")), read.str(read.get("role"))
            self.keys[key_id] = (role, None if key is None else read.str(key))
            return None
        if op == "propose_key":
            key = read.body.get("public_key")
            needs = tuple(read.str(b) for b in read.list(read.get("needs")))
            by = read.str(read.get("by"))
            proposed = KeyChange(
                len(self.key_changes) + 1,
                read.str(read.get("key")),
                read.str(read.get("role")),
                None if key is None else read.str(key),
                needs,
                [by] if by in needs else [],
            )
            self.key_changes[proposed.id] = proposed
            self._when_approved(proposed, hub, read.now())
            return proposed.view()
        raise read.fail(f"unknown command {op!r}")

    def _when_approved(self, proposal: Proposal, hub: SettlementHub, now: int) -> None:
        """Carry `proposal` out once every central bank it needs has approved it."""
        if not set(proposal.needs) <= set(proposal.approved):
            return
        if isinstance(proposal, Admission):
            hub.admit(proposal.participant, proposal.ledger, now)
            proposal.admitted = True
            return
        if isinstance(proposal, StatusChange):
            hub.set_status(proposal.bic, proposal.status)
        else:
            self.keys[proposal.key_id] = (proposal.role, proposal.public_key)
        proposal.applied = True


# ---------------------------------------------------------------------- the log


class CommandLog:
    """The `hub_commands` table: in its own SQLite file, or in a schema of the PostgreSQL
    database that holds the ledger (`address` a postgresql:// DSN). Each append is its own
    committed transaction (fsynced: SQLite `synchronous=FULL`, PostgreSQL's commit)."""

    def __init__(self, address: str | os.PathLike[str], *, schema: str | None = None) -> None:
        self.path = os.fspath(address)
        self.postgres = self.path.startswith(POSTGRES_PREFIXES)
        self.decided = 0  # decision records among the `length` rows (counted by `read`)
        # A digest of every row's body in order, kept up to date by `read` and `append`: a
        # snapshot names the rows it covers by it (`samarkand.hub.snapshot`).
        self._digest = hashlib.sha256()
        self.snapshot_covers = 0  # rows the log's snapshot covers, as far as this log knows
        # PostgreSQL: run before the first write on a connection other than the one the
        # log was opened with (made anew after the database restarted); raising StoreError
        # there refuses the command before anything is sent. See `DurableHub.guard_writes`.
        self.before_new_connection: Callable[[], None] | None = None
        if self.postgres:
            self._open_postgres(schema or DEFAULT_SCHEMA)
            return
        self._connection = open_durable(self.path, "a hub command log")
        try:
            self._connection.execute(SCHEMA)
            self.length = self._connection.execute("SELECT count(*) FROM hub_commands").fetchone()[
                0
            ]
        except sqlite3.DatabaseError as error:
            self._connection.close()
            raise StoreError(f"{self.path}: not a hub command log ({error})") from error

    def _open_postgres(self, schema: str) -> None:
        import psycopg
        from psycopg import sql

        self._table = sql.Identifier(schema, "hub_commands")
        self._schema = schema
        self._where = f"PostgreSQL schema {schema}: hub command log"
        self._pg = Reconnecting(self.path, "the hub command log")
        connection = self._pg.connection
        self._checked_connection: Any = connection
        try:
            with connection.transaction():
                connection.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                )
                connection.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} (sequence BIGINT PRIMARY KEY, "
                        "body TEXT NOT NULL)"
                    ).format(self._table)
                )
            count = connection.execute(sql.SQL("SELECT count(*) FROM {}").format(self._table))
            (length,) = count.fetchone() or (0,)
            self.length = int(length)
        except psycopg.Error as error:
            self._pg.close()
            raise StoreError(f"{self._where} ({type(error).__name__})") from error
        except BaseException:
            self._pg.close()
            raise

    def _append_postgres(self, sequence: int, text: str) -> None:
        """INSERT the row (autocommit). If the server or the connection fails, the row may
        have been committed all the same (the answer was lost): a new connection looks.
        Logged: done. Not logged: tried once more on that connection (a connection broken
        since the last command, as after a database restart, costs no request), then
        `StoreError`, and the command never ran. Cannot tell: `CommandInterrupted` (the hub
        in memory may be one command behind its log)."""
        import psycopg
        from psycopg import sql

        insert = sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(self._table)
        select = sql.SQL("SELECT body FROM {} WHERE sequence = %s").format(self._table)
        for _attempt in (1, 2):
            try:
                connection = self._pg.connection
                if connection is not self._checked_connection:
                    if self.before_new_connection is not None:
                        self.before_new_connection()
                    self._checked_connection = connection
                connection.execute(insert, (sequence, text))
                return
            except StoreError:
                raise  # no connection, or refused before writing: nothing was sent
            except psycopg.Error as error:
                failure = error
            try:
                found = self._pg.connection.execute(select, (sequence,)).fetchone()
            except (psycopg.Error, StoreError) as error:
                raise CommandInterrupted(
                    f"{self._where}: command {sequence} may or may not be logged "
                    f"({type(failure).__name__}, then {type(error).__name__})"
                ) from failure
            if found is not None and found[0] == text:
                return
            if found is not None:
                raise CommandLogCorrupted(f"hub command {sequence}: another body is logged")
        raise StoreError(f"{self._where} ({type(failure).__name__})") from failure

    def _rows(self) -> Any:
        if self.postgres:
            import psycopg
            from psycopg import sql

            query = sql.SQL("SELECT sequence, body FROM {} ORDER BY sequence").format(self._table)
            try:
                return self._pg.read(lambda connection: connection.execute(query).fetchall())
            except psycopg.Error as error:
                raise StoreError(f"{self._where} ({type(error).__name__})") from error
        return self._connection.execute("SELECT sequence, body FROM hub_commands ORDER BY sequence")

    @property
    def digest(self) -> str:
        """The digest of the rows so far (read or appended)."""
        return self._digest.hexdigest()

    def read(
        self, covered: int = 0, covered_decided: int = 0
    ) -> tuple[list[tuple[int, str, _Reader]], str]:
        """Every row (commands and decision records) after the first `covered` (a snapshot's,
        of which `covered_decided` decision records), checked: sequences 1..n in order, each
        body a JSON object with an op; and the digest of the first `covered` rows (those are
        hashed, not decoded)."""
        commands = []
        decided = covered_decided
        digest = hashlib.sha256()
        covered_digest = digest.hexdigest()
        for expected, (sequence, body) in enumerate(self._rows(), start=1):
            if sequence != expected:
                raise CommandLogCorrupted(
                    f"hub command {expected}: missing (the next stored is {sequence})"
                )
            if type(body) is not str:
                raise CommandLogCorrupted(f"hub command {sequence}: body is not text")
            digest.update(body.encode() + b"\0")
            if sequence <= covered:
                if sequence == covered:
                    covered_digest = digest.hexdigest()
                continue
            try:
                decoded = json.loads(body)
            except ValueError as error:
                raise CommandLogCorrupted(f"hub command {sequence}: not JSON ({error})") from None
            if type(decoded) is not dict or type(decoded.get("op")) is not str:
                raise CommandLogCorrupted(f"hub command {sequence}: no op")
            commands.append((sequence, decoded["op"], _Reader(sequence, decoded)))
            decided += decoded["op"] == DECIDED
        self.length = max(covered, commands[-1][0]) if commands else covered
        self.decided = decided
        self._digest = digest
        return commands, covered_digest

    def append(self, body: dict[str, Any]) -> int:
        """Make one command (or decision record) durable (its own transaction); return its
        sequence."""
        text = json.dumps(body, separators=(",", ":"), sort_keys=True)
        sequence = self.length + 1
        if self.postgres:
            self._append_postgres(sequence, text)
        else:
            try:
                with transaction(self._connection) as connection:
                    connection.execute("INSERT INTO hub_commands VALUES (?, ?)", (sequence, text))
            except sqlite3.Error as error:  # rolled back: the command is not logged
                raise StoreError(f"{self.path}: hub command log ({error})") from error
        self.length = sequence
        self.decided += body["op"] == DECIDED
        self._digest.update(text.encode() + b"\0")
        return sequence

    # A snapshot: in a file beside an SQLite log, in a table of a PostgreSQL log's schema.

    def save_snapshot(self, data: bytes, *, own_connection: bool = False) -> None:
        """Keep `data` as the log's snapshot, in place of any earlier one (atomically: a
        crash leaves the old or the new). `own_connection`: on a PostgreSQL connection of
        its own (a child process must not use its parent's)."""
        if self.postgres:
            import psycopg

            if own_connection:
                with psycopg.connect(self.path, autocommit=True) as connection:
                    self._write_snapshot_row(connection, data)
            else:
                self._write_snapshot_row(self._pg.connection, data)
            return
        path = Path(self.snapshot_path)
        scratch = path.with_name(f"{path.name}.{os.getpid()}.new")
        with open(scratch, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(scratch, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        _remove_stale_scratch(path)

    def load_snapshot(self) -> bytes | None:
        """The log's snapshot, or None."""
        if self.postgres:
            from psycopg import sql

            connection = self._pg.connection
            table = sql.Identifier(self._schema, "hub_snapshot")
            exists = connection.execute(
                "SELECT to_regclass(%s)", (table.as_string(connection),)
            ).fetchone()
            if exists is None or exists[0] is None:  # never written (and a read writes none)
                return None
            query = sql.SQL("SELECT body FROM {} WHERE id = 1").format(table)
            found = connection.execute(query).fetchone()
            return None if found is None else bytes(found[0])
        try:
            return Path(self.snapshot_path).read_bytes()
        except FileNotFoundError:
            return None

    @property
    def snapshot_path(self) -> str:
        return self.path.removesuffix(COMMANDS_SUFFIX) + SNAPSHOT_SUFFIX

    def _write_snapshot_row(self, connection: Any, data: bytes) -> None:
        """The snapshot's row (its table made if missing: before a write only)."""
        from psycopg import sql

        table = sql.Identifier(self._schema, "hub_snapshot")
        connection.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id SMALLINT PRIMARY KEY, body BYTEA NOT NULL)"
            ).format(table)
        )
        upsert = sql.SQL(
            "INSERT INTO {} VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body"
        ).format(table)
        connection.execute(upsert, (data,))

    def close(self) -> None:
        if self.postgres:
            self._pg.close()
        else:
            self._connection.close()


def _remove_stale_scratch(path: Path) -> None:
    """Remove what a writer of `path`'s snapshot left half-written when it died (its
    `<name>.<pid>.new`, the pid no longer running)."""
    for scratch in path.parent.glob(f"{path.name}.*.new"):
        pid = scratch.name[len(path.name) + 1 : -len(".new")]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            scratch.unlink(missing_ok=True)
        except OSError:
            continue  # running, under another user


class RecordingStore(MemoryStore):
    """An in-memory store that keeps each record: the replay's, for the real store to catch
    up; the benchmark's, for the ledger-only baseline."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[BatchRecord] = []

    def append(self, record: BatchRecord) -> None:
        super().append(record)
        if not record.is_empty:
            self.records.append(record)

    def follow(self, state: Any) -> None:
        """Take batches after those of the ledger `state` (restored from a snapshot)."""
        self._last_sequence, self._last_timestamp = state.batches, state.timestamp


# ---------------------------------------------------------------------- the hub


class DurableHub:
    """A `SettlementHub` whose every command is logged before it runs."""

    def __init__(self, log: CommandLog, runner: _Runner, ledger: DurableLedger) -> None:
        self._log = log
        self._runner = runner
        self.durable_ledger = ledger
        self._broken: BaseException | None = None
        self.replay_errors: list[tuple[int, str]] = []
        self.caught_up = 0  # batches the open appended to the real store from the replay
        self._acting: str | None = None  # the key id a governance command is logged as from
        self.restored_from = 0  # log rows a snapshot covered at the open (0: none used)
        self._applied = 0  # log rows the hub in memory has run (a snapshot covers these)
        self._read_only = False
        self.snapshots = True  # write a snapshot on close (when the log grew since the last)

    @classmethod
    def open(
        cls, store_path: str | os.PathLike[str], *, schema: str | None = None,
        read_only: bool = False, snapshots: bool = True,
    ) -> DurableHub:  # fmt: skip
        """Open the hub of an SQLite store (log in `<store>.commands`) or of a PostgreSQL
        database (`postgresql://…`: ledger and log in `schema`).

        `read_only`: to look at a hub that a running service may be writing (`samarkand
        track`, `statement`). The store is read before the log, so the log covers every
        batch read (a command is logged before its batches are written); nothing is written,
        and where the store is behind the log (a command under way) the hub's ledger is the
        replay's, in memory. Such a hub must take no command.

        `snapshots`: start from the log's snapshot when it is usable (`samarkand.hub.snapshot`:
        written by this code, over rows the log still begins with, of batches the store still
        holds), replaying only the rows after it; a writable hub writes a new one when it is
        closed. False: replay the whole log, and write none."""
        store_path = os.fspath(store_path)
        postgres = store_path.startswith(POSTGRES_PREFIXES)
        log = CommandLog(store_path if postgres else store_path + COMMANDS_SUFFIX, schema=schema)
        try:
            # The log is fsynced before each command runs and replays any batch the store
            # lost, so the store's own commits need not be fsynced one by one.
            store = open_store(store_path, schema=schema, sync_every_batch=False)
            try:
                loaded = store.load() if read_only else None
                runner, replay_store, errors, base = _replayed(log, snapshots)
                if loaded is None:
                    loaded = store.load()
                if loaded.batch_count < base:  # the store lost what the snapshot holds
                    runner, replay_store, errors, base = _replayed(log, False)
                stored = loaded.batch_count
                ledger = _catch_up(
                    store, replay_store.records, runner.ledger, loaded, read_only=read_only,
                    base=base,
                )  # fmt: skip
                if ledger.store is not store:
                    store.close()  # read-only, store behind its log: the replay's ledger
            except BaseException:
                store.close()
                raise
        except BaseException:
            log.close()
            raise
        runner.ledger = ledger
        if runner.hub is not None:
            runner.hub.ledger = ledger
            runner.hub.engine.ledger = ledger.state
        hub = cls(log, runner, ledger)
        hub.replay_errors = errors
        hub.caught_up = len(replay_store.records) - (stored - base)
        hub.restored_from = log.snapshot_covers
        hub._applied = log.length
        hub._read_only = read_only
        return hub

    # ------------------------------------------------------------------ reading

    @property
    def hub(self) -> SettlementHub:
        return self._runner.configured()

    @property
    def configured(self) -> bool:
        return self._runner.hub is not None

    @property
    def broken(self) -> bool:
        """A command failed after it was logged (or may have been): the hub in memory may not
        match its log and store, and takes no command until the store is opened again."""
        return self._broken is not None

    @property
    def commands(self) -> int:
        """How many commands the log holds (decision records are not counted: this grows by
        one per command, whatever it searched)."""
        return self._log.length - self._log.decided

    def close(self) -> None:
        try:
            self.save_snapshot()
        finally:
            self._log.close()
            self.durable_ledger.close()

    def save_snapshot(self) -> bool:
        """Write the log's snapshot of this hub (`samarkand.hub.snapshot`) if the log grew
        since the last one: not for a read-only, broken or unconfigured hub, nor with
        `snapshots` off. A snapshot is a cache: one that cannot be written is no error (the
        next open replays more). Whether one was written."""
        if not self._snapshot_due():
            return False
        log = self._log
        try:
            log.save_snapshot(self._snapshot_data())
        except Exception:  # noqa: BLE001 - a cache not written: the next open replays more
            return False
        log.snapshot_covers = log.length
        return True

    def snapshot_in_background(self) -> tuple[int, int] | None:
        """Write the snapshot in a child process (`os.fork`: a copy of the hub as it is now,
        between two commands, pickled while this process goes on), if one is due: the child's
        pid and the log rows it covers, for `snapshot_finished`; None if none is due or the
        platform cannot fork. The child writes on connections of its own."""
        if not self._snapshot_due() or not hasattr(os, "fork"):
            return None
        covers = self._log.length
        snapshot.prepare()  # what the child needs made here, not after the fork
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: write, then leave at once (nothing of the parent's runs)
            written = 1
            try:
                end_with_parent(parent)  # a parent killed alone leaves no writer behind
                self._log.save_snapshot(self._snapshot_data(), own_connection=True)
                written = 0
            finally:
                os._exit(written)
        return pid, covers

    @property
    def unsnapshotted_rows(self) -> int:
        """Rows of the log after those its snapshot covers: what an open would replay."""
        return self._log.length - self._log.snapshot_covers

    @property
    def snapshot_covers(self) -> int:
        """Rows of the log its latest snapshot covers: what an open would not replay."""
        return self._log.snapshot_covers

    def snapshot_finished(self, covers: int, written: bool) -> None:
        """A background snapshot of the first `covers` rows ended (written or not)."""
        if written:
            self._log.snapshot_covers = max(self._log.snapshot_covers, covers)

    def _snapshot_due(self) -> bool:
        log = self._log
        return not (
            not self.snapshots
            or self._read_only
            or self._broken is not None
            or self._runner.hub is None
            or log.length != self._applied  # logged by someone else, or not run
            or log.length <= log.snapshot_covers
        )

    def _snapshot_data(self) -> bytes:
        log = self._log
        state = self.durable_ledger.state
        header = snapshot.Header(log.length, log.decided, log.digest, state.batches)
        return snapshot.dumps(header, (self._runner, self.replay_errors), self.durable_ledger.store)

    def guard_writes(self, check: Callable[[], None] | None) -> None:
        """`check` (the writer lock's) runs before the command log first writes on a new
        PostgreSQL connection: after a database restart, which ends the lock's session as
        well, no command is logged until the lock is held again (`StoreError`, the command
        refused, if another process took it meanwhile). SQLite's file lock needs none."""
        self._log.before_new_connection = check

    def __enter__(self) -> DurableHub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ commands

    def _command(
        self, body: dict[str, Any], decoded: Callable[[SettlementHub], Any] | None = None
    ) -> Any:
        """Log `body`, then run it. `decoded`, when given, runs the command on the values a
        replay decodes from `body` (its encoder made both); otherwise the live run decodes
        what is logged, so it takes exactly what a replay will."""
        if self._broken is not None:
            raise HubBroken("a command failed earlier: open the store again") from self._broken
        if body["op"] != "configure":
            self._runner.configured()
        if self._acting is not None and body["op"] in AUDITED_OPS and "by" not in body:
            body = {**body, "by": self._acting}
        read = None if decoded is not None else _Reader(self._log.length + 1, _json_copy(body))
        try:
            sequence = self._log.append(body)
        except HubBroken as error:  # logged or not, nobody can tell: replay to find out
            self._broken = error
            raise
        engine = None if self._runner.hub is None else self._runner.hub.engine
        try:
            if engine is not None:
                engine.decisions = []
            if decoded is not None:
                result = decoded(self._runner.configured())
            else:
                assert read is not None
                result = self._runner.run(body["op"], read)
            if engine is not None and engine.decisions:
                self._log.append(_encode_decisions(sequence, engine.decisions))
            self._applied = self._log.length
            return result
        except StoreError as error:
            self._broken = error
            raise CommandInterrupted(
                f"hub command {sequence} is logged but did not run to its end: {error}"
            ) from error
        except BaseException as error:
            self._broken = error
            raise
        finally:
            if engine is not None:
                engine.decisions = None

    def configure(
        self,
        directory: Directory,
        *,
        cut_off_ns: dict[str, int],
        credit: dict[tuple[str, str], int] | None = None,
        fx_providers: dict[str, Sequence[tuple[str, str]] | None] | None = None,
    ) -> None:
        """Configure the hub once. `fx_providers` (see `SettlementHub`): None, the open
        policy, is logged as no key at all, exactly as before the register existed; a
        mapping is the register, checked before it is logged (ValueError)."""
        if self._runner.hub is not None:
            raise StoreError("the hub is already configured")
        body: dict[str, Any] = {
            "op": "configure",
            "participants": [_encode_participant(p) for p in directory],
            "ledgers": {_str(c): _int(n) for c, n in directory.ledgers.items()},
            "cut_offs": {_str(c): _int(n) for c, n in cut_off_ns.items()},
            "credit": [[_str(b), _str(c), _int(v)] for (b, c), v in sorted((credit or {}).items())],
        }
        if fx_providers is not None:
            for bic, pairs in sorted(fx_providers.items()):
                refused = provider_refusal(directory, bic, pairs)
                if refused is not None:
                    raise ValueError(f"FX provider {bic!r}: {refused.text}")
            body["fx_providers"] = {
                _str(bic): _encode_pairs(pairs) for bic, pairs in sorted(fx_providers.items())
            }
        self._command(body)

    def open_accounts(self, now: int) -> int:
        return self._command({"op": "open_accounts", "now": _int(now)})

    def liquidity(self, transfers: Sequence[Liquidity], now: int) -> list[Reason | None]:
        """Liquidity transfers, logged unless the hub refuses every one before its ledger is
        asked (a refused request is not logged nor audited)."""
        refused = [self.hub.liquidity_refusal(t) for t in transfers]
        if transfers and None not in refused:
            return refused
        items = [
            [_str(t.bic), _str(t.currency), _int(t.amount), bool(t.into_hub)] for t in transfers
        ]
        return self._command({"op": "liquidity", "transfers": items, "now": _int(now)})

    def set_credit(
        self, bic: str, currency: str, limit: int, now: int, *, by_central_bank: str
    ) -> Reason | None:
        """Set intraday credit; a request the hub refuses before its ledger is asked is not
        logged nor audited."""
        refused = self.hub.credit_refusal(bic, currency, limit, by_central_bank=by_central_bank)
        if refused is not None:
            return refused
        return self._command(
            {
                "op": "set_credit",
                "bic": _str(bic),
                "currency": _str(currency),
                "limit": _int(limit),
                "now": _int(now),
                "by_central_bank": _str(by_central_bank),
            }
        )

    def submit(self, payments: Sequence[Payment], now: int) -> list[Reason | None]:
        columns, decoded = _encode_payments(payments)
        return self._command(
            {"op": "submit", "columns": columns, "now": _int(now)},
            lambda hub: hub.submit(decoded, now),
        )

    def tick(self, now: int) -> None:
        self._command({"op": "tick", "now": _int(now)})

    def optimise(self, now: int, *, non_fifo: bool = False) -> int:
        return self._command({"op": "optimise", "now": _int(now), "non_fifo": bool(non_fifo)})

    def close_window(self, currency: str, now: int) -> tuple[int, list[int]]:
        return self._command({"op": "close_window", "currency": _str(currency), "now": _int(now)})

    def end_of_day(self, now: int, *, non_fifo: bool = True) -> int:
        return self._command({"op": "end_of_day", "now": _int(now), "non_fifo": bool(non_fifo)})

    def close_currency(self, currency: str, now: int) -> int:
        """`currency`'s end of day, once its cut-off has come: what still waits in it is
        rejected AB03 (`SettlementEngine.close_currency`). Returns payments rejected."""
        return self._command({"op": "close_currency", "currency": _str(currency), "now": _int(now)})

    def open_day(
        self,
        cut_off_ns: dict[str, int],
        now: int | None = None,
        business_date: str | None = None,
        resting: Sequence[str] = (),
    ) -> None:
        """Open the next business day with these cut-offs (`now`, when given, is kept for
        the audit trail; `business_date`, a calendar's date of the day, is the settlement
        date its payments must carry; `resting`, the currencies its calendar rests).

        With `now`, the day's opening also forgets the quotes expired by then and the
        commitment counts nothing holds any more (`SettlementHub.forget_expired`, as
        `end_of_day` does): the service's clock closes currencies one by one and opens
        days, and never runs `end_of_day`. The command says so (`forget_expired`), so a
        log written before replays as it ran."""
        if self.hub.engine.waiting:
            # Checked before logging: a refused open_day must not enter the log.
            raise RuntimeError("open_day before end_of_day: payments are still queued")
        command: dict[str, Any] = {
            "op": "open_day",
            "cut_offs": {_str(c): _int(n) for c, n in cut_off_ns.items()},
        }
        if now is not None:
            command["now"] = _int(now)
            command["forget_expired"] = True
        if business_date is not None:
            command["date"] = _str(business_date)
        if resting:
            command["resting"] = sorted(map(_str, resting))
        self._command(command)

    def cancel(self, uetr: int, by_bic: str, now: int) -> Reason | None:
        """Cancel a payment not yet final."""
        return self._payment_change("cancel", uetr, by_bic, now)

    def reprioritise(self, uetr: int, by_bic: str, priority: Priority, now: int) -> Reason | None:
        """Change a waiting payment's priority (`SettlementEngine.reprioritise`)."""
        return self._payment_change("priority", uetr, by_bic, now, priority=_int(int(priority)))

    def reorder(self, uetr: int, by_bic: str, *, to_front: bool, now: int) -> Reason | None:
        """Move a queued payment within its class."""
        return self._payment_change("reorder", uetr, by_bic, now, to_front=bool(to_front))

    def _payment_change(
        self, op: str, uetr: int, by_bic: str, now: int, **fields: Any
    ) -> Reason | None:
        """`by_bic`'s change `op` of payment `uetr`, logged unless the engine refuses it before
        it changes anything (`SettlementEngine.refusal`): a refused request is neither logged
        nor audited."""
        refused = self.hub.engine.refusal(op, uetr, by_bic)
        if refused is not None:
            return refused
        return self._command(
            {"op": op, "uetr": _int(uetr), "bic": _str(by_bic), **fields, "now": _int(now)}
        )

    # ------------------------------------------------------------------ FX commands

    def post_tiers(self, posts: Sequence[TierPost], now: int) -> list[Reason | None]:
        tiers = [_encode_tier(t) for t in posts]
        return self._command(
            {"op": "post_tiers", "tiers": tiers, "commitment": COMMITMENT_TOTAL, "now": _int(now)}
        )

    def request_quotes(self, requests: Sequence[QuoteRequest], now: int) -> list[Quote | Reason]:
        encoded = [
            [
                _str(r.bic),
                _str(r.source),
                _str(r.destination),
                _opt_int(r.send_amount),
                _opt_int(r.deliver_amount),
                _int(r.ttl_ns),
            ]
            for r in requests
        ]
        return self._command(
            {"op": "quotes", "requests": encoded, "suspended": SUSPENDED_SKIPPED, "now": _int(now)}
        )

    def request_quote(self, request: QuoteRequest, now: int) -> Quote | Reason:
        return self.request_quotes([request], now)[0]

    def submit_fx(self, payments: Sequence[FxPayment], now: int) -> list[Reason | None]:
        encoded = [_encode_fx_payment(p) for p in payments]
        return self._command({"op": "submit_fx", "payments": encoded, "now": _int(now)})

    # ------------------------------------------------------------------ operator settings
    # Checked before logging, like the service commands below: a refusal is returned and
    # never enters the log. `register_provider` and `deregister_provider` need a hub
    # configured with a register (`SettlementHub.providers` not None; else ValueError).

    def _with_register(self) -> SettlementHub:
        """The hub, which must keep a register of FX providers (not the open policy)."""
        hub = self.hub
        if hub.providers is None:
            raise ValueError("the hub was configured without a register of FX providers")
        return hub

    def register_provider(
        self, bic: str, pairs: Sequence[tuple[str, str]] | None, now: int
    ) -> Reason | int:
        """Register `bic` as an FX provider (see `SettlementHub.register_provider`)."""
        hub = self._with_register()
        refused = provider_refusal(hub.directory, bic, pairs)
        if refused is not None:
            return refused
        return self._command(
            {
                "op": "register_provider",
                "bic": _str(bic),
                "pairs": _encode_pairs(pairs),
                "now": _int(now),
            }
        )

    def deregister_provider(self, bic: str, now: int) -> Reason | int:
        hub = self._with_register()
        assert hub.providers is not None
        if bic not in hub.providers:
            return Reason.PROVIDER_NOT_REGISTERED
        return self._command({"op": "deregister_provider", "bic": _str(bic), "now": _int(now)})

    def set_vehicle_corridor(
        self, source: str, destination: str, allowed: bool, now: int
    ) -> Reason | bool:
        """Allow or forbid a vehicle currency on a corridor; a request that changes nothing
        (or is refused) is not logged."""
        hub = self.hub
        refused = hub.corridor_refusal(source, destination)
        if refused is not None:
            return refused
        if ((source, destination) in hub.book.allowed_vehicle_corridors) == bool(allowed):
            return False
        return self._command(
            {
                "op": "vehicle_corridor",
                "source": _str(source),
                "destination": _str(destination),
                "allowed": bool(allowed),
                "now": _int(now),
            }
        )

    def set_cut_off(self, currency: str, cut_off_ns: int, now: int) -> Reason | str | None:
        problem = self.hub.cut_off_problem(currency, cut_off_ns, now)
        if problem is not None:
            return problem
        return self._command(
            {
                "op": "cut_off",
                "currency": _str(currency),
                "cut_off": _int(cut_off_ns),
                "now": _int(now),
            }
        )

    def schedule_windows(
        self, currency: str, every_ns: int, now: int, first_ns: int | None = None
    ) -> Reason | str | None:
        """Close `currency`'s DNS window every `every_ns` (between `WINDOW_EVERY_MIN_NS` and
        a day), the first `every_ns` from now, or at `first_ns` (later than now, at most a
        day ahead: the beat set on a time of day); 0 stops the schedule. A refusal: the
        reason or, in words, the problem."""
        if currency not in self.hub.directory.central_bank_of:
            return Reason.CURRENCY_NOT_ALLOWED
        if type(every_ns) is not int or not (
            every_ns == 0 or WINDOW_EVERY_MIN_NS <= every_ns <= WINDOW_EVERY_MAX_NS
        ):
            return "a window closes every 60 s to 24 h (0: only when the operator closes it)"
        command = {"op": "window_schedule", "currency": _str(currency), "every": _int(every_ns)}
        if first_ns is not None:
            if type(first_ns) is not int or not now < first_ns <= now + WINDOW_EVERY_MAX_NS:
                return WINDOW_FIRST_PROBLEM
            if not every_ns:
                return "a first close needs a schedule (every_seconds above 0)"
            command["first"] = _int(first_ns)
        return self._command({**command, "now": _int(now)})

    def set_calendar(self, calendar: BusinessCalendar | None, now: int) -> tuple[str, str] | None:
        """Open business days on `calendar` from now on (the service's clock does, once every
        currency's day is closed), or only when the operator asks (None). A refusal: (field,
        problem)."""
        if calendar is not None and (problem := calendar.problem()) is not None:
            return problem
        carried = self.hub.directory.central_bank_of
        for name in ("currency_cut_offs", "currency_weekdays", "currency_holidays"):
            own = () if calendar is None else getattr(calendar, name)
            unknown = next((code for code, _ in own if code not in carried), None)
            if unknown is not None:
                return name, f"{unknown}: the hub does not settle this currency"
        return self._command(
            {"op": "calendar", "calendar": _encode_calendar(calendar), "now": _int(now)}
        )

    def archive(
        self, before_ns: int, now: int, limit: int | None = None
    ) -> tuple[int, int, bool] | str:
        """Archive the payments final before `before_ns`, at most `limit` of them
        (`SettlementHub.archive`): a logged command, so a replay archives the same;
        (payments, events, finished) or why not (in words, nothing logged)."""
        problem = self.hub.archive_problem(before_ns)
        if problem is not None:
            return problem
        command = {"op": "archive", "before": _int(before_ns), "now": _int(now)}
        if limit is not None:
            command["limit"] = _int(limit)
        return self._command(command)

    def set_queue_limit(self, limit: int, now: int) -> str | None:
        problem = queue_limit_problem(limit)
        if problem is not None:
            return problem
        return self._command({"op": "queue_limit", "limit": _int(limit), "now": _int(now)})

    # ------------------------------------------------------------------ service commands
    # Each checks its request before logging it: a refused request never enters the log
    # (the refusal is returned as text); what is logged always applies.

    def set_participant_status(
        self, bic: str, status: ParticipantStatus, now: int
    ) -> dict[str, Any] | tuple[int, str] | None:
        """Suspend or reinstate a participant at once (None); a member's central bank only by
        a `StatusChange` that the central bank of every other member approves (its view, the
        change applied already when there is no other member). A refusal is (HTTP status,
        text)."""
        directory = self.hub.directory
        participant = directory.get(bic)
        if participant is None:
            return 404, f"no participant {bic}"
        pending = [c for c in self._runner.status_changes.values() if not c.applied]
        under_way = next((c for c in pending if c.bic == bic), None)
        if under_way is not None:
            return 409, f"a change of {bic}'s status is already proposed (proposal {under_way.id})"
        if participant.status is status:
            return None
        if participant.kind is not ParticipantKind.CENTRAL_BANK:
            self._command(
                {"op": "set_status", "bic": _str(bic), "status": status.value, "now": _int(now)}
            )
            return None
        needs = sorted(p.bic for p in directory.central_bank_of.values() if p.bic != bic)
        command = {"op": "propose_status", "bic": _str(bic), "status": status.value}
        return self._command({**command, "needs": needs, "now": _int(now)})

    @contextmanager
    def acting(self, key_id: str | None) -> Iterator[None]:
        """Governance commands logged meanwhile name `key_id` as the one that asked (their
        "by", which the audit trail shows)."""
        before, self._acting = self._acting, key_id
        try:
            yield
        finally:
            self._acting = before

    def audit(self, after: int = 0, limit: int | None = None) -> list[AuditEntry]:
        """The governance commands logged after sequence `after`, oldest first (at most
        `limit`)."""
        trail = self._runner.audit
        start = bisect.bisect_right(trail, after, key=lambda entry: entry.sequence)
        return trail[start : None if limit is None else start + limit]

    def keys(self) -> dict[str, tuple[str, str | None]]:
        """The callers' keys set or revoked through the service, by key id: (role, base64
        public key, or None: revoked), the latest of each."""
        return dict(self._runner.keys)

    def set_key(self, key_id: str, role: str, public_key: str | None, now: int) -> None:
        """Log `key_id`'s new public key (base64 Ed25519, checked by the caller), or its
        revocation (None): what the service's verifier takes again on every start."""
        command = {"op": "set_key", "key": _str(key_id), "role": _str(role)}
        key = None if public_key is None else _str(public_key)
        self._command({**command, "public_key": key, "now": _int(now)})

    def propose_key(
        self, key_id: str, role: str, public_key: str | None, by: str, now: int
    ) -> dict[str, Any] | tuple[int, str]:
        """Propose that a central bank's or the operator's key `key_id` be revoked (None) or
        set to `public_key` (checked by the caller), on the word of `by` (the operator or a
        member's central bank other than the holder): a `KeyChange` applied once the central
        bank of every member other than the holder approves (at once when there is none).
        Its view, or a refusal (HTTP status, text)."""
        pending = [c for c in self._runner.key_changes.values() if not c.applied]
        under_way = next((c for c in pending if c.key_id == key_id), None)
        if under_way is not None:
            return 409, f"a change of {key_id}'s key is already proposed (proposal {under_way.id})"
        central_banks = self.hub.directory.central_bank_of.values()
        needs = sorted(p.bic for p in central_banks if p.bic != key_id)
        key = None if public_key is None else _str(public_key)
        command: dict[str, Any] = {"op": "propose_key", "key": _str(key_id), "role": _str(role)}
        command |= {"public_key": key, "needs": needs, "by": _str(by), "now": _int(now)}
        return self._command(command)

    def proposals(self, kind: str) -> list[dict[str, Any]]:
        """The views of the proposals of `kind` (a key of `PROPOSAL_KINDS`), oldest first."""
        table, _ = PROPOSAL_KINDS[kind]
        return [proposal.view() for proposal in getattr(self._runner, table).values()]

    def approve(
        self, kind: str, proposal_id: int, by_central_bank: str, now: int
    ) -> dict[str, Any] | tuple[int, str]:
        """Log `by_central_bank`'s approval of proposal `proposal_id` of `kind` and return its
        view, or say why it may not (HTTP status, text)."""
        table, op = PROPOSAL_KINDS[kind]
        proposal = getattr(self._runner, table).get(proposal_id)
        refusal = _approval_refusal(proposal, kind, proposal_id, by_central_bank)
        if refusal is not None:
            return refusal
        return self._command(
            {"op": op, "id": _int(proposal_id), "by": _str(by_central_bank), "now": _int(now)}
        )

    def propose_admission(
        self,
        *,
        bic: str,
        name: str,
        country: str,
        kind: ParticipantKind,
        currency: str,
        now: int,
        public_key: str | None = None,
    ) -> dict[str, Any] | str:
        directory = self.hub.directory
        pending = [a for a in self._runner.admissions.values() if not a.admitted]
        if directory.get(bic) is not None or any(a.participant.bic == bic for a in pending):
            return f"{bic} is already a participant or proposed"
        try:
            ledger = default_registry().get(currency).ledger
        except MoneyError:
            return f"currency {currency} is not one the hub can carry"
        central_bank = directory.central_bank_of.get(currency)
        if kind is ParticipantKind.CENTRAL_BANK:
            if central_bank is not None or any(
                a.participant.home_currency == currency for a in pending
            ):
                return f"{currency} already has a central bank (or one is proposed)"
            needs = sorted(p.bic for p in directory.central_bank_of.values())
        elif kind is ParticipantKind.DIRECT:
            if central_bank is None:
                return f"{currency} has no central bank in the hub: admit the country first"
            if central_bank.country != country:
                return f"a direct participant of {country} settles in its own currency"
            needs = [central_bank.bic]
        else:
            return "only central banks and direct participants are admitted here"
        numbers = [*directory.by_number, *(a.participant.number for a in pending)]
        participant = Participant(bic, name, country, kind, max(numbers, default=0) + 1, currency)
        try:
            Directory([], {currency: ledger})._check(participant)
        except ValueError as error:
            return str(error)
        command = {
            "op": "propose_admission",
            "participant": _encode_participant(participant),
            "ledger": _int(ledger),
            "needs": needs,
            "now": _int(now),
        }
        if public_key is not None:
            command["public_key"] = _str(public_key)
        return self._command(command)


_PR_SET_PDEATHSIG = 1  # Linux's prctl option: a signal for this process when its parent ends


def end_with_parent(parent: int) -> None:
    """In a forked child: be killed when the parent (pid `parent`) ends, however it ends
    (Linux's PR_SET_PDEATHSIG), and end now if it has ended already. Where the platform has
    no such call, nothing: the child ends when its work does."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    if prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return
    if os.getppid() != parent:  # the parent ended before the call: nobody would signal
        os._exit(1)


# ---------------------------------------------------------------------- replay


def _replayed(
    log: CommandLog, snapshots: bool
) -> tuple[_Runner, RecordingStore, list[tuple[int, str]], int]:
    """The log replayed: from its snapshot when `snapshots` and it is usable (the rows after
    it), else from the start. The runner, the store that recorded the replay's batches, the
    commands that failed, and how many batches came before the recorded ones."""
    if snapshots:
        try:
            data = log.load_snapshot()
        except Exception:  # noqa: BLE001 - an unreadable snapshot is only unusable
            data = None
        header = None if data is None else snapshot.header_of(data)
        if data is not None and header is not None and header.usable():
            commands, digest = log.read(header.log_length, header.log_decided)
            if digest == header.log_digest and log.length >= header.log_length:
                replay_store = RecordingStore()
                try:
                    runner, errors = snapshot.loads(data, replay_store)
                except (snapshot.SnapshotUnusable, TypeError, ValueError):
                    runner = None
                if isinstance(runner, _Runner) and runner.ledger.store is replay_store:
                    replay_store.follow(runner.ledger.state)
                    log.snapshot_covers = header.log_length
                    errors = [*errors, *_replay(runner, commands)]
                    return runner, replay_store, errors, header.batches
    commands, _ = log.read()
    log.snapshot_covers = 0
    replay_store = RecordingStore()
    runner = _Runner(DurableLedger.open(replay_store))
    return runner, replay_store, _replay(runner, commands), 0


def _replay(runner: _Runner, rows: list[tuple[int, str, _Reader]]) -> list[tuple[int, str]]:
    """Run every logged command on `runner`, each with the decisions recorded after it (if
    any) instead of its searches; return the commands that failed (as they failed live)."""
    errors: list[tuple[int, str]] = []
    position = 0
    while position < len(rows):
        sequence, op, read = rows[position]
        position += 1
        if op == DECIDED:
            raise read.fail("a decision record that follows no command")
        recorded = None
        if position < len(rows) and rows[position][1] == DECIDED:
            recorded = _read_decisions(rows[position][2], sequence)
            position += 1
            if runner.hub is None:
                raise read.fail("decisions recorded for a command before the hub was configured")
        engine = None if recorded is None or runner.hub is None else runner.hub.engine
        if engine is not None:
            engine.recorded = recorded
        try:
            runner.run(op, read)
        except CommandLogCorrupted:
            raise
        except DecisionRefused as refused:
            raise read.fail(f"its recorded decisions do not fit the replay: {refused}") from None
        except Exception as error:  # noqa: BLE001 - the live run failed the same way
            if engine is not None:  # no: a record is written only after its command ran
                what = f"failed in its replay with recorded decisions: {error!r}"
                raise read.fail(what) from error
            errors.append((sequence, repr(error)))
        finally:
            if engine is not None:
                engine.recorded = None
        if recorded:
            raise read.fail(f"{len(recorded)} recorded decisions left over by its replay")
    return errors


# ---------------------------------------------------------------------- catching up


def _catch_up(
    store: LedgerStore, records: list[BatchRecord], replayed: DurableLedger,
    loaded: LoadedJournal, *, read_only: bool = False, base: int = 0,
) -> DurableLedger:  # fmt: skip
    """Check the real store (its rows `loaded`) holds, after its first `base` batches (those
    of a snapshot the replay started from), a prefix of the replay's records; append the
    rest, open the durable ledger on it and check it against the replay (the whole journal
    and every balance). `read_only`: nothing is appended; a store behind the replay leaves
    the replay's ledger."""
    stored = loaded.batch_count
    if stored > base + len(records):
        raise StoreCorrupted(
            f"the store holds {stored} batches but the command log replays only "
            f"{base + len(records)}"
        )
    prefix = records[: stored - base]

    def fail(what: str) -> StoreCorrupted:
        return StoreCorrupted(f"the store does not match the command log's replay: {what}")

    before = loaded.batches[:base]
    start = {
        name: sum(getattr(summary, name) for summary in before)
        for name in ("accounts", "limits", "expiries", "transfers")
    }
    for summary, record in zip(loaded.batches[base:], prefix, strict=True):
        if (
            summary.sequence,
            summary.now,
            summary.timestamp,
            summary.accounts,
            summary.transfers,
            summary.expiries,
            summary.limits,
        ) != (
            record.sequence,
            record.now,
            record.timestamp,
            len(record.accounts),
            len(record.transfers),
            len(record.expiries),
            len(record.limits),
        ):
            raise fail(f"batch {summary.sequence} differs from replayed batch {record.sequence}")
    if loaded.accounts[start["accounts"] :] != tuple(a for r in prefix for a in r.accounts):
        raise fail("accounts differ")
    if loaded.limits[start["limits"] :] != tuple(c for r in prefix for c in r.limits):
        raise fail("limit changes differ")
    expiries = start["expiries"]
    if loaded.expiries.pending_id[expiries:] != tuple(
        p for r in prefix for p in r.expiries.pending_id
    ) or loaded.expiries.timestamp[expiries:] != tuple(
        t for r in prefix for t in r.expiries.timestamp
    ):
        raise fail("expiries differ")
    for name in FIELD_NAMES:
        mine: list[int] = []
        for record in prefix:
            mine.extend(getattr(record.transfers, name).tolist())
        if getattr(loaded.transfers, name)[start["transfers"] :].tolist() != mine:
            raise fail(f"transfers differ in {name}")
    if read_only and stored < base + len(records):
        return replayed  # a writer is under way: its batches are in the replay, not yet stored
    for record in records[stored - base :]:
        store.append(record)
    # Rebuilt from the rows just read when they are all the store holds (a clean stop):
    # reading them again would double the store's share of an open.
    ledger = (
        DurableLedger(store, state_from(loaded))
        if stored == base + len(records)
        else DurableLedger.open(store)
    )
    _check_same(ledger, replayed)
    return ledger


def _check_same(ledger: DurableLedger, replayed: DurableLedger) -> None:
    """The reopened store's ledger is the replay's: the same batches, clock, accounts and
    balances, and the same journal, row for row (a replay from a snapshot checks this way
    what it did not replay)."""
    real, replay = ledger.state, replayed.state
    same = (
        real.batches == replay.batches
        and real.timestamp == replay.timestamp
        and len(real.journal) == len(replay.journal)
        and real.accounts == replay.accounts
        and all(real.balance(a.id) == replay.balance(a.id) for a in replay.accounts)
    )
    if not same:
        raise StoreCorrupted("the store does not match the command log's replay: balances differ")
    mine, theirs = real.journal.columns(), replay.journal.columns()
    for name in FIELD_NAMES:
        if not np.array_equal(getattr(mine, name), getattr(theirs, name)):
            raise StoreCorrupted(
                f"the store does not match the command log's replay: journal {name} differs"
            )
