"""The settlement engine: RTGS with queues, liquidity-saving mechanisms and DNS windows.

Pure: the engine reads balances from a `LedgerState` and decides; it never writes the ledger.
What it decides comes out of `drain()` as ledger transfers plus payment events, and the hub
applies the transfers durably before it calls the engine again. While a step is under way
the engine keeps an overlay of its own decisions on top of the ledger's balances, so later
decisions in the step see earlier ones.

How a payment settles (DESIGN §5):
- gross and final at once when its sender's liquidity covers it and FIFO allows (no queued
  payment of the same sender with the same or a higher priority);
- otherwise, at entry, bilateral offsetting with the receiver's queue head towards the sender;
- otherwise it queues. Whenever a sender's liquidity grows, its queue head is retried (FIFO);
  `optimise` runs multilateral offsetting of all queues (FIFO, exact), and optionally the
  non-FIFO heuristic on what FIFO could not resolve;
- DNS payments wait for their currency's next window close, which settles the net positions
  with unwinding of participants that cannot pay in.

Cross-currency payments settle all their legs together (gross, or by cross-currency
offsetting; never in a DNS window) and count what each hop pays out against its tier's
commitment (`tier_paid`; see `samarkand.settlement.crosscurrency`). A payment whose draw
would take a tier past its commitment is not settled: it is refused at entry, or, queued,
rejected as soon as others' settlements leave its tier too little, with
FX_PROVIDER_LIQUIDITY (AM02, the code a quote refused for the same reason gets). It is not
left queued as a payment short of liquidity is: a commitment is never replenished (a new
posting of the tier is a new commitment), so it would wait in vain and hold up its
sender's cross-currency queue.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np

from samarkand.ledger.columns import TransferColumns
from samarkand.ledger.state import CPO, DP, DPO, LIMIT, LedgerState
from samarkand.ledger.types import INT64_MAX, U128_MAX, AccountCode, Transfer, TransferCode
from samarkand.money.columns import instances, interleaved
from samarkand.settlement import lsm
from samarkand.settlement.archive import ArchivedPayments
from samarkand.settlement.crosscurrency import FxRoute, covered, offset_prefixes
from samarkand.settlement.net_details import NetDetails
from samarkand.settlement.netting import (
    Leg,
    linked_chain,
    net_positions,
    settle_window,
    settlement_transfers,
)
from samarkand.settlement.optimise import nonfifo_optimise
from samarkand.settlement.participants import (
    Directory,
    Participant,
    ParticipantStatus,
    account_id,
)
from samarkand.settlement.payments import (
    FINAL,
    Event,
    FxPayment,
    Method,
    Payment,
    Priority,
    Reason,
    Status,
)

QUEUE_LIMIT_DEFAULT = 1_000_000  # queued payments per currency
NON_FIFO_BUDGET_DEFAULT = 200  # improvement moves per non-FIFO run on a timer
NON_FIFO_BUDGET_END_OF_DAY = 2_000  # the last run of the day may take longer
GROSS_BATCH_MIN = 16  # shorter batches go one payment at a time (set-up outweighs the saving)


class DayStart(NamedTuple):
    """Where a business day opened (`open_day` with its time), as the statements divide
    the journal into days: `at_ns`, the first ledger timestamp the day's transfers get (its
    opening, or later when the ledger's clock was ahead); `date`, the date its calendar gave
    it (None: opened by hand); `transfers` and `net_details`, how many journal rows and
    `NetDetails` rows were made before it."""

    at_ns: int
    date: str | None
    transfers: int
    net_details: int


class Via:
    """How a payment settled (for statistics and the tracker)."""

    GROSS = "gross"
    BILATERAL = "bilateral offsetting"
    FIFO = "multilateral offsetting (FIFO)"
    NON_FIFO = "multilateral optimisation (non-FIFO)"
    DNS = "deferred net settlement"
    FX = "cross-currency (all legs in one linked chain)"
    FX_OFFSET = "cross-currency offsetting"


@dataclass(slots=True, eq=False)
class Entry:
    """A payment the engine has accepted, with its lifecycle."""

    payment: Payment
    sequence: int
    sender: int  # settlement account ids
    receiver: int
    ledger: int
    received_ns: int
    status: Status = Status.RECEIVED
    settled_ns: int = 0
    via: str = ""
    history: list[Event] = field(default_factory=list)
    fx: FxRoute | None = None  # the quote's route, for a cross-currency payment

    @property
    def priority(self) -> Priority:
        return self.payment.priority

    @property
    def amount(self) -> int:
        return self.payment.amount


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one liquidity-saving search: which of the `queued` payments it chose
    (their UETRs). `search` is FIFO_SEARCH or NON_FIFO_SEARCH (the queues of `ledger`) or
    FX_SEARCH (the cross-currency queues; `ledger` 0). The searches are deterministic but
    slow; a durable hub logs their outcomes so that its replay takes them instead of searching
    again."""

    search: str
    ledger: int
    queued: int
    chosen: tuple[int, ...]


FIFO_SEARCH = "fifo"
NON_FIFO_SEARCH = "non_fifo"
FX_SEARCH = "fx"
SEARCHES = frozenset({FIFO_SEARCH, NON_FIFO_SEARCH, FX_SEARCH})


class DecisionRefused(ValueError):
    """A recorded decision does not fit the queues it is applied to (see `Decision`)."""


@dataclass(slots=True)
class Stats:
    settled: int = 0
    rejected: int = 0
    cancelled: int = 0
    lsm_runs: int = 0
    gridlocks_resolved: int = 0  # offsetting runs that settled what no payment could alone
    settled_by: dict[str, int] = field(default_factory=dict)
    # Cross-currency: what providers paid out leg by leg (gross) and what they needed on net
    # (the residual, less than gross when offsetting settled payments together), per ledger.
    fx_provider_gross: dict[int, int] = field(default_factory=dict)
    fx_provider_net: dict[int, int] = field(default_factory=dict)
    fx_offset_sets: int = 0
    # The payments (entries) by status now: kept as statuses change, so that counting them
    # takes no walk over every payment ever made.
    by_status: dict[Status, int] = field(default_factory=lambda: dict.fromkeys(Status, 0))


