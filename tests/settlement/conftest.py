"""Fixtures of the settlement tests: a small hub on an in-memory store, and a `Day` to drive it.

The directory of `day`:

    CNY  issued by PBOCCNBJ (People's Bank of China)      ledger 156
    RUB  issued by CBRFRUMM (Bank of Russia)              ledger 643
    INR  has a ledger but no central bank, so no one holds an account in it
    A, B, C (China), D (Russia)   direct banks, one settlement account per currency each
    I                             an indirect bank that settles through A
    S                             a direct bank, suspended

Every call of the `Day` advances its clock by one nanosecond unless the test names the time,
so a scenario reads as a list of what happens, in order.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from samarkand.hub.settlement import Liquidity, SettlementHub
from samarkand.ledger.invariants import problems
from samarkand.settlement.engine import Entry, SettlementEngine
from samarkand.settlement.participants import (
    Directory,
    Participant,
    ParticipantKind,
    ParticipantStatus,
)
from samarkand.settlement.payments import Method, Payment, Priority, Reason, Status
from samarkand.store import DurableLedger, MemoryStore

CNY, RUB, INR = "CNY", "RUB", "INR"
LEDGERS = {CNY: 156, RUB: 643, INR: 356}
PBOC, BANK_OF_RUSSIA = "PBOCCNBJ", "CBRFRUMM"
A, B, C, D = "SMAACN22", "SMABCN22", "SMACCN22", "SMADRU22"
I = "SMIACN22"  # noqa: E741 - the indirect bank, as the scenarios name it
S = "SMASCN22"
DIRECT = (A, B, C, D)
CUT_OFF_NS = 1_000_000
START_NS = 10

_KIND = ParticipantKind


def directory() -> Directory:
    return Directory(
        [
            Participant(PBOC, "People's Bank of China", "CN", _KIND.CENTRAL_BANK, 1, CNY),
            Participant(BANK_OF_RUSSIA, "Bank of Russia", "RU", _KIND.CENTRAL_BANK, 2, RUB),
            Participant(A, "Bank A", "CN", _KIND.DIRECT, 11, CNY),
            Participant(B, "Bank B", "CN", _KIND.DIRECT, 12, CNY),
            Participant(C, "Bank C", "CN", _KIND.DIRECT, 13, CNY),
            Participant(D, "Bank D", "RU", _KIND.DIRECT, 14, RUB),
            Participant(I, "Bank I (through A)", "CN", _KIND.INDIRECT, 21, CNY, via=A),
            Participant(
                S, "Bank S", "CN", _KIND.DIRECT, 15, CNY, status=ParticipantStatus.SUSPENDED
            ),
        ],
        LEDGERS,
    )


def generated_directory(banks: int, currencies: int) -> tuple[Directory, list[str], list[str]]:
    """A directory of `banks` direct banks (the last one also has an indirect bank behind it)
    and `currencies` currencies, each with its central bank. Returns it, the BICs of the
    direct and indirect banks, and the currency codes."""
    codes = [CNY, RUB][:currencies]
    participants = [
        Participant(bic, bic, bic[4:6], _KIND.CENTRAL_BANK, number, code)
        for number, (bic, code) in enumerate(
            zip((PBOC, BANK_OF_RUSSIA)[:currencies], codes, strict=True), start=1
        )
    ]
    bics = [f"SMA{chr(ord('A') + k)}CN22" for k in range(banks)]
    participants += [
        Participant(bic, bic, "CN", _KIND.DIRECT, 11 + k, CNY) for k, bic in enumerate(bics)
    ]
    participants.append(Participant(I, I, "CN", _KIND.INDIRECT, 99, CNY, via=bics[-1]))
    return Directory(participants, {code: LEDGERS[code] for code in codes}), [*bics, I], codes


class Day:
    """One business day of a hub, with the helpers the scenarios speak in."""

    def __init__(self, hub: SettlementHub) -> None:
        self.hub = hub
        self.now = START_NS

    @property
    def engine(self) -> SettlementEngine:
        return self.hub.engine

    def clock(self, at: int | None = None) -> int:
        if at is None:
            self.now += 1
        else:
            assert at >= self.now, f"time runs forward: {at} < {self.now}"
            self.now = at
        return self.now

    # ------------------------------------------------------------------ acting

    def fund(
        self, bic: str, amount: int, currency: str = CNY, at: int | None = None
    ) -> Reason | None:
        """A liquidity transfer into `bic`'s settlement account; its outcome."""
        (outcome,) = self.hub.liquidity([Liquidity(bic, currency, amount)], self.clock(at))
        return outcome

    def defund(
        self, bic: str, amount: int, currency: str = CNY, at: int | None = None
    ) -> Reason | None:
        """A liquidity transfer out of `bic`'s settlement account; its outcome."""
        (outcome,) = self.hub.liquidity(
            [Liquidity(bic, currency, amount, into_hub=False)], self.clock(at)
        )
        return outcome

    def send(
        self,
        uetr: int,
        debtor: str,
        creditor: str,
        amount: int,
        currency: str = CNY,
        *,
        urgent: bool = False,
        dns: bool = False,
        earliest_ns: int = 0,
        latest_ns: int = 0,
        at: int | None = None,
    ) -> Reason | None:
        """Submit one payment; None if accepted, else the reason it was rejected."""
        (outcome,) = self.send_all(
            [
                payment(
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
            ],
            at=at,
        )
        return outcome

    def send_all(self, payments: Iterable[Payment], at: int | None = None) -> list[Reason | None]:
        return self.hub.submit(list(payments), self.clock(at))

    def optimise(self, non_fifo: bool = False, at: int | None = None) -> int:
        return self.hub.optimise(self.clock(at), non_fifo=non_fifo)

    def tick(self, at: int) -> None:
        self.hub.tick(self.clock(at))

    def close_window(self, currency: str = CNY, at: int | None = None) -> tuple[int, list[int]]:
        return self.hub.close_window(currency, self.clock(at))

    def cancel(self, uetr: int, by: str, at: int | None = None) -> Reason | None:
        return self.hub.cancel(uetr, by, self.clock(at))

    def reorder(self, uetr: int, by: str, *, to_front: bool) -> Reason | None:
        return self.hub.reorder(uetr, by, to_front=to_front, now=self.clock())

    def end_of_day(self, at: int = CUT_OFF_NS) -> int:
        return self.hub.end_of_day(self.clock(at))

    # ------------------------------------------------------------------ looking

    def account(self, bic: str, currency: str = CNY) -> int:
        directory = self.hub.directory
        return directory.settlement_account(directory.settling_participant(bic), currency)

    def balance(self, bic: str, currency: str = CNY) -> int:
        """What `bic`'s settlement account holds (posted credits minus posted debits)."""
        return self.hub.ledger.balance(self.account(bic, currency)).net_credit

    def balances(self, currency: str = CNY) -> dict[str, int]:
        return {bic: self.balance(bic, currency) for bic in DIRECT}

    def clearing(self, currency: str = CNY) -> int:
        return self.hub.ledger.balance(self.engine.clearing_account(currency)).net_credit

    def entry(self, uetr: int) -> Entry:
        return self.engine.entries[uetr]

    def status(self, uetr: int) -> Status:
        return self.engine.entries[uetr].status

    def statuses(self, *uetrs: int) -> list[Status]:
        return [self.status(uetr) for uetr in uetrs]

    def history(self, uetr: int) -> list[Status]:
        return [event.status for event in self.engine.entries[uetr].history]

    def queue(self, bic: str, currency: str = CNY) -> list[int]:
        """UETRs queued by `bic`'s settlement account, urgent first, in FIFO order."""
        queues = self.engine.queues.get(self.account(bic, currency), ([], []))
        return [entry.payment.uetr for queue in queues for entry in queue]

    def snapshot(self) -> tuple[int, dict[int, tuple[int, int, int, int]], int, int]:
        """Journal length, every account's balance, entries and queued payments: what a
        rejected request must leave exactly as it was."""
        state = self.hub.ledger.state
        balances = {account.id: _balance_tuple(state, account.id) for account in state.accounts}
        queued = sum(len(q) for qs in self.engine.queues.values() for q in qs)
        return len(state.journal), balances, len(self.engine.entries), queued

    def problems(self) -> list[str]:
        return problems(self.hub.ledger.state)


def _balance_tuple(state, account_id: int) -> tuple[int, int, int, int]:
    balance = state.balance(account_id)
    return (
        balance.debits_pending,
        balance.debits_posted,
        balance.credits_pending,
        balance.credits_posted,
    )


def payment(
    uetr: int,
    debtor: str,
    creditor: str,
    amount: int,
    currency: str = CNY,
    *,
    urgent: bool = False,
    dns: bool = False,
    earliest_ns: int = 0,
    latest_ns: int = 0,
) -> Payment:
    return Payment(
        uetr,
        debtor,
        creditor,
        amount,
        currency,
        priority=Priority.URGENT if urgent else Priority.NORMAL,
        method=Method.DNS if dns else Method.RTGS,
        earliest_ns=earliest_ns,
        latest_ns=latest_ns,
    )


def open_hub(
    directory: Directory,
    currencies: Iterable[str],
    credit: dict[tuple[str, str], int] | None = None,
) -> SettlementHub:
    hub = SettlementHub(
        directory,
        DurableLedger.open(MemoryStore()),
        cut_off_ns={currency: CUT_OFF_NS for currency in currencies},
    )
    hub.open_accounts(START_NS, credit)
    return hub


@pytest.fixture
def day() -> Day:
    """A hub in CNY and RUB with no liquidity anywhere, at START_NS."""
    return Day(open_hub(directory(), (CNY, RUB, INR)))
