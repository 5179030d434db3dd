"""A real crash test: a writer process is killed with SIGKILL while it commits, again and again.

Each round starts the writer on the store the last round left, waits until it is writing,
lets it run 50-500 ms and kills it. After every kill the store is reopened and must prove:
every acknowledged batch is there with exactly its rows (by ids), nothing is there twice, no
batch is there in part, at most the batch being acknowledged when the kill came is there
without an acknowledgement, and the balances are the sums of the journal with debits equal
to credits in every ledger. At the end the whole journal must equal the one the same seed
gives in memory without any crash, and so must each acknowledged batch's results.

A SIGKILL ends the process, not the machine: this proves atomic, acknowledged-means-stored
commits against process crashes. (Power loss is what `synchronous=FULL` and PostgreSQL's
fsync are for; no test here can pull the plug.)
"""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
import pytest

from samarkand.ledger.columns import TransferColumns
from samarkand.ledger.invariants import problems
from samarkand.store import LoadedJournal, PostgresStore, SqliteStore
from samarkand.store.base import JournalStore
from samarkand.store.ledger import state_from
from tests.store.conftest import PG_DSN
from tests.store.crash_writer import reference, rows_digest
from tests.store.scenario import differences

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 8
KILL_AFTER_S = (0.05, 0.5)
READY_TIMEOUT_S = 20.0
SEED = 20260101

pytestmark = pytest.mark.slow


