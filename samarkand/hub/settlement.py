"""The settlement pipeline: the engine's decisions made durable through the ledger.

The hub is the only place that strings the domain together (DESIGN §3). Each operation
asks the engine to decide, drains its transfers and events, and applies the transfers to
the durable ledger in batches cut at linked-chain boundaries; an operation returns only once
its batches are committed, so nothing it reports is lost.
"""

from __future__ import annotations

import bisect
import contextlib
import operator
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Any

import numpy as np

from samarkand.fx.book import PostResult, RateBook
from samarkand.fx.pvp import PartyRole, route_legs
from samarkand.fx.quotes import IssueResult, QuoteRegistry
from samarkand.fx.rates import RateError, RateTier, format_rate, parse_rate
from samarkand.fx.routing import Quote, QuoteRefusal, QuoteResult, quote
from samarkand.hub.calendar import BusinessCalendar, BusinessDay
from samarkand.hub.quiet import quiet_stdout
from samarkand.ledger import Account, AccountFlags, CreateAccountResult, Transfer
from samarkand.ledger.columns import TransferColumns
from samarkand.ledger.types import (
    BATCH_EVENTS_MAX,
    U128_MAX,
    AccountCode,
    CreateTransferResult,
    LimitChange,
    SetLimitResult,
    TransferCode,
    TransferFlags,
)
from samarkand.money import MoneyError, default_registry
from samarkand.settlement.crosscurrency import Draw, FxRoute, RouteLeg, make_route
from samarkand.settlement.engine import SettlementEngine
from samarkand.settlement.participants import (
    Directory,
    Participant,
    ParticipantKind,
    ParticipantStatus,
    account_id,
)
from samarkand.settlement.payments import Event, FxPayment, Payment, Priority, Reason
from samarkand.store import DurableLedger

# A balance would pass 2**128 - 1: the amount is too large for the account, not a bug.
_OVERFLOWS = frozenset(
    {
        CreateTransferResult.OVERFLOWS_DEBITS_POSTED,
        CreateTransferResult.OVERFLOWS_CREDITS_POSTED,
        CreateTransferResult.OVERFLOWS_DEBITS,
        CreateTransferResult.OVERFLOWS_CREDITS,
    }
)


class LedgerRefused(RuntimeError):
    """The ledger refused a transfer the engine decided: the engine and ledger disagree (a
    bug), so the hub stops rather than report something that did not happen."""


@dataclass(frozen=True, slots=True)
class Liquidity:
    """A liquidity transfer between a direct participant and its central bank."""

    bic: str
    currency: str
    amount: int
    into_hub: bool = True  # True: funds the settlement account; False: drains it


QUOTE_TTL_NS_DEFAULT = 60 * 1_000_000_000  # a quote binds a payment for a minute
QUOTE_TTL_NS_MAX = 24 * 3600 * 1_000_000_000

# How a refused quote request reads to the participant (ISO 20022 codes in `Reason`).
QUOTE_REASONS: dict[QuoteResult, Reason] = {
    QuoteResult.BOTH_OR_NEITHER_AMOUNT: Reason.FX_AMOUNT_INVALID,
    QuoteResult.NOT_POSITIVE: Reason.FX_AMOUNT_INVALID,
    QuoteResult.AMOUNT_TOO_LARGE: Reason.AMOUNT_TOO_LARGE,
    QuoteResult.UNKNOWN_CURRENCY: Reason.CURRENCY_NOT_ALLOWED,
    QuoteResult.SAME_CURRENCY: Reason.FX_SAME_CURRENCY,
    QuoteResult.NO_ROUTE: Reason.FX_NO_ROUTE,
    QuoteResult.FORBIDDEN_VEHICLE: Reason.FX_FORBIDDEN_VEHICLE,
    QuoteResult.CURRENCY_RESTING: Reason.CURRENCY_RESTING,
    QuoteResult.AMOUNT_OUTSIDE_TIERS: Reason.FX_AMOUNT_OUTSIDE_TIERS,
    QuoteResult.INSUFFICIENT_PROVIDER_LIQUIDITY: Reason.FX_PROVIDER_LIQUIDITY,
}


QUEUE_LIMIT_MAX = 100_000_000  # payments waiting per currency; the engine keeps each in memory
DAY_NS = 24 * 3600 * 1_000_000_000  # a cut-off moves within the day: at most this far ahead

# A provider's register entry: the unordered currency pairs it may post tiers on, each as
# (lower code, higher code); None: every pair of currencies it holds accounts in.
Pairs = frozenset[tuple[str, str]]


def currency_pair(a: str, b: str) -> tuple[str, str]:
    """The unordered pair of two currencies, as the register keeps it."""
    return (a, b) if a <= b else (b, a)