class SettlementEngine:
    def __init__(
        self,
        directory: Directory,
        ledger: LedgerState,
        *,
        cut_off_ns: dict[str, int],
        first_transfer_id: int,
        queue_limit: int = QUEUE_LIMIT_DEFAULT,
    ) -> None:
        self.directory = directory
        self.ledger = ledger
        self.cut_off_ns = dict(cut_off_ns)
        # Currencies whose business day is closed (`close_currency`, `end_of_day`) until
        # the next `open_day`, or their cut-off moves later.
        self.closed: set[str] = set()
        # Currencies that do not settle on the business day open (its calendar's holidays
        # or weekend of theirs): closed from the day's opening, and no cut-off moves.
        self.resting: set[str] = set()
        self.queue_limit = queue_limit
        self.entries: dict[int, Entry] = {}
        # Payments final before an earlier day's end, out of `entries` (`archive`): their
        # UETRs stay taken, and `find` rebuilds each one on demand.
        self.archived = ArchivedPayments()
        self.archived_before = 0  # the latest `archive` ran up to (ns)
        # (sender account) -> [urgent queue, normal queue], each in FIFO order
        self.queues: dict[int, tuple[list[Entry], list[Entry]]] = {}
        self.queued_per_ledger: dict[int, int] = {}
        # (sender account) -> what its queued payments add up to, single and cross-currency
        self.queued_value: dict[int, int] = {}
        self.warehouse: list[tuple[int, int, int]] = []  # (earliest_ns, sequence, uetr)
        self.deadlines: list[tuple[int, int, int]] = []  # (latest_ns, sequence, uetr)
        self.dns_pending: dict[str, list[Entry]] = {}
        # A currency's DNS windows closed on the hub's clock: (every ns, the next close).
        self.window_schedule: dict[str, tuple[int, int]] = {}
        # The date (ISO 8601) of the business day open, when the calendar that opened it
        # said; None: the UTC date of the moment (see `hub.messages.business_day`).
        self.business_date: str | None = None
        # Every day's opening (the last is `opened_ns`), and where each one divides the
        # journal (`DayStart`): what a statement's day is made of.
        self.openings: list[int] = []
        self.day_starts: list[DayStart] = []
        # The payments behind each net settlement posting, as each set settled.
        self.net_details = NetDetails()
        self.stats = Stats()
        self._next_id = first_transfer_id
        self._sequence = 0
        self._reference = 0
        self._overlay: dict[int, int] = {}
        # Transfers in order; a batch settled gross at once is one block of columns.
        self._transfers: list[Transfer | TransferColumns] = []
        self._events: list[Event] = []
        self._dirty: list[int] = []
        # Ledgers where offsetting may find something new since its last run: a payment
        # queued, or liquidity came to an account with a queue. Nothing else can enlarge the
        # feasible set (a credit to an account with nothing queued lets nothing more settle,
        # and a debit only shrinks what can), so a run on an unchanged ledger is skipped.
        self._changed: set[int] = set()
        self.currency_of_ledger = {ledger: code for code, ledger in directory.ledgers.items()}
        # Cross-currency payments: their own FIFO queues per sender.
        self.fx_queues: dict[int, tuple[list[Entry], list[Entry]]] = {}
        self.fx_queued = 0
        self.fx_deadlines: list[tuple[int, int, int]] = []  # (rates end, sequence, uetr)
        self._fx_changed = False
        # Accounts of the queued cross-currency payments (how many touch each): only more
        # liquidity in one of them can let cross-currency offsetting find something new.
        self._fx_watch: dict[int, int] = {}
        # Providers' commitments (tiers whose liquidity is committed in total), by number:
        # the committed liquidity, and what the settled hops on it paid out (never lowered;
        # it may exceed the commitment only where the log's recorded decisions put it, see
        # `_offset_fx`). Kept while a payment may still draw on it (`forget_commitments`).
        self.tier_liquidity: dict[int, int] = {}
        self.tier_paid: dict[int, int] = {}
        # The queued cross-currency payments drawing on each commitment, by UETR.
        self._fx_drawing: dict[int, dict[int, Entry]] = {}
        # Liquidity-saving searches: when `decisions` is a list, each search appends its
        # outcome to it (for its owner to drain); when `recorded` holds decisions, each search
        # takes the next one instead of searching, checked against the queues (else
        # DecisionRefused). Both None: the engine searches and keeps nothing.
        self.decisions: list[Decision] | None = None
        self.recorded: deque[Decision] | None = None

    # ------------------------------------------------------------------ output

    def drain(self) -> tuple[list[Transfer | TransferColumns], list[Event]]:
        """What the engine decided since the last drain. The caller applies the transfers to
        the ledger (all of them, in order) before it calls the engine again."""
        transfers, events = self._transfers, self._events
        self._transfers, self._events, self._overlay = [], [], {}
        return transfers, events

    # ------------------------------------------------------------------ liquidity

    def available(self, account: int) -> int:
        """What the account can pay now: balance plus intraday credit, with this step's
        decisions applied."""
        slot = self.ledger.account_slot.get(account)
        if slot is None:
            return 0
        values = self.ledger._get(slot)
        return (
            values[CPO] - values[DPO] - values[DP] + values[LIMIT] + self._overlay.get(account, 0)
        )

    def _fx_available(self, key: int) -> int:
        """`available` for an account; for a commitment's key (negative: see
        `samarkand.settlement.crosscurrency`), what is left of the commitment."""
        if key >= 0:
            return self.available(key)
        return self.tier_liquidity[-key] - self.tier_paid.get(-key, 0)

    def _move(self, debit: int, credit: int, amount: int) -> None:
        if credit in self.queues:
            self._changed.add(credit >> 64)  # the ledger part of an account id
        self._overlay[debit] = self._overlay.get(debit, 0) - amount
        self._overlay[credit] = self._overlay.get(credit, 0) + amount
        self._dirty.append(credit)
        if credit in self._fx_watch:
            self._fx_changed = True

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def new_transfer_id(self) -> int:
        """An id for a transfer the hub makes itself (liquidity), from the same sequence."""
        return self._new_id()

    def liquidity_increased(self, account: int) -> None:
        """The hub moved funds into `account` outside the engine: retry its queue head."""
        self._dirty.append(account)
        if account in self._fx_watch:
            self._fx_changed = True
        if account in self.queues:
            self._changed.add(account >> 64)

    def release(self, now: int) -> None:
        """Settle queue heads that liquidity now covers."""
        self._release_dirty(now)

    # ------------------------------------------------------------------ intake

    def submit(self, payments: Sequence[Payment], now: int) -> list[Reason | None]:
        """Receive payments: each is rejected with a reason, or accepted (None) and then
        settled at once, queued, warehoused until its earliest time, or held for DNS."""
        gross = self._submit_gross(payments, now)
        if gross is not None:
            return gross
        outcome: list[Reason | None] = []
        archived = self._archived_among(payments)
        for payment in payments:
            checked = self._check(payment, now, archived)
            if isinstance(checked, Reason):
                self._event(payment.uetr, Status.REJECTED, now, checked)
                self.stats.rejected += 1
                outcome.append(checked)
                continue
            entry = self._accept(payment, now, *checked)
            outcome.append(None)
            if payment.method is Method.DNS:
                self._queue_dns(entry, now)
            elif payment.earliest_ns > now:
                heapq.heappush(self.warehouse, (payment.earliest_ns, entry.sequence, payment.uetr))
                self._record(entry, Status.QUEUED, now, detail="waiting for its earliest time")
            else:
                self._enter(entry, now)
        self._release_dirty(now)
        return outcome

    def _submit_gross(self, payments: Sequence[Payment], now: int) -> list[Reason | None] | None:
        """A batch in which every payment is accepted and settles gross on arrival, decided
        as columns: the checks of `_check` once per distinct value (UETRs as a set, agents and
        accounts per distinct route), and one liquidity test per sender: its debits in the
        batch summed against what it has before the batch. Credits within the batch only add
        to that, so each payment in turn would find its sender covered, exactly as one at a
        time. The entries, events, stats, ledger transfers (one block of columns) and queue
        releases are those of `submit` one payment at a time. None, with nothing done, when
        any payment might go another way (refused, queued, warehoused, DNS, a deadline)."""
        count = len(payments)
        if count < GROSS_BATCH_MIN or not all(type(p) is Payment for p in payments):
            return None
        uetrs = [p.uetr for p in payments]
        amounts = [p.amount for p in payments]
        if not (all(type(u) is int for u in uetrs) and all(type(a) is int for a in amounts)):
            return None
        if min(uetrs) < 0 or max(uetrs) > U128_MAX or min(amounts) <= 0:
            return None
        if max(amounts) > U128_MAX or len(set(uetrs)) != count:
            return None
        if not self.entries.keys().isdisjoint(uetrs) or self._archived_among(payments):
            return None
        rtgs = Method.RTGS
        if any(p.method is not rtgs or p.earliest_ns or p.latest_ns for p in payments):
            return None
        keys = [(p.currency, p.debtor_agent, p.creditor_agent) for p in payments]
        routes: dict[tuple[str, str, str], tuple[int, int, int]] = {}
        for key in set(keys):
            route = self._gross_route(*key, now)
            if route is None:
                return None
            routes[key] = route
        chosen = [routes[key] for key in keys]
        debits: dict[int, int] = {}
        for (sender, _, _), amount in zip(chosen, amounts, strict=True):
            debits[sender] = debits.get(sender, 0) + amount
        if any(self.available(sender) < total for sender, total in debits.items()):
            return None
        # Every payment settles gross: record it all as `_accept` + `_settle_gross` would.
        senders = [route[0] for route in chosen]
        receivers = [route[1] for route in chosen]
        ledgers = [route[2] for route in chosen]
        # The entries and their two events each, made a column at a time (`instances`):
        # the same objects, in the same order, as one payment at a time would make.
        settled_status, via, times = Status.SETTLED, Via.GROSS, repeat(now)
        received = instances(Event, count, {
            "uetr": uetrs, "status": repeat(Status.RECEIVED), "at_ns": times,
            "reason": repeat(None), "detail": repeat(""),
        })  # fmt: skip
        settled = instances(Event, count, {
            "uetr": uetrs, "status": repeat(settled_status), "at_ns": times,
            "reason": repeat(None), "detail": repeat(via),
        })  # fmt: skip
        first_sequence = self._sequence + 1
        self._sequence += count
        made = instances(Entry, count, {
            "payment": payments, "sequence": range(first_sequence, first_sequence + count),
            "sender": senders, "receiver": receivers, "ledger": ledgers,
            "received_ns": times, "status": repeat(settled_status), "settled_ns": times,
            "via": repeat(via), "history": map(list, zip(received, settled, strict=True)),
            "fx": repeat(None),
        })  # fmt: skip
        self.entries.update(zip(uetrs, made, strict=True))
        self._events.extend(interleaved(received, settled))  # each received, then settled
        first_id = self._next_id
        self._next_id += count
        self._transfers.append(
            TransferColumns.build(
                id=np.arange(first_id, first_id + count, dtype=np.uint64)
                if first_id + count <= np.iinfo(np.uint64).max
                else list(range(first_id, first_id + count)),
                debit_account_id=senders,
                credit_account_id=receivers,
                amount=amounts,
                ledger=ledgers,
                code=np.full(count, int(TransferCode.PAYMENT), dtype=np.uint16),
                user_data=uetrs,
            )
        )
        overlay = self._overlay
        for sender, total in debits.items():
            overlay[sender] = overlay.get(sender, 0) - total
        credits: dict[int, int] = {}
        for receiver, amount in zip(receivers, amounts, strict=True):
            credits[receiver] = credits.get(receiver, 0) + amount
        for receiver, total in credits.items():
            overlay[receiver] = overlay.get(receiver, 0) + total
            if receiver in self.queues:
                self._changed.add(receiver >> 64)
            if receiver in self._fx_watch:
                self._fx_changed = True
        self._dirty.extend(receivers)
        self.stats.settled += count
        self.stats.settled_by[via] = self.stats.settled_by.get(via, 0) + count
        self.stats.by_status[settled_status] += count
        self._release_dirty(now)
        return [None] * count

    def _gross_route(
        self, currency: str, debtor_agent: str, creditor_agent: str, now: int
    ) -> tuple[int, int, int] | None:
        """(sender, receiver, ledger) of a payment `_check` accepts and `_enter` settles gross
        when covered (its sender has nothing queued); None when it might go another way."""
        route = self._route(currency, debtor_agent, creditor_agent)
        if isinstance(route, Reason) or now >= self.cut_off_ns.get(currency, 0):
            return None
        sender, _, ledger = route
        if self.queued_per_ledger.get(ledger, 0) >= self.queue_limit or sender in self.queues:
            return None
        return route

    def _archived_among(self, payments: Sequence[Any]) -> set[int]:
        """The UETRs of `payments` that archived payments took (one search for the batch)."""
        if not len(self.archived):
            return set()
        return self.archived.known(
            [p.uetr for p in payments if type(p.uetr) is int and 0 <= p.uetr <= U128_MAX]
        )

    def _check(
        self, payment: Payment, now: int, archived: set[int] | frozenset[int] = frozenset()
    ) -> Reason | tuple[int, int, int]:
        """Why `payment` is refused, or its sender's and receiver's settlement accounts and
        its ledger (`archived`: the UETRs of the batch that archived payments took)."""
        # The UETR becomes the ledger transfer's user_data: one the ledger cannot hold would be
        # refused there, after the engine had already reported the payment settled.
        if type(payment.uetr) is not int or not 0 <= payment.uetr <= U128_MAX:
            return Reason.UETR_INVALID
        if type(payment.amount) is not int or payment.amount <= 0:
            return Reason.AMOUNT_NOT_POSITIVE
        if payment.amount > U128_MAX:
            return Reason.AMOUNT_TOO_LARGE
        if payment.uetr in self.entries or payment.uetr in archived:
            return Reason.DUPLICATE_UETR
        route = self._route(payment.currency, payment.debtor_agent, payment.creditor_agent)
        if isinstance(route, Reason):
            return route
        sender, receiver, ledger = route
        if now >= self.cut_off_ns.get(payment.currency, 0):
            resting = payment.currency in self.resting
            return Reason.CURRENCY_RESTING if resting else Reason.AFTER_CUT_OFF
        if payment.latest_ns and (
            payment.latest_ns <= now
            or payment.latest_ns < payment.earliest_ns
            or payment.latest_ns > self.cut_off_ns[payment.currency]
        ):
            return Reason.SETTLEMENT_WINDOW_INVALID
        if self.queued_per_ledger.get(ledger, 0) >= self.queue_limit:
            return Reason.QUEUE_FULL
        return sender, receiver, ledger

    def _route(
        self, currency: str, debtor_agent: str, creditor_agent: str
    ) -> Reason | tuple[int, int, int]:
        """The sender's and receiver's settlement accounts and the ledger of a payment
        between these agents in this currency, or why there are none."""
        ledger = self.directory.ledgers.get(currency)
        if ledger is None:
            return Reason.CURRENCY_NOT_ALLOWED
        agents = self._agents(debtor_agent, creditor_agent)
        if isinstance(agents, Reason):
            return agents
        debtor, creditor = agents
        sender = account_id(ledger, debtor.number, AccountCode.SETTLEMENT)
        receiver = account_id(ledger, creditor.number, AccountCode.SETTLEMENT)
        slots = self.ledger.account_slot
        if sender not in slots or receiver not in slots:
            return Reason.NO_SETTLEMENT_ACCOUNT
        return sender, receiver, ledger

    def _agents(
        self, debtor_agent: str, creditor_agent: str
    ) -> Reason | tuple[Participant, Participant]:
        """The settling participants of both agents, or why they may not pay each other."""
        debtor = self.directory.settling_participant(debtor_agent)
        if debtor is None:
            return Reason.DEBTOR_AGENT_UNKNOWN
        creditor = self.directory.settling_participant(creditor_agent)
        if creditor is None:
            return Reason.CREDITOR_AGENT_UNKNOWN
        if _suspended(self.directory, debtor_agent, debtor) or _suspended(
            self.directory, creditor_agent, creditor
        ):
            return Reason.PARTICIPANT_SUSPENDED
        if debtor.bic == creditor.bic:
            return Reason.SAME_AGENTS
        return debtor, creditor

    def _accept(self, payment: Payment, now: int, sender: int, receiver: int, ledger: int) -> Entry:
        self._sequence += 1
        entry = Entry(
            payment=payment,
            sequence=self._sequence,
            sender=sender,
            receiver=receiver,
            ledger=ledger,
            received_ns=now,
        )
        self.entries[payment.uetr] = entry
        self._record(entry, Status.RECEIVED, now)
        return entry

    # ------------------------------------------------------------------ RTGS

    def _enter(self, entry: Entry, now: int) -> None:
        """A payment becomes eligible: settle at once, offset bilaterally, or queue."""
        queues = self.queues.get(entry.sender)
        blocked = queues is not None and any(queues[p] for p in range(int(entry.priority) + 1))
        if not blocked:
            if self.available(entry.sender) >= entry.amount:
                self._settle_gross(entry, now)
                return
            if self._offset_bilaterally(entry, now):
                return
        self._enqueue(entry, now)
        if entry.payment.latest_ns:
            heapq.heappush(
                self.deadlines, (entry.payment.latest_ns, entry.sequence, entry.payment.uetr)
            )

    def _settle_gross(self, entry: Entry, now: int) -> None:
        self._transfers.append(
            Transfer(
                self._new_id(),
                entry.sender,
                entry.receiver,
                entry.amount,
                entry.ledger,
                TransferCode.PAYMENT,
                user_data=entry.payment.uetr,
            )
        )
        self._move(entry.sender, entry.receiver, entry.amount)
        self._settled(entry, now, Via.GROSS)

    def _offset_bilaterally(self, entry: Entry, now: int) -> bool:
        """Settle `entry` together with the longest prefix of the receiver's queue that goes
        back to the sender, when both sides stay covered."""
        counter = self._head_run(entry.receiver, entry.sender)
        if not counter:
            return False
        sender_room = self.available(entry.sender) - entry.amount
        receiver_room = self.available(entry.receiver) + entry.amount
        chosen, total = 0, 0
        for index, other in enumerate(counter):
            if total + other.amount > receiver_room:
                break
            total += other.amount
            chosen = index + 1
        if chosen == 0 or sender_room + total < 0:
            return False
        for other in counter[:chosen]:
            self._dequeue(other)
        self._settle_set([entry, *counter[:chosen]], now, Via.BILATERAL)
        return True

    def _head_run(self, sender: int, receiver: int) -> list[Entry]:
        """The payments at the head of `sender`'s queue, in order, while they go to
        `receiver` (what FIFO lets settle first)."""
        queues = self.queues.get(sender)
        run: list[Entry] = []
        if queues is None:
            return run
        for queue in queues:
            for entry in queue:
                if entry.receiver != receiver:
                    return run
                run.append(entry)
        return run

    def _enqueue(self, entry: Entry, now: int) -> None:
        queues = self.queues.setdefault(entry.sender, ([], []))
        queues[int(entry.priority)].append(entry)
        self.queued_per_ledger[entry.ledger] = self.queued_per_ledger.get(entry.ledger, 0) + 1
        self._count_queued(entry, entry.amount)
        self._changed.add(entry.ledger)
        if entry.status is not Status.QUEUED:
            self._record(entry, Status.QUEUED, now)

    def _dequeue(self, entry: Entry) -> None:
        queues = self.queues[entry.sender]
        queues[int(entry.priority)].remove(entry)
        self.queued_per_ledger[entry.ledger] -= 1
        self._count_queued(entry, -entry.amount)
        if not queues[0] and not queues[1]:
            del self.queues[entry.sender]
        # The sender's head may have changed (a cancelled, expired or offset head): a smaller
        # one behind it may fit its liquidity now, so retry the head at the next release.
        self._dirty.append(entry.sender)

    def _release_dirty(self, now: int) -> None:
        """Retry the queue heads of every account whose liquidity grew, and the heads of the
        cross-currency queues, until none can go."""
        self._release_single(now)
        while self.fx_queues and self._release_fx(now):
            self._release_single(now)

    def _release_single(self, now: int) -> None:
        while self._dirty:
            account = self._dirty.pop()
            queues = self.queues.get(account)
            while queues is not None:
                head = queues[0][0] if queues[0] else queues[1][0]
                if self.available(account) < head.amount:
                    break
                self._dequeue(head)
                self._settle_gross(head, now)
                queues = self.queues.get(account)

    def _settle_set(self, entries: list[Entry], now: int, via: str) -> None:
        """Settle payments simultaneously through the clearing account (see netting)."""
        ledger = entries[0].ledger
        currency = self.currency_of_ledger[ledger]
        positions = net_positions(
            Leg(e.payment.uetr, e.sender, e.receiver, e.amount) for e in entries
        )
        self._reference += 1
        clearing = self.clearing_account(currency)
        transfers = settlement_transfers(positions, clearing, ledger, self._new_id, self._reference)
        self._transfers.extend(transfers)
        self.net_details.add(
            self._reference,
            now,
            ((e.payment.uetr, e.sender, e.receiver, e.amount) for e in entries),
            _booked(transfers, (clearing,)),
        )
        for account, net in positions.items():
            self._overlay[account] = self._overlay.get(account, 0) + net
            if net > 0 and account in self.queues:
                self._changed.add(ledger)
            if net > 0:
                self._dirty.append(account)
                if account in self._fx_watch:
                    self._fx_changed = True
        for entry in entries:
            self._settled(entry, now, via)

    def clearing_account(self, currency: str) -> int:
        central_bank = self.directory.central_bank_of[currency]
        return account_id(
            self.directory.ledgers[currency], central_bank.number, AccountCode.CLEARING
        )

    # ------------------------------------------------------------------ time

    def next_due(self) -> int | None:
        """The earliest time at which `tick` has something to do (a warehoused payment's
        earliest time, a queued payment's latest time, the end of a queued cross-currency
        payment's rates, a scheduled DNS window), or None: nothing waits for a time."""
        heads = [heap[0][0] for heap in (self.warehouse, self.deadlines, self.fx_deadlines) if heap]
        heads += [close for _, close in self.window_schedule.values()]
        return min(heads) if heads else None

    def offsetting_due(self) -> bool:
        """Whether `optimise` has something new to look at: a currency with a queue whose
        queues or balances changed since its last run, or cross-currency payments queued
        with an account of their legs changed."""
        queued = self.queued_per_ledger
        return any(queued.get(ledger, 0) for ledger in self._changed) or (
            bool(self.fx_queues) and self._fx_changed
        )

    def schedule_windows(
        self, currency: str, every_ns: int, now: int, first_ns: int | None = None
    ) -> None:
        """Close `currency`'s DNS window every `every_ns` from `now` on (the first at
        `first_ns` when given: a beat set on a time of day), on the hub's clock (`tick`); 0:
        only when asked (`close_window`)."""
        if every_ns:
            self.window_schedule[currency] = (every_ns, first_ns or now + every_ns)
        else:
            self.window_schedule.pop(currency, None)

    def tick(self, now: int) -> None:
        """Release warehoused payments whose earliest time has come; reject queued ones whose
        latest time has passed; close the scheduled DNS windows that are due (one close for
        any number of missed ones: it settles all that waits)."""
        while self.warehouse and self.warehouse[0][0] <= now:
            _, _, uetr = heapq.heappop(self.warehouse)
            entry = self.entries[uetr]
            if entry.status is Status.QUEUED and not self._in_queue(entry):
                if entry.payment.latest_ns and entry.payment.latest_ns < now:
                    # A coarse tick may pass both its times: it is too late to settle. (At
                    # its latest time exactly it may still try, as a queued payment may.)
                    self._reject(entry, now, Reason.LATEST_TIME_PASSED)
                else:
                    self._enter(entry, now)
        while self.deadlines and self.deadlines[0][0] <= now:
            _, _, uetr = heapq.heappop(self.deadlines)
            entry = self.entries[uetr]
            if entry.status is Status.QUEUED and self._in_queue(entry):
                self._dequeue(entry)
                self._changed.add(entry.ledger)  # what queued behind it may now offset
                self._reject(entry, now, Reason.LATEST_TIME_PASSED)
        while self.fx_deadlines and self.fx_deadlines[0][0] <= now:
            _, _, uetr = heapq.heappop(self.fx_deadlines)
            entry = self.entries[uetr]
            if entry.status is Status.QUEUED and self._in_queue(entry):
                self._dequeue_fx(entry)
                self._reject(entry, now, Reason.RATES_EXPIRED)
        for currency in sorted(self.window_schedule):
            every, close = self.window_schedule[currency]
            if close <= now:
                self.close_window(currency, now)
                self.window_schedule[currency] = (
                    every,
                    close + (1 + (now - close) // every) * every,
                )
        self._release_dirty(now)

    def _in_queue(self, entry: Entry) -> bool:
        queues = (self.fx_queues if entry.fx is not None else self.queues).get(entry.sender)
        return queues is not None and entry in queues[int(entry.priority)]

    # ------------------------------------------------------------------ LSM

    def optimise(
        self, now: int, *, non_fifo: bool = False, budget: int = NON_FIFO_BUDGET_DEFAULT,
        ledgers: set[int] | None = None,
    ) -> int:  # fmt: skip
        """Multilateral offsetting of the queues of every currency whose queues or balances
        changed since its last run; with `non_fifo`, then the non-FIFO heuristic on every
        currency with a queue (of `ledgers` only, when given). Returns payments settled."""
        settled = 0
        queued = sorted(
            ledger
            for ledger, count in self.queued_per_ledger.items()
            if count and (ledgers is None or ledger in ledgers)
        )
        for ledger in queued:
            if ledger in self._changed:
                self._changed.discard(ledger)
                settled += self._offset(ledger, now, non_fifo=False)
            if non_fifo:
                settled += self._offset(ledger, now, non_fifo=True, budget=budget)
        self._release_dirty(now)
        settled += self._offset_fx(now)
        self._release_dirty(now)
        return settled

    def _offset(self, ledger: int, now: int, *, non_fifo: bool, budget: int = 0) -> int:
        ordered: list[Entry] = []
        for sender in sorted(self.queues):
            urgent, normal = self.queues[sender]
            if (urgent or normal) and (urgent or normal)[0].ledger == ledger:
                ordered.extend(urgent)
                ordered.extend(normal)
        if not ordered:
            return 0
        amounts = [e.amount for e in ordered]
        if max(amounts) > INT64_MAX:
            return 0  # the mechanisms take int64 amounts; such a payment waits for liquidity
        search = NON_FIFO_SEARCH if non_fifo else FIFO_SEARCH
        if self.recorded is not None:
            chosen = self._recorded_choice(search, ledger, ordered, _leg_net)
        else:
            accounts = sorted({e.sender for e in ordered} | {e.receiver for e in ordered})
            index = {account: i for i, account in enumerate(accounts)}
            queue = lsm.Queue(
                sender=np.array([index[e.sender] for e in ordered], dtype=np.int64),
                receiver=np.array([index[e.receiver] for e in ordered], dtype=np.int64),
                amount=np.array(amounts, dtype=np.int64),
                participants=len(accounts),
            )
            liquidity = np.array([max(0, self.available(a)) for a in accounts], dtype=object)
            if non_fifo:
                mask = nonfifo_optimise(queue, liquidity, budget_iterations=budget)
            else:
                mask = lsm.fifo_offset(queue, liquidity)
            chosen = [e for e, keep in zip(ordered, mask.tolist(), strict=True) if keep]
            self._decided(search, ledger, ordered, chosen)
        self.stats.lsm_runs += 1
        if not chosen:
            return 0
        self.stats.gridlocks_resolved += 1
        # However many payments, the set settles as one pay-in or pay-out per account.
        for entry in chosen:
            self._dequeue(entry)
        self._settle_set(chosen, now, Via.NON_FIFO if non_fifo else Via.FIFO)
        return len(chosen)

    def _decided(self, search: str, ledger: int, ordered: list[Entry], chosen: list[Entry]) -> None:
        if self.decisions is not None:
            uetrs = tuple(e.payment.uetr for e in chosen)
            self.decisions.append(Decision(search, ledger, len(ordered), uetrs))

    def _recorded_choice(
        self,
        search: str,
        ledger: int,
        ordered: list[Entry],
        net_of: Callable[[Entry], Mapping[int, int]],
    ) -> list[Entry]:
        """The next recorded decision, as the entries of `ordered` it names (in that order),
        checked: the same search over a queue of the same length; each UETR queued there,
        once; each sender's chosen payments a prefix of its queue (FIFO and cross-currency
        searches); the set covered by the accounts' liquidity. Else DecisionRefused."""
        assert self.recorded is not None
        if not self.recorded:
            raise DecisionRefused(f"a {search} search of ledger {ledger} has no recorded decision")
        decision = self.recorded.popleft()
        if (decision.search, decision.ledger, decision.queued) != (search, ledger, len(ordered)):
            raise DecisionRefused(
                f"the recorded decision is a {decision.search} search of ledger "
                f"{decision.ledger} over {decision.queued} payments, the replay makes a "
                f"{search} search of ledger {ledger} over {len(ordered)}"
            )
        wanted = set(decision.chosen)
        if len(wanted) != len(decision.chosen):
            raise DecisionRefused("the recorded decision names a payment twice")
        chosen: list[Entry] = []
        left_out: set[int] = set()  # senders with a payment not chosen
        prefixes = search != NON_FIFO_SEARCH
        for entry in ordered:
            if entry.payment.uetr not in wanted:
                left_out.add(entry.sender)
            elif prefixes and entry.sender in left_out:
                raise DecisionRefused(
                    f"the recorded {search} decision takes payment {entry.payment.uetr} "
                    "past one of its sender's it leaves queued"
                )
            else:
                chosen.append(entry)
        if len(chosen) != len(wanted):
            missing = min(wanted - {e.payment.uetr for e in chosen})
            raise DecisionRefused(f"the recorded decision names payment {missing}, not queued")
        net: dict[int, int] = {}
        for entry in chosen:
            for account, amount in net_of(entry).items():
                net[account] = net.get(account, 0) + amount
        if not covered(net, self.available):
            raise DecisionRefused(f"the recorded {search} decision is not covered by liquidity")
        return chosen

    # ------------------------------------------------------------------ cross-currency

    def check_fx(self, payment: FxPayment) -> Reason | None:
        """What the engine refuses in a cross-currency payment before its quote is looked
        at: its UETR, a duplicate, its agents."""
        if type(payment.uetr) is not int or not 0 <= payment.uetr <= U128_MAX:
            return Reason.UETR_INVALID
        if payment.uetr in self.entries or payment.uetr in self.archived:
            return Reason.DUPLICATE_UETR
        agents = self._agents(payment.debtor_agent, payment.creditor_agent)
        return agents if isinstance(agents, Reason) else None

    def refuse(self, uetr: int, reason: Reason, now: int) -> None:
        """Record a payment the hub refused before it reached the engine (a bad quote)."""
        self._event(uetr, Status.REJECTED, now, reason)
        self.stats.rejected += 1

    def submit_fx(
        self, payments: Sequence[tuple[FxPayment, FxRoute]], now: int
    ) -> list[Reason | None]:
        """Receive cross-currency payments with the routes of the quotes they cite (the hub
        checked and redeems the quotes): each is rejected with a reason, or accepted (None)
        and then settled at once with all its legs, or queued in its sender's
        cross-currency queue (FIFO by priority)."""
        outcome: list[Reason | None] = []
        for payment, route in payments:
            reason = self.check_fx(payment) or self._check_route(route, now)
            if reason is not None:
                self.refuse(payment.uetr, reason, now)
                outcome.append(reason)
                continue
            self._accept_fx(payment, route, now)
            outcome.append(None)
        self._release_dirty(now)
        return outcome

    def _check_route(self, route: FxRoute, now: int) -> Reason | None:
        if route.deadline_ns and now >= route.deadline_ns:
            return Reason.RATES_EXPIRED
        for leg in route.legs:
            if leg.currency not in self.directory.ledgers:
                return Reason.CURRENCY_NOT_ALLOWED
            for account in (leg.debit_account_id, leg.credit_account_id):
                if account not in self.ledger.account_slot:
                    return Reason.NO_SETTLEMENT_ACCOUNT
        currencies = {leg.currency for leg in route.legs} | {route.source, route.destination}
        if not currencies.isdisjoint(self.resting):
            return Reason.CURRENCY_RESTING
        if any(now >= self.cut_off_ns.get(c, 0) for c in currencies):
            return Reason.AFTER_CUT_OFF
        for draw in route.draws:
            known = self.tier_liquidity.get(draw.commitment, draw.liquidity)
            if known != draw.liquidity:
                raise ValueError(
                    f"quote {route.quote_id}: commitment {draw.commitment} of {draw.liquidity}, "
                    f"known as {known}"
                )
            if draw.amount > draw.liquidity - self.tier_paid.get(draw.commitment, 0):
                return Reason.FX_PROVIDER_LIQUIDITY
        if self.fx_queued >= self.queue_limit:
            return Reason.QUEUE_FULL
        return None

    def _accept_fx(self, payment: FxPayment, route: FxRoute, now: int) -> None:
        self._sequence += 1
        debtor = self.directory.settling_participant(payment.debtor_agent)
        creditor = self.directory.settling_participant(payment.creditor_agent)
        assert debtor is not None and creditor is not None
        entry = Entry(
            # The payment as its debtor sees it: the amount and currency it pays.
            payment=Payment(
                payment.uetr,
                payment.debtor_agent,
                payment.creditor_agent,
                route.send_amount,
                route.source,
                priority=payment.priority,
            ),
            sequence=self._sequence,
            sender=self.directory.settlement_account(debtor, route.source),
            receiver=self.directory.settlement_account(creditor, route.destination),
            ledger=self.directory.ledgers[route.source],
            received_ns=now,
            fx=route,
        )
        self.entries[payment.uetr] = entry
        self._record(entry, Status.RECEIVED, now, detail=route.description)
        for draw in route.draws:
            self.tier_liquidity[draw.commitment] = draw.liquidity
        queues = self.fx_queues.get(entry.sender)
        blocked = queues is not None and any(queues[p] for p in range(int(entry.priority) + 1))
        if not blocked and covered(route.needs, self._fx_available):
            self._settle_fx_gross(entry, now)
            return
        queues = self.fx_queues.setdefault(entry.sender, ([], []))
        queues[int(entry.priority)].append(entry)
        self.fx_queued += 1
        self._count_queued(entry, entry.amount)
        self._fx_changed = True
        for account in route.net:
            self._fx_watch[account] = self._fx_watch.get(account, 0) + 1
        for draw in route.draws:
            self._fx_drawing.setdefault(draw.commitment, {})[payment.uetr] = entry
        if route.deadline_ns:
            heapq.heappush(self.fx_deadlines, (route.deadline_ns, entry.sequence, payment.uetr))
        self._record(entry, Status.QUEUED, now, detail="waiting for liquidity on its legs")

    def _dequeue_fx(self, entry: Entry) -> None:
        queues = self.fx_queues[entry.sender]
        queues[int(entry.priority)].remove(entry)
        self.fx_queued -= 1
        self._count_queued(entry, -entry.amount)
        if not queues[0] and not queues[1]:
            del self.fx_queues[entry.sender]
        self._fx_changed = True
        assert entry.fx is not None
        for account in entry.fx.net:
            left = self._fx_watch[account] - 1
            if left:
                self._fx_watch[account] = left
            else:
                del self._fx_watch[account]
        for draw in entry.fx.draws:
            drawing = self._fx_drawing[draw.commitment]
            del drawing[entry.payment.uetr]
            if not drawing:
                del self._fx_drawing[draw.commitment]

    def _settle_fx_gross(self, entry: Entry, now: int) -> None:
        route = entry.fx
        assert route is not None
        chain = [
            Transfer(
                self._new_id(),
                leg.debit_account_id,
                leg.credit_account_id,
                leg.amount,
                leg.ledger,
                TransferCode.FX,
                user_data=entry.payment.uetr,
            )
            for leg in route.legs
        ]
        self._transfers.extend(linked_chain(chain))
        for leg in route.legs:
            self._move(leg.debit_account_id, leg.credit_account_id, leg.amount)
        self._count_providers([route], route.net)
        self._settled(entry, now, Via.FX)
        self._draw([route], now)

    def _release_fx(self, now: int) -> int:
        """Settle the heads of the cross-currency queues whose legs are covered; each
        sender's queue in FIFO order. Returns payments settled."""
        settled = 0
        for sender in sorted(self.fx_queues):
            queues = self.fx_queues.get(sender)
            while queues is not None:
                head = queues[0][0] if queues[0] else queues[1][0]
                assert head.fx is not None
                if not covered(head.fx.needs, self._fx_available):
                    break
                self._dequeue_fx(head)
                self._settle_fx_gross(head, now)
                settled += 1
                queues = self.fx_queues.get(sender)
        return settled

    def _offset_fx(self, now: int) -> int:
        """Cross-currency offsetting of the queued cross-currency payments (see
        `samarkand.settlement.crosscurrency`). Returns payments settled."""
        if not self.fx_queues or not self._fx_changed:
            return 0
        self._fx_changed = False
        self.stats.lsm_runs += 1
        queues = {s: [*self.fx_queues[s][0], *self.fx_queues[s][1]] for s in sorted(self.fx_queues)}
        if self.recorded is not None:
            # The log's decision wins: checked against the accounts' liquidity (the ledger
            # would refuse the rest), not against the commitments, so a decision recorded by
            # code that counted them otherwise replays as it was taken.
            ordered = [e for items in queues.values() for e in items]
            chosen = self._recorded_choice(FX_SEARCH, 0, ordered, _route_net)
        else:
            chosen = offset_prefixes(queues, _route_needs, self._fx_available)
            if self.decisions is not None:
                self._decided(FX_SEARCH, 0, [e for items in queues.values() for e in items], chosen)
        if not chosen:
            return 0
        for entry in chosen:
            self._dequeue_fx(entry)
        self._settle_fx_set(chosen, now)
        return len(chosen)

    def _settle_fx_set(self, entries: list[Entry], now: int) -> None:
        """Settle cross-currency payments together: per currency ledger, the net position of
        every account over all their legs, paid in and out through the clearing account;
        all ledgers' transfers in one linked chain."""
        by_ledger: dict[int, dict[int, int]] = {}
        total: dict[int, int] = {}
        for entry in entries:
            assert entry.fx is not None
            for leg in entry.fx.legs:
                positions = by_ledger.setdefault(leg.ledger, {})
                for account, delta in (
                    (leg.debit_account_id, -leg.amount),
                    (leg.credit_account_id, leg.amount),
                ):
                    positions[account] = positions.get(account, 0) + delta
                    total[account] = total.get(account, 0) + delta
        self._reference += 1
        chain: list[Transfer] = []
        clearing: set[int] = set()
        for ledger in sorted(by_ledger):
            positions = {a: n for a, n in by_ledger[ledger].items() if n}
            if positions:
                clearing.add(self.clearing_account(self.currency_of_ledger[ledger]))
                chain.extend(
                    settlement_transfers(
                        positions,
                        self.clearing_account(self.currency_of_ledger[ledger]),
                        ledger,
                        self._new_id,
                        self._reference,
                    )
                )
        if chain:
            self._transfers.extend(linked_chain(chain))
        self.net_details.add(
            self._reference,
            now,
            (
                (entry.payment.uetr, leg.debit_account_id, leg.credit_account_id, leg.amount)
                for entry in entries
                if entry.fx is not None
                for leg in entry.fx.legs
            ),
            _booked(chain, clearing),
        )
        for account, net in total.items():
            if not net:
                continue
            self._overlay[account] = self._overlay.get(account, 0) + net
            if net > 0:
                self._dirty.append(account)
                if account in self.queues:
                    self._changed.add(account >> 64)
        routes = [e.fx for e in entries if e.fx is not None]
        self._count_providers(routes, total)
        if len(entries) > 1:
            self.stats.fx_offset_sets += 1
            self.stats.gridlocks_resolved += 1
        via = Via.FX_OFFSET if len(entries) > 1 else Via.FX
        for entry in entries:
            self._settled(entry, now, via)
        self._draw(routes, now)

    def _draw(self, routes: list[FxRoute], now: int) -> None:
        """Count what the settled `routes` paid out under commitments; then reject each queued
        payment whose draw on one of them no longer fits what is left (it never will)."""
        drawn: set[int] = set()
        for route in routes:
            for draw in route.draws:
                paid = self.tier_paid.get(draw.commitment, 0) + draw.amount
                self.tier_paid[draw.commitment] = paid
                drawn.add(draw.commitment)
        for commitment in sorted(drawn):
            left = self.tier_liquidity[commitment] - self.tier_paid[commitment]
            waiting = self._fx_drawing.get(commitment, {})
            short = [
                entry
                for entry in waiting.values()
                if entry.fx is not None
                and any(d.commitment == commitment and d.amount > left for d in entry.fx.draws)
            ]
            for entry in sorted(short, key=lambda e: e.sequence):
                self._dequeue_fx(entry)
                self._reject(entry, now, Reason.FX_PROVIDER_LIQUIDITY)

    def forget_commitments(self, keep: Iterable[int]) -> int:
        """Forget the count of every commitment not in `keep` (those of the standing tiers
        and of the quotes that may still bind a payment: the hub knows them) and drawn on by
        no queued payment; returns how many. Bounds the counts to what may still be drawn."""
        kept = set(keep) | self._fx_drawing.keys()
        gone = [c for c in self.tier_liquidity if c not in kept]
        for commitment in gone:
            del self.tier_liquidity[commitment]
            self.tier_paid.pop(commitment, None)
        return len(gone)

    def _count_providers(self, routes: list[FxRoute], net: Mapping[int, int]) -> None:
        """Providers' gross outflow (leg by leg) and net need (what their accounts paid on
        net), per ledger, for the liquidity cross-currency offsetting saves."""
        stats = self.stats
        providers: set[int] = set()
        for route in routes:
            providers |= route.provider_accounts
            for ledger, amount in route.provider_gross.items():
                stats.fx_provider_gross[ledger] = stats.fx_provider_gross.get(ledger, 0) + amount
        for account in providers:
            need = -net.get(account, 0)
            if need > 0:
                ledger = account >> 64
                stats.fx_provider_net[ledger] = stats.fx_provider_net.get(ledger, 0) + need

    # ------------------------------------------------------------------ DNS

    def _queue_dns(self, entry: Entry, now: int) -> None:
        currency = entry.payment.currency
        self.dns_pending.setdefault(currency, []).append(entry)
        self._record(entry, Status.QUEUED, now, detail="waiting for the next DNS window")

    def close_window(self, currency: str, now: int) -> tuple[int, list[int]]:
        """Close the currency's DNS window: settle net positions; participants that cannot
        pay in are unwound (their sent payments rejected, those to them kept for the next
        window). Returns (payments settled, accounts that defaulted)."""
        pending = self.dns_pending.pop(currency, [])
        if not pending:
            return 0, []
        by_uetr = {e.payment.uetr: e for e in pending}
        outcome = settle_window(
            [Leg(e.payment.uetr, e.sender, e.receiver, e.amount) for e in pending],
            self.available,
        )
        settled = [by_uetr[leg.key] for leg in outcome.settled]
        if settled:
            self._settle_set(settled, now, Via.DNS)
        carried = []
        for leg in outcome.removed:
            entry = by_uetr[leg.key]
            if leg.sender in outcome.defaulted:
                self._reject(entry, now, Reason.INSUFFICIENT_FUNDS_PAY_IN)
            else:
                carried.append(entry)
        if carried:
            self.dns_pending[currency] = carried
        self._release_dirty(now)
        return len(settled), list(outcome.defaulted)

    # ------------------------------------------------------------------ sender actions

    def refusal(self, change: str, uetr: int, by_bic: str) -> Reason | None:
        """Why `by_bic`'s `change` ("cancel", "reorder" or "priority") of payment `uetr` would
        be refused now: the checks it makes before it changes anything (None: it would run).
        A durable hub logs no command that this refuses."""
        return self._changeable(change, uetr, by_bic)[1]

    def _changeable(
        self, change: str, uetr: int, by_bic: str
    ) -> tuple[Entry | None, Reason | None]:
        entry, reason = self._owned(uetr, by_bic)
        if entry is None or change == "cancel":
            return entry, reason
        if change == "reorder":
            waiting = self._in_queue(entry)
        else:  # a priority: queued for liquidity or for its earliest time, not for a window
            waiting = entry.status is Status.QUEUED and entry.payment.method is not Method.DNS
        return (entry, None) if waiting else (None, Reason.NOT_QUEUED)

    def cancel(self, uetr: int, by_bic: str, now: int) -> Reason | None:
        """The debtor agent (or its direct participant) withdraws a payment not yet settled."""
        entry, reason = self._changeable("cancel", uetr, by_bic)
        if reason is not None:
            return reason
        assert entry is not None
        if entry.fx is not None:
            if self._in_queue(entry):
                self._dequeue_fx(entry)
        elif self._in_queue(entry):
            self._dequeue(entry)
            self._changed.add(entry.ledger)  # what queued behind it may now offset
        elif entry.payment.method is Method.DNS:
            self.dns_pending[entry.payment.currency].remove(entry)
        self.stats.cancelled += 1
        self._record(entry, Status.CANCELLED, now, detail=f"cancelled by {by_bic}")
        self._release_dirty(now)
        return None

    def reorder(self, uetr: int, by_bic: str, *, to_front: bool, now: int) -> Reason | None:
        """Move a queued payment to the front or back of its priority class in its sender's
        queue, then retry the head (the new head may fit)."""
        entry, reason = self._changeable("reorder", uetr, by_bic)
        if reason is not None:
            return reason
        assert entry is not None
        queues = self.fx_queues if entry.fx is not None else self.queues
        queue = queues[entry.sender][int(entry.priority)]
        queue.remove(entry)
        if to_front:
            queue.insert(0, entry)
        else:
            queue.append(entry)
        entry.history.append(
            Event(
                uetr, Status.QUEUED, now, None, "moved to the " + ("front" if to_front else "back")
            )
        )
        self._dirty.append(entry.sender)
        self._changed.add(entry.ledger)  # a new order is a new set of queue prefixes
        self._fx_changed = True
        self._release_dirty(now)
        return None

    def reprioritise(self, uetr: int, by_bic: str, priority: Priority, now: int) -> Reason | None:
        """Change the priority of a payment waiting for liquidity or for its earliest time:
        a queued one moves to the back of its new priority class in its sender's queue (an
        urgent payment overtakes the queued normal ones), then the queue is tried again; a
        warehoused one enters with it. A payment for a DNS window has no priority to
        change (NOT_QUEUED)."""
        entry, reason = self._changeable("priority", uetr, by_bic)
        if reason is not None:
            return reason
        assert entry is not None
        if entry.priority is priority:
            return None
        queued = self._in_queue(entry)
        queues = (self.fx_queues if entry.fx is not None else self.queues).get(entry.sender)
        if queued and queues is not None:
            queues[int(entry.priority)].remove(entry)
        entry.payment = replace(entry.payment, priority=priority)
        if queued and queues is not None:
            queues[int(priority)].append(entry)
            self._dirty.append(entry.sender)
            self._changed.add(entry.ledger)  # a new order is a new set of queue prefixes
            self._fx_changed = True
        entry.history.append(
            Event(uetr, Status.QUEUED, now, None, f"priority {priority.name.lower()}")
        )
        self._release_dirty(now)
        return None

    def _owned(self, uetr: int, by_bic: str) -> tuple[Entry | None, Reason | None]:
        entry = self.find(uetr)
        if entry is None:
            return None, Reason.NOT_FOUND
        asking = self.directory.get(by_bic)
        debtor = self.directory.get(entry.payment.debtor_agent)
        allowed = (
            asking is not None
            and debtor is not None
            and (asking.bic == debtor.bic or asking.bic == debtor.via)
        )
        if not allowed:
            return None, Reason.NOT_OWNER
        if entry.status is Status.SETTLED:
            return None, Reason.ALREADY_SETTLED
        if entry.status in FINAL:
            return None, Reason.ALREADY_FINAL
        return entry, None

    # ------------------------------------------------------------------ end of day

    def end_of_day(self, now: int, *, non_fifo: bool = True) -> int:
        """Cut-off: close every DNS window, run the LSM a last time, then reject whatever is
        still queued or warehoused. Returns payments rejected."""
        for currency in sorted(self.dns_pending):
            self.close_window(currency, now)
        self._changed.update(self.queued_per_ledger)
        self.optimise(now, non_fifo=non_fifo, budget=NON_FIFO_BUDGET_END_OF_DAY)
        # Currencies whose cut-off has not come yet still take payments, and close then.
        self.closed.update(c for c, at in self.cut_off_ns.items() if at <= now)
        return self._reject_waiting(now)

    def cut_offs_due(self, now: int) -> list[str]:
        """The currencies whose cut-off has come and whose day is not closed yet (by
        `close_currency` or `end_of_day`)."""
        return sorted(c for c, at in self.cut_off_ns.items() if at <= now and c not in self.closed)

    def next_cut_off(self) -> int | None:
        """The earliest cut-off of a currency whose day is not closed yet, or None."""
        times = [at for c, at in self.cut_off_ns.items() if c not in self.closed]
        return min(times) if times else None

    def close_currency(self, currency: str, now: int, *, non_fifo: bool = True) -> int:
        """One currency's end of day at its cut-off, as `end_of_day` for all: close its DNS
        window, run the LSM a last time on its queues (and the cross-currency ones), then
        reject AB03 what still waits in it: its queued, warehoused and DNS payments and the
        queued cross-currency payments with a leg in it. Returns payments rejected."""
        ledger = self.directory.ledgers.get(currency)  # none: nothing can wait in it
        if currency in self.dns_pending:
            self.close_window(currency, now)
        if ledger is not None and self.queued_per_ledger.get(ledger):
            self._changed.add(ledger)
            self.optimise(
                now, non_fifo=non_fifo, budget=NON_FIFO_BUDGET_END_OF_DAY, ledgers={ledger}
            )
        self.closed.add(currency)
        rejected = self._reject_waiting(now, currency)
        self._release_dirty(now)
        return rejected

    def _reject_waiting(self, now: int, currency: str | None = None) -> int:
        """Reject AB03 (not settled by the cut-off) every payment still queued, warehoused or
        waiting for a DNS window, or with `currency` only those in it (a cross-currency one
        with a leg in it). Returns payments rejected."""
        ledger = None if currency is None else self.directory.ledgers.get(currency)

        def late(entry: Entry) -> bool:
            if currency is None:
                return True
            if entry.fx is None:
                return entry.ledger == ledger
            route = entry.fx
            return currency in {route.source, route.destination} or any(
                leg.currency == currency for leg in route.legs
            )

        rejected = 0
        for sender in sorted(self.queues):
            for queue in self.queues[sender]:
                for entry in [e for e in queue if late(e)]:
                    self._dequeue(entry)
                    self._reject(entry, now, Reason.NOT_SETTLED_BY_CUT_OFF)
                    rejected += 1
        for sender in sorted(self.fx_queues):
            for queue in self.fx_queues[sender]:
                for entry in [e for e in queue if late(e)]:
                    self._dequeue_fx(entry)
                    self._reject(entry, now, Reason.NOT_SETTLED_BY_CUT_OFF)
                    rejected += 1
        kept = []
        for item in sorted(self.warehouse):
            entry = self.entries[item[2]]
            if not late(entry):
                kept.append(item)
            elif entry.status is Status.QUEUED:
                self._reject(entry, now, Reason.NOT_SETTLED_BY_CUT_OFF)
                rejected += 1
        self.warehouse = kept  # sorted: a heap
        for code in sorted(self.dns_pending) if currency is None else [currency]:
            for entry in self.dns_pending.pop(code, []):
                self._reject(entry, now, Reason.NOT_SETTLED_BY_CUT_OFF)
                rejected += 1
        if currency is None:
            self.fx_deadlines.clear()
            self.deadlines.clear()
        # Otherwise the deadlines of what was rejected stay in their heaps: `tick` passes
        # over a payment no longer queued.
        return rejected

    # ------------------------------------------------------------------ archive

    def find(self, uetr: int | None) -> Entry | None:
        """The payment `uetr`: its entry, or one rebuilt from the archive (its history its
        receipt and its final event); None if the hub never took it."""
        if uetr is None:
            return None
        entry = self.entries.get(uetr)
        if entry is None and len(self.archived):
            entry = self.archived.entry(uetr, Entry)
        return entry

    def archive(self, before_ns: int, limit: int | None = None) -> tuple[int, bool]:
        """Move the payments that were final before `before_ns` out of `entries` into
        `archived`, the oldest first, at most `limit` of them (None: all). Returns how many,
        and whether none is left to archive before that time. `entries` holds payments in
        the order the engine took them (its clock never goes back), so the walk ends at the
        first one taken at or after `before_ns`: a slice costs what it archives."""
        done: list[Entry] = []
        for entry in self.entries.values():
            if entry.received_ns >= before_ns or len(done) == limit:
                break
            if entry.status in FINAL and entry.history[-1].at_ns < before_ns:
                done.append(entry)
        finished = len(done) != limit
        if finished:
            self.archived_before = max(self.archived_before, before_ns)
        if not done:
            return 0, finished
        self.archived.add(done)
        gone = {entry.payment.uetr for entry in done}
        for uetr in gone:
            del self.entries[uetr]
        if finished:  # a dict keeps its size when emptied: a copy holds only what is left
            self.entries = dict(self.entries)
        # The heaps may still name one (`tick` passes over a payment no longer queued).
        for name in ("warehouse", "deadlines", "fx_deadlines"):
            kept = [item for item in getattr(self, name) if item[2] not in gone]
            heapq.heapify(kept)
            setattr(self, name, kept)
        return len(done), finished

    @property
    def day_closed(self) -> bool:
        """Whether every currency's business day is closed: a new day may open."""
        return self.closed >= self.cut_off_ns.keys()

    @property
    def waiting(self) -> bool:
        """Whether a payment waits: queued, warehoused or for a DNS window (none may when
        a day opens)."""
        return bool(self.queues or self.fx_queues or self.warehouse or self.dns_pending)

    def open_day(
        self,
        cut_off_ns: dict[str, int],
        now: int | None = None,
        business_date: str | None = None,
        resting: Iterable[str] = (),
    ) -> None:
        """Start the next business day: balances carry over in the ledger; new cut-offs.
        `now`: when (logs written before it say nothing); `business_date`: its date, when a
        calendar says (a day that opens the evening before has the next date); `resting`:
        currencies that do not settle on it (closed all day: a payment in one is refused
        DT01)."""
        if self.waiting:
            raise RuntimeError("open_day before end_of_day: payments are still queued")
        self.cut_off_ns = dict(cut_off_ns)
        self.resting = set(resting) & self.cut_off_ns.keys()
        self.closed = set(self.resting)
        if now is not None:
            for code in self.resting:  # closed from the opening on
                self.cut_off_ns[code] = min(self.cut_off_ns[code], now)
            self.openings.append(now)
            # The ledger stamps a transfer max(now, its last timestamp + 1): every transfer
            # booked before this opening is stamped before `at_ns`, every later one (at a
            # `now` not before this one) at or after it.
            at_ns = max(now, self.ledger.timestamp + 1)
            if self.day_starts:
                at_ns = max(at_ns, self.day_starts[-1].at_ns)
            self.day_starts.append(
                DayStart(at_ns, business_date, len(self.ledger.journal), len(self.net_details))
            )
        self.business_date = business_date

    @property
    def opened_ns(self) -> int | None:
        """When the last `open_day` that said its time ran (None: none did)."""
        return self.openings[-1] if self.openings else None

    # ------------------------------------------------------------------ bookkeeping

    def _settled(self, entry: Entry, now: int, via: str) -> None:
        entry.settled_ns = now
        entry.via = via
        self.stats.settled += 1
        self.stats.settled_by[via] = self.stats.settled_by.get(via, 0) + 1
        self._record(entry, Status.SETTLED, now, detail=via)

    def _reject(self, entry: Entry, now: int, reason: Reason) -> None:
        self.stats.rejected += 1
        self._record(entry, Status.REJECTED, now, reason)

    def _record(
        self,
        entry: Entry,
        status: Status,
        now: int,
        reason: Reason | None = None,
        detail: str = "",
    ) -> None:
        by_status = self.stats.by_status
        if entry.history:  # else a new payment: counted from its first status
            by_status[entry.status] -= 1
        by_status[status] += 1
        entry.status = status
        event = Event(entry.payment.uetr, status, now, reason, detail)
        entry.history.append(event)
        self._events.append(event)

    def _event(self, uetr: int, status: Status, now: int, reason: Reason) -> None:
        """A refusal at intake. For a duplicate the UETR is the original's, which stays as it
        was: the detail says so, for anyone reading events by UETR."""
        detail = (
            "a second submission; the original payment is unaffected"
            if (reason is Reason.DUPLICATE_UETR)
            else ""
        )
        self._events.append(Event(uetr, status, now, reason, detail))

    def queued(self) -> Iterable[Entry]:
        for sender in sorted(self.queues):
            for queue in self.queues[sender]:
                yield from queue

    def queue_of(self, account: int) -> Iterator[tuple[Entry, int]]:
        """The payments queued on settlement account `account`, in the order they are tried:
        its queue of single-currency payments (urgent, then normal), then its queue of
        cross-currency payments (the same); each with its place in its priority class (1:
        tried first), the order `reorder` changes."""
        for queues in (self.queues, self.fx_queues):
            for queue in queues.get(account, ()):
                for place, entry in enumerate(queue, start=1):
                    yield entry, place

    def _count_queued(self, entry: Entry, amount: int) -> None:
        """`amount` more (or less) queued on `entry`'s sender account."""
        left = self.queued_value.get(entry.sender, 0) + amount
        if left:
            self.queued_value[entry.sender] = left
        else:
            del self.queued_value[entry.sender]

    def queued_on(self, account: int) -> tuple[int, int]:
        """How many payments are queued on settlement account `account`, and their value
        (single and cross-currency), without a pass over them."""
        count = sum(
            len(q) for queues in (self.queues, self.fx_queues) for q in queues.get(account, ())
        )
        return count, self.queued_value.get(account, 0)

    def queue_place(self, entry: Entry) -> int | None:
        """`entry`'s place in its priority class of its sender's queue (1: tried first);
        None when it is not queued."""
        if not self._in_queue(entry):
            return None
        queues = self.fx_queues if entry.fx is not None else self.queues
        return queues[entry.sender][int(entry.priority)].index(entry) + 1


def _booked(transfers: Sequence[Transfer], clearing: Collection[int]) -> dict[int, int]:
    """The net transfer of each account a set's pay-ins and pay-outs move (`clearing`: the
    clearing accounts they go through): a pay-in debits the account, a pay-out credits it."""
    return {
        t.debit_account_id if t.credit_account_id in clearing else t.credit_account_id: t.id
        for t in transfers
    }


def _leg_net(entry: Entry) -> Mapping[int, int]:
    net = {entry.sender: -entry.amount}
    net[entry.receiver] = net.get(entry.receiver, 0) + entry.amount
    return net


def _route_net(entry: Entry) -> Mapping[int, int]:
    assert entry.fx is not None
    return entry.fx.net


def _route_needs(entry: Entry) -> Mapping[int, int]:
    assert entry.fx is not None
    return entry.fx.needs


def _suspended(directory: Directory, bic: str, settling: Participant) -> bool:
    own = directory.get(bic)
    return settling.status is ParticipantStatus.SUSPENDED or (
        own is not None and own.status is ParticipantStatus.SUSPENDED
    )
