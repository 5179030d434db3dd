"""PvP execution (DESIGN §6, §9): reserve every leg, decide once, durably, then post or void all.

The protocol, each step durable before the next starts:

    begin     the decision log records the PvP and its legs ("begun"), before any money moves
    reserve   one ledger batch: every leg a pending transfer with a timeout
    decide    COMMIT if every leg reserved, else ABORT; written to the decision log
    finish    one ledger batch: post every leg (COMMIT) or void every pending one (ABORT);
              then the log marks the PvP finished with its outcome

`execute_many` runs many PvPs through the same four steps at once (group commit: one log
commit and one ledger batch per step for all of them), each still decided on its own legs.

`recover(now)` finishes every PvP the log holds unfinished: it first logs ABORT for one
without a decision (no decision logged means abort; writing it makes the choice final, so
nothing can commit that PvP later), then acts on the logged decision, in ledger batches of
at most BATCH_EVENTS_MAX transfers. Recovery is idempotent: legs already posted or voided
are left alone, and a PvP killed after its finish batch is only marked finished.

Timeouts. A commit posts only while every leg is still pending and `now` is before the
earliest leg's expiry. The legs of one batch get consecutive timestamps and so expire a few
nanoseconds apart; a batch whose `now` fell between those instants would expire some legs and
post the others. Past the earliest expiry the PvP is therefore voided whatever the log says
(the reservations are gone in business terms), and the outcome, not the decision, is what the
payment reports. Without this rule a recovery after a long outage would half-apply a PvP.

The decision log lives in its own SQLite file, not in the ledger's: it is the coordinator's
record, and under the scale-out of §9 each currency's ledger sits in its own database, so
the protocol must not lean on one transaction spanning log and ledger. Order across the two
files comes from the program order of fsynced commits (WAL, `synchronous=FULL`); the ledger
store's file also keeps exactly the store's own schema.
"""

from __future__ import annotations

import enum
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from samarkand.fx.pvp import (
    LegFailure,
    PvpDecision,
    PvpPlan,
    decide,
    failures,
    finish_transfers,
    leg_indexes,
    reserve_id,
    reserve_transfers,
)
from samarkand.fx.routing import Quote
from samarkand.ledger.invariants import InvariantError
from samarkand.ledger.types import BATCH_EVENTS_MAX, PendingStatus
from samarkand.settlement.participants import Directory
from samarkand.store import DurableLedger, StoreError
from samarkand.store.sqlite import decode, encode
from samarkand.store.sqlite_file import open_durable, transaction

RECOVER_BATCH_MAX = 10_000  # PvPs one `recover` call finishes; call again for more

SCHEMA = """
CREATE TABLE IF NOT EXISTS pvp (
    id ANY PRIMARY KEY, leg_mask INTEGER NOT NULL, begun_ns ANY NOT NULL,
    decision TEXT, decided_ns ANY, outcome TEXT, finished_ns ANY
) STRICT;
CREATE INDEX IF NOT EXISTS pvp_unfinished ON pvp (finished_ns) WHERE finished_ns IS NULL;
"""


class PvpOutcome(enum.Enum):
    POSTED = "posted"  # every leg posted: the payment settled
    VOIDED = "voided"  # no leg posted: each voided, expired, or never reserved


@dataclass(frozen=True, slots=True)
class PvpRecord:
    pvp_id: int
    leg_mask: int
    begun_ns: int
    decision: PvpDecision | None
    decided_ns: int | None
    outcome: PvpOutcome | None
    finished_ns: int | None


@dataclass(frozen=True, slots=True)
class PvpResult:
    pvp_id: int
    decision: PvpDecision
    outcome: PvpOutcome
    failures: tuple[LegFailure, ...] = ()


