"""From an ISO 20022 message to money and back: pacs.008 in, payments through the settlement
hub, pacs.002 out.

A transaction that breaks a message rule (samarkand.iso20022) or that the engine refuses
(unknown agent, cut-off, duplicate UETR, ...) is RJCT with its ISO code and element path;
one that settled at once is ACSC; one that waits in a queue (or for a DNS window or its
earliest time) is ACSP. Rule-breaking transactions never reach the engine; the others go in
one `hub.submit`, so a bulk message is one unit of work. A message refused as a whole (not
XML, wrong namespace, fails the XSD) produces no pacs.002 (the vendored reduced
pacs.002.001.12 schema has no group-level reason): the caller reports `file_problems`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass

from samarkand.hub.settlement import SettlementHub
from samarkand.iso20022.pacs002 import (
    ACCEPTED_SETTLEMENT_COMPLETED,
    ACCEPTED_SETTLEMENT_IN_PROCESS,
    build_status_report,
)
from samarkand.iso20022.pacs008 import CreditTransferTx, TxRejection, intake_pacs008
from samarkand.iso20022.problems import IsoRejection
from samarkand.money import default_registry
from samarkand.settlement.payments import Payment, Priority, Reason, Status

BRANCH_PRIMARY_OFFICE = "XXX"
TX_PATH = "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[{index}]"


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    report: bytes | None  # the pacs.002, or None when the file was refused as a whole
    file_problems: tuple[IsoRejection, ...]
    statuses: dict[int, str]  # transaction index -> ACSC / ACSP / RJCT


def participant_bic(bic: str | None) -> str | None:
    """The directory's 8-character BIC for a message's BICFI (XXX is the primary office)."""
    if bic is not None and len(bic) == 11 and bic.endswith(BRANCH_PRIMARY_OFFICE):
        return bic[:8]
    return bic


def known_bics(hub: SettlementHub) -> Set[str]:
    bics = {p.bic for p in hub.directory}
    return bics | {bic + BRANCH_PRIMARY_OFFICE for bic in bics if len(bic) == 8}


def submit_credit_transfers(
    hub: SettlementHub,
    data: bytes,
    now: int,
    *,
    msg_id: str,
    created_at: str,
    submit: Callable[[Sequence[Payment], int], list[Reason | None]] | None = None,
) -> MessageOutcome:
    """Take in one pacs.008 file, settle what may settle, and build the pacs.002.

    `submit` is how the payments go in: `hub.submit` by default; a `DurableHub`'s `submit`
    so that the command is logged before it runs.
    """
    submit = submit or hub.submit
    intake = intake_pacs008(data, registry=default_registry(), known_bics=known_bics(hub))
    if intake.message is None:
        return MessageOutcome(None, intake.file_problems, {})
    message = intake.message
    rejections = list(intake.rejections)
    group_refused = any(r.index is None for r in rejections)
    refused = {r.index for r in rejections}
    candidates = [] if group_refused else [
        tx for tx in message.transactions if tx.index not in refused
    ]  # fmt: skip
    reasons = submit([_payment(tx) for tx in candidates], now)
    statuses: dict[int, str] = {}
    for tx, reason in zip(candidates, reasons, strict=True):
        if reason is not None:
            path = TX_PATH.format(index=tx.index)
            rejections.append(TxRejection(tx.index, tx.end_to_end_id, reason.iso, reason.text,
                                          path))  # fmt: skip
            continue
        assert tx.uetr is not None
        entry = hub.engine.entries[tx.uetr]
        statuses[tx.index] = (
            ACCEPTED_SETTLEMENT_COMPLETED
            if entry.status is Status.SETTLED
            else ACCEPTED_SETTLEMENT_IN_PROCESS
        )
    accepted = {
        tx.index: statuses.get(tx.index, ACCEPTED_SETTLEMENT_IN_PROCESS)
        for tx in message.transactions
    }
    report = build_status_report(
        message, rejections, msg_id=msg_id, created_at=created_at, accepted_status=accepted
    )
    final = {tx.index: "RJCT" for tx in message.transactions}
    if not group_refused:
        final.update(statuses)
    return MessageOutcome(report, (), final)


def _payment(tx: CreditTransferTx) -> Payment:
    assert tx.uetr is not None and tx.amount is not None  # the rules refused the others
    return Payment(
        uetr=tx.uetr,
        debtor_agent=participant_bic(tx.debtor_agent) or "",
        creditor_agent=participant_bic(tx.creditor_agent) or "",
        amount=tx.amount,
        currency=tx.currency,
        priority=Priority[tx.priority],
    )
