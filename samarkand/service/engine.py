"""The hub's one thread: every command and every read runs here, in order.

Requests put work on a queue and wait on a future. The thread takes everything waiting (up to
`ROUND_ITEMS_MAX` items) as one round: all single payments of the round go to the hub as ONE
durable `submit` command (one log row, one fsync, one ledger batch), the other work runs in
arrival order (work taken in turns, `steps`, a turn per round: an ISO 20022 message of many
transactions settles a batch per round, so it never holds the others up for its whole
decision), and the notices the round caused are handed to the engine's writer thread,
which writes them to the mailboxes in one transaction while the hub's thread goes on with the
next round. So a burst of concurrent payments costs a few fsyncs, not one per payment, and the
mailboxes' writes (most of a bulk message's bytes, written without the GIL) overlap the hub's
next decisions. The event loop never runs hub code: it only waits on futures.

Nothing is answered before it is durable, but what makes it durable differs:

- a payment, cross-currency payment or quote request is answered as soon as its command is
  in the command log: its status notices are made from the hub's events, which a restart
  replays from that log, and an event not yet in a mailbox is published again then
  (`Mailbox.events_published`). Its answer does not wait for the mailbox's fsync;
- any other work (an ISO 20022 message, whose responses are written to mailboxes and
  nowhere else; a mailbox read or acknowledgement) is answered by the writer, once the
  round's mailbox transaction is committed (and, for an ISO 20022 message, then its record
  in the message log: see `post`). Rounds are written, and so answered, in order.

The hub's thread hands a round to the writer and goes on deciding the next one. Before
handing over another while one is unwritten, it waits for the writer up to `WRITER_WAIT_S`,
and what arrives meanwhile goes into one round, one command, one fsync; a stalled mailbox
fsync so holds new rounds up by that much at most (up to `ROUNDS_UNWRITTEN_MAX` rounds), and
never the answers to payments already decided. The writer takes every round handed over
since its last transaction into its next one.

`mailbox` is the mailboxes with every round handed over written: a read after an answer
sees the notices of what was answered.

The thread also acts on its own, each time as a logged command, in a round of whatever
requests wait (or none): the hub's clock (`tick`) once a time that a payment or a scheduled
DNS window waits for has come, a currency's end of day (`close_currency`) once its cut-off
has come, and the liquidity-saving mechanisms (`optimise`) once queues
or the balances behind them changed, at most every `OFFSET_INTERVAL_NS`. While either
waits, the idle thread waits for a request at most until then (`_until_due`).

A command cut off by a failure of its store (logged, or maybe logged, but not run to its
end) leaves the `DurableHub` broken: the next round opens the store again (`_reopen`; while
that fails, again after `REOPEN_INTERVAL_NS`, doubling each time), and the replay completes
the command.
The service so carries on through a database restart without a restart of its own.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import Any

from samarkand.hub.calendar import BusinessDay
from samarkand.hub.durable import DurableHub, HubBroken
from samarkand.hub.message_log import Awaiting, MessageLog, response_kind
from samarkand.hub.messages import settlement_notifications, status_updates
from samarkand.hub.settlement import QuoteRequest, SettlementHub
from samarkand.iso20022.markup import uuid_texts
from samarkand.iso20022.pacs002 import StatusUpdate
from samarkand.money import default_registry, format_amounts
from samarkand.service.mailbox import Mailbox
from samarkand.service.render import Handed, Renderer
from samarkand.service.zones import time_zone
from samarkand.settlement.payments import FINAL, FxPayment, Payment, Reason, Status, uetr_text
from samarkand.store import StoreError

log = logging.getLogger(__name__)

ROUND_ITEMS_MAX = 4_096
# Payments the hub's clock archives in one round (about 0.1 s of its thread): a day of
# millions is archived over many rounds, between requests.
ARCHIVE_SLICE = 20_000
# Before handing a round over while another is unwritten, the hub's thread waits for the
# writer this long: what arrives meanwhile makes the next round bigger (on 2 cores 11-12
# payments per command, against 6-7 without the wait, which cost a tenth more service CPU
# per payment), and a stalled mailbox fsync holds new rounds up by no more than this. Past
# ROUNDS_UNWRITTEN_MAX rounds unwritten it waits for the writer, however long.
WRITER_WAIT_S = 0.005
ROUNDS_UNWRITTEN_MAX = 8
# A hub broken by a failed store (a command logged, or maybe logged, that could not run to
# its end: the database went away) is opened again by the next round; while that fails, it
# is tried again after this, then after twice as long each time, up to the maximum.
REOPEN_INTERVAL_NS = 1_000_000_000
REOPEN_INTERVAL_NS_MAX = 60_000_000_000
# How often a round first checks that this process still holds the hub's writer lock.
GUARD_INTERVAL_NS = 5_000_000_000
# The hub keeps every payment it decided in memory: millions of objects, which each full pass
# of Python's cyclic garbage collector walks, every thread stopped meanwhile (on the demo's
# 200,000 payments a pass took 250-320 ms, and it grows with the hub). Frozen objects
# (`gc.freeze`) are not walked again. So once the hub is opened, and then each time it has
# made this many more events, a full collection frees the garbage (walking only what was
# made since the last freeze), then what is left is frozen. See `Engine.freeze_heap`. Each
# pass holds every thread up: 7-21 ms at 10,000 events, 60-80 ms at 50,000 (single payments
# on 2 vCPU, the slowest request 35 ms against 131 ms), for about as much CPU in all.
GC_FREEZE_EVENTS = 10_000
# The longest the idle hub's thread waits before it looks at the clock again, when a payment
# waits for a time (`Engine._until_due`).
DUE_WAIT_MAX_S = 1.0
# The liquidity-saving mechanisms (`DurableHub.optimise`: multilateral offsetting of each
# currency's queues, and of the cross-currency ones) run at most this often, once queues or
# the balances behind them changed: a gridlock is resolved within about this long.
OFFSET_INTERVAL_NS = 1_000_000_000
# Of those runs, one in this long (the first this long after the start) adds the non-FIFO
# search, budgeted, as the simulated business day runs it (`Engine.non_fifo_every_ns`).
NON_FIFO_INTERVAL_NS = 15 * 60 * 10**9
# A snapshot of the hub (`DurableHub.snapshot_in_background`: a forked child pickles it
# while the hub goes on) once the command log has grown since the last by this many rows,
# and by a quarter of the rows that one covers (a snapshot holds the whole hub: its cost
# grows with the log, and so does the wait for the next), at most every
# SNAPSHOT_INTERVAL_NS: a crash then replays at most about that much of the log.
SNAPSHOT_ROWS = 20_000
SNAPSHOT_INTERVAL_NS = 5 * 60 * 10**9
SNAPSHOT_WAIT_S = 120.0  # the longest a close (or open-day) waits for one under way
# An ISO 20022 message's transactions go to the hub this many at a time by default, a batch
# per round of the hub's thread, so other requests are decided between them: a message of
# 10,000 transactions does not hold every other request up for its whole decision
# (`submit_message_steps`; `samarkand serve --message-batch`).
MESSAGE_BATCH = 1_000
QUEUE_ITEMS_MAX = 65_536  # beyond this, requests are refused with 503 rather than queued
NOTICE_STATUSES = FINAL | {Status.QUEUED}
_NOTICE_STATUSES = tuple(NOTICE_STATUSES)  # `in` a tuple compares identities: no Enum hash
_FINAL_STATUSES = tuple(FINAL)
CANCELLED_CODE = "NARR"  # a queued transaction told again once cancelled: RJCT, this code


class EngineBusy(RuntimeError):
    """The engine's queue is full: the request was not taken (retry later)."""


