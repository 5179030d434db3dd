"""The settlement pipeline: the engine's decisions made durable through the ledger.

The hub is the only place that strings the domain together (DESIGN §3). Each operation
asks the engine to decide, drains its transfers and events, and applies the transfers to
the durable ledger in batches cut at linked-chain boundaries; an operation returns only once
its batches are committed, so nothing it reports is lost.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from samarkand.hub.quiet import quiet_stdout
from samarkand.ledger import Account, AccountFlags, CreateAccountResult, Transfer
from samarkand.ledger.types import (
    BATCH_EVENTS_MAX,
    U128_MAX,
    AccountCode,
    CreateTransferResult,
    LimitChange,
    SetLimitResult,
    TransferCode,
    TransferFlags,
)
from samarkand.settlement.engine import SettlementEngine
from samarkand.settlement.participants import (
    Directory,
    Participant,
    ParticipantKind,
    ParticipantStatus,
    account_id,
)
from samarkand.settlement.payments import Event, Payment, Reason
from samarkand.store import DurableLedger

# A balance would pass 2**128 - 1: the amount is too large for the account, not a bug.
_OVERFLOWS = frozenset(
    {
        CreateTransferResult.OVERFLOWS_DEBITS_POSTED,
        CreateTransferResult.OVERFLOWS_CREDITS_POSTED,
        CreateTransferResult.OVERFLOWS_DEBITS,
        CreateTransferResult.OVERFLOWS_CREDITS,
    }
)


class LedgerRefused(RuntimeError):
    """The ledger refused a transfer the engine decided: the engine and ledger disagree (a
    bug), so the hub stops rather than report something that did not happen."""


@dataclass(frozen=True, slots=True)
class Liquidity:
    """A liquidity transfer between a direct participant and its central bank."""

    bic: str
    currency: str
    amount: int
    into_hub: bool = True  # True: funds the settlement account; False: drains it


class SettlementHub:
    def __init__(
        self, directory: Directory, ledger: DurableLedger, *, cut_off_ns: dict[str, int]
    ) -> None:
        self.directory = directory
        self.ledger = ledger
        ids = ledger.state.journal.columns().id
        first_id = int(ids.max()) + 1 if len(ids) else 1
        self.engine = SettlementEngine(
            directory, ledger.state, cut_off_ns=cut_off_ns, first_transfer_id=first_id
        )
        self.events: list[Event] = []
        self.clock = 0  # the latest `now` any operation ran at

    # ------------------------------------------------------------------ set-up

    def open_accounts(self, now: int, credit: dict[tuple[str, str], int] | None = None) -> int:
        """Create every account the directory implies that does not exist yet: each central
        bank's mirror and clearing accounts, each direct participant's settlement account in
        every currency (with the intraday credit its central bank grants). Returns how many
        were created."""
        credit = credit or {}
        wanted: list[Account] = []
        for currency, ledger in sorted(self.directory.ledgers.items()):
            central_bank = self.directory.central_bank_of.get(currency)
            if central_bank is None:
                continue
            for code in (AccountCode.MIRROR, AccountCode.CLEARING):
                wanted.append(
                    Account(
                        account_id(ledger, central_bank.number, code),
                        ledger,
                        code,
                        user_data=central_bank.number,
                    )
                )
        for participant in self.directory.direct():
            for currency, ledger in sorted(self.directory.ledgers.items()):
                if currency not in self.directory.central_bank_of:
                    continue
                wanted.append(
                    Account(
                        self.directory.settlement_account(participant, currency),
                        ledger,
                        AccountCode.SETTLEMENT,
                        flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
                        user_data=participant.number,
                        limit=credit.get((participant.bic, currency), 0),
                    )
                )
        missing = [a for a in wanted if self.ledger.state.account(a.id) is None]
        for start in range(0, len(missing), BATCH_EVENTS_MAX):
            results, _ = self.ledger.create_accounts(missing[start : start + BATCH_EVENTS_MAX], now)
            refused = [r for r in results if r != CreateAccountResult.OK]
            if refused:
                raise LedgerRefused(f"accounts refused: {sorted({r.name for r in refused})}")
        return len(missing)

    # ------------------------------------------------------------------ operations

    def liquidity(self, transfers: Sequence[Liquidity], now: int) -> list[Reason | None]:
        """Liquidity transfers (camt.050): each either applied or refused with a reason."""
        outcome: list[Reason | None] = []
        batch: list[Transfer] = []
        positions: list[int] = []
        for index, item in enumerate(transfers):
            participant = self.directory.get(item.bic)
            if participant is None or participant.kind is not ParticipantKind.DIRECT:
                outcome.append(Reason.DEBTOR_AGENT_UNKNOWN)
                continue
            if item.currency not in self.directory.central_bank_of:
                outcome.append(Reason.CURRENCY_NOT_ALLOWED)
                continue
            if type(item.amount) is not int or item.amount <= 0:
                outcome.append(Reason.AMOUNT_NOT_POSITIVE)
                continue
            if item.amount > U128_MAX:
                outcome.append(Reason.AMOUNT_TOO_LARGE)
                continue
            mirror = self.directory.mirror_account(item.currency)
            account = self.directory.settlement_account(participant, item.currency)
            debit, credit = (mirror, account) if item.into_hub else (account, mirror)
            batch.append(
                Transfer(
                    self.engine.new_transfer_id(),
                    debit,
                    credit,
                    item.amount,
                    self.directory.ledgers[item.currency],
                    TransferCode.LIQUIDITY,
                )
            )
            positions.append(index)
            outcome.append(None)
        if batch:
            results, _ = self.ledger.apply(batch, now)
            for position, result, transfer in zip(positions, results.tolist(), batch, strict=True):
                if result == CreateTransferResult.EXCEEDS_CREDITS:
                    outcome[position] = Reason.INSUFFICIENT_FUNDS
                elif result in _OVERFLOWS:
                    outcome[position] = Reason.AMOUNT_TOO_LARGE
                elif result != CreateTransferResult.OK:
                    raise LedgerRefused(
                        f"liquidity transfer refused: {CreateTransferResult(result).name}"
                    )
                elif transfer.credit_account_id != self.directory.mirror_account(
                    transfers[position].currency
                ):
                    self.engine.liquidity_increased(transfer.credit_account_id)
        self.engine.release(now)
        self._commit(now)
        return outcome

    def set_credit(
        self, bic: str, currency: str, limit: int, now: int, *, by_central_bank: str
    ) -> Reason | None:
        """Set the intraday credit of `bic`'s settlement account in `currency` to `limit`.

        Only the central bank that issues `currency` grants credit in it. The credit may fall
        no lower than what the participant already uses (CREDIT_BELOW_USE); a refusal changes
        nothing. A raise lets the participant's queued payments that now fit settle at once.
        """
        central_bank = self.directory.central_bank_of.get(currency)
        if central_bank is None:
            return Reason.CURRENCY_NOT_ALLOWED
        if by_central_bank != central_bank.bic:
            return Reason.NOT_CENTRAL_BANK
        participant = self.directory.get(bic)
        if participant is None or participant.kind is not ParticipantKind.DIRECT:
            return Reason.NO_SETTLEMENT_ACCOUNT
        if type(limit) is not int or limit < 0:
            return Reason.CREDIT_INVALID
        if limit > U128_MAX:
            return Reason.AMOUNT_TOO_LARGE
        account = self.directory.settlement_account(participant, currency)
        before = self.ledger.state.account(account)
        if before is None:
            return Reason.NO_SETTLEMENT_ACCOUNT
        (result,), _ = self.ledger.set_limits([LimitChange(account, limit)], now)
        if result == SetLimitResult.LIMIT_BELOW_USE:
            return Reason.CREDIT_BELOW_USE
        if result != SetLimitResult.OK:
            raise LedgerRefused(f"credit limit refused: {SetLimitResult(result).name}")
        if limit > before.limit:
            self.engine.liquidity_increased(account)
        self.engine.release(now)
        self._commit(now)
        return None

    def submit(self, payments: Sequence[Payment], now: int) -> list[Reason | None]:
        outcome = self.engine.submit(payments, now)
        self._commit(now)
        return outcome

    def tick(self, now: int) -> None:
        self.engine.tick(now)
        self._commit(now)

    def optimise(self, now: int, *, non_fifo: bool = False) -> int:
        with quiet_stdout() if non_fifo else contextlib.nullcontext():
            settled = self.engine.optimise(now, non_fifo=non_fifo)
        self._commit(now)
        return settled

    def close_window(self, currency: str, now: int) -> tuple[int, list[int]]:
        result = self.engine.close_window(currency, now)
        self._commit(now)
        return result

    def end_of_day(self, now: int, *, non_fifo: bool = True) -> int:
        with quiet_stdout() if non_fifo else contextlib.nullcontext():
            rejected = self.engine.end_of_day(now, non_fifo=non_fifo)
        self._commit(now)
        return rejected

    def cancel(self, uetr: int, by_bic: str, now: int) -> Reason | None:
        reason = self.engine.cancel(uetr, by_bic, now)
        self._commit(now)
        return reason

    def reorder(self, uetr: int, by_bic: str, *, to_front: bool, now: int) -> Reason | None:
        reason = self.engine.reorder(uetr, by_bic, to_front=to_front, now=now)
        self._commit(now)
        return reason

    # ------------------------------------------------------------------ participants

    def set_status(self, bic: str, status: ParticipantStatus) -> None:
        """Suspend or reinstate a participant: a suspended one's new payments are refused
        (AG01); what it already queued stays queued."""
        before = self.directory.by_bic[bic]
        after = replace(before, status=status)
        self.directory.by_bic[bic] = after
        self.directory.by_number[before.number] = after

    def admit(self, participant: Participant, ledger: int, now: int) -> int:
        """Add an approved participant to the directory and open its accounts; a central bank
        brings its currency (ledger `ledger`, the same cut-off as the others). Returns how many
        accounts were opened."""
        directory = self.directory
        if participant.kind is ParticipantKind.CENTRAL_BANK:
            directory.ledgers[participant.home_currency] = ledger
        directory._check(participant)
        directory.by_bic[participant.bic] = participant
        directory.by_number[participant.number] = participant
        if participant.kind is ParticipantKind.CENTRAL_BANK:
            directory.central_bank_of[participant.home_currency] = participant
            self.engine.currency_of_ledger[ledger] = participant.home_currency
            self.engine.cut_off_ns[participant.home_currency] = max(
                self.engine.cut_off_ns.values(), default=now
            )
        return self.open_accounts(now)

    # ------------------------------------------------------------------ commit

    def _commit(self, now: int) -> None:
        self.clock = max(self.clock, now)
        transfers, events = self.engine.drain()
        for batch in chain_batches(transfers):
            results, _ = self.ledger.apply(batch, now)
            if np.any(results != CreateTransferResult.OK):
                first = int(np.flatnonzero(results != CreateTransferResult.OK)[0])
                raise LedgerRefused(
                    f"transfer {batch[first].id} refused: "
                    f"{CreateTransferResult(int(results[first])).name}"
                )
        self.events.extend(events)


def chain_batches(transfers: list[Transfer]) -> list[list[Transfer]]:
    """Split transfers into ledger batches of at most 8,190, never inside a linked chain."""
    batches: list[list[Transfer]] = []
    current: list[Transfer] = []
    chain: list[Transfer] = []
    linked = int(TransferFlags.LINKED)
    for transfer in transfers:
        chain.append(transfer)
        if transfer.flags & linked:
            continue
        if len(current) + len(chain) > BATCH_EVENTS_MAX:
            batches.append(current)
            current = []
        if len(chain) > BATCH_EVENTS_MAX:
            raise ValueError(f"a linked chain of {len(chain)} transfers exceeds one batch")
        current.extend(chain)
        chain = []
    if chain:
        raise ValueError("transfers end inside an open linked chain")
    if current:
        batches.append(current)
    return batches
