"""The settlement hub: bad input refused with its precise reason and nothing half-applied,
liquidity transfers, account opening, ledger batches cut at chain boundaries, and a property
over random business days that every hub call leaves the ledger and the queues sound."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import samarkand.hub.settlement as hub_module
from samarkand.hub.settlement import Liquidity, SettlementHub, chain_batches
from samarkand.ledger.invariants import problems
from samarkand.ledger.types import (
    BATCH_EVENTS_MAX,
    U128_MAX,
    AccountCode,
    Transfer,
    TransferFlags,
)
from samarkand.settlement import lsm
from samarkand.settlement.engine import Via
from samarkand.settlement.participants import account_id
from samarkand.settlement.payments import FINAL, Method, Reason, Status
from samarkand.store import DurableLedger, MemoryStore
from tests.settlement.conftest import (
    CNY,
    CUT_OFF_NS,
    INR,
    RUB,
    START_NS,
    A,
    B,
    C,
    D,
    Day,
    I,
    S,
    directory,
    generated_directory,
    open_hub,
    payment,
)

LINKED = int(TransferFlags.LINKED)
UNKNOWN = "UNKNCN22"  # a well-formed BIC of no participant

# ---------------------------------------------------------------------- bad payments

# (what is wrong, the payment, the reason, its ISO 20022 code)
BAD_PAYMENTS = [
    ("unknown debtor agent", payment(7, UNKNOWN, B, 10), Reason.DEBTOR_AGENT_UNKNOWN, "DNOR"),
    ("unknown creditor agent", payment(7, A, UNKNOWN, 10), Reason.CREDITOR_AGENT_UNKNOWN, "CNOR"),
    ("currency without ledger", payment(7, A, B, 10, "USD"), Reason.CURRENCY_NOT_ALLOWED, "AM03"),
    ("no account in currency", payment(7, A, B, 10, INR), Reason.NO_SETTLEMENT_ACCOUNT, "AC01"),
    ("amount zero", payment(7, A, B, 0), Reason.AMOUNT_NOT_POSITIVE, "AM01"),
    ("amount negative", payment(7, A, B, -5), Reason.AMOUNT_NOT_POSITIVE, "AM01"),
    ("amount not an int", payment(7, A, B, 10.0), Reason.AMOUNT_NOT_POSITIVE, "AM01"),  # type: ignore[arg-type]
    ("amount beyond u128", payment(7, A, B, U128_MAX + 1), Reason.AMOUNT_TOO_LARGE, "AM02"),
    ("latest before earliest", payment(7, A, B, 10, earliest_ns=500, latest_ns=400),
     Reason.SETTLEMENT_WINDOW_INVALID, "DT01"),
    ("latest already passed", payment(7, A, B, 10, latest_ns=START_NS),
     Reason.SETTLEMENT_WINDOW_INVALID, "DT01"),
    ("latest after cut-off", payment(7, A, B, 10, latest_ns=CUT_OFF_NS + 1),
     Reason.SETTLEMENT_WINDOW_INVALID, "DT01"),
    ("suspended debtor agent", payment(7, S, B, 10), Reason.PARTICIPANT_SUSPENDED, "AG01"),
    ("suspended creditor agent", payment(7, A, S, 10), Reason.PARTICIPANT_SUSPENDED, "AG01"),
    ("indirect pays its direct", payment(7, I, A, 10), Reason.SAME_AGENTS, "AG01"),
    # without the engine's UETR check these settled in the engine and then crashed the hub
    ("UETR negative", payment(-7, A, B, 10), Reason.UETR_INVALID, "FF01"),
    ("UETR beyond u128", payment(2**128 + 7, A, B, 10), Reason.UETR_INVALID, "FF01"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("bad", "reason", "iso"),
    [pytest.param(p, r, iso, id=name) for name, p, r, iso in BAD_PAYMENTS],
)
def test_bad_payment_is_rejected_with_its_reason_and_changes_nothing(
    day: Day, bad, reason: Reason, iso: str
) -> None:
    day.fund(A, 100)
    day.send(1, A, B, 500)  # something queued, which a half-applied rejection could disturb
    before = day.snapshot()

    assert day.send_all([bad]) == [reason]

    assert reason.iso == iso
    assert day.snapshot() == before
    assert bad.uetr not in day.engine.entries
    last = day.hub.events[-1]
    assert (last.uetr, last.status, last.reason) == (bad.uetr, Status.REJECTED, reason)
    assert day.problems() == []


def test_payment_after_cut_off_is_rejected(day: Day) -> None:
    day.fund(A, 100)
    before = day.snapshot()
    assert day.send(7, A, B, 10, at=CUT_OFF_NS) is Reason.AFTER_CUT_OFF
    assert Reason.AFTER_CUT_OFF.iso == "TM01"
    assert day.snapshot() == before
    assert 7 not in day.engine.entries


def test_duplicate_uetr_is_rejected_and_the_original_is_untouched(day: Day) -> None:
    day.fund(A, 100)
    day.send(1, A, B, 500)  # queued
    history = list(day.entry(1).history)
    original = day.entry(1).payment
    before = day.snapshot()

    assert day.send(1, A, C, 10) is Reason.DUPLICATE_UETR  # would settle if it were accepted
    assert day.send(1, A, B, 500) is Reason.DUPLICATE_UETR  # even identical

    assert Reason.DUPLICATE_UETR.iso == "DUPL"
    assert day.snapshot() == before
    assert day.entry(1).payment == original
    assert day.entry(1).history == history
    assert day.status(1) is Status.QUEUED


def test_duplicate_within_one_batch_keeps_the_first(day: Day) -> None:
    day.fund(A, 100)
    outcome = day.send_all([payment(1, A, B, 10), payment(1, A, C, 20)])
    assert outcome == [None, Reason.DUPLICATE_UETR]
    assert day.balances() == {A: 90, B: 10, C: 0, D: 0}


def test_batch_with_good_and_bad_payments_settles_the_good_ones(day: Day) -> None:
    day.fund(A, 100)
    outcome = day.send_all([payment(1, A, B, 10), payment(2, A, B, 0), payment(3, A, C, 20)])
    assert outcome == [None, Reason.AMOUNT_NOT_POSITIVE, None]
    assert day.balances() == {A: 70, B: 10, C: 20, D: 0}


# ---------------------------------------------------------------------- liquidity


def test_liquidity_in_and_out_moves_against_the_central_bank_mirror(day: Day) -> None:
    assert day.fund(A, 100) is None
    assert day.fund(D, 70, RUB) is None
    assert day.defund(A, 30) is None
    mirror = day.hub.directory.mirror_account(CNY)
    assert day.balance(A) == 70
    assert day.hub.ledger.balance(mirror).net_credit == -70
    assert day.balance(D, RUB) == 70
    assert day.problems() == []


def test_liquidity_out_beyond_the_balance_is_refused_and_changes_nothing(day: Day) -> None:
    day.fund(A, 100)
    before = day.snapshot()

    assert day.defund(A, 101) is Reason.INSUFFICIENT_FUNDS

    assert Reason.INSUFFICIENT_FUNDS.iso == "AM04"
    assert day.snapshot() == before
    assert day.balance(A) == 100


# (what is wrong, the liquidity transfer, the reason)
BAD_LIQUIDITY = [
    ("unknown participant", Liquidity(UNKNOWN, CNY, 10), Reason.DEBTOR_AGENT_UNKNOWN),
    ("indirect participant", Liquidity(I, CNY, 10), Reason.DEBTOR_AGENT_UNKNOWN),
    ("central bank", Liquidity("PBOCCNBJ", CNY, 10), Reason.DEBTOR_AGENT_UNKNOWN),
    ("currency without a central bank", Liquidity(A, INR, 10), Reason.CURRENCY_NOT_ALLOWED),
    ("currency without ledger", Liquidity(A, "USD", 10), Reason.CURRENCY_NOT_ALLOWED),
    ("amount zero", Liquidity(A, CNY, 0), Reason.AMOUNT_NOT_POSITIVE),
    ("amount negative", Liquidity(A, CNY, -1), Reason.AMOUNT_NOT_POSITIVE),
    ("amount beyond u128", Liquidity(A, CNY, U128_MAX + 1), Reason.AMOUNT_TOO_LARGE),
]


@pytest.mark.parametrize(
    ("bad", "reason"), [pytest.param(item, r, id=name) for name, item, r in BAD_LIQUIDITY]
)
def test_bad_liquidity_transfer_is_refused_and_the_good_ones_beside_it_apply(
    day: Day, bad: Liquidity, reason: Reason
) -> None:
    """`amount beyond u128` fails without the hub's bound check: the ledger refused the
    transfer and the hub raised after the good transfer beside it was already durable."""
    outcome = day.hub.liquidity([Liquidity(B, CNY, 5), bad], day.clock())
    assert outcome == [None, reason]
    assert day.balances() == {A: 0, B: 5, C: 0, D: 0}
    assert day.problems() == []


def test_liquidity_that_would_overflow_an_account_is_refused_not_a_crash(day: Day) -> None:
    """Fails without the hub mapping the ledger's overflow results to AM02."""
    assert day.fund(A, U128_MAX) is None
    before = day.snapshot()
    assert day.fund(B, 1) is Reason.AMOUNT_TOO_LARGE  # the mirror's debits would overflow
    assert day.snapshot() == before


