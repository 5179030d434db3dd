"""ISO 20022 messages through the service: the one place that hands a message to the hub.

Every inbound type goes through the hub's dispatcher (`process_message`: pacs.008, pacs.009,
pacs.004, camt.050, camt.056) with the service's message log, so a message sent again gets
the same responses back, byte for byte, and never settles twice, across restarts too.

Who may send what:

- The message's sender is its AppHdr `Fr`, else the group header's instructing agent
  (camt.056: the assigner). It must be the authenticated participant or an agent that
  settles through it; otherwise the message is refused (403, AGNT) before the hub or its
  message log is looked at (`process_message` with a `Caller`). A Document with
  neither AppHdr nor instructing agent is the caller's own.
- Each payment the message would submit (a pacs.008/009 transaction, a pacs.004 return)
  must have a debtor agent the caller acts for; one that has not is refused with AGNT in
  the pacs.002 and never reaches the hub.
- camt.050 and camt.056 then follow the hub's own rules on the sender (a participant moves
  its own liquidity; only the debtor agent cancels).

Every response goes to its receiver's mailbox (an agent's messages to the direct participant
it settles through), in the same transaction as the round's status notices; the HTTP answer
is the response to the sender (pacs.002 or camt.029). The message log records the message as
answered only after that transaction: if the process stops in between, the message stays
begun, and a resend is answered from the hub's state with its responses posted again (the
camt.054 of what it settled included), so no response of an answered message is lost.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from samarkand.hub.message_log import Awaiting, MessageLog, MessageRecord, response_kind
from samarkand.hub.messages import (
    Caller,
    Processed,
    ReadMessage,
    Response,
    message_steps,
    participant_bic,
    run_turns,
)
from samarkand.service.shared import owns
from samarkand.settlement.participants import Directory
from samarkand.settlement.payments import FxPayment, Payment, Reason

if TYPE_CHECKING:
    from samarkand.service.engine import Engine, Finished

ANSWER_KINDS = ("pacs.002", "camt.029")


class NotSender(Exception):
    """The message names a sender the caller does not act for."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class MessageAnswer:
    processed: Processed
    answer: Response | None  # the response to the sender; None when the file had no MsgId


def acts_for(directory: Directory, caller: str, bic: str | None) -> bool:
    """`caller` acts for `bic` (a message's 8 or 11 character BIC): it is that agent, or
    the direct participant the agent settles through."""
    agent = participant_bic(bic)
    return agent is not None and owns(directory, caller, agent)


def mailbox_of(directory: Directory, bic: str) -> str:
    """Whose mailbox a response to `bic` goes to: the direct participant it settles via."""
    settling = directory.settling_participant(participant_bic(bic) or bic)
    return settling.bic if settling is not None else participant_bic(bic) or bic


class _RecordedByWriter:
    """The message log as a message uses it on the hub's thread: what it finished is kept
    for the engine's writer, which records it once the responses are in the mailboxes, so
    a message recorded as answered has every response posted; a look at a message waits
    for what the writer still holds of it."""

    def __init__(self, engine: Engine, log: MessageLog) -> None:
        self._engine = engine
        self._log = log
        self.finished: Finished | None = None

    def get(self, sender: str, msg_id: str) -> MessageRecord | None:
        self._engine.wait_recorded(sender, msg_id)
        return self._log.get(sender, msg_id)

    def begin(self, *args: Any, **kwargs: Any) -> None:
        self._log.begin(*args, **kwargs)

    def finish(self, sender: str, msg_id: str, responses: list[tuple[str, str, bytes]]) -> None:
        self.finished = (sender, msg_id, responses)