class DecisionLog:
    """One row per PvP: begun, then decided once, then finished. Every write is fsynced."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._connection = open_durable(self.path, "a PvP decision log")
        try:
            self._connection.executescript(SCHEMA)
        except sqlite3.Error as error:
            self._connection.close()
            raise StoreError(f"{self.path}: cannot open the decision log ({error})") from error

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._connection)

    def begin(self, pvp_id: int, leg_mask: int, now: int) -> bool:
        """Record the PvP as begun; False if its id is in the log already (never reuse one)."""
        return not self.begin_many([(pvp_id, leg_mask)], now)

    def begin_many(self, pvps: Sequence[tuple[int, int]], now: int) -> list[int]:
        """Record every (id, leg mask) as begun in one commit, or none of them: the ids
        already in the log, if any, are returned and nothing is written."""
        with self._transaction() as transaction:
            known = [
                pvp_id
                for pvp_id, _ in pvps
                if transaction.execute(
                    "SELECT 1 FROM pvp WHERE id = ?", (encode(pvp_id),)
                ).fetchone()
                is not None
            ]
            if not known:
                transaction.executemany(
                    "INSERT INTO pvp (id, leg_mask, begun_ns) VALUES (?, ?, ?)",
                    [(encode(pvp_id), mask, encode(now)) for pvp_id, mask in pvps],
                )
        return known

    def decide(self, pvp_id: int, decision: PvpDecision, now: int) -> PvpDecision:
        """Log `decision` unless one is logged already; the logged decision wins either way."""
        return self.decide_many({pvp_id: decision}, now)[pvp_id]

    def decide_many(self, decisions: Mapping[int, PvpDecision], now: int) -> dict[int, PvpDecision]:
        """`decide` for many PvPs in one commit; the decision logged for each."""
        with self._transaction() as transaction:
            transaction.executemany(
                "UPDATE pvp SET decision = ?, decided_ns = ? WHERE id = ? AND decision IS NULL",
                [(d.value, encode(now), encode(pvp_id)) for pvp_id, d in decisions.items()],
            )
            logged = {}
            for pvp_id in decisions:
                row = transaction.execute(
                    "SELECT decision FROM pvp WHERE id = ?", (encode(pvp_id),)
                ).fetchone()
                if row is None:
                    raise StoreError(f"PvP {pvp_id} was never begun")
                logged[pvp_id] = PvpDecision(row[0])
        return logged

    def finish_many(self, outcomes: Mapping[int, PvpOutcome], now: int) -> None:
        with self._transaction() as transaction:
            transaction.executemany(
                "UPDATE pvp SET outcome = ?, finished_ns = ? WHERE id = ? AND outcome IS NULL",
                [(o.value, encode(now), encode(pvp_id)) for pvp_id, o in outcomes.items()],
            )

    def get(self, pvp_id: int) -> PvpRecord | None:
        row = self._connection.execute(
            "SELECT * FROM pvp WHERE id = ?", (encode(pvp_id),)
        ).fetchone()
        return None if row is None else _record(row)

    def unfinished(self, limit: int = RECOVER_BATCH_MAX) -> list[PvpRecord]:
        rows = self._connection.execute(
            "SELECT * FROM pvp WHERE finished_ns IS NULL ORDER BY rowid LIMIT ?", (limit,)
        ).fetchall()
        return [_record(row) for row in rows]

    def records(self) -> list[PvpRecord]:
        return [_record(row) for row in self._connection.execute("SELECT * FROM pvp")]

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _record(row: tuple) -> PvpRecord:
    pvp_id, leg_mask, begun, decision, decided, outcome, finished = row
    return PvpRecord(
        decode(pvp_id),
        leg_mask,
        decode(begun),
        None if decision is None else PvpDecision(decision),
        None if decided is None else decode(decided),
        None if outcome is None else PvpOutcome(outcome),
        None if finished is None else decode(finished),
    )


class PvpCoordinator:
    """Runs PvPs over one durable ledger (all currency ledgers) and a decision log.

    `step` is called with the name of each durable step done ("begun", "reserved",
    "decided", "finished"): a seam for crash tests, a no-op otherwise.
    """

    def __init__(
        self,
        ledger: DurableLedger,
        decisions: DecisionLog,
        step: Callable[[str], None] = lambda name: None,
    ) -> None:
        self.ledger = ledger
        self.decisions = decisions
        self._step = step

    def execute(self, pvp: PvpPlan, now: int) -> PvpResult:
        return self.execute_many([pvp], now)[0]

    def execute_many(self, pvps: Sequence[PvpPlan], now: int) -> list[PvpResult]:
        """Run PvPs together: each step is one commit for all of them (group commit), while
        each PvP is still decided on its own legs alone."""
        legs_total = sum(len(pvp.legs) for pvp in pvps)
        if not pvps or legs_total > BATCH_EVENTS_MAX or any(not pvp.legs for pvp in pvps):
            raise ValueError(f"{len(pvps)} PvPs of {legs_total} legs: not one batch")
        if len({pvp.pvp_id for pvp in pvps}) != len(pvps):
            raise ValueError("a PvP id twice in one call")
        used = self.decisions.begin_many([(pvp.pvp_id, pvp.leg_mask) for pvp in pvps], now)
        if used:
            raise ValueError(f"PvP ids {used[:10]} were used before: recover them, never rerun")
        self._step("begun")
        transfers = [transfer for pvp in pvps for transfer in reserve_transfers(pvp)]
        results, _ = self.ledger.apply(transfers, now)
        self._step("reserved")
        codes: dict[int, list[int]] = {}
        offset = 0
        for pvp in pvps:
            codes[pvp.pvp_id] = [int(code) for code in results[offset : offset + len(pvp.legs)]]
            offset += len(pvp.legs)
        wanted = {pvp.pvp_id: decide(codes[pvp.pvp_id]) for pvp in pvps}
        logged = self.decisions.decide_many(wanted, now)
        self._step("decided")
        outcomes = self._finish([(p.pvp_id, p.leg_mask, logged[p.pvp_id]) for p in pvps], now)
        return [
            PvpResult(
                pvp.pvp_id,
                logged[pvp.pvp_id],
                outcomes[pvp.pvp_id],
                tuple(failures(pvp, codes[pvp.pvp_id])),
            )
            for pvp in pvps
        ]

    def recover(self, now: int) -> list[PvpResult]:
        """Finish every unfinished PvP of the log (at most RECOVER_BATCH_MAX per call)."""
        records = self.decisions.unfinished()
        undecided = {r.pvp_id: PvpDecision.ABORT for r in records if r.decision is None}
        logged = self.decisions.decide_many(undecided, now) if undecided else {}
        done: list[PvpResult] = []
        chunk: list[tuple[int, int, PvpDecision]] = []
        legs = 0
        for record in records:
            decision = record.decision or logged[record.pvp_id]
            count = len(leg_indexes(record.leg_mask))
            if legs + count > BATCH_EVENTS_MAX:
                done.extend(self._finish_results(chunk, now))
                chunk, legs = [], 0
            chunk.append((record.pvp_id, record.leg_mask, decision))
            legs += count
        if chunk:
            done.extend(self._finish_results(chunk, now))
        return done

    def _finish_results(
        self, items: list[tuple[int, int, PvpDecision]], now: int
    ) -> list[PvpResult]:
        outcomes = self._finish(items, now)
        return [PvpResult(pvp_id, decision, outcomes[pvp_id]) for pvp_id, _, decision in items]

    def _finish(
        self, items: Sequence[tuple[int, int, PvpDecision]], now: int
    ) -> dict[int, PvpOutcome]:
        """Post or void the legs of (id, leg mask, logged decision) in one batch; log outcomes."""
        state = self.ledger.state
        transfers = []
        for pvp_id, leg_mask, decision in items:
            indexes = leg_indexes(leg_mask)
            statuses = [state.pending(reserve_id(pvp_id, index)) for index in indexes]
            pending = [
                i for i, s in zip(indexes, statuses, strict=True) if s is PendingStatus.PENDING
            ]
            if not pending:
                continue
            expiries = [state.pending_expires_at.get(reserve_id(pvp_id, i)) for i in pending]
            alive = all(expiry is None or now < expiry for expiry in expiries)
            commit = decision is PvpDecision.COMMIT and len(pending) == len(indexes) and alive
            # Voids at a `now` past some expiries let the ledger expire those first: their
            # results read PENDING_TRANSFER_EXPIRED, which is as good as a void.
            verb = PvpDecision.COMMIT if commit else PvpDecision.ABORT
            transfers.extend(finish_transfers(pvp_id, pending, verb))
        if transfers:
            self.ledger.apply(transfers, now)
        outcomes = {
            pvp_id: self._outcome(pvp_id, leg_indexes(leg_mask)) for pvp_id, leg_mask, _ in items
        }
        self.decisions.finish_many(outcomes, now)
        self._step("finished")
        return outcomes

    def _outcome(self, pvp_id: int, indexes: list[int]) -> PvpOutcome:
        """What the ledger holds for the legs, checked all-or-nothing (a bug otherwise)."""
        state = self.ledger.state
        statuses = [state.pending(reserve_id(pvp_id, index)) for index in indexes]
        posted = sum(status is PendingStatus.POSTED for status in statuses)
        if statuses and posted == len(statuses):
            return PvpOutcome.POSTED
        if posted == 0 and PendingStatus.PENDING not in statuses:
            return PvpOutcome.VOIDED
        raise InvariantError(f"PvP {pvp_id}: legs half applied: {statuses}")


def accounts_from_directory(
    directory: Directory, quote: Quote, payer: str, payee: str
) -> tuple[int, int, Mapping[tuple[str, str], int]]:
    """The settlement accounts of a quote's parties: (payer's, payee's, providers' by currency).

    Parties are named by BIC and settle through their direct participant; a provider's
    accounts are its settlement accounts in the two currencies of each of its hops.
    """

    def account(bic: str, currency: str) -> int:
        participant = directory.settling_participant(bic)
        if participant is None:
            raise KeyError(f"{bic} is not a participant")
        return directory.settlement_account(participant, currency)

    providers = {}
    for hop in quote.hops:
        for currency in (hop.sell, hop.buy):
            providers[(hop.provider, currency)] = account(hop.provider, currency)
    return account(payer, quote.source), account(payee, quote.destination), providers