def provider_refusal(
    directory: Directory, bic: str, pairs: Collection[tuple[str, str]] | None
) -> Reason | None:
    """Why `bic` may not be registered as an FX provider (for `pairs`, or for all its
    currencies when None): it must be a direct participant (PROVIDER_NOT_DIRECT, AG01),
    and each pair two different currencies (FX_SAME_CURRENCY) that the hub settles
    (CURRENCY_NOT_ALLOWED, AM03). A suspended participant may be registered: suspension
    already refuses its tiers, and is lifted without registering it again."""
    participant = directory.get(bic) if type(bic) is str else None
    if participant is None or participant.kind is not ParticipantKind.DIRECT:
        return Reason.PROVIDER_NOT_DIRECT
    for pair in pairs or ():
        if type(pair) is not tuple or len(pair) != 2:
            return Reason.CURRENCY_NOT_ALLOWED
        for currency in pair:
            if type(currency) is not str or currency not in directory.central_bank_of:
                return Reason.CURRENCY_NOT_ALLOWED
        if pair[0] == pair[1]:
            return Reason.FX_SAME_CURRENCY
    return None


def queue_limit_problem(limit: int) -> str | None:
    if type(limit) is not int or not 1 <= limit <= QUEUE_LIMIT_MAX:
        return f"the queue limit is a whole number from 1 to {QUEUE_LIMIT_MAX:,}"
    return None


def _pairs(pairs: Collection[tuple[str, str]] | None) -> Pairs | None:
    return None if pairs is None else frozenset(currency_pair(a, b) for a, b in pairs)


@dataclass(frozen=True, slots=True)
class TierPost:
    """An FX provider's offer as it sends it: the rate as decimal text (see `parse_rate`),
    amounts in minor units (band in `sell`, liquidity in `buy`), validity in ns."""

    provider: str
    sell: str
    buy: str
    min_amount: int
    max_amount: int
    rate: str
    liquidity: int
    valid_from_ns: int
    valid_until_ns: int

    def tier(self) -> RateTier | Reason:
        """The tier this post offers, with its rate parsed exactly; or why it is refused."""
        try:
            rate = parse_rate(self.rate) if type(self.rate) is str else None
        except RateError:
            rate = None
        if rate is None:
            return Reason.RATE_INVALID
        try:
            return RateTier(
                self.provider,
                self.sell,
                self.buy,
                self.min_amount,
                self.max_amount,
                rate,
                self.liquidity,
                self.valid_from_ns,
                self.valid_until_ns,
            )
        except ValueError:
            return Reason.TIER_INVALID


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    """ "Send `send_amount` of `source`" or "deliver `deliver_amount` of `destination`"."""

    bic: str
    source: str
    destination: str
    send_amount: int | None = None
    deliver_amount: int | None = None
    ttl_ns: int = QUOTE_TTL_NS_DEFAULT


