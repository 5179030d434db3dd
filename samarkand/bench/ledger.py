"""`samarkand benchmark ledger`, in the shape of TigerBeetle's own benchmark.

10,000 accounts in one ledger, batches of 8,190 transfers between accounts chosen uniformly
or by a Zipf law, `--transfers N` in all. Three measurements: apply in memory; apply and
commit durably to SQLite; and, with `--pg`, to PostgreSQL. Beside each durable store, in the
same run, the baseline: the raw rate of inserting the very same transfers into the same
database as a row each, with plain `executemany` (COPY for PostgreSQL) in one transaction per
batch. Both stores keep a batch's transfers packed into one row instead
(`samarkand.store.sqlite`, `samarkand.store.postgres`), so their ratios are above 1.
"""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress

from samarkand.ledger import BATCH_EVENTS_MAX, Account, LedgerState, TransferColumns
from samarkand.ledger.types import AccountCode, TransferCode
from samarkand.progress import progress_bar
from samarkand.store import DurableLedger

LEDGER = 156  # CNY; the currency does not matter to the benchmark
NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class LedgerBenchmark:
    transfers: int
    accounts: int
    batch_size: int
    distribution: str  # uniform | zipfian
    seed: int

    def account_rows(self) -> list[Account]:
        return [
            Account(id=i, ledger=LEDGER, code=AccountCode.SETTLEMENT)
            for i in range(1, self.accounts + 1)
        ]

    def create_accounts(self, ledger: LedgerState | DurableLedger) -> None:
        rows = self.account_rows()
        for start in range(0, len(rows), BATCH_EVENTS_MAX):
            results, _ = ledger.create_accounts(rows[start : start + BATCH_EVENTS_MAX], 1 + start)
            if any(results):
                raise RuntimeError("benchmark accounts could not be created")

    def batches(self) -> Iterator[TransferColumns]:
        """The transfer batches, generated lazily so 10M rows never sit in memory twice."""
        rng = np.random.default_rng(self.seed)
        if self.distribution == "zipfian":
            ranks = np.arange(1, self.accounts + 1, dtype=np.float64)
            weights = 1.0 / ranks  # Zipf exponent 1: a few accounts take most transfers
            cumulative = np.cumsum(weights / weights.sum())
        for start in range(0, self.transfers, self.batch_size):
            size = min(self.batch_size, self.transfers - start)
            if self.distribution == "zipfian":
                debit = np.searchsorted(cumulative, rng.random(size)) + 1
                credit = np.searchsorted(cumulative, rng.random(size)) + 1
            else:
                debit = rng.integers(1, self.accounts + 1, size)
                credit = rng.integers(1, self.accounts + 1, size)
            clash = debit == credit
            credit[clash] = debit[clash] % self.accounts + 1
            yield TransferColumns.build(
                id=np.arange(start + 1, start + size + 1, dtype=np.uint64),
                debit_account_id=debit.astype(np.uint64),
                credit_account_id=credit.astype(np.uint64),
                amount=rng.integers(1, 1_001, size).astype(np.uint64),
                ledger=np.full(size, LEDGER, dtype=np.uint32),
                code=np.full(size, TransferCode.PAYMENT, dtype=np.uint16),
            )


@dataclass(slots=True)
class Measured:
    transfers: int = 0
    seconds: float = 0.0
    batch_ms: list[float] | None = None

    @property
    def rate(self) -> float:
        return self.transfers / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(self.batch_ms, q)) if self.batch_ms else None


def _measure(
    label: str,
    spec: LedgerBenchmark,
    step: Callable[[TransferColumns, int], None],
    progress: Progress,
) -> Measured:
    """Time `step` on every batch; generation of the batches is outside the clock."""
    task = progress.add_task(label, total=spec.transfers)
    measured = Measured(batch_ms=[])
    now = 1_000_000_000
    gc.collect()
    gc.disable()  # the journal makes many objects; a collection pause is not the ledger's cost
    try:
        for batch in spec.batches():
            now += NS_PER_MS
            started = time.perf_counter()
            step(batch, now)
            elapsed = time.perf_counter() - started
            measured.seconds += elapsed
            measured.batch_ms.append(elapsed * 1000)
            measured.transfers += len(batch)
            progress.advance(task, len(batch))
    finally:
        gc.enable()
    return measured


def _apply_all(
    ledger: LedgerState | DurableLedger, spec: LedgerBenchmark, label: str, progress: Progress
) -> Measured:
    """Create the accounts, then time every batch through `ledger`; all must succeed."""
    spec.create_accounts(ledger)
    failures = 0

    def step(batch: TransferColumns, now: int) -> None:
        nonlocal failures
        results, _ = ledger.apply(batch, now)
        failures += int(np.count_nonzero(results))

    measured = _measure(label, spec, step, progress)
    if failures:
        raise RuntimeError(f"benchmark transfers failed ({label}): {failures}")
    return measured