def test_sqlite_survives_sigkill_while_committing(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    crash_rounds(
        tmp_path,
        writer_args=[str(path)],
        open_store=lambda: SqliteStore(path),
        count_rows=lambda table: sqlite_counts(path, table),
    )


def test_postgres_survives_sigkill_while_committing(tmp_path: Path, pg_schema: str) -> None:
    crash_rounds(
        tmp_path,
        writer_args=[PG_DSN, pg_schema],
        open_store=lambda: PostgresStore(PG_DSN, schema=pg_schema),
        count_rows=lambda table: postgres_counts(pg_schema, table),
    )


OpenStore = Callable[[], JournalStore]
CountRows = Callable[[str], dict[int, int]]


def crash_rounds(
    tmp_path: Path, *, writer_args: list[str], open_store: OpenStore, count_rows: CountRows
) -> None:
    acks_path = tmp_path / "acks.txt"
    # The writer's command line: STORE ACKS SEED [SCHEMA].
    args = [writer_args[0], str(acks_path), str(SEED), *writer_args[1:]]
    timing = random.Random(SEED)
    unacknowledged_allowed: set[int] = set()
    inside_append = 0
    for round_number in range(ROUNDS):
        aim = round_number % 2 == 1
        inside_append += kill_writer_while_it_writes(args, timing.uniform(*KILL_AFTER_S), aim)
        loaded = load_and_check(open_store, count_rows)
        # The kill may land after a commit and before its acknowledgement: that batch only.
        if loaded.batches:
            unacknowledged_allowed.add(loaded.batches[-1].sequence)
        check_acknowledged(loaded, read_acks(acks_path), unacknowledged_allowed)
    acks = read_acks(acks_path)
    assert len(acks) >= ROUNDS, "the writer hardly wrote: the kills proved little"
    print(f"{inside_append} of {ROUNDS} kills landed inside an append, {len(acks)} acks")
    assert inside_append, "no kill landed inside a commit"
    check_against_a_run_without_crashes(loaded, acks)


def kill_writer_while_it_writes(args: list[str], delay_s: float, aim: bool) -> bool:
    """Start the writer, kill it `delay_s` after it is ready; True if it died inside an append.

    Aimed rounds wait past the delay for the next append to begin and kill 0-0.5 ms into it,
    so that kills land inside commits and not only in the ledger's own work between them.
    """
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.store.crash_writer", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    said = WriterOutput(writer.stdout.fileno())
    try:
        assert said.wait_for(lambda line: line == "ready"), f"no start: {writer.stderr.read()}"
        time.sleep(delay_s)
        if aim:
            said.read_available()
            known = len(said.lines)
            said.wait_for(lambda line: line.startswith("append "), after=known)
            time.sleep(random.Random(delay_s).uniform(0, 0.0005))
        assert writer.poll() is None, f"writer stopped by itself: {writer.stderr.read()}"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    said.read_to_end()
    writer.stdout.close()
    writer.stderr.close()
    assert writer.returncode == -signal.SIGKILL
    return bool(said.lines) and said.lines[-1].startswith("append ")


class WriterOutput:
    """The writer's stdout as lines, read without blocking past a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lines: list[str] = []
        self._partial = b""

    def _take(self, data: bytes) -> None:
        *complete, self._partial = (self._partial + data).split(b"\n")
        self.lines.extend(line.decode() for line in complete)

    def read_available(self, timeout_s: float = 0.0) -> bool:
        """Read what is there (waiting up to `timeout_s`); False at end of file."""
        while select.select([self.fd], [], [], timeout_s)[0]:
            data = os.read(self.fd, 65536)
            if not data:
                return False
            self._take(data)
            timeout_s = 0.0
        return True

    def wait_for(self, wanted: Callable[[str], bool], after: int = 0) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if any(wanted(line) for line in self.lines[after:]):
                return True
            if not self.read_available(0.05):
                return False
        return False

    def read_to_end(self) -> None:
        while self.read_available(1.0):
            pass


def load_and_check(open_store: OpenStore, count_rows: CountRows) -> LoadedJournal:
    store = open_store()
    try:
        loaded = store.load()  # itself checks sequences, counts and clocks
    finally:
        store.close()
    # Whole batches only, counted by the database itself rather than by `load`.
    summaries = {b.sequence: b for b in loaded.batches}
    assert len(summaries) == len(loaded.batches), "a batch is stored twice"
    for table, field in (("transfers", "transfers"), ("accounts", "accounts")):
        stored = count_rows(table)
        expected = {s: getattr(b, field) for s, b in summaries.items() if getattr(b, field)}
        assert stored == expected, f"{table}: rows per batch differ from the batch counts"
    ids = loaded.transfers.id.tolist()
    assert len(set(ids)) == len(ids), "a transfer is stored twice"
    state = state_from(loaded)
    assert problems(state) == []
    for ledger, slots in state.ledger_slots.items():
        balances = [state._get(slot) for slot in slots]
        debits = sum(b[0] for b in balances), sum(b[1] for b in balances)
        credits = sum(b[2] for b in balances), sum(b[3] for b in balances)
        assert debits == credits, f"ledger {ledger}: debits {debits} != credits {credits}"
    return loaded


def read_acks(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    text = path.read_text(encoding="ascii")
    complete = text[: text.rfind("\n") + 1]  # a line cut by the kill was never acknowledged
    return [line.split() for line in complete.splitlines()]


def check_acknowledged(
    loaded: LoadedJournal, acks: list[list[str]], unacknowledged_allowed: set[int]
) -> None:
    sequences = [int(ack[0]) for ack in acks]
    assert not [s for s, n in Counter(sequences).items() if n > 1], "a batch acknowledged twice"
    stored = stored_digests(loaded)
    for sequence, rows, digest, _ in acks:
        assert int(sequence) in stored, f"acknowledged batch {sequence} is lost"
        assert stored[int(sequence)] == (int(rows), digest), f"batch {sequence} changed"
    unacknowledged = set(stored) - set(sequences)
    assert unacknowledged <= unacknowledged_allowed, f"never acknowledged: {unacknowledged}"


def stored_digests(loaded: LoadedJournal) -> dict[int, tuple[int, str]]:
    """Per stored batch: its transfer count and the digest of the ids of all its rows."""
    counts = [[b.accounts, b.transfers, b.expiries] for b in loaded.batches]
    ends = np.cumsum(np.array(counts, dtype=np.int64).reshape(-1, 3), axis=0)
    account_ids = [a.id for a in loaded.accounts]
    transfer_ids = loaded.transfers.id.tolist()
    expired = list(loaded.expiries.pending_id)
    found = {}
    for index, batch in enumerate(loaded.batches):
        starts = ends[index] - np.array(counts[index])
        digest = rows_digest(
            account_ids[starts[0] : ends[index][0]],
            transfer_ids[starts[1] : ends[index][1]],
            expired[starts[2] : ends[index][2]],
        )
        found[batch.sequence] = (batch.transfers, digest)
    return found


def check_against_a_run_without_crashes(loaded: LoadedJournal, acks: list[list[str]]) -> None:
    expected_state, expected_lines = reference(SEED, loaded.batch_count)
    assert differences(state_from(loaded), expected_state) == []
    for ack in acks:
        assert " ".join(ack) == expected_lines[int(ack[0]) - 1].strip(), "results differ"


def sqlite_counts(path: Path, table: str) -> dict[int, int]:
    with sqlite3.connect(path) as connection:
        if table == "transfers":  # a batch's transfers packed in one row: count its ids
            rows = connection.execute("SELECT batch, transfers, columns FROM transfer_columns")
            return {
                batch: len(TransferColumns.unpacked(blob, count)["id"])
                for batch, count, blob in rows.fetchall()
            }
        rows = connection.execute(f"SELECT batch, count(*) FROM {table} GROUP BY batch")
        return dict(rows.fetchall())


def postgres_counts(schema: str, table: str) -> dict[int, int]:
    with psycopg.connect(PG_DSN, autocommit=True) as connection:
        if table == "transfers":  # packed as in SQLite, and counted the same way
            rows = connection.execute(
                f'SELECT batch, transfers, columns FROM "{schema}".transfer_columns'
            )
            return {
                batch: len(TransferColumns.unpacked(blob, count)["id"])
                for batch, count, blob in rows.fetchall()
            }
        rows = connection.execute(f'SELECT batch, count(*) FROM "{schema}".{table} GROUP BY batch')
        return dict(rows.fetchall())