# ---------------------------------------------------------------------- set-up


def test_open_accounts_creates_what_the_directory_implies_once() -> None:
    hub = SettlementHub(directory(), DurableLedger.open(MemoryStore()), cut_off_ns={})
    # CNY and RUB: mirror and clearing each; five direct banks (S too) in both; INR: nothing
    assert hub.open_accounts(START_NS, credit={(A, CNY): 250}) == 2 * 2 + 5 * 2
    assert hub.open_accounts(START_NS + 1) == 0
    state = hub.ledger.state
    settlement = hub.directory.settlement_account(hub.directory.get(A), CNY)
    assert state.account(settlement).limit == 250
    assert state.account(settlement).code == AccountCode.SETTLEMENT
    clearing = account_id(156, 1, AccountCode.CLEARING)
    assert hub.engine.clearing_account(CNY) == clearing
    assert state.account(clearing) is not None


def test_hub_reopened_on_the_same_ledger_continues_the_transfer_ids(day: Day) -> None:
    day.fund(A, 100)
    day.send(1, A, B, 40)
    again = Day(SettlementHub(directory(), day.hub.ledger, cut_off_ns={CNY: CUT_OFF_NS}))
    again.now = day.now
    assert again.fund(B, 10) is None  # an id reused would be refused as EXISTS_*
    assert again.send(2, B, C, 50) is None
    assert again.balances() == {A: 60, B: 0, C: 50, D: 0}
    assert again.problems() == []