class SettlementHub:
    """The pipeline (module docstring) with the hub's FX state: the rate book, the quotes
    issued and, when configured with one, the operator's register of FX providers.

    `fx_providers`: None is the open policy, the only one before the register existed:
    every active direct participant with accounts in both currencies posts tiers. A mapping
    (empty or not) is the register: only the BICs in it post tiers, each on its pairs (None:
    on every pair of its currencies). Raises ValueError for an entry `provider_refusal`
    refuses.
    """

    def __init__(
        self,
        directory: Directory,
        ledger: DurableLedger,
        *,
        cut_off_ns: dict[str, int],
        fx_providers: Mapping[str, Collection[tuple[str, str]] | None] | None = None,
    ) -> None:
        self.directory = directory
        self.ledger = ledger
        ids = ledger.state.journal.columns().id
        first_id = int(ids.max()) + 1 if len(ids) else 1
        self.engine = SettlementEngine(
            directory, ledger.state, cut_off_ns=cut_off_ns, first_transfer_id=first_id
        )
        self.events = EventLog()
        self.clock = 0  # the latest `now` any operation ran at
        self.book = RateBook(default_registry())
        self.quotes = QuoteRegistry()
        self.quote_owner: dict[int, str] = {}  # quote id -> settling BIC it was issued to
        self.quotes_issued = 0  # quote ids are 1, 2, ... in the order quotes are given
        self.last_quotes: list[Quote | Reason] = []
        self.providers: dict[str, Pairs | None] | None = None
        # The business days the hub's clock opens (`open_day`) once every currency's day is
        # closed; None: only the operator opens a day.
        self.calendar: BusinessCalendar | None = None
        if fx_providers is not None:
            self.providers = {}
            for bic, pairs in sorted(fx_providers.items()):
                refused = provider_refusal(directory, bic, pairs)
                if refused is not None:
                    raise ValueError(f"FX provider {bic!r}: {refused.text}")
                self.providers[bic] = _pairs(pairs)

    # ------------------------------------------------------------------ set-up

    def open_accounts(self, now: int, credit: dict[tuple[str, str], int] | None = None) -> int:
        """Create every account the directory implies that does not exist yet: each central
        bank's mirror and clearing accounts, each direct participant's settlement account in
        every currency (with the intraday credit its central bank grants). Returns how many
        were created."""
        credit = credit or {}
        wanted: list[Account] = []
        for currency, ledger in sorted(self.directory.ledgers.items()):
            central_bank = self.directory.central_bank_of.get(currency)
            if central_bank is None:
                continue
            for code in (AccountCode.MIRROR, AccountCode.CLEARING):
                wanted.append(
                    Account(
                        account_id(ledger, central_bank.number, code),
                        ledger,
                        code,
                        user_data=central_bank.number,
                    )
                )
        for participant in self.directory.direct():
            for currency, ledger in sorted(self.directory.ledgers.items()):
                if currency not in self.directory.central_bank_of:
                    continue
                wanted.append(
                    Account(
                        self.directory.settlement_account(participant, currency),
                        ledger,
                        AccountCode.SETTLEMENT,
                        flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
                        user_data=participant.number,
                        limit=credit.get((participant.bic, currency), 0),
                    )
                )
        missing = [a for a in wanted if self.ledger.state.account(a.id) is None]
        for start in range(0, len(missing), BATCH_EVENTS_MAX):
            results, _ = self.ledger.create_accounts(missing[start : start + BATCH_EVENTS_MAX], now)
            refused = [r for r in results if r != CreateAccountResult.OK]
            if refused:
                raise LedgerRefused(f"accounts refused: {sorted({r.name for r in refused})}")
        return len(missing)

    # ------------------------------------------------------------------ operations

    def liquidity_refusal(self, item: Liquidity) -> Reason | None:
        """Why a liquidity transfer is refused before the ledger is asked (None: the ledger
        decides); nothing changes. A durable hub logs no command all of whose transfers this
        refuses."""
        participant = self.directory.get(item.bic)
        if participant is None or participant.kind is not ParticipantKind.DIRECT:
            return Reason.DEBTOR_AGENT_UNKNOWN
        if item.currency not in self.directory.central_bank_of:
            return Reason.CURRENCY_NOT_ALLOWED
        if type(item.amount) is not int or item.amount <= 0:
            return Reason.AMOUNT_NOT_POSITIVE
        if item.amount > U128_MAX:
            return Reason.AMOUNT_TOO_LARGE
        return None

    def liquidity(self, transfers: Sequence[Liquidity], now: int) -> list[Reason | None]:
        """Liquidity transfers (camt.050): each either applied or refused with a reason."""
        outcome: list[Reason | None] = []
        batch: list[Transfer] = []
        positions: list[int] = []
        for index, item in enumerate(transfers):
            refused = self.liquidity_refusal(item)
            if refused is not None:
                outcome.append(refused)
                continue
            participant = self.directory.get(item.bic)
            assert participant is not None  # `liquidity_refusal` found it
            mirror = self.directory.mirror_account(item.currency)
            account = self.directory.settlement_account(participant, item.currency)
            debit, credit = (mirror, account) if item.into_hub else (account, mirror)
            batch.append(
                Transfer(
                    self.engine.new_transfer_id(),
                    debit,
                    credit,
                    item.amount,
                    self.directory.ledgers[item.currency],
                    TransferCode.LIQUIDITY,
                )
            )
            positions.append(index)
            outcome.append(None)
        if batch:
            results, _ = self.ledger.apply(batch, now)
            for position, result, transfer in zip(positions, results.tolist(), batch, strict=True):
                if result == CreateTransferResult.EXCEEDS_CREDITS:
                    outcome[position] = Reason.INSUFFICIENT_FUNDS
                elif result in _OVERFLOWS:
                    outcome[position] = Reason.AMOUNT_TOO_LARGE
                elif result != CreateTransferResult.OK:
                    raise LedgerRefused(
                        f"liquidity transfer refused: {CreateTransferResult(result).name}"
                    )
                elif transfer.credit_account_id != self.directory.mirror_account(
                    transfers[position].currency
                ):
                    self.engine.liquidity_increased(transfer.credit_account_id)
        self.engine.release(now)
        self._commit(now)
        return outcome

    def credit_refusal(
        self, bic: str, currency: str, limit: int, *, by_central_bank: str
    ) -> Reason | None:
        """Why `set_credit` refuses before the ledger is asked (None: the ledger decides
        whether the credit covers what is used); nothing changes. A durable hub logs no
        command that this refuses."""
        central_bank = self.directory.central_bank_of.get(currency)
        if central_bank is None:
            return Reason.CURRENCY_NOT_ALLOWED
        if by_central_bank != central_bank.bic:
            return Reason.NOT_CENTRAL_BANK
        participant = self.directory.get(bic)
        if participant is None or participant.kind is not ParticipantKind.DIRECT:
            return Reason.NO_SETTLEMENT_ACCOUNT
        if type(limit) is not int or limit < 0:
            return Reason.CREDIT_INVALID
        if limit > U128_MAX:
            return Reason.AMOUNT_TOO_LARGE
        account = self.directory.settlement_account(participant, currency)
        if self.ledger.state.account(account) is None:
            return Reason.NO_SETTLEMENT_ACCOUNT
        return None

    def set_credit(
        self, bic: str, currency: str, limit: int, now: int, *, by_central_bank: str
    ) -> Reason | None:
        """Set the intraday credit of `bic`'s settlement account in `currency` to `limit`.

        Only the central bank that issues `currency` grants credit in it. The credit may fall
        no lower than what the participant already uses (CREDIT_BELOW_USE); a refusal changes
        nothing. A raise lets the participant's queued payments that now fit settle at once.
        """
        refused = self.credit_refusal(bic, currency, limit, by_central_bank=by_central_bank)
        if refused is not None:
            return refused
        participant = self.directory.get(bic)
        assert participant is not None  # `credit_refusal` found it
        account = self.directory.settlement_account(participant, currency)
        before = self.ledger.state.account(account)
        assert before is not None  # `credit_refusal` found it
        (result,), _ = self.ledger.set_limits([LimitChange(account, limit)], now)
        if result == SetLimitResult.LIMIT_BELOW_USE:
            return Reason.CREDIT_BELOW_USE
        if result != SetLimitResult.OK:
            raise LedgerRefused(f"credit limit refused: {SetLimitResult(result).name}")
        if limit > before.limit:
            self.engine.liquidity_increased(account)
        self.engine.release(now)
        self._commit(now)
        return None

    def submit(self, payments: Sequence[Payment], now: int) -> list[Reason | None]:
        outcome = self.engine.submit(payments, now)
        self._commit(now)
        return outcome

    def tick(self, now: int) -> None:
        self.engine.tick(now)
        self._commit(now)

    def optimise(self, now: int, *, non_fifo: bool = False) -> int:
        with quiet_stdout() if non_fifo else contextlib.nullcontext():
            settled = self.engine.optimise(now, non_fifo=non_fifo)
        self._commit(now)
        return settled

    def close_window(self, currency: str, now: int) -> tuple[int, list[int]]:
        result = self.engine.close_window(currency, now)
        self._commit(now)
        return result

    def end_of_day(self, now: int, *, non_fifo: bool = True) -> int:
        with quiet_stdout() if non_fifo else contextlib.nullcontext():
            rejected = self.engine.end_of_day(now, non_fifo=non_fifo)
        self._commit(now)
        self.forget_expired(now)
        return rejected

    def forget_expired(self, now: int) -> int:
        """Forget the quotes expired at or before `now` (they bind nothing any more), and
        the counts of the commitments that neither a standing tier, a quote left nor a
        queued payment holds (`SettlementEngine.forget_commitments`): what bounds both to
        what may still be drawn. Run at `end_of_day` and when a business day opens
        (`DurableHub.open_day`), each a logged command with its `now`, so a replay forgets
        the same. Returns the quotes forgotten."""
        forgotten = self.quotes.prune(now)
        self.quote_owner = {q: bic for q, bic in self.quote_owner.items() if self.quotes.get(q)}
        held = self.book.commitments()
        held.update(h.commitment for q in self.quotes.issued() for h in q.hops if h.commitment)
        self.engine.forget_commitments(held)
        return forgotten

    def close_currency(self, currency: str, now: int) -> int:
        """`currency`'s end of day at its cut-off (`SettlementEngine.close_currency`): what
        still waits in it is rejected AB03. Returns payments rejected."""
        with quiet_stdout():
            rejected = self.engine.close_currency(currency, now)
        self._commit(now)
        return rejected

    def cancel(self, uetr: int, by_bic: str, now: int) -> Reason | None:
        reason = self.engine.cancel(uetr, by_bic, now)
        self._commit(now)
        return reason

    def reorder(self, uetr: int, by_bic: str, *, to_front: bool, now: int) -> Reason | None:
        reason = self.engine.reorder(uetr, by_bic, to_front=to_front, now=now)
        self._commit(now)
        return reason

    def reprioritise(self, uetr: int, by_bic: str, priority: Priority, now: int) -> Reason | None:
        reason = self.engine.reprioritise(uetr, by_bic, priority, now)
        self._commit(now)
        return reason

    # ------------------------------------------------------------------ FX

    def post_tiers(
        self, posts: Sequence[TierPost], now: int, *, counted: bool = True
    ) -> list[Reason | None]:
        """Providers' rate tiers: each posted (None; a provider's tier for the same pair and
        band replaces its earlier one) or refused with a reason. A provider is an active
        direct participant with settlement accounts in both currencies and, on a hub with a
        register, registered for the pair (else PROVIDER_NOT_REGISTERED, AG01).

        Each tier posted is a new commitment of its liquidity in total, counted from zero
        as the legs of quotes on it settle (`samarkand.fx.book`). `counted=False` only for
        the replay of a log written before the count existed: its tiers' liquidity bounds
        each quote alone, as it did then."""
        outcome: list[Reason | None] = []
        for post in posts:
            reason = self._check_provider(post.provider, (post.sell, post.buy))
            if reason is None and not self.registered(post.provider, post.sell, post.buy):
                reason = Reason.PROVIDER_NOT_REGISTERED
            if reason is None:
                tier = post.tier()
                if isinstance(tier, Reason):
                    reason = tier
                elif self.book.post(tier, counted=counted) not in (
                    PostResult.POSTED,
                    PostResult.REPLACED,
                ):
                    reason = Reason.TIER_INVALID
            outcome.append(reason)
        self.clock = max(self.clock, now)
        return outcome

    def registered(self, bic: str, sell: str, buy: str) -> bool:
        """Whether the register lets `bic` post tiers selling `sell` for `buy` (always, under
        the open policy)."""
        if self.providers is None:
            return True
        if bic not in self.providers:
            return False
        pairs = self.providers[bic]
        return pairs is None or currency_pair(sell, buy) in pairs

    def register_provider(
        self, bic: str, pairs: Collection[tuple[str, str]] | None, now: int
    ) -> Reason | int:
        """Register `bic` as an FX provider on `pairs` (unordered; None: every pair of its
        currencies), replacing an earlier registration: its standing tiers on pairs it is no
        longer registered for are withdrawn. Returns how many were, or why it is refused.
        Only a hub configured with a register (`fx_providers`) has one: on an open-policy
        hub this is a caller's error (ValueError)."""
        if self.providers is None:
            raise ValueError("the hub was configured without a register of FX providers")
        refused = provider_refusal(self.directory, bic, pairs)
        if refused is not None:
            return refused
        kept = _pairs(pairs)
        self.providers[bic] = kept
        self.clock = max(self.clock, now)
        return 0 if kept is None else self.book.withdraw_provider(bic, keep=kept)

    def deregister_provider(self, bic: str, now: int) -> Reason | int:
        """Take `bic` off the register and withdraw its standing tiers; returns how many.
        Quotes already issued on its tiers still bind a payment until they expire (the
        provider committed to those rates); to stop them, the operator suspends it."""
        if self.providers is None:
            raise ValueError("the hub was configured without a register of FX providers")
        if bic not in self.providers:
            return Reason.PROVIDER_NOT_REGISTERED
        del self.providers[bic]
        self.clock = max(self.clock, now)
        return self.book.withdraw_provider(bic)

    def corridor_refusal(self, source: str, destination: str) -> Reason | None:
        """Why (`source`, `destination`) is no corridor: both must be currencies the hub
        settles (CURRENCY_NOT_ALLOWED), and different (FX_SAME_CURRENCY)."""
        for currency in (source, destination):
            if type(currency) is not str or currency not in self.directory.central_bank_of:
                return Reason.CURRENCY_NOT_ALLOWED
        if source == destination:
            return Reason.FX_SAME_CURRENCY
        return None

    def set_vehicle_corridor(
        self, source: str, destination: str, allowed: bool, now: int
    ) -> Reason | bool:
        """Allow (or forbid) routes from `source` to `destination` through a vehicle-only
        currency (USD, EUR). One direction; both currencies must be settled by the hub.
        Returns whether the policy changed, or why it is refused. Quotes already issued keep
        their routes."""
        refused = self.corridor_refusal(source, destination)
        if refused is not None:
            return refused
        try:
            changed = self.book.set_vehicle_corridor(source, destination, bool(allowed))
        except MoneyError:
            return Reason.CURRENCY_NOT_ALLOWED
        self.clock = max(self.clock, now)
        return changed

    def cut_off_problem(self, currency: str, cut_off_ns: int, now: int) -> Reason | str | None:
        """Why `currency`'s cut-off may not move to `cut_off_ns` at `now`: the currency is
        not settled here (CURRENCY_NOT_ALLOWED), or the time is not within the day ahead
        (in words)."""
        if type(currency) is not str or currency not in self.engine.cut_off_ns:
            return Reason.CURRENCY_NOT_ALLOWED
        if currency in self.engine.resting:
            return "the currency does not settle on this business day (its calendar rests it)"
        if type(cut_off_ns) is not int or cut_off_ns <= now:
            return "the cut-off is not in the future"
        if cut_off_ns > now + DAY_NS:
            return "the cut-off moves within the day: at most 24 hours ahead"
        return None

    def set_cut_off(self, currency: str, cut_off_ns: int, now: int) -> Reason | str | None:
        """Move one currency's cut-off within the day (see `cut_off_problem`). The engine
        reads cut-offs at intake: from the new time on, payments in the currency are refused
        TM01 (AFTER_CUT_OFF) and a latest settlement time past it DT01. Payments already
        queued stay queued until the cut-off, when `close_currency` (the service's clock)
        or `end_of_day` rejects AB03 what still waits; a currency whose day closed opens
        again until its new cut-off."""
        problem = self.cut_off_problem(currency, cut_off_ns, now)
        if problem is not None:
            return problem
        self.engine.cut_off_ns[currency] = cut_off_ns
        self.engine.closed.discard(currency)  # closed at its cut-off: open again until then
        self.clock = max(self.clock, now)
        return None

    def set_calendar(self, calendar: BusinessCalendar | None, now: int) -> None:
        """Open business days on `calendar` (on the hub's clock), or only when the operator
        asks (None)."""
        self.calendar = calendar
        self.clock = max(self.clock, now)

    def next_day(self, now: int, zone: tzinfo) -> BusinessDay | None:
        """The business day of the calendar that the hub's clock opens next, once every
        currency's day is closed: due when its opening is not after `now`. A day opened
        already is not opened again (an operator who closed it early keeps it closed). None
        without a calendar, while a currency's day is open or while a payment waits.
        `zone`: the calendar's time zone."""
        engine = self.engine
        if self.calendar is None or not engine.day_closed or engine.waiting:
            return None
        currencies = frozenset(engine.cut_off_ns)
        return self.calendar.next_day(now, zone, opened=engine.opened_ns, currencies=currencies)

    def archive_problem(self, before_ns: int) -> str | None:
        """Why the payments final before `before_ns` may not be archived (in words): that
        time must be a past day's, no later than the opening of the business day under way
        (whose payments the hub keeps whole)."""
        opened = self.engine.opened_ns
        if type(before_ns) is not int or before_ns <= 0:
            return "the time before which payments are archived is a positive number of ns"
        if opened is None or before_ns > opened:
            return "only payments of past days are archived: at most the opening of this day"
        return None

    def archive_due(self) -> int | None:
        """The time before which the calendar's `keep_days` has the payments archived, when
        that is later than the last archive's; else None."""
        openings, keep = (
            self.engine.openings,
            None if self.calendar is None else self.calendar.keep_days,
        )
        if keep is None or len(openings) <= keep:
            return None
        before = openings[-1 - keep]
        return before if before > self.engine.archived_before else None

    def archive(self, before_ns: int, now: int, limit: int | None = None) -> tuple[int, int, bool]:
        """Move the payments final before `before_ns` out of memory, at most `limit` of them
        (`archive_problem` says when it may not): the engine keeps them as columns
        (`SettlementEngine.archive`) and the events made before it are dropped (their
        positions stay counted). Returns how many payments and events, and whether every
        payment final before then is archived."""
        problem = self.archive_problem(before_ns)
        if problem is not None:
            raise ValueError(problem)
        payments, finished = self.engine.archive(before_ns, limit)
        events = self.events.drop_before(before_ns)
        self.clock = max(self.clock, now)
        return payments, events, finished

    def set_queue_limit(self, limit: int, now: int) -> str | None:
        """Set the engine's queue limit: how many payments may wait in each currency's
        queues, and in the cross-currency queues together. A payment that would pass it is
        refused AG01 (QUEUE_FULL); lowering it below what waits refuses new payments only."""
        problem = queue_limit_problem(limit)
        if problem is not None:
            return problem
        self.engine.queue_limit = limit
        self.clock = max(self.clock, now)
        return None

    def _check_provider(self, bic: str, currencies: Sequence[str]) -> Reason | None:
        participant = self.directory.get(bic) if type(bic) is str else None
        if (
            participant is None
            or participant.kind is not ParticipantKind.DIRECT
            or participant.status is ParticipantStatus.SUSPENDED
        ):
            return Reason.PROVIDER_NOT_DIRECT
        for currency in currencies:
            if type(currency) is not str or currency not in self.directory.central_bank_of:
                return Reason.CURRENCY_NOT_ALLOWED
            account = self.directory.settlement_account(participant, currency)
            if self.ledger.state.account(account) is None:
                return Reason.NO_SETTLEMENT_ACCOUNT
        if len(set(currencies)) != len(currencies):
            return Reason.FX_SAME_CURRENCY
        return None

    def request_quotes(
        self, requests: Sequence[QuoteRequest], now: int, *, skip_suspended: bool = True
    ) -> list[Quote | Reason]:
        """Answer quote requests in order (see `request_quote`); the answers are also kept in
        `last_quotes` until the next call. No route goes through a suspended provider, whose
        payments `submit_fx` refuses (AG01); ``skip_suspended`` False only for a command log
        written before that, whose quotes replay as they were issued."""
        self.clock = max(self.clock, now)
        book = self.book
        if skip_suspended:
            suspended = [
                p.bic
                for p in self.directory.by_bic.values()
                if p.status is ParticipantStatus.SUSPENDED
            ]
            if suspended:
                book = book.without_providers(frozenset(suspended))
        self.last_quotes = [self._quote(request, now, book) for request in requests]
        return self.last_quotes

    def request_quote(self, request: QuoteRequest, now: int) -> Quote | Reason:
        """The best route for the request, as a quote bound to the requesting agent until
        `now + ttl_ns`; or why none is given. Issuing a quote moves no money."""
        return self.request_quotes([request], now)[0]

    def _quote(self, request: QuoteRequest, now: int, book: RateBook) -> Quote | Reason:
        participant = self.directory.settling_participant(request.bic)
        if participant is None:
            return Reason.DEBTOR_AGENT_UNKNOWN
        if participant.status is ParticipantStatus.SUSPENDED:
            return Reason.PARTICIPANT_SUSPENDED
        for currency in (request.source, request.destination):
            if currency not in self.directory.central_bank_of:
                return Reason.CURRENCY_NOT_ALLOWED
            if currency in self.engine.resting:
                return Reason.CURRENCY_RESTING
        for amount in (request.send_amount, request.deliver_amount):
            if amount is not None and (type(amount) is not int or amount <= 0):
                return Reason.FX_AMOUNT_INVALID
        if type(request.ttl_ns) is not int or not 0 < request.ttl_ns <= QUOTE_TTL_NS_MAX:
            return Reason.SETTLEMENT_WINDOW_INVALID
        found = quote(
            book,
            source=request.source,
            destination=request.destination,
            send_amount=request.send_amount,
            deliver_amount=request.deliver_amount,
            now=now,
            quote_id=self.quotes_issued + 1,
            ttl_ns=request.ttl_ns,
            resting=frozenset(self.engine.resting),
            paid=self.engine.tier_paid,
        )
        if isinstance(found, QuoteRefusal):
            return QUOTE_REASONS[found.result]
        if self.quotes.issue(found) is not IssueResult.ISSUED:
            return Reason.QUEUE_FULL  # the registry is full: no quote until it is pruned
        self.quote_owner[found.id] = participant.bic
        self.quotes_issued += 1
        return found

    def submit_fx(self, payments: Sequence[FxPayment], now: int) -> list[Reason | None]:
        """Cross-currency payments, each citing a quote: refused with a reason (the quote
        stays unused), or accepted (None) and the quote redeemed, then settled at once or
        queued by the engine (`SettlementEngine.submit_fx`)."""
        outcome: list[Reason | None] = []
        for payment in payments:
            checked = self.engine.check_fx(payment) or self._fx_route(payment, now)
            if isinstance(checked, Reason):
                self.engine.refuse(payment.uetr, checked, now)
                outcome.append(checked)
                continue
            (reason,) = self.engine.submit_fx([(payment, checked)], now)
            if reason is None:
                redeemed = self.quotes.redeem(checked.quote_id, now)
                if not isinstance(redeemed, Quote):  # _fx_route checked every way it fails
                    raise AssertionError(f"quote {checked.quote_id}: {redeemed}")
            outcome.append(reason)
        self._commit(now)
        return outcome

    def _fx_route(self, payment: FxPayment, now: int) -> Reason | FxRoute:
        """The route of the quote `payment` cites, between the agents' accounts; or why the
        quote may not bind it."""
        found = self.quotes.get(payment.quote_id) if type(payment.quote_id) is int else None
        if found is None:
            return Reason.QUOTE_UNKNOWN
        debtor = self.directory.settling_participant(payment.debtor_agent)
        creditor = self.directory.settling_participant(payment.creditor_agent)
        assert debtor is not None and creditor is not None  # check_fx passed
        if self.quote_owner.get(found.id) != debtor.bic:
            return Reason.QUOTE_NOT_OWNER
        if self.quotes.is_used(found.id):
            return Reason.QUOTE_USED
        if not found.created_ns <= now < found.expires_ns:
            return Reason.QUOTE_EXPIRED
        provider_accounts: dict[tuple[str, str], int] = {}
        for hop in found.hops:
            reason = self._check_provider(hop.provider, (hop.sell, hop.buy))
            if reason is not None:
                return reason
            provider = self.directory.get(hop.provider)
            assert provider is not None
            for currency in (hop.sell, hop.buy):
                provider_accounts[(hop.provider, currency)] = self.directory.settlement_account(
                    provider, currency
                )
        if not {found.source, found.destination} <= self.directory.central_bank_of.keys():
            return Reason.CURRENCY_NOT_ALLOWED
        legs = route_legs(
            found,
            payer=debtor.bic,
            payee=creditor.bic,
            payer_account=self.directory.settlement_account(debtor, found.source),
            payee_account=self.directory.settlement_account(creditor, found.destination),
            provider_accounts=provider_accounts,
            ledgers=self.directory.ledgers,
        )
        route_legs_ = [
            RouteLeg(
                leg.index,
                leg.currency,
                leg.ledger,
                leg.debit_account_id,
                leg.credit_account_id,
                leg.amount,
                leg.debtor,
                leg.creditor,
                provider_pays=leg.debtor_role is PartyRole.PROVIDER,
                provider_receives=leg.creditor_role is PartyRole.PROVIDER,
            )
            for leg in legs
        ]
        return make_route(
            found.id,
            found.source,
            found.destination,
            found.send_amount,
            found.deliver_amount,
            route_legs_,
            found.rates_valid_until_ns,
            draws=[
                Draw(hop.commitment, hop.buy_amount, hop.liquidity)
                for hop in found.hops
                if hop.commitment
            ],
            description=describe_route(found, route_legs_),
            quote=found,
        )

    # ------------------------------------------------------------------ participants

    def set_status(self, bic: str, status: ParticipantStatus) -> None:
        """Suspend or reinstate a participant: a suspended one's new payments are refused
        (AG01); what it already queued stays queued."""
        before = self.directory.by_bic[bic]
        after = replace(before, status=status)
        self.directory.by_bic[bic] = after
        self.directory.by_number[before.number] = after

    def admit(self, participant: Participant, ledger: int, now: int) -> int:
        """Add an approved participant to the directory and open its accounts; a central bank
        brings its currency (ledger `ledger`, the same cut-off as the others). Returns how many
        accounts were opened."""
        directory = self.directory
        if participant.kind is ParticipantKind.CENTRAL_BANK:
            directory.ledgers[participant.home_currency] = ledger
        directory._check(participant)
        directory.by_bic[participant.bic] = participant
        directory.by_number[participant.number] = participant
        if participant.kind is ParticipantKind.CENTRAL_BANK:
            directory.central_bank_of[participant.home_currency] = participant
            self.engine.currency_of_ledger[ledger] = participant.home_currency
            self.engine.cut_off_ns[participant.home_currency] = max(
                self.engine.cut_off_ns.values(), default=now
            )
        return self.open_accounts(now)

    # ------------------------------------------------------------------ commit

    def _commit(self, now: int) -> None:
        self.clock = max(self.clock, now)
        transfers, events = self.engine.drain()
        for batch in chain_batches(transfers):
            results, _ = self.ledger.apply(batch, now)
            if np.any(results != CreateTransferResult.OK):
                first = int(np.flatnonzero(results != CreateTransferResult.OK)[0])
                refused = (
                    batch.transfer_at(first) if isinstance(batch, TransferColumns) else batch[first]
                )
                raise LedgerRefused(
                    f"transfer {refused.id} refused: "
                    f"{CreateTransferResult(int(results[first])).name}"
                )
        self.events.extend(events)