class EngineStopped(RuntimeError):
    """The engine is not running (stopped, or failed to open its store)."""


class AnswerNotWritten(StoreError):
    """What a request did is kept, but its round's mailbox transaction (or the message log's
    record of its message) failed, so it is not answered as done: sent again, it gets its
    outcome."""


@dataclass(slots=True)
class _Work:
    future: Future
    # "submit", "submit_fx", "quotes": batched per round; "call": run in order; "steps": a
    # turn per round, in order, until done
    kind: str
    batch: Sequence[Any] = ()
    call: Callable[[Any, int], Any] | None = None
    turns: Generator[None, int, Any] | None = None  # "steps" begun


# An ISO 20022 message's record for the message log: (sender, MsgId, responses).
Finished = tuple[str, str, list[tuple[str, str, bytes]]]


@dataclass(slots=True)
class _Handed:
    """A round for the writer: its messages (participant, kind, body, created_ns), how many
    hub events they make published, the answers to give once they are written, and `done`
    (resolved then)."""

    messages: list[tuple[str, str, bytes, int] | tuple[Handed, int]]
    events: int
    outcomes: list[tuple[Any, Any, BaseException | None]]
    finished: list[Finished] = field(default_factory=list)  # for the message log, then
    awaiting: list[tuple[int, Awaiting]] = field(default_factory=list)  # with those
    told: list[int] = field(default_factory=list)  # status updates made this round
    done: Future = field(default_factory=Future)


@dataclass(slots=True)
class EngineStats:
    rounds: int = 0
    submit_commands: int = 0
    payment_requests: int = 0
    ticks: int = 0  # the hub's clock run because a payment waited for a time that came
    day_closes: int = 0  # a currency's day closed by the hub's clock at its cut-off
    day_opens: int = 0  # business days opened by the hub's clock on its calendar
    archives: int = 0  # archives of past days' payments run by the hub's clock
    offsetting_runs: int = 0  # the liquidity-saving mechanisms run on queues that changed
    non_fifo_runs: int = 0  # those of them that added the non-FIFO search
    snapshots: int = 0  # snapshots of the hub written in the background
    round_sizes: list[int] = field(default_factory=list)


