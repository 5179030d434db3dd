"""A small hub for cross-currency scenarios: three currencies with their central banks, a bank
in each country, two FX providers, and USD carried with a central bank so that the vehicle
policy can be tried.

    CNY  PBOCCNBJ  ledger 156        bank A  SMAACN22
    RUB  CBRFRUMM  ledger 643        bank B  SMABRU22
    INR  RBISINBB  ledger 356        bank C  SMACIN22
    USD  FRNYUS33  ledger 840        providers P (SMPPCN22) and Q (SMPQRU22), direct
"""

from __future__ import annotations

import sqlite3

from samarkand.hub.durable import COMMANDS_SUFFIX, DurableHub
from samarkand.hub.settlement import Liquidity, QuoteRequest, SettlementHub, TierPost
from samarkand.settlement.participants import Directory, Participant, ParticipantKind
from samarkand.settlement.payments import FxPayment, Reason
from samarkand.store import DurableLedger, MemoryStore

CNY, RUB, INR, USD = "CNY", "RUB", "INR", "USD"
LEDGERS = {CNY: 156, RUB: 643, INR: 356, USD: 840}
A, B, C = "SMAACN22", "SMABRU22", "SMACIN22"
P, Q = "SMPPCN22", "SMPQRU22"
CUT_OFF_NS = 10_000_000_000
START_NS = 100
DAY_END = 10**18

_K = ParticipantKind


def fx_directory() -> Directory:
    return Directory(
        [
            Participant("PBOCCNBJ", "People's Bank of China", "CN", _K.CENTRAL_BANK, 1, CNY),
            Participant("CBRFRUMM", "Bank of Russia", "RU", _K.CENTRAL_BANK, 2, RUB),
            Participant("RBISINBB", "Reserve Bank of India", "IN", _K.CENTRAL_BANK, 3, INR),
            Participant("FRNYUS33", "A dollar issuer", "US", _K.CENTRAL_BANK, 4, USD),
            Participant(A, "Bank A", "CN", _K.DIRECT, 11, CNY),
            Participant(B, "Bank B", "RU", _K.DIRECT, 12, RUB),
            Participant(C, "Bank C", "IN", _K.DIRECT, 13, INR),
            Participant(P, "Provider P", "CN", _K.DIRECT, 21, CNY),
            Participant(Q, "Provider Q", "RU", _K.DIRECT, 22, RUB),
        ],
        LEDGERS,
    )


def open_fx_hub() -> SettlementHub:
    hub = SettlementHub(
        fx_directory(),
        DurableLedger.open(MemoryStore()),
        cut_off_ns=dict.fromkeys(LEDGERS, CUT_OFF_NS),
    )
    hub.open_accounts(START_NS)
    return hub


def tier(
    provider: str,
    sell: str,
    buy: str,
    rate: str,
    *,
    liquidity: int = 10**15,
    low: int = 1,
    high: int = 10**15,
    until: int = DAY_END,
) -> TierPost:
    return TierPost(provider, sell, buy, low, high, rate, liquidity, 0, until)


# Rates of the cycle CNY -> RUB -> INR -> CNY whose product is exactly 1 (so a cycle of
# payments can net to nothing at the providers): 1 CNY = 12.5 RUB, 1 RUB = 1.28 INR,
# 1 INR = 0.0625 CNY.
CYCLE_TIERS = [
    tier(P, CNY, RUB, "12.5"),
    tier(P, RUB, INR, "1.28"),
    tier(P, INR, CNY, "0.0625"),
]


class FxDay:
    """A hub and a clock that ticks one nanosecond per call unless told the time."""

    def __init__(self, hub: SettlementHub | None = None) -> None:
        self.hub = hub if hub is not None else open_fx_hub()
        self.now = START_NS

    def clock(self, at: int | None = None) -> int:
        self.now = self.now + 1 if at is None else at
        return self.now

    def fund(self, bic: str, currency: str, amount: int) -> None:
        assert self.hub.liquidity([Liquidity(bic, currency, amount)], self.clock()) == [None]

    def post(self, *tiers: TierPost) -> list[Reason | None]:
        return self.hub.post_tiers(list(tiers), self.clock())

    def quote(self, bic: str, source: str, destination: str, send: int, ttl: int = 10**9):
        return self.hub.request_quote(QuoteRequest(bic, source, destination, send, None, ttl),
                                      self.clock())  # fmt: skip

    def pay(self, uetr: int, debtor: str, creditor: str, quote_id: int) -> Reason | None:
        (outcome,) = self.hub.submit_fx([FxPayment(uetr, debtor, creditor, quote_id)], self.clock())
        return outcome

    def balance(self, bic: str, currency: str) -> int:
        directory = self.hub.directory
        participant = directory.get(bic)
        assert participant is not None
        return self.hub.ledger.balance(
            directory.settlement_account(participant, currency)
        ).net_credit


def log_written_before(store: str, rows: list[str]) -> None:
    """A durable hub at `store` configured on this world, then `rows` (command log bodies as
    code of before wrote them) appended to its command log with no ledger batch of theirs:
    the next open replays them."""
    with DurableHub.open(store, snapshots=False) as hub:
        hub.configure(fx_directory(), cut_off_ns=dict.fromkeys(LEDGERS, CUT_OFF_NS))
    with sqlite3.connect(store + COMMANDS_SUFFIX) as log:
        log.executemany(
            "INSERT INTO hub_commands (sequence, body) VALUES (?, ?)",
            list(enumerate(rows, start=2)),
        )