_AT_NS = operator.attrgetter("at_ns")


class EventLog:
    """The hub's events in order, each at its position since the hub began (what notices
    and MsgIds are numbered by); the first `base` of them archived, out of memory. Reads as
    the list of them all, but an archived position is an `IndexError`."""

    __slots__ = ("base", "kept")

    def __init__(self) -> None:
        self.base = 0
        self.kept: list[Event] = []

    def __len__(self) -> int:
        return self.base + len(self.kept)

    def __iter__(self) -> Iterator[Event]:
        """The events kept (those not archived)."""
        return iter(self.kept)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EventLog):
            return (self.base, self.kept) == (other.base, other.kept)
        return NotImplemented

    def __getitem__(self, key: int | slice) -> Any:
        if isinstance(key, slice):
            if key.step not in (None, 1):
                raise ValueError("events are read in order")
            start = self.base if key.start is None else self._kept_at(key.start)
            stop = len(self) if key.stop is None else self._kept_at(key.stop)
            return self.kept[start - self.base : max(start, stop) - self.base]
        return self.kept[self._kept_at(key) - self.base]

    def extend(self, events: Iterable[Event]) -> None:
        self.kept.extend(events)

    def drop_before(self, at_ns: int) -> int:
        """Archive the events made before `at_ns` (they are in time order); returns how many."""
        count = bisect.bisect_left(self.kept, at_ns, key=_AT_NS)
        del self.kept[:count]
        self.base += count
        return count

    def _kept_at(self, position: int) -> int:
        """`position` (negative: from the end) as a position since the hub began."""
        at = position + len(self) if position < 0 else position
        if at < self.base:
            raise IndexError(f"event {position} is archived (the first kept is {self.base})")
        return min(at, len(self))