class Engine:
    """Owns the `DurableHub` and the mailboxes; runs them on one thread."""

    def __init__(
        self,
        open_hub: Callable[[], DurableHub],
        open_mailbox: Callable[[], Mailbox],
        *,
        clock: Callable[[], int] = time.time_ns,
        open_messages: Callable[[], MessageLog] | None = None,
        freeze_heap: int | None = None,
        renderer: Renderer | None = None,
    ) -> None:
        self._open_hub = open_hub
        self._open_mailbox = open_mailbox
        self._open_messages = open_messages
        self._clock = clock  # the hub's time
        # For waits between tries (a reopen, the lock's check): not moved by clock steps.
        self._monotonic: Callable[[], int] = time.monotonic_ns
        self._queue: queue.Queue[_Work | None] = queue.Queue(QUEUE_ITEMS_MAX)
        self._thread = threading.Thread(target=self._main, name="samarkand-hub", daemon=True)
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self.stats = EngineStats()
        self.durable: DurableHub | None = None
        self._mailbox: Mailbox | None = None
        # The ISO 20022 message log: opened, used and closed on the hub's thread only.
        self.messages: MessageLog | None = None
        # For the round's mailbox transaction: (participant, kind, body), or the camt.054s of
        # a message's settlements still to make (`Handed`, the writer takes them).
        self._posted: list[tuple[str, str, bytes] | Handed] = []
        # Makes the camt.054s of the ISO 20022 messages' settlements (in a process of its
        # own for `samarkand serve`): handed over on this thread, taken by the writer.
        self.renderer = renderer if renderer is not None else Renderer()
        self._finished: list[Finished] = []  # the round's messages, to record once posted
        self._covered: list[tuple[int, int]] = []  # event ranges of the round's ISO messages
        # ISO 20022 transactions answered ACSP whose final status is still to be told (a
        # second pacs.002), by UETR: kept in the message log, changed on this thread.
        self.awaiting: dict[int, Awaiting] = {}
        self._awaiting_new: list[tuple[int, Awaiting]] = []  # this round's, for the writer
        self._told: list[int] = []
        # Participants that have a camt.054 for every settlement of their accounts, not only
        # for those of their ISO 20022 messages (kept in the mailbox; changed on this thread).
        self.camt054_all: set[str] = set()
        # Messages handed to the writer and not yet recorded as finished: the `done` of
        # their round (the hub's thread's; see `wait_recorded`).
        self._recording: dict[tuple[str, str], Future] = {}
        self._writer_log: MessageLog | None = None  # the writer's own connection to the log
        # The mailboxes' writer: one thread, so rounds are written and answered in order.
        self._handed: queue.SimpleQueue[_Handed | None] = queue.SimpleQueue()
        self._writer = threading.Thread(
            target=self._writer_main, name="samarkand-mailbox", daemon=True
        )
        self._unwritten: list[tuple[str, str, bytes, int]] = []  # the writer's: for a retry
        self._events_handed = 0  # hub events turned into messages and handed to the writer
        self._in_writing: deque[Future] = deque()  # `done` of each round handed, not written
        self._last_write: Future = Future()
        self._last_write.set_result(None)
        self._last_now = 0
        self._reopen_after = 0  # `_monotonic` ns before which a broken hub is not reopened
        self._reopen_interval = REOPEN_INTERVAL_NS  # doubled by each failed reopen
        self.reopened = 0  # how many times a broken hub was opened again
        # Checks that this process may still write the hub (its writer lock), run by a round
        # at most every GUARD_INTERVAL_NS; while it fails, every request is refused.
        self.guard: Callable[[], None] | None = None
        self._guard_after = 0
        self._offset_after = 0  # monotonic ns: the liquidity-saving mechanisms' next run
        self.non_fifo_every_ns = NON_FIFO_INTERVAL_NS
        self.snapshot_rows = SNAPSHOT_ROWS
        self.snapshot_interval_ns = SNAPSHOT_INTERVAL_NS
        self._snapshot_after = 0  # monotonic ns: no background snapshot before
        self._snapshot_child: tuple[int, int] | None = None  # (pid, log rows it covers)
        self._snapshot_wanted = False  # one is asked for (`snapshot_soon`), whatever is due
        self._non_fifo_after: int | None = None  # monotonic ns; set at the first run
        # Events between two collect-and-freeze passes of the garbage collector (see
        # GC_FREEZE_EVENTS), the first once the hub is opened; None: left to the
        # collector's own schedule (`samarkand serve` freezes; a test run, which holds
        # many hubs in turn, does not).
        self.freeze_heap = freeze_heap
        self._frozen_at = 0  # the hub's event count at the last freeze
        # Work taken in turns ("steps") not done yet: a turn of each in every round.
        self._continuing: list[_Work] = []
        self.under_way = 0  # work begun in turns, not done: `_continuing` and this round's
        # ISO 20022 messages under way, by (sender, MsgId): the same message sent again
        # meanwhile waits (`submit_message_steps`).
        self.messages_under_way: dict[tuple[str, str], object] = {}
        self.message_batch = MESSAGE_BATCH  # an ISO 20022 message's transactions per round
        self.on_published: Callable[[set[str]], None] | None = None
        self.registry = default_registry()

    # ------------------------------------------------------------------ life

    def start(self) -> None:
        self.renderer.start()
        self._writer.start()
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise self._failure

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    # ------------------------------------------------------------------ asking

    def submit(self, payments: Sequence[Payment]) -> Future:
        """Future of [(reason or None, status or None)] per payment, once durable."""
        return self._put(_Work(Future(), "submit", payments))

    def submit_fx(self, payments: Sequence[FxPayment]) -> Future:
        """The same for cross-currency payments: one `submit_fx` command per round."""
        return self._put(_Work(Future(), "submit_fx", payments))

    def request_quotes(self, requests: Sequence[QuoteRequest]) -> Future:
        """Future of [Quote or Reason] per request: one `quotes` command per round."""
        return self._put(_Work(Future(), "quotes", requests))

    def call(self, function: Callable[[Any, int], Any]) -> Future:
        """Run `function(engine_context, now)` on the hub's thread (after what is queued)."""
        return self._put(_Work(Future(), "call", call=function))

    def steps(self, function: Callable[[Any, int], Generator[None, int, Any]]) -> Future:
        """Run `function(engine_context, now)`, a generator, on the hub's thread a turn per
        round (each `yield` lets the round end; the next round sends its own time back):
        work too long for one round goes on between other requests. The future has what
        it returns."""
        return self._put(_Work(Future(), "steps", call=function))

    @property
    def mailbox(self) -> Mailbox | None:
        """The mailboxes, once every round handed over is written (used on the hub's
        thread: a read there sees the notices of every payment answered before it)."""
        wait([self._last_write])
        return self._mailbox

    @property
    def thread_ids(self) -> tuple[int | None, int | None]:
        """The native ids of the hub's thread and of the mailbox writer's (None before they
        start): where a benchmark reads each one's CPU time."""
        return self._thread.native_id, self._writer.native_id

    @property
    def running(self) -> bool:
        """The hub's thread is up and takes requests."""
        return self._thread.is_alive() and self._ready.is_set() and self._failure is None

    @property
    def waiting(self) -> int:
        """Requests waiting for the hub's thread."""
        return self._queue.qsize()

    @property
    def rounds_unwritten(self) -> int:
        """Rounds handed to the mailbox writer and not written yet."""
        return sum(1 for done in list(self._in_writing) if not done.done())

    def _put(self, work: _Work) -> Future:
        if not self._thread.is_alive():
            raise EngineStopped("the hub is not running")
        try:
            self._queue.put_nowait(work)
        except queue.Full:
            raise EngineBusy("the hub's queue is full") from None
        return work.future

    # ------------------------------------------------------------------ the thread

    def now(self) -> int:
        """The hub's time for a round: the wall clock, but never before the last round's."""
        now = max(self._clock(), self._last_now + 1)
        self._last_now = now
        return now

    def _main(self) -> None:
        try:
            self.durable = self._opened_hub()
            self._mailbox = self._open_mailbox()
            if self._open_messages is not None:
                self.messages = self._open_messages()
                self.awaiting = self.messages.awaiting()
            hub_clock = self.durable.hub.clock if self.durable.configured else 0
            self._last_now = max(hub_clock, self.durable.durable_ledger.state.timestamp)
            self._events_handed = self._mailbox.events_published
            self.camt054_all = self._mailbox.camt054_all()
            # Events the last run made but did not publish, before anything is taken in.
            self._hand_over(self.now(), []).result()
            self._freeze(force=True)  # the replayed hub
        except BaseException as error:  # noqa: BLE001 - reported to start()
            self._failure = error
            self._ready.set()
            self._close()
            return
        self._ready.set()
        try:
            while True:
                items, stop = _take_waiting(
                    self._queue, ROUND_ITEMS_MAX, block=not self._continuing,
                    timeout=self._until_due(),
                )  # fmt: skip
                if items or self._continuing or self._due():
                    self._round(items)
                if stop:
                    while self._continuing:  # taken: finished before the hub stops
                        self._round([])
                    return
        finally:
            self._close()

    def _close(self) -> None:
        self._handed.put(None)  # what is handed over is written (and answered), then it stops
        self._writer.join()
        self.renderer.close()
        self._reap_snapshot(block=True)  # then the close's own snapshot, the newer
        if self.durable is not None:
            self.durable.close()
        if self._mailbox is not None:
            self._mailbox.close()
        if self.messages is not None:
            self.messages.close()

    def _round(self, items: list[_Work]) -> None:
        if self.guard is not None and self._monotonic() >= self._guard_after:
            try:
                self.guard()
            except BaseException as error:  # noqa: BLE001 - not ours to write: refuse all
                _answer([(w.future, None, error) for w in items])
                self._abandon(error)
                return
            self._guard_after = self._monotonic() + GUARD_INTERVAL_NS
        if self.durable is not None and self.durable.broken:
            if self._continuing:
                self._abandon(HubBroken("the hub's store failed while this was under way"))
            self._reopen()
        durable = self.durable
        assert durable is not None
        now = self.now()
        self._tick_when_due(durable, now)
        outcomes: list[tuple[Future, Any, BaseException | None]] = []
        paying = [w for w in items if w.kind == "submit"]
        if paying:
            self.stats.payment_requests += len(paying)
            self.stats.submit_commands += 1
        for kind, run in (
            ("submit", self._payments),
            ("submit_fx", self._payments),
            ("quotes", lambda _kind, batch, at: durable.request_quotes(batch, at)),
        ):
            batched = [w for w in items if w.kind == kind]
            if not batched:
                continue
            batch = [x for w in batched for x in w.batch]
            # Answered now: the command is durable, and its notices are made from events a
            # restart replays (see the module docstring).
            decided: list[tuple[Any, Any, BaseException | None]] = []
            try:
                answers = run(kind, batch, now)
                start = 0
                for work in batched:
                    count = len(work.batch)
                    decided.append((work.future, answers[start : start + count], None))
                    start += count
            except BaseException as error:  # noqa: BLE001 - each request is told
                decided = [(w.future, None, error) for w in batched]
            _answer(decided)
        continuing, self._continuing = self._continuing, []
        for work in continuing + items:
            if work.kind == "call" and work.call is not None:
                try:
                    outcomes.append((work.future, work.call(self, now), None))
                except BaseException as error:  # noqa: BLE001 - the request is told
                    outcomes.append((work.future, None, error))
            elif work.kind == "steps" and work.call is not None:
                self._turn(work, now, outcomes)
        self._offset_when_due(durable, now)
        self._snapshot_when_due(durable)
        self.stats.rounds += 1
        self.stats.round_sizes.append(len(items))
        if len(self.stats.round_sizes) > 10_000:
            del self.stats.round_sizes[:5_000]
        answered = [(sender, msg_id) for sender, msg_id, _ in self._finished]
        try:
            self._hand_over(now, outcomes)
        except BaseException as error:  # noqa: BLE001 - nothing is answered as done
            _answer([(f, None, error) for f, _, _ in outcomes])
        finally:
            for key in answered:
                self.messages_under_way.pop(key, None)
        self._freeze()

    @property
    def _settling(self) -> Any:
        """The hub's settlement engine when the hub is open, configured and not broken (what
        the hub's own clock acts on), else None."""
        durable = self.durable
        if durable is None or durable.broken or not durable.configured:
            return None
        return durable.hub.engine

    def _next_due(self) -> int | None:
        """The earliest time the hub's clock has something to do: `tick`'s
        (`SettlementEngine.next_due`), a currency's cut-off or the calendar's next opening;
        None: nothing waits."""
        engine = self._settling
        if engine is None or self.durable is None:
            return None
        day = next_calendar_day(self.durable.hub, self._clock())
        times = [engine.next_due(), engine.next_cut_off(), None if day is None else day.opening]
        known = [t for t in times if t is not None]
        return min(known) if known else None

    def _offsetting_in(self) -> float | None:
        """Seconds until the liquidity-saving mechanisms are due (0: now); None: no queue
        changed since their last run."""
        engine = self._settling
        if engine is None or not engine.offsetting_due():
            return None
        return max(0.0, (self._offset_after - self._monotonic()) / 1e9)

    def _until_due(self) -> float | None:
        """Seconds to wait for a request before the hub's clock must run or the
        liquidity-saving mechanisms are due (at most `DUE_WAIT_MAX_S`, so a clock set
        forward is seen soon); None: nothing waits."""
        waits = [self._offsetting_in()]
        due = self._next_due()
        if due is not None:
            waits.append((due - self._clock()) / 1e9)
        if self._snapshot_child is not None:  # look for its end at least once a second
            waits.append(DUE_WAIT_MAX_S)
        known = [max(0.0, wait) for wait in waits if wait is not None]
        return min(DUE_WAIT_MAX_S, *known) if known else None

    def _due(self) -> bool:
        due = self._next_due()
        return (
            (due is not None and due <= self._clock())
            or self._offsetting_in() == 0.0
            or self._snapshot_child is not None  # a round reaps it once it ended
        )

    def _offset_when_due(self, durable: DurableHub, now: int) -> None:
        """Run the liquidity-saving mechanisms (`DurableHub.optimise`, FIFO multilateral
        offsetting of each currency's queues and the cross-currency offsetting, with the
        non-FIFO search once in `non_fifo_every_ns`; a logged command with its decisions)
        when queues or the balances behind them changed, at most every `OFFSET_INTERVAL_NS`:
        a gridlock does not wait for the end of the day.
        A store failure leaves the hub broken, to be opened again by the next round."""
        if durable.broken or self._offsetting_in() != 0.0:
            return
        at = self._monotonic()
        if self._non_fifo_after is None:
            self._non_fifo_after = at + self.non_fifo_every_ns
        non_fifo = at >= self._non_fifo_after
        self._offset_after = at + OFFSET_INTERVAL_NS
        try:
            durable.optimise(now, non_fifo=non_fifo)
        except Exception:  # noqa: BLE001 - the hub is broken: the next round reopens it
            return
        self.stats.offsetting_runs += 1
        if non_fifo:
            self._non_fifo_after = at + self.non_fifo_every_ns
            self.stats.non_fifo_runs += 1

    def _snapshot_when_due(self, durable: DurableHub) -> None:
        """Reap a background snapshot that ended; start one once the log has grown by
        `snapshot_rows` since the last snapshot, at most every `snapshot_interval_ns`, or
        once one is asked for (`snapshot_soon`) and none is under way."""
        self._reap_snapshot(block=False)
        if self._snapshot_child is not None or self._settling is None:
            return
        at = self._monotonic()
        due = max(self.snapshot_rows, durable.snapshot_covers // 4)
        if not self._snapshot_wanted and (
            at < self._snapshot_after or durable.unsnapshotted_rows < due
        ):
            return
        self._snapshot_wanted = False
        self._snapshot_after = at + self.snapshot_interval_ns
        try:
            self._snapshot_child = durable.snapshot_in_background()
        except OSError:  # no fork (memory, process limits): the next open replays more
            self._snapshot_child = None

    def _reap_snapshot(self, *, block: bool) -> None:
        """Take the exit of the background snapshot's child, if it ended (or wait for it,
        at most `SNAPSHOT_WAIT_S`; then it is killed, and its snapshot counts as not
        written)."""
        if self._snapshot_child is None:
            return
        pid, covers = self._snapshot_child
        deadline = self._monotonic() + int(SNAPSHOT_WAIT_S * 1e9)
        while True:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 1
            if done or not block:
                break
            if self._monotonic() >= deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.01)
        if done == 0:
            return
        self._snapshot_child = None
        written = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        self.stats.snapshots += written
        if self.durable is not None:
            self.durable.snapshot_finished(covers, written)

    def snapshot_soon(self) -> None:
        """Have the hub's snapshot written as it is at the end of this round (a day opened:
        a crash then replays the new day only), in the background, or once the snapshot
        under way has ended; on the hub's thread where there is no `os.fork`. Call it on the
        hub's thread."""
        if hasattr(os, "fork"):
            self._snapshot_wanted = True
        else:
            self.save_snapshot()

    def save_snapshot(self) -> bool:
        """Write the hub's snapshot now, on the hub's thread, once a background one ended
        (so an older one never replaces it)."""
        self._reap_snapshot(block=True)
        return self.durable is not None and self.durable.save_snapshot()

    def _tick_when_due(self, durable: DurableHub, now: int) -> None:
        """Run the hub's clock (`run_hub_clock`) when the hub is open and configured. A store
        failure leaves the hub broken, to be opened again by the next round."""
        if self._settling is None:
            return
        try:
            # No archive while a message is under way: its turns hold positions of events.
            opened = run_hub_clock(durable, now, self.stats, archive=not self._continuing)
        except Exception:  # noqa: BLE001 - the hub is broken: the next round reopens it
            return
        if opened:
            self.snapshot_soon()  # as open-day: a crash replays the new day only

    def _turn(self, work: _Work, now: int, outcomes: list[tuple[Future, Any, Any]]) -> None:
        """One turn of `work` ("steps"): its outcome once it returns, else it goes on."""
        try:
            if work.turns is None:
                assert work.call is not None
                work.turns = work.call(self, now)
                self.under_way += 1
                work.turns.send(None)  # type: ignore[arg-type]
            else:
                work.turns.send(now)
        except StopIteration as done:
            outcomes.append((work.future, done.value, None))
        except BaseException as error:  # noqa: BLE001 - the request is told
            outcomes.append((work.future, None, error))
        else:
            self._continuing.append(work)
            return
        if work.turns is not None:
            self.under_way -= 1

    def _abandon(self, error: BaseException) -> None:
        """Stop the work under way in turns: each is told `error` (a turn not run is a batch
        not submitted; a message cut off stays begun, and a resend completes it)."""
        continuing, self._continuing = self._continuing, []
        for work in continuing:
            if work.turns is not None:
                work.turns.close()
        self.under_way -= len(continuing)
        _answer([(w.future, None, error) for w in continuing])

    def _freeze(self, *, force: bool = False) -> None:
        """Collect the garbage, then freeze what is left (`GC_FREEZE_EVENTS`): when the hub
        has made `freeze_heap` events since the last time, or now (`force`: a hub opened)."""
        durable = self.durable
        if self.freeze_heap is None or durable is None or not durable.configured:
            return
        events = len(durable.hub.events)
        if force or events - self._frozen_at >= self.freeze_heap:
            gc.collect()
            gc.freeze()
            self._frozen_at = events

    def _opened_hub(self) -> DurableHub:
        """The hub opened, its command log guarded by the writer lock's check (`guard`): a
        command log connection made anew (a database restart) writes nothing until the lock
        is held again; if it is not, every round checks it until it is."""
        durable = self._open_hub()
        guard = self.guard
        if guard is not None:

            def check() -> None:
                try:
                    guard()
                except BaseException:
                    self._guard_after = 0
                    raise

            durable.guard_writes(check)
        return durable

    def _reopen(self) -> None:
        """Open the store again after a command failed on its way (a store or database
        failure): the replay completes what the log holds, and the hub carries on. Until it
        succeeds, requests get the broken hub's error (503); a failed reopen is tried again
        after `REOPEN_INTERVAL_NS`, then twice as long each time (a replay of a long log is
        not run over and over against a store that keeps failing)."""
        if self._monotonic() < self._reopen_after:
            return
        broken = self.durable
        assert broken is not None
        try:
            reopened = self._opened_hub()
        except BaseException:  # noqa: BLE001 - still down: the broken hub answers 503
            self._reopen_after = self._monotonic() + self._reopen_interval
            self._reopen_interval = min(2 * self._reopen_interval, REOPEN_INTERVAL_NS_MAX)
            return
        self._reopen_interval = REOPEN_INTERVAL_NS
        try:
            broken.close()
        except BaseException:  # noqa: BLE001 - its connections may be gone already
            pass
        self.durable = reopened
        self.reopened += 1
        self._freeze(force=True)

    def _payments(self, kind: str, payments: Sequence[Any], now: int) -> list[Any]:
        """One durable command for the round's payments (or cross-currency payments):
        [(reason, None) or (None, status)] per payment."""
        durable = self.durable
        assert durable is not None
        if not payments:
            return []
        submit = durable.submit if kind == "submit" else durable.submit_fx
        reasons = submit(payments, now)
        entries = durable.hub.engine.entries
        return [
            (reason, None if reason is not None else entries[p.uetr].status)
            for p, reason in zip(payments, reasons, strict=True)
        ]

    # ------------------------------------------------------------------ mailboxes

    def post(
        self,
        messages: Sequence[tuple[str, str, bytes] | Handed],
        finished: Finished | None = None,
        awaiting: Sequence[tuple[int, Awaiting]] = (),
    ) -> None:
        """Messages (participant, kind, body) for the mailboxes (or camt.054s handed to the
        renderer, `Handed`), written with this round's notices in one transaction (kept for
        the next round if that transaction fails);
        `finished`: the message log's record of the ISO 20022 message they answer, written
        once they are in the mailboxes (and dropped if that transaction fails: the message
        stays begun, and a resend is answered from the hub's state, its responses posted
        again). So no response of a message recorded as answered can be lost."""
        self._posted.extend(messages)
        if finished is not None:
            self._finished.append(finished)
        # `awaiting`: its transactions answered ACSP, told again once final (`_updates`).
        self.awaiting.update(awaiting)
        self._awaiting_new.extend(awaiting)

    def wait_recorded(self, sender: str, msg_id: str) -> None:
        """On the hub's thread, before the message log is asked about (sender, MsgId): wait
        until what the writer was handed for that message is written (or failed)."""
        done = self._recording.pop((sender, msg_id), None)
        if done is not None:
            wait([done])

    def _hand_over(self, now: int, outcomes: list[tuple[Any, Any, BaseException | None]]) -> Future:
        """Give the writer this round's messages (its notices, one message per participant:
        to the debtor agent for every final or queued status, to the creditor agent for
        settlements; and the messages posted this round) and its answers; the future is
        resolved once they are written."""
        durable = self.durable
        assert durable is not None
        messages, events = self._notices(durable, self._posted, now)
        self._posted = []
        while self._in_writing and self._in_writing[0].done():
            self._in_writing.popleft()
        if self._in_writing and not self._continuing:  # work under way goes on at once
            wait([self._in_writing[-1]], timeout=WRITER_WAIT_S)
        if len(self._in_writing) >= ROUNDS_UNWRITTEN_MAX:
            wait([self._in_writing.popleft()])
        handed = _Handed(
            [(*m, now) if isinstance(m, tuple) else (m, now) for m in messages], events, outcomes,
            self._finished,
            self._awaiting_new, self._told,
        )  # fmt: skip
        self._finished, self._awaiting_new, self._told = [], [], []
        if self._recording:
            self._recording = {k: f for k, f in self._recording.items() if not f.done()}
        for sender, msg_id, _ in handed.finished:
            self._recording[sender, msg_id] = handed.done
        self._in_writing.append(handed.done)
        self._last_write = handed.done
        self._handed.put(handed)
        return handed.done

    def _writer_main(self) -> None:
        """The writer's thread: every round handed over since the last transaction goes into
        the next one; stops at None, once what came before it is written."""
        try:
            while True:
                rounds, stop = _take_waiting(self._handed, ROUNDS_UNWRITTEN_MAX)
                if not rounds:
                    return
                try:
                    self._write(rounds)
                except BaseException as error:  # noqa: BLE001 - the writer must not die silently
                    _answer([(f, None, error) for r in rounds for f, _, _ in r.outcomes
                             if not f.running() and not f.done()])  # fmt: skip
                    for handed in rounds:
                        if not handed.done.done():
                            handed.done.set_exception(error)
                if stop:
                    return
        finally:
            if self._writer_log is not None:
                self._writer_log.close()

    def _write(self, rounds: list[_Handed]) -> None:
        """One mailbox transaction for `rounds` (with what an earlier, failed one held),
        then the message log's records of their ISO 20022 messages, then their answers; a
        failed transaction fails their requests, and their messages wait for the next."""
        mailbox = self._mailbox
        assert mailbox is not None
        pending = self._unwritten + self._made(m for handed in rounds for m in handed.messages)
        outcomes = [o for handed in rounds for o in handed.outcomes]
        events = rounds[-1].events
        try:
            if pending or events != mailbox.events_published:
                mailbox.publish(pending, events_published=events)
        except BaseException as error:  # noqa: BLE001 - nothing is answered as done
            self._unwritten = pending
            _not_written(rounds, outcomes, error)
            return
        self._unwritten = []
        if self.on_published is not None and pending:
            self.on_published({m[0] for m in pending})
        finished = [f for handed in rounds for f in handed.finished]
        awaiting = [a for handed in rounds for a in handed.awaiting]
        told = [u for handed in rounds for u in handed.told]
        try:
            if finished or awaiting or told:
                if self._writer_log is None:
                    assert self._open_messages is not None
                    self._writer_log = self._open_messages()
                self._writer_log.finish_all(finished, awaiting, told)
        except BaseException as error:  # noqa: BLE001 - posted, but not recorded: not answered
            _not_written(rounds, outcomes, error)
            return
        _answer(outcomes)
        for handed in rounds:
            handed.done.set_result(None)

    def _made(
        self, messages: Iterable[tuple[str, str, bytes, int] | tuple[Handed, int]]
    ) -> list[tuple[str, str, bytes, int]]:
        """A round's messages with each ISO 20022 message's camt.054s made (on the writer's
        thread: taken from the renderer). camt.054s that cannot be made (a fault of this
        code, as it would have been on the hub's thread) are logged and left out: the
        payments they tell of are settled, and the round's other messages are written."""
        made: list[tuple[str, str, bytes, int]] = []
        for message in messages:
            if len(message) == 4:
                made.append(message)  # type: ignore[arg-type]
                continue
            handed, now = message
            try:
                responses = self.renderer.take(handed)  # type: ignore[arg-type]
            except Exception:
                log.exception("the camt.054s of an ISO 20022 message could not be made")
                continue
            mailboxes = handed.job.mailboxes  # type: ignore[union-attr]
            made += [(mailboxes[r.receiver], response_kind(r.name), r.data, now) for r in responses]
        return made

    def _notices(
        self, durable: DurableHub, extra: list[tuple[str, str, bytes] | Handed], now: int
    ) -> tuple[list[tuple[str, str, bytes]], int]:
        """The messages for the hub's events not yet handed over (after `extra`), and how
        many events that makes handed over."""
        if not durable.configured:
            return list(extra), self._events_handed
        hub = durable.hub
        events = hub.events
        start = min(self._events_handed, len(events))  # more only if the mailbox outlived it
        # Each notice is JSON text made from a template: the bytes `json.dumps` would give a
        # dict of the same items, at a fraction of the cost (bulk messages make thousands):
        # the UETRs and amounts as columns, the quoted status, reason and parties once each.
        entries = hub.engine.entries
        duplicate = Reason.DUPLICATE_UETR
        kept: list[tuple[Any, Payment]] = []
        for event in events[start:]:
            if event.status not in _NOTICE_STATUSES:
                continue
            entry = entries.get(event.uetr)
            if entry is None or entry.payment.uetr != event.uetr or event.reason is duplicate:
                continue  # another payment's event; a refused resend leaves the original be
            kept.append((event, entry.payment))
        uetrs = uuid_texts([event.uetr for event, _ in kept])
        amounts: list[str] = [""] * len(kept)
        by_currency: dict[str, list[int]] = {}
        for index, (_, payment) in enumerate(kept):
            by_currency.setdefault(payment.currency, []).append(index)
        for currency, indices in by_currency.items():
            money = self.registry.get(currency)
            texts = format_amounts([kept[i][1].amount for i in indices], money)
            for i, text in zip(indices, texts, strict=True):
                amounts[i] = text
        quoted: dict[int, str] = {}  # a status's or reason's JSON, by id(): no Enum hash
        tails: dict[tuple[str, str, str], str] = {}
        notices: dict[str, list[str]] = {}
        settled = Status.SETTLED
        for (event, payment), uetr, amount in zip(kept, uetrs, amounts, strict=True):
            status, reason = event.status, event.reason
            status_text = quoted.get(id(status))
            if status_text is None:
                status_text = quoted[id(status)] = _quoted(status.value)
            reason_text = quoted.get(id(reason))
            if reason_text is None:
                reason_text = quoted[id(reason)] = "null" if reason is None else _quoted(reason.iso)
            parties = (payment.currency, payment.debtor_agent, payment.creditor_agent)
            tail = tails.get(parties)
            if tail is None:
                tail = tails[parties] = _NOTICE_TAIL % tuple(map(_quoted, parties))
            notice = _NOTICE % (uetr, status_text, event.at_ns, reason_text, amount, tail)
            notices.setdefault(payment.debtor_agent, []).append(notice)
            if status is settled:
                notices.setdefault(payment.creditor_agent, []).append(notice)
        messages = list(extra)
        for participant, items in sorted(notices.items()):
            body = ('{"notices":[' + ",".join(items) + "]}").encode()
            messages.append((participant, "status", body))
        messages += self._camt054_outside(hub, start, now)
        messages += self._updates(hub, events, start, now)
        self._events_handed = len(events)
        return messages, len(events)

    def _camt054_outside(self, hub: Any, start: int, now: int) -> list[tuple[str, str, bytes]]:
        """The camt.054s, for the participants that asked for one for every settlement
        (`camt054_all`), of the settlements among the events from `start` that no ISO
        20022 message's processing made (those had theirs from the message): MsgIds from
        the position of the first event, so a restart makes the same again."""
        covered, self._covered = self._covered, []
        if not self.camt054_all:
            return []
        settled = Status.SETTLED
        outside = [
            event
            for index, event in enumerate(hub.events[start:], start)
            if event.status is settled and not any(a <= index < b for a, b in covered)
        ]
        if not outside:
            return []
        made = settlement_notifications(hub, outside, f"SMKE{start:012d}", now, self.camt054_all)
        return [(r.receiver, "camt.054", r.data) for r in made]

    def _updates(
        self, hub: Any, events: Sequence[Any], start: int, now: int
    ) -> list[tuple[str, str, bytes]]:
        """A pacs.002 to each sender whose message had transactions answered ACSP that
        reached a final status among the events from `start` (ACSC, or RJCT with the
        reason), one per original message: MsgIds from the position of the first event, so
        a restart that publishes these events again makes the same."""
        if not self.awaiting:
            return []
        awaiting, settled = self.awaiting, Status.SETTLED
        by_message: dict[tuple[str, str, str], list[StatusUpdate]] = {}
        for event in events[start:]:
            if event.status not in _FINAL_STATUSES or event.uetr not in awaiting:
                continue
            receiver, msg_id, kind, instruction, end_to_end = awaiting.pop(event.uetr)
            self._told.append(event.uetr)
            reason = event.reason
            code, text = (None, "") if reason is None else (reason.iso, reason.text)
            if event.status is Status.CANCELLED and reason is None:
                # A cancellation is no refusal and carries no Reason, but a RJCT needs one:
                # the code the resend of an interrupted message gives the same state.
                code, text = CANCELLED_CODE, f"payment is cancelled: {event.detail}"
            by_message.setdefault((receiver, msg_id, kind), []).append(StatusUpdate(
                instruction, end_to_end, uetr_text(event.uetr),
                "ACSC" if event.status is settled else "RJCT", code, text,
            ))  # fmt: skip
        made = status_updates(
            hub,
            [(r, m, k, updates) for (r, m, k), updates in sorted(by_message.items())],
            f"SMKU{start:012d}",
            now,
        )
        return [(r.receiver, "pacs.002", r.data) for r in made]

    def cover(self, start: int, end: int) -> None:
        """The hub's events from `start` to `end` were made while an ISO 20022 message was
        processed, whose responses carry their camt.054s (on the hub's thread)."""
        self._covered.append((start, end))


