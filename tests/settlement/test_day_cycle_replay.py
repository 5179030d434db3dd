"""Business days run on the hub's clock, driven at random: payments (queued, warehoused, with
deadlines, for DNS windows), cross-currency payments on a provider's tiers, cancellations,
priorities changed and queues reordered, liquidity and intraday credit, the clock's ticks,
each currency's close at its cut-off, end-of-day, open-day by hand and on a business
calendar, cut-offs and window schedules moved. The value each queue holds, kept by the
engine, always adds up. At any point the hub closed and opened again, from its log alone
and from its snapshot, is the hub it was: the same payments, queues, events, balances,
journal, days closed, cut-offs, calendar and schedules."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from samarkand.fx.routing import Quote
from samarkand.hub.calendar import BusinessCalendar
from samarkand.hub.durable import DurableHub
from samarkand.hub.settlement import Liquidity, QuoteRequest
from samarkand.hub.statements import StatementRefusal, StatementRefused, select_statement
from samarkand.ledger.columns import FIELD_NAMES
from samarkand.ledger.invariants import problems
from samarkand.ledger.state import PENDING, VOID
from samarkand.service.engine import run_hub_clock
from samarkand.settlement.net_details import NetDetailColumns
from samarkand.settlement.payments import FxPayment, Priority, Reason
from tests.settlement.conftest import payment
from tests.settlement.fx_world import (
    CNY,
    INR,
    LEDGERS,
    RUB,
    START_NS,
    A,
    B,
    C,
    P,
    fx_directory,
    tier,
)

SECOND = 10**9
HOUR = 3_600 * SECOND
PAIRS = ((CNY, RUB), (RUB, INR), (INR, CNY), (RUB, CNY))
CURRENCIES = (CNY, RUB, INR)
BANKS = (A, B, C)


def fingerprint(durable: DurableHub) -> dict:
    hub = durable.hub
    engine = hub.engine
    state = hub.ledger.state
    journal = state.journal.columns()
    return {
        "entries": {
            uetr: (e.status, e.settled_ns, e.via, e.sequence, e.received_ns, tuple(e.history))
            for uetr, e in engine.entries.items()
        },
        "queues": {s: [[e.payment.uetr for e in q] for q in qs] for s, qs in engine.queues.items()},
        "waiting": (list(engine.warehouse), list(engine.deadlines)),
        "dns": {c: [e.payment.uetr for e in q] for c, q in engine.dns_pending.items()},
        "queued_value": dict(engine.queued_value),
        "events": (hub.events.base, list(hub.events)),
        "archived": (
            {name: column.tolist() for name, column in engine.archived.columns.items()},
            list(engine.archived.names),
            list(engine.archived.vias),
            sorted(engine.archived.routes),
            engine.archived_before,
        ),
        "balances": {a.id: state.balance(a.id) for a in state.accounts},
        "journal": {name: getattr(journal, name).tolist() for name in FIELD_NAMES},
        "days": (
            sorted(engine.closed),
            sorted(engine.resting),
            dict(engine.cut_off_ns),
            engine.opened_ns,
            engine.business_date,
            list(engine.openings),
            list(engine.day_starts),
        ),
        "net_details": {
            name: getattr(engine.net_details.columns(), name).tolist()
            for name in NetDetailColumns.__dataclass_fields__
        },
        "calendar": hub.calendar,
        "windows": dict(engine.window_schedule),
        "fx": (
            {s: [[e.payment.uetr for e in q] for q in qs] for s, qs in engine.fx_queues.items()},
            sorted(map(repr, hub.book.tiers())),
            hub.quotes_issued,
            dict(hub.quote_owner),
        ),
        "commands": durable.commands,
    }


class DayCycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="day-cycle-"))
        self.store = str(self.folder / "hub.db")
        self.hub = DurableHub.open(self.store)
        first_cut_off = START_NS + 2 * 3_600 * SECOND  # the first day: 2 hours
        self.hub.configure(
            fx_directory(), cut_off_ns=dict.fromkeys(LEDGERS, first_cut_off), fx_providers={P: None}
        )
        self.hub.open_accounts(START_NS)
        funds = [Liquidity(bank, c, 3_000) for bank in (*BANKS, P) for c in CURRENCIES]
        self.hub.liquidity(funds, START_NS + 1)
        self.now = START_NS + 2
        self.uetr = 0

    def teardown(self) -> None:
        self.hub.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def engine(self):
        return self.hub.hub.engine

    @rule(
        payments=st.lists(
            st.tuples(
                st.sampled_from(BANKS), st.sampled_from(BANKS), st.sampled_from(CURRENCIES),
                st.integers(1, 4_000),
                st.sampled_from(["plain", "urgent", "dns", "later", "deadline"]),
            ),
            min_size=1, max_size=8,
        )
    )  # fmt: skip
    def pay(self, payments):
        """A round's payments, as one submit command."""
        self.now += 1
        made = []
        for debtor, creditor, currency, amount, kind in payments:
            if debtor == creditor:
                continue
            self.uetr += 1
            made.append(
                payment(
                    self.uetr,
                    debtor,
                    creditor,
                    amount,
                    currency,
                    urgent=kind == "urgent",
                    dns=kind == "dns",
                    earliest_ns=self.now + 30 * SECOND if kind == "later" else 0,
                    latest_ns=self.now + 90 * SECOND if kind == "deadline" else 0,
                )  # fmt: skip
            )
        if made:
            self.hub.submit(made, self.now)

    @rule(bank=st.sampled_from(BANKS), currency=st.sampled_from(CURRENCIES),
          amount=st.integers(1, 20_000))  # fmt: skip
    def fund(self, bank, currency, amount):
        self.now += 1
        self.hub.liquidity([Liquidity(bank, currency, amount)], self.now)

    @rule(step=st.sampled_from([SECOND, 45 * SECOND, 3_600 * SECOND, 9 * 3_600 * SECOND]))
    def advance(self, step):
        """Time passes: the hub's clock runs as the service runs it in a round."""
        self.now += step
        run_hub_clock(self.hub, self.now)

    @rule(rate=st.sampled_from(["12.5", "0.08", "1.28"]), pair=st.sampled_from(PAIRS),
          hours=st.integers(1, 48))  # fmt: skip
    def post_tier(self, rate, pair, hours):
        self.now += 1
        post = tier(P, pair[0], pair[1], rate, liquidity=50_000, until=self.now + hours * HOUR)
        self.hub.post_tiers([post], self.now)

    @rule(
        debtor=st.sampled_from(BANKS), creditor=st.sampled_from(BANKS),
        pair=st.sampled_from(PAIRS), amount=st.integers(1, 4_000),
        seconds=st.sampled_from([5, 600]),
    )  # fmt: skip
    def pay_across(self, debtor, creditor, pair, amount, seconds):
        """A quote, then a payment citing it (queued when the debtor lacks the money; its
        rates stand only until the quote's tiers end)."""
        self.now += 1
        request = QuoteRequest(debtor, pair[0], pair[1], amount, None, seconds * SECOND)
        quoted = self.hub.request_quote(request, self.now)
        if debtor == creditor or not isinstance(quoted, Quote):
            return
        self.uetr += 1
        self.now += 1
        self.hub.submit_fx([FxPayment(self.uetr, debtor, creditor, quoted.id)], self.now)

    @rule(pick=st.integers(0, 10**6))
    def cancel(self, pick):
        """The debtor cancels one of its payments (queued: cancelled; else refused)."""
        if not self.uetr:
            return
        uetr = pick % self.uetr + 1
        entry = self.engine.entries.get(uetr)
        if entry is not None:
            self.now += 1
            self.hub.cancel(uetr, entry.payment.debtor_agent, self.now)

    @rule(pick=st.integers(0, 10**6), urgent=st.booleans(), to_front=st.booleans())
    def rearrange(self, pick, urgent, to_front):
        """The debtor changes one payment's priority, then moves one in its queue."""
        if not self.uetr:
            return
        for uetr in (pick % self.uetr + 1, (pick // 7) % self.uetr + 1):
            entry = self.engine.entries.get(uetr)
            if entry is None:
                continue
            self.now += 1
            priority = Priority.URGENT if urgent else Priority.NORMAL
            self.hub.reprioritise(uetr, entry.payment.debtor_agent, priority, self.now)
            self.hub.reorder(uetr, entry.payment.debtor_agent, to_front=to_front, now=self.now)

    @rule(bank=st.sampled_from(BANKS), currency=st.sampled_from(CURRENCIES),
          limit=st.integers(0, 10_000))  # fmt: skip
    def credit(self, bank, currency, limit):
        self.now += 1
        central_bank = self.hub.hub.directory.central_bank_of[currency].bic
        self.hub.set_credit(bank, currency, limit, self.now, by_central_bank=central_bank)

    @rule()
    def optimise(self):
        self.now += 1
        self.hub.optimise(self.now, non_fifo=False)

    @rule()
    def end_of_day(self):
        self.now += 1
        self.hub.end_of_day(self.now, non_fifo=False)

    @precondition(lambda self: not self.engine.waiting)
    @rule(hours=st.integers(1, 30))
    def open_day(self, hours):
        self.now += 1
        self.hub.open_day(dict.fromkeys(self.engine.cut_off_ns, self.now + hours * 3_600 * SECOND),
                          self.now)  # fmt: skip

    @rule(currency=st.sampled_from(CURRENCIES), minutes=st.integers(1, 600))
    def move_cut_off(self, currency, minutes):
        self.now += 1
        self.hub.set_cut_off(currency, self.now + minutes * 60 * SECOND, self.now)

    @rule(currency=st.sampled_from(CURRENCIES), every=st.sampled_from([0, 60, 600]))
    def windows(self, currency, every):
        self.now += 1
        self.hub.schedule_windows(currency, every * SECOND, self.now)

    @rule(
        opens=st.integers(0, 23), cut_off=st.integers(0, 23),
        zone=st.sampled_from(["UTC", "Asia/Tashkent", "Asia/Kolkata"]),
        weekdays=st.sets(st.integers(1, 7), min_size=1),
    )  # fmt: skip
    def calendar(self, opens, cut_off, zone, weekdays):
        if opens == cut_off:
            return
        self.now += 1
        calendar = BusinessCalendar(opens * 60, cut_off * 60, zone, tuple(sorted(weekdays)))
        assert self.hub.set_calendar(calendar, self.now) is None

    @rule(
        hours=st.integers(8, 20),
        rub_days=st.sets(st.integers(1, 7), min_size=1),
        inr_off=st.sets(st.integers(0, 3)),
        keep=st.one_of(st.none(), st.integers(0, 2)),
    )  # fmt: skip
    def calendar_soon(self, hours, rub_days, inr_off, keep):
        """Every day opening at the next full hour of UTC's clock, RUB cutting off earlier
        than the others and settling on `rub_days` only, INR resting on the days `inr_off`
        ahead; the payments of all but the last `keep` past days archived."""
        self.now += 1
        opens = (self.now // (3_600 * SECOND) + 1) % 24
        # RUB's own cut-off halfway through the day, when it falls on the cut-off's date.
        halfway = opens + hours // 2
        rub = ((RUB, halfway % 24 * 60),) if (halfway >= 24) == (opens + hours >= 24) else ()
        today = datetime.fromtimestamp(self.now // SECOND, UTC).date()
        inr = tuple(sorted((today + timedelta(days=d)).isoformat() for d in inr_off))
        calendar = BusinessCalendar(
            opens * 60, (opens + hours) % 24 * 60, "UTC", (1, 2, 3, 4, 5, 6, 7), (), rub,
            ((RUB, tuple(sorted(rub_days))),), ((INR, inr),), keep,
        )  # fmt: skip
        assert self.hub.set_calendar(calendar, self.now) is None

    @rule(back=st.integers(0, 3), limit=st.one_of(st.none(), st.integers(1, 3)))
    def archive(self, back, limit):
        """The operator archives the payments final before the opening of a day `back`
        days ago, or the `limit` oldest of them (refused, and nothing logged, when that is
        not a past day's)."""
        self.now += 1
        openings = self.engine.openings
        before = openings[-1 - back] if len(openings) > back else self.now
        commands = self.hub.commands
        done = self.hub.archive(before, self.now, limit)
        if isinstance(done, str):
            assert self.hub.commands == commands
        else:
            assert (self.engine.archived_before >= before) is done[2]
            if done[0]:
                event("payments archived")

    @precondition(lambda self: len(self.engine.archived))
    @rule(pick=st.integers(0, 10**6), bank=st.sampled_from(BANKS))
    def resend(self, pick, bank):
        """An archived payment's UETR sent again: DUPL, and the original stays archived."""
        columns = self.engine.archived.columns
        at = pick % len(self.engine.archived)
        uetr = (int(columns["hi"][at]) << 64) | int(columns["lo"][at])
        self.now += 1
        other = BANKS[(BANKS.index(bank) + 1) % len(BANKS)]
        (outcome,) = self.hub.submit([payment(uetr, bank, other, 1, CNY)], self.now)
        assert outcome is Reason.DUPLICATE_UETR
        event("an archived UETR sent again")
        assert uetr not in self.engine.entries and self.engine.find(uetr) is not None

    @rule()
    def no_calendar(self):
        self.now += 1
        assert self.hub.set_calendar(None, self.now) is None

    @rule()
    def reopen(self):
        before = fingerprint(self.hub)
        self.hub.close()  # writes a snapshot
        with DurableHub.open(self.store, snapshots=False) as replayed:
            assert replayed.replay_errors == []
            assert fingerprint(replayed) == before
        self.hub = DurableHub.open(self.store)
        assert self.hub.restored_from > 0  # from the close's snapshot
        assert fingerprint(self.hub) == before

    @rule(bank=st.sampled_from((*BANKS, P)), currency=st.sampled_from(CURRENCIES))
    def statements_meet(self, bank, currency):
        """The statements of an account, date after date from the first to the day after
        the hub's clock: each opens with the closing balance of the one before, every
        posting is on exactly one, the last closes with the ledger's balance, and a net
        posting's payments add up to it (`select_statement` checks). Dates after the
        calendar's day still open have none yet (refused), and no date after such a one has."""
        directory = self.hub.hub.directory
        account = directory.settlement_account(directory.get(bank), currency)
        state = self.hub.durable_ledger.state
        last = datetime.fromtimestamp(max(self.now, state.timestamp) // SECOND, UTC).date()
        day, previous, listed = datetime(1970, 1, 1, tzinfo=UTC), None, []
        not_begun = []
        while day.date() <= last + timedelta(days=1):
            try:
                rows = select_statement(self.hub, account, day)
            except StatementRefused as refused:
                assert refused.refusal is StatementRefusal.DAY_NOT_BEGUN, refused
                event("a date no day has reached yet")
                not_begun.append(day)
                day += timedelta(days=1)
                continue
            assert not not_begun, (not_begun, day)  # dates only go forward
            if previous is not None:
                assert (rows.opening, rows.start_ns) == (previous.closing, previous.end_ns)
            if rows.batches:
                event("a statement with a batch entry")
            listed += rows.transfer_ids
            previous, day = rows, day + timedelta(days=1)
        assert previous is not None and previous.closing == state.balance(account).net_credit
        journal = state.journal.columns()
        posting = (journal.flags.astype(np.int64) & (PENDING | VOID)) == 0
        mine = (journal.debit_account_id == account) | (journal.credit_account_id == account)
        assert sorted(listed) == sorted(journal.id[posting & mine].tolist())

    @invariant()
    def ledger_holds(self):
        assert problems(self.hub.hub.ledger.state) == []

    @invariant()
    def a_resting_currency_stays_closed(self):
        """A currency its calendar rests today takes no payment all day: its day is closed
        from the opening on, and nothing waits in it."""
        engine = self.engine
        if engine.resting:
            event("a currency rests")
        assert engine.resting <= engine.closed
        ledgers = {engine.directory.ledgers[code] for code in engine.resting}
        assert not any(engine.queued_per_ledger.get(ledger) for ledger in ledgers)

    @invariant()
    def queued_values_add_up(self):
        """What the engine keeps of each queue's value is what its payments add up to."""
        engine = self.engine
        values: dict[int, int] = {}
        for queues in (engine.queues, engine.fx_queues):
            for sender, classes in queues.items():
                for queue in classes:
                    for entry in queue:
                        values[sender] = values.get(sender, 0) + entry.amount
        assert engine.queued_value == values


DayCycle.TestCase.settings = settings(max_examples=30, stateful_step_count=50, deadline=None)
test_business_days_replay_as_they_ran = DayCycle.TestCase
