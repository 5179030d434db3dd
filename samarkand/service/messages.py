"""ISO 20022 messages through the service: the one place that hands a message to the hub.

Only the debtor agent (or the direct participant it settles through) may send a payment: a
transaction whose debtor agent is another participant's is rejected with AGNT, without
reaching the hub. The pacs.002 is answered and also left in the sender's mailbox, in the same
transaction as the round's status notices.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from samarkand.hub.messages import MessageOutcome, submit_credit_transfers
from samarkand.settlement.payments import Payment, Reason

if TYPE_CHECKING:
    from samarkand.service.engine import Engine


def submit_message(
    engine: Engine, data: bytes, now: int, *, sender: str, digest: str
) -> MessageOutcome:
    durable = engine.durable
    assert durable is not None
    directory = durable.hub.directory

    def owned(agent: str) -> bool:
        settling = directory.settling_participant(agent)
        return agent == sender or (settling is not None and settling.bic == sender)

    def submit(payments: Sequence[Payment], at: int) -> list[Reason | None]:
        mine = [p for p in payments if owned(p.debtor_agent)]
        accepted = iter(durable.submit(mine, at) if mine else [])
        return [next(accepted) if owned(p.debtor_agent) else Reason.NOT_OWNER for p in payments]

    created = dt.datetime.fromtimestamp(now // 10**9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    outcome = submit_credit_transfers(
        durable.hub, data, now, msg_id="SMK" + digest[:20].upper(), created_at=created,
        submit=submit,
    )  # fmt: skip
    if outcome.report is not None:
        engine.publish(now, [(sender, "pacs.002", outcome.report)])
    return outcome
