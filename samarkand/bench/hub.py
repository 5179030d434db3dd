"""`samarkand benchmark hub`: payments/s through `DurableHub.submit` on an SQLite store.

Four workloads, each run three ways in the same process on the same payments:

- durable: `DurableHub` on a fresh temporary SQLite store (command log fsynced per
  command, ledger batches committed), what the service runs;
- memory: the plain `SettlementHub` on an in-memory store (no command log, no fsync), so
  durable / memory is what durability costs;
- ledger: the ledger's own `LedgerState.apply` of the transfers the memory hub produced, in
  the same batches, so memory / ledger is what the engine and hub add to the ledger.

Workloads: rounds of 1 and of 14 payments per command (single payments as the service
groups them), batches of 1,000 (one bulk pacs.008), all settling gross on ample liquidity;
and a queued mix: scarce liquidity, most payments queue, and an `optimise` (multilateral
offsetting) after every round of 100. Timings cover the commands only, not the set-up.

Each way reports wall time (payments/s) and this thread's CPU time per payment. The durable
way's wall time includes the waits for fsync, which vary several-fold from minute to minute
on a shared disk and leave the CPU (and the GIL) to other threads meanwhile; the CPU time is
what the hub's own thread spends, the figure that bounds a service's hub thread.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from samarkand.hub.durable import DurableHub, RecordingStore
from samarkand.hub.settlement import Liquidity, SettlementHub
from samarkand.ledger.journal import BatchRecord
from samarkand.settlement.participants import Directory, Participant, ParticipantKind
from samarkand.settlement.payments import Payment
from samarkand.store import DurableLedger, MemoryStore
from samarkand.store.ledger import state_from

CURRENCY = "CNY"
LEDGER = 156
CENTRAL_BANK = "PBOCCNBJ"
START_NS = 1_000
CUT_OFF_NS = 10**18
AMPLE = 10**15  # minor units per bank: every gross payment is covered
SCARCE = 20_000  # minor units per bank in the queued mix: most payments queue


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    payments: int
    round_size: int
    liquidity: int
    optimise: bool = False


def workloads(scale: float = 1.0) -> list[Workload]:
    def n(count: int, unit: int) -> int:
        return max(unit, int(count * scale) // unit * unit)

    return [
        Workload("round_1", n(300, 1), 1, AMPLE),
        Workload("round_14", n(4_200, 14), 14, AMPLE),
        Workload("batch_1000", n(20_000, 1_000), 1_000, AMPLE),
        Workload("queued_mix", n(5_000, 100), 100, SCARCE, optimise=True),
    ]


def bank_bics(banks: int) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [f"SM{letters[k // 26 % 26]}{letters[k % 26]}CN22" for k in range(banks)]


def directory(banks: int) -> Directory:
    kind = ParticipantKind
    participants = [Participant(CENTRAL_BANK, "Central bank", "CN", kind.CENTRAL_BANK, 1, CURRENCY)]
    participants += [
        Participant(bic, bic, "CN", kind.DIRECT, 10 + k, CURRENCY)
        for k, bic in enumerate(bank_bics(banks))
    ]
    return Directory(participants, {CURRENCY: LEDGER})


def payments(count: int, banks: int, seed: int, *, first_uetr: int = 1) -> list[Payment]:
    """`count` payments between distinct random banks, amounts 1..10,000 minor units."""
    rng = random.Random(seed)
    bics = bank_bics(banks)
    made = []
    for k in range(count):
        debtor, creditor = rng.sample(bics, 2)
        made.append(Payment(first_uetr + k, debtor, creditor, rng.randint(1, 10_000), CURRENCY))
    return made


def _set_up(hub: SettlementHub | DurableHub, banks: int, liquidity: int) -> None:
    hub.liquidity([Liquidity(bic, CURRENCY, liquidity) for bic in bank_bics(banks)], START_NS)


@dataclass(frozen=True, slots=True)
class Timing:
    wall: float  # seconds
    cpu: float  # seconds of this thread's CPU: without the waits for fsync


def _drive(hub: SettlementHub | DurableHub, work: Workload, batch: list[Payment]) -> Timing:
    """Time spent in the workload's commands."""
    now = START_NS + 1
    started, cpu = time.perf_counter(), time.thread_time()
    for start in range(0, len(batch), work.round_size):
        if any(hub.submit(batch[start : start + work.round_size], now)):
            raise RuntimeError("the hub refused a benchmark payment")
        if work.optimise:
            hub.optimise(now)
        now += 1
    return Timing(time.perf_counter() - started, time.thread_time() - cpu)


