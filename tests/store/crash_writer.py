"""The writer of the crash test: applies random batches to a durable ledger until it is killed.

    python -m tests.store.crash_writer STORE ACKS SEED [SCHEMA]

STORE is a SQLite path or a PostgreSQL DSN (then SCHEMA names the schema). After every
acknowledged batch (the ledger returned, so the batch is durable) the writer appends one line
to the ACKS file and fsyncs it: that file is the list of acknowledged batches. On stdout it
says `ready` once the store is open, and `append N` / `appended N` around each append, so
that the parent can aim its kill at a commit and tell afterwards where the kill landed.

Deterministic by seed: the batch with sequence number n is made from (SEED, n) and the state
the n - 1 batches before it left, so a rerun, or a run killed and resumed any number of
times, writes the same journal. `reference` replays it in memory for the test to compare.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator

import numpy as np

from samarkand.ledger import Account, LedgerState, Transfer
from samarkand.ledger.journal import BatchRecord
from samarkand.ledger.types import AccountFlags, PendingStatus, TransferFlags
from samarkand.store import DurableLedger, PostgresStore, SqliteStore

NS = 1_000_000_000
EVENTS_PER_BATCH = 400
PLAIN = list(range(1, 41))  # ledger 1: no limits
LIMITED = list(range(101, 111))  # ledger 2: debits must not exceed credits (+ limit)
WIDE = [2**100 + k for k in range(1, 5)]  # ledger 3: ids and amounts beyond 64 bits
MISSING = 999_999  # no such account: a chain naming it fails as a whole
LINKED = int(TransferFlags.LINKED)
PENDING = int(TransferFlags.PENDING)
POST = int(TransferFlags.POST_PENDING)
VOID = int(TransferFlags.VOID_PENDING)

ACCOUNTS = (
    [Account(i, 1, 1) for i in PLAIN]
    + [
        Account(i, 2, 1, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS, limit=5_000)
        for i in LIMITED
    ]
    + [Account(i, 3, 1, user_data=2**128 - 2) for i in WIDE]
)


def batch_for(seed: int, sequence: int, state: LedgerState) -> tuple[list[Transfer], int]:
    """The transfers of batch `sequence` and its `now`: two seconds after the batch before."""
    rng = np.random.default_rng([seed, sequence])
    open_pending = sorted(
        i for i, status in state.pending_status.items() if status == PendingStatus.PENDING
    )
    rng.shuffle(open_pending)
    transfers: list[Transfer] = []
    next_id = sequence * 1_000_000

    def add(debit: int, credit: int, amount: int, ledger: int, **fields: int) -> None:
        nonlocal next_id
        next_id += 1
        transfers.append(Transfer(next_id, debit, credit, amount, ledger, 1, **fields))

    while len(transfers) < EVENTS_PER_BATCH:
        kind = rng.integers(100)
        debit, credit = (int(x) for x in rng.choice(PLAIN, 2, replace=False))
        if kind < 55:
            add(debit, credit, int(rng.integers(1, 1_000)), 1)
        elif kind < 70:
            add(
                debit,
                credit,
                int(rng.integers(1, 1_000)),
                1,
                flags=PENDING,
                timeout=int(rng.integers(0, 4)),
            )
        elif kind < 80 and open_pending:
            phase = POST if rng.integers(2) else VOID
            amount = 0 if phase == VOID or rng.integers(2) else 1
            add(0, 0, amount, 0, flags=phase, pending_id=open_pending.pop())
        elif kind < 90:
            # A linked chain of 2-4 events; one in three names a missing account and fails.
            length = int(rng.integers(2, 5))
            broken = rng.integers(3) == 0
            for position in range(length):
                last = position == length - 1
                credit = MISSING if broken and last else int(rng.choice(PLAIN))
                add(
                    int(rng.choice(PLAIN)),
                    credit,
                    int(rng.integers(1, 100)),
                    1,
                    flags=0 if last else LINKED,
                )
        elif kind < 96:
            debit, credit = (int(x) for x in rng.choice(LIMITED, 2, replace=False))
            add(debit, credit, int(rng.integers(1, 3_000)), 2)  # may exceed credits
        else:
            debit, credit = (int(x) for x in rng.choice(WIDE, 2, replace=False))
            add(debit, credit, int(rng.integers(1, 2**40)) * 2**30, 3, user_data=2**127 + 1)
    return transfers, sequence * 2 * NS


def rows_digest(record_accounts: list[int], ids: list[int], expired: list[int]) -> str:
    """What a batch wrote, by ids: the test recomputes it from the store."""
    text = f"{record_accounts}|{ids}|{expired}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def ack_line(record: BatchRecord, results: object) -> str:
    results_digest = hashlib.sha256(np.asarray(results, dtype=np.uint8).tobytes()).hexdigest()
    rows = rows_digest(
        [a.id for a in record.accounts],
        record.transfers.id.tolist(),
        list(record.expiries.pending_id),
    )
    return f"{record.sequence} {len(record.transfers)} {rows} {results_digest[:24]}\n"


def run(ledger: DurableLedger | LedgerState, seed: int) -> Iterator[str]:
    """Create the accounts if need be, then batch after batch: one ack line per batch."""
    durable = isinstance(ledger, DurableLedger)

    def state() -> LedgerState:
        return ledger.state if isinstance(ledger, DurableLedger) else ledger

    if not state().accounts:
        results, record = ledger.create_accounts(ACCOUNTS, NS)
        yield ack_line(record, results)
    while True:
        transfers, now = batch_for(seed, state().batches + 1, state())
        results, record = ledger.apply(transfers, now)
        if record.is_empty and durable:
            raise RuntimeError("the writer made a batch where nothing succeeded")
        yield ack_line(record, results)


def reference(seed: int, batches: int) -> tuple[LedgerState, list[str]]:
    """The first `batches` batches applied in memory, with their ack lines."""
    state = LedgerState()
    lines = []
    for line in run(state, seed):
        lines.append(line)
        if len(lines) == batches:
            break
    return state, lines


def announcing(cls: type[SqliteStore] | type[PostgresStore]) -> type:
    """`cls` that tells the parent on stdout when it begins to append, so it can aim a kill."""

    class Announcing(cls):  # type: ignore[valid-type, misc]
        def append(self, record: BatchRecord) -> None:
            sys.stdout.write(f"append {record.sequence}\n")
            sys.stdout.flush()
            super().append(record)
            sys.stdout.write(f"appended {record.sequence}\n")
            sys.stdout.flush()

    return Announcing


def main(argv: list[str]) -> None:
    address, acks_path, seed = argv[0], argv[1], int(argv[2])
    if address.startswith("postgresql://"):
        store = announcing(PostgresStore)(address, schema=argv[3])
    else:
        store = announcing(SqliteStore)(address)
    ledger = DurableLedger.open(store)
    with open(acks_path, "a", encoding="ascii") as acks:
        print("ready", flush=True)
        for line in run(ledger, seed):
            acks.write(line)
            acks.flush()
            os.fsync(acks.fileno())


if __name__ == "__main__":
    main(sys.argv[1:])
