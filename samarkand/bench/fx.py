"""`samarkand benchmark fx`: route search and payment-versus-payment settlement.

- Quotes per second over the synthetic market of `samarkand.bench.fx_quotes` (20+ national
  currencies plus USD and EUR, 100+ providers), and the share of routes that convert through
  a vehicle currency (0 unless the operator allows one on a corridor).
- PvP settlements per second: the quoted payments' legs reserved as pending transfers, the
  decision logged, then all legs posted, through `PvpCoordinator.execute_many` in groups
  (one ledger batch per step). "In memory": ledger on the in-memory store, decision log on
  a RAM-backed file when /dev/shm exists; "durable": SQLite ledger store and decision log on
  disk, both with `synchronous=FULL`.
- Cross-currency offsetting (`samarkand.bench.fx_offset`): gridlocked cycles across three
  currencies settled by one LSM run; payments settled per second of that run and the
  provider liquidity saved.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from samarkand.bench.fx_offset import run_offset_benchmark
from samarkand.bench.fx_quotes import NOW_NS, measure, synthetic_market, synthetic_requests
from samarkand.fx import Quote, quote
from samarkand.fx.pvp import PvpPlan, plan
from samarkand.hub.pvp import DecisionLog, PvpCoordinator, PvpOutcome
from samarkand.ledger import Account, AccountFlags, Transfer
from samarkand.ledger.types import BATCH_EVENTS_MAX, AccountCode, TransferCode
from samarkand.money import default_registry
from samarkand.settlement.participants import account_id
from samarkand.store import DurableLedger, MemoryStore, SqliteStore

PAYER, PAYEE, CENTRAL_BANK = 1, 2, 3  # participant numbers; providers follow from 100
FUNDING = 10**30  # minor units per account: the benchmark measures settlement, not scarcity
TIMEOUT_S = 60
FUNDING_IDS = 1 << 126  # far above the PvP ids (pvp id << 8 | leg)


def run_fx_benchmark(
    *, currencies: int, providers: int, seed: int, quotes: int, pvps: int, folder: Path
) -> dict[str, float]:
    result = measure(currencies=currencies, providers=providers, seed=seed, quotes=quotes)
    book = synthetic_market(currencies=currencies, providers=providers, seed=seed)
    quoted = _quotes(book, pvps, seed)
    result["pvp_inmem_per_s"] = _pvp_rate(quoted, durable=False, folder=folder)
    result["pvp_durable_per_s"] = _pvp_rate(quoted, durable=True, folder=folder)
    result["pvps"] = float(len(quoted))
    result.update(run_offset_benchmark(banks_per_currency=20, payments=pvps, seed=seed))
    return result


def _quotes(book, count: int, seed: int) -> list[Quote]:
    found: list[Quote] = []
    for request in synthetic_requests(book, count=count * 2, seed=seed + 1):
        answer = quote(
            book, source=request.source, destination=request.destination,
            send_amount=request.send_amount, deliver_amount=request.deliver_amount,
            now=NOW_NS, quote_id=len(found) + 1, ttl_ns=60 * 10**9,
        )  # fmt: skip
        if isinstance(answer, Quote):
            found.append(answer)
            if len(found) == count:
                break
    return found


def _pvp_rate(quoted: list[Quote], *, durable: bool, folder: Path) -> float:
    registry = default_registry()
    codes = sorted({c for q in quoted for hop in q.hops for c in (hop.sell, hop.buy)})
    ledgers = {code: registry.get(code).ledger for code in codes}
    providers = sorted({hop.provider for q in quoted for hop in q.hops})
    number = {PAYER: PAYER, PAYEE: PAYEE} | {p: 100 + i for i, p in enumerate(providers)}
    ram = Path("/dev/shm")
    where = folder if durable or not ram.is_dir() else ram
    with tempfile.TemporaryDirectory(dir=where) as scratch:
        store = SqliteStore(os.path.join(scratch, "ledger.db")) if durable else MemoryStore()
        ledger = DurableLedger.open(store)
        decisions = DecisionLog(os.path.join(scratch, "decisions.db"))
        try:
            _fund(ledger, ledgers, list(number.values()))
            plans = [_plan(k + 1, q, ledgers, number) for k, q in enumerate(quoted)]
            coordinator = PvpCoordinator(ledger, decisions)
            groups = _groups(plans)
            started = time.perf_counter()
            for index, group in enumerate(groups):
                results = coordinator.execute_many(group, NOW_NS + index)
                if any(r.outcome is not PvpOutcome.POSTED for r in results):
                    failed = next(r for r in results if r.outcome is not PvpOutcome.POSTED)
                    raise RuntimeError(f"a benchmark PvP did not post: {failed}")
            elapsed = time.perf_counter() - started
        finally:
            decisions.close()
            ledger.close()
    return len(quoted) / elapsed


def _fund(ledger: DurableLedger, ledgers: dict[str, int], parties: list[int]) -> None:
    limited = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    accounts = [
        Account(account_id(number, CENTRAL_BANK, AccountCode.MIRROR), number, AccountCode.MIRROR)
        for number in ledgers.values()
    ] + [
        Account(account_id(number, party, AccountCode.SETTLEMENT), number,
                AccountCode.SETTLEMENT, flags=limited)
        for party in parties for number in ledgers.values()
    ]  # fmt: skip
    funding = [
        Transfer(FUNDING_IDS + index, account_id(a.ledger, CENTRAL_BANK, AccountCode.MIRROR), a.id,
                 FUNDING, a.ledger, TransferCode.LIQUIDITY)
        for index, a in enumerate(a for a in accounts if a.code == AccountCode.SETTLEMENT)
    ]  # fmt: skip
    for start in range(0, len(accounts), BATCH_EVENTS_MAX):
        results, _ = ledger.create_accounts(accounts[start : start + BATCH_EVENTS_MAX], 1)
        if any(results):
            raise RuntimeError("benchmark accounts refused")
    for start in range(0, len(funding), BATCH_EVENTS_MAX):
        results, _ = ledger.apply(funding[start : start + BATCH_EVENTS_MAX], 2)
        if any(results):
            raise RuntimeError("benchmark funding refused")


def _plan(pvp_id: int, q: Quote, ledgers: dict[str, int], number: dict) -> PvpPlan:
    def account(party: int, currency: str) -> int:
        return account_id(ledgers[currency], party, AccountCode.SETTLEMENT)

    return plan(
        pvp_id, q, payer="PAYER", payee="PAYEE",
        payer_account=account(PAYER, q.source), payee_account=account(PAYEE, q.destination),
        provider_accounts={
            (hop.provider, currency): account(number[hop.provider], currency)
            for hop in q.hops for currency in (hop.sell, hop.buy)
        },
        ledgers=ledgers, timeout_s=TIMEOUT_S, uetr=pvp_id,
    )  # fmt: skip


def _groups(plans: list[PvpPlan]) -> list[list[PvpPlan]]:
    """PvPs grouped so that each group's legs fit one ledger batch."""
    groups: list[list[PvpPlan]] = [[]]
    legs = 0
    for pvp in plans:
        if legs + len(pvp.legs) > BATCH_EVENTS_MAX:
            groups.append([])
            legs = 0
        groups[-1].append(pvp)
        legs += len(pvp.legs)
    return groups