class _CallerHub:
    """The hub as one caller's message may use it: a payment whose debtor agent the caller
    does not act for is refused (AGNT) here and never reaches the hub."""

    def __init__(self, durable: Any, caller: str) -> None:
        self._durable = durable
        self._caller = caller
        self.hub = durable.hub
        self.liquidity = durable.liquidity

    def cancel(self, *args: Any, **kwargs: Any) -> Any:
        """A camt.056's cancellation, logged as the caller's (the audit trail's "by")."""
        with self._durable.acting(self._caller):
            return self._durable.cancel(*args, **kwargs)

    @property
    def commands(self) -> int:
        return int(self._durable.commands)

    def submit(self, payments: Sequence[Payment], now: int) -> list[Reason | None]:
        return self._owned(payments, now, self._durable.submit)

    def submit_fx(self, payments: Sequence[FxPayment], now: int) -> list[Reason | None]:
        return self._owned(payments, now, self._durable.submit_fx)

    def _owned(self, payments: Sequence[Any], now: int, run: Any) -> list[Reason | None]:
        directory = self.hub.directory
        agents = [p.debtor_agent for p in payments]
        # Once per debtor agent: a bulk message's payments have one or a few.
        verdicts = {agent: acts_for(directory, self._caller, agent) for agent in set(agents)}
        if all(verdicts.values()):
            return list(run(payments, now)) if payments else []
        mine = list(map(verdicts.__getitem__, agents))
        taken = [p for p, m in zip(payments, mine, strict=True) if m]
        accepted = iter(run(taken, now) if taken else [])
        return [next(accepted) if m else Reason.NOT_OWNER for m in mine]


def submit_message_steps(
    engine: Engine, data: bytes | ReadMessage, now: int, *, caller: str
) -> Generator[None, int, MessageAnswer]:
    """Run one message for `caller` on the hub's thread (read already, or to read there), in
    turns (`Engine.steps`): its transactions `engine.message_batch` at a time, one batch
    per round. Its responses are posted to the mailboxes with the notices of its last round (a
    recorded replay posts nothing again)."""
    durable = engine.durable
    assert durable is not None
    directory = durable.hub.directory
    log = None if engine.messages is None else _RecordedByWriter(engine, engine.messages)
    mine = object()
    held: list[tuple[str, str]] = []

    def busy(sender: str, msg_id: str) -> bool:  # the same message from the same sender
        if engine.messages_under_way.setdefault((sender, msg_id), mine) is not mine:
            return True
        held.append((sender, msg_id))
        return False

    try:
        processed = yield from message_steps(
            _CallerHub(durable, caller),
            data,
            now,
            log=log,  # type: ignore[arg-type]
            caller=Caller(caller, lambda bic: acts_for(directory, caller, bic)),
            step_tx=engine.message_batch,
            turned=engine.cover,  # its camt.054s are made of the settlements among those
            busy=busy,
            defer_notifications=True,  # made by the engine's renderer, posted in their place
        )
    finally:
        # A message answered stays under way until its round is handed to the writer (then
        # a resend waits for its record: `Engine.wait_recorded`); one cut off is done now.
        if log is None or log.finished is None:
            for taken in held:
                del engine.messages_under_way[taken]
    if processed.not_sender:
        (problem,) = processed.problems
        raise NotSender(problem.path or "/Document", problem.message)
    finished = None if log is None else log.finished
    answer = next((r for r in processed.responses if response_kind(r.name) in ANSWER_KINDS), None)
    job = processed.notifications
    if not processed.replayed and (processed.responses or finished is not None or job):
        posted: list[Any] = [
            (mailbox_of(directory, r.receiver), response_kind(r.name), r.data)
            for r in processed.responses
        ]
        if job is not None:  # to the mailboxes of the BICs told
            mailboxes = {bic: mailbox_of(directory, bic) for bic in job.mailboxes}
            posted.append(engine.renderer.begin(replace(job, mailboxes=mailboxes)))
        engine.post(posted, finished, _queued(processed, answer, directory))
    return MessageAnswer(processed, answer)


def submit_message(
    engine: Engine, data: bytes | ReadMessage, now: int, *, caller: str
) -> MessageAnswer:
    """`submit_message_steps` in one go (on the hub's thread, nothing else between)."""
    return run_turns(submit_message_steps(engine, data, now, caller=caller), now)


def _queued(
    processed: Processed, answer: Response | None, directory: Directory
) -> list[tuple[int, Awaiting]]:
    """The transactions of a pacs.008 or pacs.009 that its answer reports ACSP (queued):
    told again, in a second pacs.002 to the answer's receiver, once their payments are
    final."""
    if answer is None or processed.msg_id is None or not processed.queued:
        return []
    receiver = mailbox_of(directory, answer.receiver)
    what = (receiver, processed.msg_id, processed.message_id or "")
    return [(uetr, (*what, instruction, end_to_end))
            for uetr, instruction, end_to_end in processed.queued]  # fmt: skip