# ---------------------------------------------------------------------- ledger batches


def chain(first_id: int, length: int) -> list[Transfer]:
    """A linked chain of `length` transfers (a single unlinked one when length is 1)."""
    return [
        Transfer(first_id + k, 1, 2, 1, 156, 1, flags=LINKED if k < length - 1 else 0)
        for k in range(length)
    ]


def chains(lengths: list[int]) -> list[Transfer]:
    transfers: list[Transfer] = []
    for length in lengths:
        transfers += chain(len(transfers) + 1, length)
    return transfers


def assert_well_cut(transfers: list[Transfer], batches: list[list[Transfer]], limit: int) -> None:
    assert [t for batch in batches for t in batch] == transfers
    for batch in batches:
        assert 0 < len(batch) <= limit
        assert not batch[-1].flags & LINKED  # no batch ends inside a chain


@pytest.mark.parametrize(
    ("lengths", "sizes"),
    [
        pytest.param([BATCH_EVENTS_MAX], [BATCH_EVENTS_MAX], id="one full chain"),
        pytest.param([BATCH_EVENTS_MAX - 1, 2], [BATCH_EVENTS_MAX - 1, 2], id="chain would cross"),
        pytest.param([1] * (BATCH_EVENTS_MAX + 1), [BATCH_EVENTS_MAX, 1], id="singles overflow"),
        pytest.param([4000, 4000, 4000], [8000, 4000], id="three chains"),
        pytest.param([3, BATCH_EVENTS_MAX, 3], [3, BATCH_EVENTS_MAX, 3], id="full chain inside"),
    ],
)
def test_chain_batches_never_splits_a_chain_nor_passes_the_batch_limit(lengths, sizes) -> None:
    transfers = chains(lengths)
    batches = chain_batches(transfers)
    assert_well_cut(transfers, batches, BATCH_EVENTS_MAX)
    assert [len(batch) for batch in batches] == sizes


def test_chain_batches_refuses_what_cannot_be_cut() -> None:
    with pytest.raises(ValueError, match="exceeds one batch"):
        chain_batches(chain(1, BATCH_EVENTS_MAX + 1))
    with pytest.raises(ValueError, match="open linked chain"):
        chain_batches(chain(1, 3)[:2])
    assert chain_batches([]) == []