def run_durable(work: Workload, banks: int, batch: list[Payment], folder: str) -> Timing:
    path = os.path.join(folder, f"{work.name}.db")
    with DurableHub.open(path) as hub:
        hub.configure(directory(banks), cut_off_ns={CURRENCY: CUT_OFF_NS})
        hub.open_accounts(START_NS)
        _set_up(hub, banks, work.liquidity)
        return _drive(hub, work, batch)


def run_memory(
    work: Workload, banks: int, batch: list[Payment]
) -> tuple[Timing, list[BatchRecord], list[BatchRecord]]:
    """Seconds of the in-memory hub, with its set-up records and its payment records."""
    store = RecordingStore()
    hub = SettlementHub(
        directory(banks), DurableLedger.open(store), cut_off_ns={CURRENCY: CUT_OFF_NS}
    )
    hub.open_accounts(START_NS)
    _set_up(hub, banks, work.liquidity)
    set_up = len(store.records)
    seconds = _drive(hub, work, batch)
    return seconds, store.records[:set_up], store.records[set_up:]


def run_ledger(set_up: list[BatchRecord], records: list[BatchRecord]) -> Timing:
    """The ledger alone: the memory hub's set-up replayed untimed (as a store is opened),
    then its payment transfers applied in the same batches, as Transfer values with the
    timestamp left to the ledger, as the hub applies them; timed."""
    store = MemoryStore()
    for record in set_up:
        store.append(record)
    state = state_from(store.load())
    batches = [
        ([replace(t, timestamp=0) for t in r.transfers.to_transfers()], r.now)
        for r in records
        if len(r.transfers)
    ]
    started, cpu = time.perf_counter(), time.thread_time()
    for transfers, now in batches:
        results, _ = state.apply(transfers, now)
        if results.any():
            raise RuntimeError("the ledger refused a transfer the hub had applied")
    return Timing(time.perf_counter() - started, time.thread_time() - cpu)


def run_hub_benchmark(
    *,
    banks: int = 50,
    seed: int = 7,
    scale: float = 1.0,
    repeat: int = 3,
    progress: Callable[[str], None] | None = None,
) -> dict[str, float]:
    """Payments/s per workload and way (see the module docstring), flat; each time the
    median of `repeat` runs, each on a fresh store."""
    result: dict[str, float] = {"banks": float(banks), "repeat": float(repeat)}
    with tempfile.TemporaryDirectory(prefix="samarkand-bench-hub-") as folder:
        for work in workloads(scale):
            if progress is not None:
                progress(work.name)
            batch = payments(work.payments, banks, seed)
            durables, memories, ledgers = [], [], []
            for attempt in range(repeat):
                run_folder = os.path.join(folder, f"{work.name}-{attempt}")
                os.mkdir(run_folder)
                durables.append(run_durable(work, banks, batch, run_folder))
                memory, set_up, records = run_memory(work, banks, batch)
                memories.append(memory)
                ledgers.append(run_ledger(set_up, records))
            count = len(batch)
            result[f"{work.name}_payments"] = float(count)
            result[f"{work.name}_round"] = float(work.round_size)
            for way, timings in (("durable", durables), ("memory", memories), ("ledger", ledgers)):
                wall = statistics.median(t.wall for t in timings)
                cpu = statistics.median(t.cpu for t in timings)
                result[f"{work.name}_{way}_per_s"] = count / wall if wall else 0.0
                result[f"{work.name}_{way}_us_per_payment"] = wall / count * 1e6
                result[f"{work.name}_{way}_cpu_us_per_payment"] = cpu / count * 1e6
            result[f"{work.name}_durable_over_memory"] = (
                result[f"{work.name}_durable_per_s"]
                and result[f"{work.name}_memory_per_s"] / result[f"{work.name}_durable_per_s"]
            )
    return result
