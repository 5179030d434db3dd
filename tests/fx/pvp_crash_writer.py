"""The PvP scenario of the tests, and the writer of the PvP crash test.

    python -m tests.fx.pvp_crash_writer STORE LOG SEED [KILL_STEP KILL_AT]

The writer opens a SQLite ledger store and a decision log, sets up the scenario's accounts
once, recovers whatever an earlier run left unfinished, then runs PvPs until it is killed
(or has made `PVPS_PER_RUN_MAX` calls). With KILL_STEP it kills itself with SIGKILL at that step of
the first call, from its KILL_AT-th of this run on, that reaches the step: "begun",
"reserved", "decided", "finished" (the coordinator's steps), or "mid_post": inside the
SQLite transaction that writes the post batch, after its rows and before its COMMIT.

Deterministic by seed: PvP n's plan comes from (SEED, n) alone, so the parent can rebuild
every plan and the money each one moves. The writer runs one to four PvPs per call of
`execute_many`, at the logical time (in seconds) of the call's first PvP id.
"""

from __future__ import annotations

import os
import random
import signal
import sys
from fractions import Fraction
from math import floor

from samarkand.fx.pvp import PvpPlan, plan
from samarkand.fx.routing import Quote, QuoteHop
from samarkand.hub.pvp import DecisionLog, PvpCoordinator
from samarkand.ledger.types import (
    Account,
    AccountCode,
    AccountFlags,
    Transfer,
    TransferCode,
    TransferFlags,
)
from samarkand.settlement.participants import account_id
from samarkand.store import DurableLedger, SqliteStore

NS = 1_000_000_000
TIMEOUT_S = 30
PVPS_PER_RUN_MAX = 2_000  # calls of execute_many per run
PVPS_PER_CALL_MAX = 4
LEDGERS = {"CNY": 156, "INR": 356, "RUB": 643}
CENTRAL_BANK = 1
PAYERS = {"PAYRCNAA": 11, "PAYRCNBB": 12, "PAYRCNCC": 13}
PAYEES = {"PAYERUAA": 21, "PAYERUBB": 22}
PROVIDERS = {"PROVINAA": 31, "PROVINBB": 32}
PARTIES = {**PAYERS, **PAYEES, **PROVIDERS}
# Opening balances, minor units. PAYRCNCC and PROVINBB's RUB run short after a few PvPs.
FUNDING = {
    ("PAYRCNAA", "CNY"): 5_000_000,
    ("PAYRCNBB", "CNY"): 5_000_000,
    ("PAYRCNCC", "CNY"): 40_000,
    ("PROVINAA", "INR"): 60_000_000,
    ("PROVINAA", "RUB"): 60_000_000,
    ("PROVINBB", "INR"): 60_000_000,
    ("PROVINBB", "RUB"): 300_000,
}
RATE_CNY_INR = Fraction(116, 10)
RATE_INR_RUB = Fraction(112, 100)
POST = int(TransferFlags.POST_PENDING)


def account_of(party: str, currency: str) -> int:
    return account_id(LEDGERS[currency], PARTIES[party], AccountCode.SETTLEMENT)


def mirror_of(currency: str) -> int:
    return account_id(LEDGERS[currency], CENTRAL_BANK, AccountCode.MIRROR)


def setup(ledger: DurableLedger, now: int) -> None:
    """Every party's settlement account in every currency, funded from the mirror accounts.

    Idempotent, step by step, so that a writer killed in between finishes it on restart.
    """
    if ledger.state.transfer(1) is not None:
        return
    limited = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    accounts = [Account(mirror_of(c), ledger, AccountCode.MIRROR) for c, ledger in LEDGERS.items()]
    accounts += [
        Account(account_of(party, currency), ledger, AccountCode.SETTLEMENT, flags=limited)
        for party in PARTIES
        for currency, ledger in LEDGERS.items()
    ]
    if not ledger.state.accounts:
        results, _ = ledger.create_accounts(accounts, now)
        assert all(int(r) == 0 for r in results), results
    funding = [
        Transfer(
            index + 1,
            mirror_of(currency),
            account_of(party, currency),
            amount,
            LEDGERS[currency],
            TransferCode.LIQUIDITY,
        )
        for index, ((party, currency), amount) in enumerate(sorted(FUNDING.items()))
    ]
    results, _ = ledger.apply(funding, now)
    assert all(int(r) == 0 for r in results), results