def describe_route(found: Quote, legs: Sequence[RouteLeg]) -> str:
    """The legs of a cross-currency payment, for its history: currency, amount, who pays
    whom, and each provider's rate."""
    rates = ", ".join(f"{h.provider} {h.sell}/{h.buy} {format_rate(h.rate)}" for h in found.hops)
    text = "; ".join(
        f"leg {leg.index} {leg.currency} {leg.amount} minor units {leg.debtor} -> {leg.creditor}"
        for leg in legs
    )
    return f"quote {found.id}: {text}; rates {rates}"


def chain_batches(
    transfers: Sequence[Transfer | TransferColumns],
) -> list[list[Transfer] | TransferColumns]:
    """Split transfers into ledger batches of at most 8,190, never inside a linked chain. A
    block of columns (payments settled gross at once, none linked) is cut where a batch fills
    up, exactly as its transfers one by one would be; a batch holding any of a block is one
    set of columns."""
    batches: list[list[Transfer | TransferColumns]] = []
    current: list[Transfer | TransferColumns] = []
    size = 0  # transfers in `current`
    chain: list[Transfer] = []
    linked = int(TransferFlags.LINKED)
    for item in transfers:
        if isinstance(item, TransferColumns):
            if chain:
                raise ValueError("a block of columns inside an open linked chain")
            start = 0
            while start < len(item):
                if size == BATCH_EVENTS_MAX:
                    batches.append(current)
                    current, size = [], 0
                stop = min(len(item), start + BATCH_EVENTS_MAX - size)
                current.append(item if (start, stop) == (0, len(item)) else item.take(
                    slice(start, stop)))  # fmt: skip
                size += stop - start
                start = stop
            continue
        chain.append(item)
        if item.flags & linked:
            continue
        if size + len(chain) > BATCH_EVENTS_MAX:
            batches.append(current)
            current, size = [], 0
        if len(chain) > BATCH_EVENTS_MAX:
            raise ValueError(f"a linked chain of {len(chain)} transfers exceeds one batch")
        current.extend(chain)
        size += len(chain)
        chain = []
    if chain:
        raise ValueError("transfers end inside an open linked chain")
    if current:
        batches.append(current)
    return [_one_batch(batch) for batch in batches]


def _one_batch(items: list[Transfer | TransferColumns]) -> list[Transfer] | TransferColumns:
    """A batch as the ledger takes it: its transfers, or one set of columns when it holds a
    block (the transfers around the block joined to it, in order)."""
    if not any(isinstance(item, TransferColumns) for item in items):
        return items  # type: ignore[return-value]
    parts: list[TransferColumns] = []
    singles: list[Transfer] = []
    for item in items:
        if isinstance(item, TransferColumns):
            if singles:
                parts.append(TransferColumns.from_transfers(singles))
                singles = []
            parts.append(item)
        else:
            singles.append(item)
    if singles:
        parts.append(TransferColumns.from_transfers(singles))
    return TransferColumns.concat(parts)