def _take_waiting(
    source: Any, limit: int, *, block: bool = True, timeout: float | None = None
) -> tuple[list[Any], bool]:
    """What waits in the queue `source`: the first item (waited for, if `block`, at most
    `timeout` seconds), then those already there, at most `limit`; and whether a None (stop)
    came after them."""
    try:
        first = source.get(block, timeout)
    except queue.Empty:
        return [], False
    if first is None:
        return [], True
    items = [first]
    while len(items) < limit:
        try:
            item = source.get_nowait()
        except queue.Empty:
            break
        if item is None:
            return items, True
        items.append(item)
    return items, False


def _not_written(
    rounds: list[_Handed], outcomes: list[tuple[Future, Any, BaseException | None]],
    error: BaseException,
) -> None:  # fmt: skip
    """The answers of `rounds` could not be written: their requests are told so (what they
    did is kept), and so is whoever waits for the rounds."""
    failure = AnswerNotWritten(f"the round's answers were not written: {error}")
    failure.__cause__ = error
    _answer([(f, None, failure) for f, _, _ in outcomes])
    for handed in rounds:
        handed.done.set_exception(failure)


def run_hub_clock(
    durable: DurableHub, now: int, stats: EngineStats | None = None, *, archive: bool = True
) -> bool:
    """What the hub's clock does at `now`, each step a logged command: `tick` once a
    payment waits for a time that has come (a queued cross-currency payment whose quoted
    rates stopped standing is rejected AB03 then, not settled later at rates nobody stands
    behind); then the close of each currency whose cut-off has come (`close_currency`: what
    still waits in it is rejected AB03 at its cut-off, not left queued until the operator's
    end of day); then, when `archive` and the calendar's `keep_days` make one due, the
    archive of the payments finished before the opening of the oldest day kept
    (`SettlementHub.archive`); then, once every currency's day is closed, the next business
    day of the hub's calendar opened when its opening has come (`open_day`, with the
    calendar's cut-off). Counts each step in `stats`; returns whether a day opened. A store failure
    raises (the hub is broken)."""
    stats = stats if stats is not None else EngineStats()
    engine = durable.hub.engine
    due = engine.next_due()
    if due is not None and due <= now:
        durable.tick(now)
        stats.ticks += 1
    for currency in engine.cut_offs_due(now):
        durable.close_currency(currency, now)
        stats.day_closes += 1
    before = durable.hub.archive_due() if archive else None
    if before is not None:
        done = durable.archive(before, now, ARCHIVE_SLICE)  # the rest in the next rounds
        if not isinstance(done, str) and done[2]:  # the last slice: one archive done
            stats.archives += 1
    day = next_calendar_day(durable.hub, now)
    if day is None or day.opening > now:
        return False
    cut_offs = {code: day.cut_off_of(code) for code in engine.cut_off_ns}
    resting = [code for code in day.resting if code in cut_offs]
    durable.open_day(cut_offs, now, day.date, resting)
    stats.day_opens += 1
    return True