def two_hop_quote(quote_id: int, send_cny: int, first: str, second: str, now: int) -> Quote:
    """CNY -> INR at `first`, INR -> RUB at `second`, floored like `samarkand.fx.routing`."""
    inr = floor(send_cny * RATE_CNY_INR)
    rub = floor(inr * RATE_INR_RUB)
    return Quote(
        id=quote_id,
        source="CNY",
        destination="RUB",
        send_amount=send_cny,
        deliver_amount=rub,
        hops=(
            QuoteHop(first, "CNY", "INR", send_cny, inr, RATE_CNY_INR),
            QuoteHop(second, "INR", "RUB", inr, rub, RATE_INR_RUB),
        ),
        effective_rate=Fraction(rub, send_cny),
        created_ns=now,
        expires_ns=now + 60 * NS,
    )


def make_plan(pvp_id: int, quote: Quote, payer: str, payee: str) -> PvpPlan:
    providers = {
        (hop.provider, currency): account_of(hop.provider, currency)
        for hop in quote.hops
        for currency in (hop.sell, hop.buy)
    }
    return plan(
        pvp_id,
        quote,
        payer=payer,
        payee=payee,
        payer_account=account_of(payer, quote.source),
        payee_account=account_of(payee, quote.destination),
        provider_accounts=providers,
        ledgers=LEDGERS,
        timeout_s=TIMEOUT_S,
        uetr=pvp_id,
    )


def plan_for(seed: int, pvp_id: int) -> PvpPlan:
    """PvP `pvp_id` of the run with `seed`: its parties and amount from (seed, pvp_id) alone."""
    rng = random.Random(f"{seed}:{pvp_id}")
    payer = rng.choice(sorted(PAYERS))
    payee = rng.choice(sorted(PAYEES))
    first, second = rng.choice(sorted(PROVIDERS)), rng.choice(sorted(PROVIDERS))
    quote = two_hop_quote(pvp_id, rng.randint(100, 20_000), first, second, pvp_id * NS)
    return make_plan(pvp_id, quote, payer, payee)


def now_of(pvp_id: int) -> int:
    return pvp_id * NS


class KillSwitch:
    """SIGKILL this process at the armed step; "mid_post" is checked by `CrashingStore`."""

    def __init__(self, step: str | None) -> None:
        self.step = step
        self.armed = False

    def __call__(self, name: str) -> None:
        if self.armed and name == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class CrashingStore(SqliteStore):
    """A SQLite store that dies inside the transaction of an armed post batch."""

    kill: KillSwitch | None = None

    def _write_transfers(self, transaction, sequence, transfers) -> None:  # type: ignore[override]
        super()._write_transfers(transaction, sequence, transfers)
        kill = self.kill
        if kill and kill.armed and kill.step == "mid_post" and (transfers.flags & POST).any():
            os.kill(os.getpid(), signal.SIGKILL)  # the rows are written, COMMIT is not


def main(argv: list[str]) -> None:
    store_path, log_path, seed = argv[0], argv[1], int(argv[2])
    kill_step = argv[3] if len(argv) > 3 else None
    kill_at = int(argv[4]) if len(argv) > 4 else 0
    kill = KillSwitch(kill_step)
    store = CrashingStore(store_path)
    store.kill = kill
    ledger = DurableLedger.open(store)
    decisions = DecisionLog(log_path)
    setup(ledger, 1)
    coordinator = PvpCoordinator(ledger, decisions, kill)
    next_id = max((r.pvp_id for r in decisions.records()), default=0) + 1
    coordinator.recover(now_of(next_id))
    print("ready", flush=True)
    pvp_id = next_id
    for run in range(1, PVPS_PER_RUN_MAX + 1):
        kill.armed = bool(kill_at) and run >= kill_at
        # One to PVPS_PER_CALL_MAX PvPs per call, from (seed, first id): the group-commit
        # path and the single path both run, and the kill lands on either.
        count = random.Random(f"{seed}:call:{pvp_id}").randint(1, PVPS_PER_CALL_MAX)
        plans = [plan_for(seed, pvp_id + k) for k in range(count)]
        for result in coordinator.execute_many(plans, now_of(pvp_id)):
            print(f"pvp {result.pvp_id} {result.outcome.value}", flush=True)
        pvp_id += count


if __name__ == "__main__":
    main(sys.argv[1:])