def _in_memory(spec: LedgerBenchmark, progress: Progress) -> Measured:
    return _apply_all(LedgerState(), spec, "in memory", progress)


def _durable(store, spec: LedgerBenchmark, label: str, progress: Progress) -> Measured:
    ledger = DurableLedger.open(store)
    try:
        return _apply_all(ledger, spec, label, progress)
    finally:
        ledger.close()


def _raw(store, spec: LedgerBenchmark, label: str, progress: Progress) -> Measured:
    """Plain insert of the transfers the durable run wrote, a row each, one transaction per
    batch.

    The rows are resolved (engine timestamps) by an in-memory ledger outside the clock, so
    the baseline inserts the very values the durable run committed.
    """
    state = LedgerState()
    spec.create_accounts(state)
    baseline = store.raw_baseline()
    task = progress.add_task(label, total=spec.transfers)
    measured = Measured(batch_ms=[])
    now = 1_000_000_000
    try:
        for batch in spec.batches():
            now += NS_PER_MS
            _, record = state.apply(batch, now)
            started = time.perf_counter()
            baseline.insert(record.transfers)
            elapsed = time.perf_counter() - started
            measured.seconds += elapsed
            measured.batch_ms.append(elapsed * 1000)
            measured.transfers += len(record.transfers)
            progress.advance(task, len(batch))
    finally:
        baseline.close()
    return measured


def run_ledger_benchmark(
    spec: LedgerBenchmark, *, sqlite_dir: Path, pg_dsn: str | None, console: Console
) -> dict[str, float | int | str | None]:
    from samarkand.store import PostgresStore, SqliteStore

    sqlite_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, float | int | str | None] = {
        "transfers": spec.transfers,
        "accounts": spec.accounts,
        "batch_size": spec.batch_size,
        "distribution": spec.distribution,
    }
    with progress_bar(console) as progress:
        inmem = _in_memory(spec, progress)
        gc.collect()
        path = sqlite_dir / f"bench-{uuid.uuid4().hex[:8]}.db"
        try:
            sqlite = _durable(SqliteStore(str(path)), spec, "durable SQLite", progress)
            gc.collect()
            sqlite_raw = _raw(SqliteStore(str(path)), spec, "raw SQLite insert", progress)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        pg = pg_raw = None
        if pg_dsn:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            store = PostgresStore(pg_dsn, schema=schema)
            try:
                pg = _durable(store, spec, "durable PostgreSQL", progress)
                gc.collect()
                pg_raw = _raw(PostgresStore(pg_dsn, schema=schema), spec, "raw COPY", progress)
            finally:
                PostgresStore.drop_schema(pg_dsn, schema)

    results.update(
        inmem_tps=round(inmem.rate),
        inmem_batch_p50_ms=inmem.percentile(50),
        inmem_batch_p99_ms=inmem.percentile(99),
        sqlite_tps=round(sqlite.rate),
        sqlite_raw_tps=round(sqlite_raw.rate),
        sqlite_ratio=round(sqlite.rate / sqlite_raw.rate, 3),
        sqlite_batch_p50_ms=sqlite.percentile(50),
        sqlite_batch_p99_ms=sqlite.percentile(99),
        pg_tps=round(pg.rate) if pg else None,
        pg_raw_tps=round(pg_raw.rate) if pg_raw else None,
        pg_ratio=round(pg.rate / pg_raw.rate, 3) if pg and pg_raw else None,
        pg_batch_p50_ms=pg.percentile(50) if pg else None,
        pg_batch_p99_ms=pg.percentile(99) if pg else None,
        batch_p99_ms=max(
            v for v in (sqlite.percentile(99), pg.percentile(99) if pg else None) if v is not None
        ),
    )
    _print(console, results)
    return results


def _print(console: Console, r: dict) -> None:
    from rich.table import Table

    table = Table(
        title=f"ledger benchmark: {r['transfers']:,} transfers, {r['accounts']:,} "
        f"accounts, batches of {r['batch_size']:,}, {r['distribution']}"
    )
    for column in ("run", "transfers/s", "batch p50 ms", "batch p99 ms", "baseline/s", "ratio"):
        table.add_column(column, justify="right")

    def row(name: str, key: str, raw: str | None = None, ratio: str | None = None) -> None:
        if r.get(f"{key}_tps") is None:
            return
        table.add_row(
            name,
            f"{r[f'{key}_tps']:,}",
            f"{r[f'{key}_batch_p50_ms']:.2f}",
            f"{r[f'{key}_batch_p99_ms']:.2f}",
            f"{r[raw]:,}" if raw and r.get(raw) else "",
            f"{r[ratio]:.2f}" if ratio and r.get(ratio) is not None else "",
        )

    row("in memory", "inmem")
    row("durable SQLite", "sqlite", "sqlite_raw_tps", "sqlite_ratio")
    row("durable PostgreSQL", "pg", "pg_raw_tps", "pg_ratio")
    console.print(table)