def next_calendar_day(hub: SettlementHub, now: int) -> BusinessDay | None:
    """`SettlementHub.next_day` on the calendar's time zone: None also when this machine's
    tz database lacks the zone (the calendar then opens no day here)."""
    calendar = hub.calendar
    if calendar is None:
        return None
    try:
        zone = time_zone(calendar.zone)
    except ValueError:
        return None
    return hub.next_day(now, zone)


def _answer(outcomes: list[tuple[Future, Any, BaseException | None]]) -> None:
    """Answer each request still waiting: one whose waiter went away (its future cancelled,
    as `asyncio.wrap_future` does when the awaiting task is) is skipped, never an error
    that would stop the thread answering the others."""
    for future, result, failure in outcomes:
        if not future.set_running_or_notify_cancel():
            continue
        if failure is not None:
            future.set_exception(failure)
        else:
            future.set_result(result)


# A notice as `json.dumps` writes the dict {"uetr", "status", "at_ns", "reason", "amount",
# "currency", "debtor_agent", "creditor_agent"}; its tail (currency and parties) is made once
# per distinct value.
_NOTICE = '{"uetr":"%s","status":%s,"at_ns":%d,"reason":%s,"amount":"%s",%s'
_NOTICE_TAIL = '"currency":%s,"debtor_agent":%s,"creditor_agent":%s}'


@functools.lru_cache(maxsize=4_096)
def _quoted(text: str) -> str:
    """``text`` as a JSON string, as `json.dumps` writes it (codes and BICs repeat)."""
    return json.dumps(text)