@settings(max_examples=200, deadline=None, database=None)
@given(lengths=st.lists(st.integers(1, 10), max_size=30))
def test_chain_batches_cuts_random_chains_well_at_a_small_limit(lengths: list[int]) -> None:
    limit = 10
    transfers = chains(lengths)
    original = hub_module.BATCH_EVENTS_MAX
    hub_module.BATCH_EVENTS_MAX = limit  # a small limit makes every boundary case reachable
    try:
        batches = chain_batches(transfers)
    finally:
        hub_module.BATCH_EVENTS_MAX = original
    assert_well_cut(transfers, batches, limit)
    # greedy: a batch closes only when the next chain would not fit in it
    for batch, after in zip(batches, batches[1:], strict=False):
        first_chain = next(k for k, t in enumerate(after) if not t.flags & LINKED) + 1
        assert len(batch) + first_chain > limit


# ---------------------------------------------------------------------- random business days


@st.composite
def business_days(draw):
    banks = draw(st.integers(2, 5))
    currency_count = draw(st.integers(1, 2))
    directory_, bics, currencies = generated_directory(banks, currency_count)
    direct = bics[:-1]

    def settling(bic: str) -> str:
        return directory_.settling_participant(bic).bic

    credit = {
        (bic, currency): draw(st.sampled_from([0, 0, 0, 40]))
        for bic in direct
        for currency in currencies
    }
    # What a step does, weighted towards payments; then what it needs.
    kinds = ["send"] * 8 + ["fund"] * 3 + ["defund", "tick", "tick", "optimise", "optimise"]
    kinds += ["close", "cancel", "reorder", "duplicate"]
    steps = []
    for _ in range(draw(st.integers(5, 40))):
        kind = draw(st.sampled_from(kinds))
        currency = draw(st.sampled_from(currencies))
        target = draw(st.integers(0, 50))  # which accepted payment to act on
        by = draw(st.sampled_from([None, None, *bics]))  # None: the payment's debtor agent
        if kind == "send":
            debtor = draw(st.sampled_from(bics))
            # a bank settling on another account, or now and then on the same (refused)
            others = [bic for bic in bics if settling(bic) != settling(debtor)]
            creditor = draw(st.sampled_from([*others * 4, debtor]))
            steps.append(
                (
                    "send",
                    debtor,
                    creditor,
                    currency,
                    draw(st.sampled_from([5, 20, 60, 150])),  # coarse: queues form and clear
                    draw(st.booleans()),  # urgent
                    draw(st.sampled_from([False, False, False, True])),  # DNS
                    draw(st.sampled_from([0, 0, 0, 5, 30])),  # earliest, after now
                    draw(st.sampled_from([0, 0, 0, 10, 80])),  # latest, after earliest or now
                )
            )
        elif kind in ("fund", "defund"):
            amount = draw(st.sampled_from([10, 40, 100, 200]))
            steps.append((kind, draw(st.sampled_from(direct)), currency, amount))
        elif kind == "tick":
            steps.append(("tick", draw(st.integers(1, 60))))
        elif kind == "optimise":
            steps.append(("optimise", draw(st.booleans())))
        elif kind == "close":
            steps.append(("close", currency))
        elif kind == "reorder":
            steps.append(("reorder", target, by, draw(st.booleans())))
        elif kind == "duplicate":
            steps.append(("duplicate", target, by, currency))
        else:
            steps.append((kind, target, by))
    return directory_, currencies, credit, steps


class Model:
    """What the balances must be, computed from the liquidity applied and the payments the
    engine reports settled, independently of the ledger."""

    def __init__(self, day: Day, currencies: list[str], credit: dict) -> None:
        self.day = day
        self.currencies = currencies
        self.limit = {day.account(bic, cur): amount for (bic, cur), amount in credit.items()}
        self.liquidity: Counter[int] = Counter()  # settlement account -> net funded
        self.accepted: list[int] = []
        self.refused: list[int] = []

    def check(self) -> None:
        day, engine = self.day, self.day.engine
        state = day.hub.ledger.state
        assert problems(state) == []
        for currency in self.currencies:
            assert day.clearing(currency) == 0
        expected = Counter(self.liquidity)
        for uetr in self.accepted:
            entry = engine.entries[uetr]
            if entry.status is Status.SETTLED:
                expected[entry.sender] -= entry.amount
                expected[entry.receiver] += entry.amount
                assert (entry.via == Via.DNS) == (entry.payment.method is Method.DNS)
        for account, limit in self.limit.items():
            balance = state.balance(account).net_credit
            assert balance == expected[account]
            assert balance >= -limit
        for currency in self.currencies:
            mirror = day.hub.directory.mirror_account(currency)
            funded = sum(v for a, v in self.liquidity.items() if a >> 64 == mirror >> 64)
            assert state.balance(mirror).net_credit == -funded
        # FIFO at rest: no queue holds a head its sender could pay gross right now
        for account, queues in engine.queues.items():
            head = queues[0][0] if queues[0] else queues[1][0]
            assert engine.available(account) < head.amount, f"head {head.payment} fits"


