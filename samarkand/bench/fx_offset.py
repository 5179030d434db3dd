"""Cross-currency offsetting in the settlement hub, for `samarkand benchmark fx`.

Banks in three currencies (CNY, RUB, INR) pay each other in cycles CNY -> RUB -> INR -> CNY
through one FX provider; rates round-trip exactly (12.5 × 1.28 × 0.0625 = 1). Every bank
and the provider start with only their residual (what they owe on net if every payment
settles), so the payments that cannot settle gross on arrival queue; then one LSM run
offsets the queues. Measured: queued payments the offsetting run settled per second of that
run, and the provider liquidity it saved, 1 - (provider net outflow needed) / (provider
gross outflow), over every cross-currency payment settled.
"""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np

from samarkand.hub.settlement import Liquidity, QuoteRequest, SettlementHub, TierPost
from samarkand.money import AMOUNT_MAX
from samarkand.settlement.participants import Directory, Participant, ParticipantKind
from samarkand.settlement.payments import FxPayment, Status
from samarkand.store import DurableLedger, MemoryStore

CURRENCIES = {"CNY": 156, "RUB": 643, "INR": 356}
CENTRAL_BANKS = {"CNY": "PBOCCNBJ", "RUB": "CBRFRUMM", "INR": "RBISINBB"}
RATES = {("CNY", "RUB"): "12.5", ("RUB", "INR"): "1.28", ("INR", "CNY"): "0.0625",
         ("RUB", "CNY"): "0.08", ("INR", "RUB"): "0.78125", ("CNY", "INR"): "16"}  # fmt: skip
PROVIDER = "SMFXCN22"
DAY_NS = 10**15


def run_offset_benchmark(*, banks_per_currency: int, payments: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    participants = [
        Participant(bic, bic, bic[4:6], ParticipantKind.CENTRAL_BANK, k + 1, code)
        for k, (code, bic) in enumerate(CENTRAL_BANKS.items())
    ]
    banks: list[tuple[str, str]] = []  # (bic, home currency)
    for code in CURRENCIES:
        for b in range(banks_per_currency):
            bic = f"SB{b // 26:01d}{chr(65 + b % 26)}{CENTRAL_BANKS[code][4:6]}22"
            banks.append((bic, code))
            participants.append(
                Participant(bic, bic, bic[4:6], ParticipantKind.DIRECT, 100 + len(banks), code)
            )
    participants.append(Participant(PROVIDER, "FX", "CN", ParticipantKind.DIRECT, 99, "CNY"))
    hub = SettlementHub(
        Directory(participants, CURRENCIES),
        DurableLedger.open(MemoryStore()),
        cut_off_ns=dict.fromkeys(CURRENCIES, DAY_NS),
    )
    hub.open_accounts(1)
    hub.post_tiers(
        [TierPost(PROVIDER, s, b, 1, AMOUNT_MAX, r, AMOUNT_MAX, 0, DAY_NS) for (s, b), r in
         RATES.items()],
        2,
    )  # fmt: skip
    # Cycles CNY -> RUB -> INR -> CNY between random banks: each bank passes on what it
    # receives, give or take 20 %; whole cycles gridlock, as no one is paid before paying.
    by_currency = {code: [b for b, c in banks if c == code] for code in CURRENCIES}
    order = [("CNY", "RUB"), ("RUB", "INR"), ("INR", "CNY")]
    rate = {pair: Fraction(RATES[pair]) for pair in order}
    requests, parties = [], []
    for _ in range(payments // 3):
        members = [by_currency[c][int(rng.integers(0, banks_per_currency))] for c, _ in order]
        amount = int(rng.integers(1_000_00, 100_000_00))
        for k, pair in enumerate(order):
            requests.append(QuoteRequest(members[k], pair[0], pair[1], amount))
            parties.append((members[k], members[(k + 1) % 3]))
            factor = Fraction(int(rng.integers(80, 121)), 100)
            amount = max(1, int(amount * rate[pair] * factor))
    quotes = hub.request_quotes(requests, 3)
    # Fund every party with its residual: its net debit if every payment settled.
    net: dict[tuple[str, str], int] = {}
    for (payer, payee), q in zip(parties, quotes, strict=True):
        for key, delta in (
            ((payer, q.source), -q.send_amount),
            ((PROVIDER, q.source), q.send_amount),
            ((PROVIDER, q.destination), -q.deliver_amount),
            ((payee, q.destination), q.deliver_amount),
        ):
            net[key] = net.get(key, 0) + delta
    hub.liquidity([Liquidity(bic, code, -v) for (bic, code), v in sorted(net.items()) if v < 0], 4)
    fx = [
        FxPayment(k + 1, payer, payee, q.id)
        for k, ((payer, payee), q) in enumerate(zip(parties, quotes, strict=True))
    ]
    hub.submit_fx(fx, 5)
    queued = hub.engine.fx_queued
    started = time.perf_counter()
    settled = hub.optimise(6)
    elapsed = time.perf_counter() - started
    stats = hub.engine.stats
    gross = sum(_usd_cents(v, ledger) for ledger, v in stats.fx_provider_gross.items())
    net = sum(_usd_cents(v, ledger) for ledger, v in stats.fx_provider_net.items())
    done = sum(hub.engine.entries[p.uetr].status is Status.SETTLED for p in fx)
    return {
        "fx_offset_payments": float(len(fx)),
        "fx_offset_queued": float(queued),
        "fx_offset_settled": float(settled),
        "fx_offset_settled_share": done / len(fx) if fx else 0.0,
        "fx_offset_per_s": settled / elapsed if elapsed else 0.0,
        "fx_offset_provider_saved_pct": 100.0 * (gross - net) / gross if gross else 0.0,
    }


_UNITS_PER_USD_MILLI = {156: 7_100, 643: 80_000, 356: 88_000}


def _usd_cents(amount: int, ledger: int) -> int:
    return amount * 100_000 // (_UNITS_PER_USD_MILLI[ledger] * 100)
