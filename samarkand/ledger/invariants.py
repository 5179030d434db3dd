"""Invariants of the ledger (DESIGN §4), checked after batches in tests and at the end of a run.

`problems` returns every broken invariant as a sentence; `ensure` raises when there is one.
Both survive `python -O`: they never use `assert`.
"""

from __future__ import annotations

from samarkand.ledger.journal import Expiries
from samarkand.ledger.replay import rebuild
from samarkand.ledger.state import (
    CP,
    CPO,
    CREDITS_LIMITED,
    DEBITS_LIMITED,
    DP,
    DPO,
    INT64_MAX,
    LIMIT,
    LedgerState,
)
from samarkand.ledger.types import U128_MAX, PendingStatus


class InvariantError(AssertionError):
    """The ledger broke an invariant: a bug, never a business outcome."""


def problems(state: LedgerState, *, against_journal: bool = True) -> list[str]:
    found: list[str] = []
    sums: dict[int, list[int]] = {}
    for slot, account in enumerate(state.accounts):
        values = state._get(slot)
        ledger_sums = sums.setdefault(account.ledger, [0, 0, 0, 0])
        for position in (DP, DPO, CP, CPO):
            ledger_sums[position] += values[position]
            if not 0 <= values[position] <= U128_MAX:
                found.append(f"account {account.id}: balance field {position} out of range")
        flags = int(state.slot_flags[slot])
        if flags & DEBITS_LIMITED and values[DP] + values[DPO] > values[CPO] + values[LIMIT]:
            found.append(f"account {account.id}: debits exceed credits plus limit")
        if flags & CREDITS_LIMITED and values[CP] + values[CPO] > values[DPO] + values[LIMIT]:
            found.append(f"account {account.id}: credits exceed debits plus limit")
        if account.ledger not in state.wide_ledgers and max(values) > INT64_MAX:
            found.append(f"account {account.id}: narrow ledger holds a value beyond int64")
    for ledger, (dp, dpo, cp, cpo) in sorted(sums.items()):
        if dpo != cpo:
            found.append(f"ledger {ledger}: posted debits {dpo} != posted credits {cpo}")
        if dp != cp:
            found.append(f"ledger {ledger}: pending debits {dp} != pending credits {cp}")
        totals = state.ledger_totals.get(ledger, [0, 0, 0])
        if totals[0] != cpo or totals[1] != cp:
            found.append(f"ledger {ledger}: running totals {totals[:2]} != sums {[cpo, cp]}")
    journal = state.journal.columns()
    ids = journal.id.tolist()
    if len(set(ids)) != len(ids):
        found.append("journal holds a transfer id more than once")
    if len(state.transfer_row) != len(ids):
        found.append("transfer index and journal differ in size")
    if against_journal:
        found.extend(_against_journal(state))
    return found


def _against_journal(state: LedgerState) -> list[str]:
    expired = [
        pending_id
        for pending_id, status in state.pending_status.items()
        if status == PendingStatus.EXPIRED
    ]
    replayed = rebuild(
        state.accounts,
        state.journal.columns(),
        Expiries(tuple(expired), tuple(0 for _ in expired)),
    )
    found = []
    for slot, account in enumerate(state.accounts):
        if state._get(slot)[:4] != replayed._get(slot)[:4]:
            found.append(
                f"account {account.id}: balances {state._get(slot)[:4]} != journal sums "
                f"{replayed._get(slot)[:4]}"
            )
    if replayed.pending_status != state.pending_status:
        found.append("pending statuses differ from the journal's")
    return found


def ensure(state: LedgerState, *, against_journal: bool = True) -> None:
    found = problems(state, against_journal=against_journal)
    if found:
        raise InvariantError("; ".join(found[:10]))