def fifo_settleable(engine) -> list[int]:
    """UETRs that FIFO multilateral offsetting, run afresh on every queue, would settle."""
    found = []
    for ledger in sorted({entry.ledger for entry in engine.queued()}):
        ordered = [entry for entry in engine.queued() if entry.ledger == ledger]
        accounts = sorted({e.sender for e in ordered} | {e.receiver for e in ordered})
        index = {account: k for k, account in enumerate(accounts)}
        queue = lsm.Queue(
            sender=np.array([index[e.sender] for e in ordered], dtype=np.int64),
            receiver=np.array([index[e.receiver] for e in ordered], dtype=np.int64),
            amount=np.array([e.amount for e in ordered], dtype=np.int64),
            participants=len(accounts),
        )
        liquidity = np.array([max(0, engine.available(a)) for a in accounts], dtype=object)
        mask = lsm.fifo_offset(queue, liquidity)
        found += [e.payment.uetr for e, keep in zip(ordered, mask.tolist(), strict=True) if keep]
    return found


def run_day(directory_, currencies, credit, steps, model_checks: bool):
    day = Day(open_hub(directory_, currencies, credit))
    model = Model(day, currencies, credit)
    check = model.check if model_checks else (lambda: None)
    uetr = 0
    for step in steps:
        kind, *args = step
        if kind in ("fund", "defund"):
            bic, currency, amount = args
            outcome = getattr(day, kind)(bic, amount, currency)
            if outcome is None:
                sign = 1 if kind == "fund" else -1
                model.liquidity[day.account(bic, currency)] += sign * amount
        elif kind == "send":
            debtor, creditor, currency, amount, urgent, dns, earliest, latest = args
            uetr += 1
            now = day.now + 1
            earliest_ns = now + earliest if earliest else 0
            latest_ns = max(now, earliest_ns) + latest if latest else 0
            outcome = day.send(
                uetr,
                debtor,
                creditor,
                amount,
                currency,
                urgent=urgent,
                dns=dns,
                earliest_ns=earliest_ns,
                latest_ns=latest_ns,
            )
            (model.refused if outcome else model.accepted).append(uetr)
        elif kind == "tick":
            day.tick(day.now + args[0])
        elif kind == "optimise":
            day.optimise(non_fifo=args[0])
            if model_checks and not args[0]:
                assert fifo_settleable(day.engine) == []  # FIFO offsetting left nothing behind
        elif kind == "close":
            day.close_window(args[0])
        elif kind in ("cancel", "reorder", "duplicate") and model.accepted:
            target = model.accepted[args[0] % len(model.accepted)]
            by = args[1] or day.entry(target).payment.debtor_agent
            if kind == "cancel":
                day.cancel(target, by=by)
            elif kind == "reorder":
                day.reorder(target, by, to_front=args[2])
            else:
                assert day.send(target, by, A, 1, args[2]) is Reason.DUPLICATE_UETR
        check()
    day.end_of_day()
    check()
    return day, model


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=business_days())
def test_random_business_days_keep_the_ledger_and_the_queues_sound(scenario) -> None:
    directory_, currencies, credit, steps = scenario
    day, model = run_day(directory_, currencies, credit, steps, model_checks=True)

    # after the end of the day every accepted payment is final, exactly once
    assert not day.engine.queues and not day.engine.warehouse and not day.engine.dns_pending
    finals = Counter(
        event.uetr
        for event in day.hub.events
        if event.status in FINAL and event.reason is not Reason.DUPLICATE_UETR
    )
    for uetr in model.accepted:
        entry = day.engine.entries[uetr]
        assert entry.status in FINAL
        assert [e.status in FINAL for e in entry.history].count(True) == 1
        assert entry.history[-1].status is entry.status
        assert finals[uetr] == 1
    # a payment refused at entry leaves one rejection and nothing else behind
    for uetr in model.refused:
        assert uetr not in day.engine.entries
        assert [e.status for e in day.hub.events if e.uetr == uetr] == [Status.REJECTED]

    # the same day again decides the same, transfer for transfer (no hidden randomness)
    again, _ = run_day(directory_, currencies, credit, steps, model_checks=False)
    journal, journal_again = day.hub.ledger.state.journal, again.hub.ledger.state.journal
    assert journal.columns().to_transfers() == journal_again.columns().to_transfers()
    assert day.hub.events == again.hub.events
