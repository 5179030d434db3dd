"""From an ISO 20022 message to money and back (DESIGN §7): one entry point,
``process_message``, for every message the hub takes in (``message_steps``: the same in
turns, for a hub that others use between them).

bytes in -> ``open_message`` (hardened parse; Document alone or BizMsg envelope with a
head.001 AppHdr; the type told by the Document's namespace) -> the handler of that type:

| in | hub operation | out |
|---|---|---|
| pacs.008.001.08, pacs.009.001.08 | ``submit`` (a batch per message or turn) | pacs.002.001.10 |
| pacs.008.001.08 citing an FX quote | ``submit_fx`` (a second batch) | pacs.002.001.10 |
| camt.050.001.07 | ``liquidity`` | pacs.002.001.10 |
| pacs.004.001.09 | ``submit`` of the return: creditor agent -> debtor agent | pacs.002.001.10 |
| camt.056.001.08 | ``cancel`` of each named payment | camt.029.001.09 |

and a camt.054.001.08 to each participant whose settlement account moved while the message
was processed (the payments it settled, and queued ones its liquidity released). Every
response is wrapped with a head.001.001.02 AppHdr from the hub (``HUB_BIC``) to its receiver.

Statuses: a transaction settled at once is ACSC, one waiting in a queue (or for a DNS window
or its earliest time) ACSP, a refused one RJCT with its ISO code and element path. A message
refused as a whole after its MsgId could be read (schema, NbOfTxs, CtrlSum, AppHdr) gets a
pacs.002 with GrpSts RJCT and the reasons at group level; a file with no readable MsgId (not
XML, a bomb, another message type) gets no response: ``Processed.problems`` says why.

Bulk rule: the transactions that pass the message rules go to the hub in one batch (or, in
turns, in batches of ``step_tx``: see ``message_steps``); each is then settled, queued or
refused on its own (a refusal of one does not undo another). A group rule (NbOfTxs,
CtrlSum, the AppHdr) refuses the message as a whole before anything reaches the hub: a bulk
message is never half-taken for a header that does not add up.

Idempotency (with a ``MessageLog``): see ``samarkand.hub.message_log``. Without a log, a
re-sent pacs.008/009 still never settles twice: the engine refuses a known UETR (DUPL).
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence, Set, Sized
from dataclasses import MISSING, dataclass, fields, replace
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from itertools import repeat
from typing import Any

from lxml import etree

from samarkand.fx.rates import base_one_places
from samarkand.fx.routing import Quote
from samarkand.hub.message_log import MessageLog
from samarkand.hub.notifications import BRANCH_XXX as BRANCH_PRIMARY_OFFICE
from samarkand.hub.notifications import (
    Envelope,
    Response,
    Settlements,
    message_bic,
    render_turns,
    settlements,
)
from samarkand.hub.notifications import iso_time as _iso_time
from samarkand.hub.settlement import Liquidity, SettlementHub
from samarkand.iso20022 import schemas
from samarkand.iso20022.camt050 import read_liquidity_transfer
from samarkand.iso20022.cancellation import (
    ACCEPTED,
    ALREADY_FINAL,
    NOT_DEBTOR_AGENT,
    NOT_FOUND,
    CancellationOutcome,
    build_resolution,
    read_cancellation_request,
)
from samarkand.iso20022.cancellation import REJECTED as CANCELLATION_REJECTED
from samarkand.iso20022.envelope import AppHeader, Incoming, open_message
from samarkand.iso20022.pacs002 import (
    ACCEPTED_SETTLEMENT_COMPLETED,
    ACCEPTED_SETTLEMENT_IN_PROCESS,
    PENDING,
    REJECTED,
    StatusUpdate,
    build_file_rejection,
    build_status_report,
    build_status_update,
)
from samarkand.iso20022.pacs004 import check_return_rules, read_return
from samarkand.iso20022.pacs008 import (
    CreditTransferMessage,
    CreditTransferTx,
    TxRejection,
    check_rules,
    read_credit_transfer,
    uetr_number,
)
from samarkand.iso20022.problems import IsoRejection
from samarkand.iso20022.validate import validate_document
from samarkand.money import default_registry, format_amount
from samarkand.money.columns import instances
from samarkand.settlement.participants import Directory, account_parts
from samarkand.settlement.payments import FxPayment, Payment, Priority, Reason, Status

HUB_BIC = "SMRKUZ2TXXX"  # the hub's own BIC in the AppHdr of what it sends
TX_PATH = "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[{index}]"
DUPLICATION = "AM05"  # ExternalStatusReason1Code Duplication: a MsgId reused
INCORRECT_AGENT = "AGNT"
TRANSACTION_FORBIDDEN = "AG01"
NOT_SETTLED = TRANSACTION_FORBIDDEN  # only a settled payment can be returned
WRONG_AMOUNT = "AM09"
INCORRECT_CURRENCY = "CURR"
INVALID_DATE = "DT01"
# A cross-currency payment refused for its quote: the path names where the quote is cited.
_QUOTE_REASONS = frozenset(
    {Reason.QUOTE_UNKNOWN, Reason.QUOTE_EXPIRED, Reason.QUOTE_USED, Reason.QUOTE_NOT_OWNER}
)
_MSG_ID_TAGS = ("GrpHdr", "MsgHdr", "Assgnmt")
_BIC = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?")


@dataclass(frozen=True, slots=True)
class Processed:
    """What ``process_message`` did: the message type and MsgId it read (None when the file
    is not a message it could read), its responses, counts of statuses given, the problems
    that refused the file as a whole, and whether the responses are a recorded replay."""

    message_id: str | None
    msg_id: str | None
    responses: tuple[Response, ...]
    statuses: dict[str, int]
    problems: tuple[IsoRejection, ...] = ()
    replayed: bool = False
    not_sender: bool = False  # refused because the caller does not act for the sender
    # The pacs.008/009 transactions its report answered ACSP (queued): (UETR, InstrId,
    # EndToEndId), "" for an identifier the transaction did not have.
    queued: tuple[tuple[int, str, str], ...] = ()
    # Its settlements' camt.054s still to make (`render`), when the caller asked to make
    # them itself (`message_steps`' `defer_notifications`); they are not in `responses`.
    notifications: Settlements | None = None


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated participant handing a message in. A message whose sender (AppHdr
    ``Fr``, else the instructing agent or assigner) the caller does not act for is refused
    before the message log or the hub is looked at; a message naming no sender is the
    caller's own."""

    bic: str
    acts_for: Callable[[str], bool]


def participant_bic(bic: str | None) -> str | None:
    """The directory's 8-character BIC for a message's BICFI (XXX is the primary office)."""
    if bic is not None and len(bic) == 11 and bic.endswith(BRANCH_PRIMARY_OFFICE):
        return bic[:8]
    return bic


def known_bics(hub: SettlementHub) -> Set[str]:
    bics = {p.bic for p in hub.directory}
    return bics | {bic + BRANCH_PRIMARY_OFFICE for bic in bics if len(bic) == 8}


@dataclass(frozen=True, slots=True)
class _Ops:
    """The hub operations a message may run: a ``DurableHub``'s (logged before they run)
    or a plain ``SettlementHub``'s."""

    hub: SettlementHub
    submit: Callable[[Sequence[Payment], int], list[Reason | None]]
    cancel: Callable[[int, str, int], Reason | None]
    liquidity: Callable[[Sequence[Liquidity], int], list[Reason | None]]
    submit_fx: Callable[[Sequence[FxPayment], int], list[Reason | None]]

    @classmethod
    def of(cls, target: Any) -> _Ops:
        hub = target if isinstance(target, SettlementHub) else target.hub
        return cls(hub, target.submit, target.cancel, target.liquidity, target.submit_fx)


@dataclass(frozen=True, slots=True)
class ReadMessage:
    """A message file as read before the hub is looked at: its digest, and the message it
    holds (or why it is not one) with the problems its schema check found; for a pacs.008 or
    pacs.009 that passed, its values too (``content``). Pure work, no hub state: a service
    reads on other threads than the hub's, so the hub's thread only decides."""

    digest: str
    opened: Incoming | list[IsoRejection]
    invalid: list[IsoRejection]
    content: CreditTransferMessage | None = None
    # The sender, MsgId and header agent's path (`_identity`), read with the rest (None only
    # for a file that is no message).
    identity: tuple[str | None, str | None, str] | None = None


def read_message(data: bytes) -> ReadMessage:
    """Parse, identify and schema-check one message file (see ``process_message``), and read
    the values of a credit transfer that passed."""
    data = bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    opened = open_message(data)
    if isinstance(opened, list):
        return ReadMessage(digest, opened, [])
    invalid = validate_document(opened.document, opened.message_id)
    content = None
    if not invalid and _HANDLERS.get(opened.message_id) is _CreditTransfers:
        content = read_credit_transfer(opened.document, default_registry())
    return ReadMessage(digest, opened, invalid, content, _identity(opened))


def process_message(
    target: Any,
    data: bytes | ReadMessage,
    now: int,
    *,
    log: MessageLog | None = None,
    caller: Caller | None = None,
) -> Processed:
    """Take in one message file (bytes, or as ``read_message`` read it) against ``target`` (a
    ``SettlementHub`` or a ``DurableHub``) at business time ``now`` (ns); return the
    responses. Never raises for bad input; a ``StoreError`` from the hub or the log means
    nothing was acknowledged."""
    return run_turns(message_steps(target, data, now, log=log, caller=caller), now)


# A message taken in turns: each `yield` lets others use the hub; what is sent back is the
# business time (ns) of the turn that goes on.
Turns = Generator[None, int, Processed]


def run_turns(turns: Generator[None, int, Any], now: int) -> Any:
    """Run ``turns`` to its end, one turn after another at ``now``; return its result."""
    sent: int | None = None
    while True:
        try:
            turns.send(sent)  # type: ignore[arg-type]
        except StopIteration as stop:
            return stop.value
        sent = now


def message_steps(
    target: Any,
    data: bytes | ReadMessage,
    now: int,
    *,
    log: MessageLog | None = None,
    caller: Caller | None = None,
    step_tx: int | None = None,
    turned: Callable[[int, int], None] | None = None,
    busy: Callable[[str, str], bool] | None = None,
    defer_notifications: bool = False,
) -> Turns:
    """``process_message`` in turns, for a hub that others use meanwhile (the service's
    thread runs one turn of each message under way per round, between other requests'
    work), so that a large message does not hold them up for its whole decision:

    - ``step_tx``: the transactions go to the hub in batches of at most this many (each
      one command), a turn each; None: in one batch, in one turn;
    - ``turned(start, end)``: after each turn, the hub's events it made (the message's
      camt.054s carry the settlements among them, and only those);
    - ``busy(sender, MsgId)``: another message with this sender and MsgId is under way: this
      one waits, a turn at a time, until it is done, then is answered as a resend;
    - ``defer_notifications``: the camt.054s are not made here but left to the caller, as
      the `Processed`'s ``notifications``.

    Each turn goes on at the business time sent to it."""
    ops = _Ops.of(target)
    if isinstance(data, ReadMessage):
        read = data
    elif isinstance(data, bytes | bytearray):
        read = read_message(data)
    else:
        problem = IsoRejection("FF01", f"expected bytes, not {type(data).__name__}")
        return Processed(None, None, (), {}, (problem,))
    digest = read.digest
    reply = _Reply(ops.hub, "SMK" + digest[:20].upper(), _iso_time(now))
    opened = read.opened
    if isinstance(opened, list):
        return Processed(None, None, (), {}, tuple(opened))
    assert read.identity is not None  # `read_message` reads it with every message it opens
    sender, msg_id, agent_path = read.identity
    if caller is not None:
        foreign = _foreign_sender(caller, opened, sender, agent_path)
        if foreign is not None:
            return Processed(opened.message_id, msg_id, (), {}, (foreign,), not_sender=True)
        sender = sender or message_bic(caller.bic)
    reply.related = opened.header
    reply.sender = participant_bic(sender)
    reply.receiver = reply.sender or HUB_BIC
    if msg_id is None:
        problems = tuple(read.invalid) or (
            IsoRejection("CH21", "the message has no readable MsgId"),
        )
        return Processed(opened.message_id, None, (), {}, problems)
    if opened.header is not None and participant_bic(opened.header.to_bic) != HUB_BIC[:8]:
        reason = f"AppHdr/To {opened.header.to_bic} is not the hub {HUB_BIC}"
        problem = IsoRejection(INCORRECT_AGENT, reason, path="/AppHdr/To")
        return reply.refusal(opened.message_id, msg_id, (problem,))
    key = participant_bic(sender) or ""
    while busy is not None and busy(key, msg_id):
        now = yield
    begun = recovering = False
    if log is not None:
        record = log.get(key, msg_id)
        if record is not None and record.digest != digest:
            reason = f"MsgId {msg_id} from {key or 'this sender'} was used by another message"
            problem = IsoRejection(DUPLICATION, reason, path="/Document")
            return reply.refusal(opened.message_id, msg_id, (problem,))
        if record is not None and record.responses is not None:
            responses = tuple(Response(n, r, d) for n, r, d in record.responses)
            return Processed(opened.message_id, msg_id, responses, {}, replayed=True)
        # Begun, never finished: answer from the hub's state, unless the hub's command log
        # shows that nothing ran since it was begun.
        begun = record is not None
        recovering = record is not None and (
            record.hub_commands is None or record.hub_commands != _commands(target)
        )
    handler = _HANDLERS[opened.message_id]
    prepared = read.invalid or handler.prepare(opened, ops.hub, read.content)
    if isinstance(prepared, list):  # refused as a whole: nothing to record
        return reply.refusal(opened.message_id, msg_id, prepared)
    if log is not None and not begun:
        uetrs = _uetrs_named(prepared, ops.hub.engine)
        log.begin(key, msg_id, opened.message_id, digest, now, _commands(target), uetrs)
    events = ops.hub.events
    made: list[tuple[int, int]] = []  # the hub's events of each turn of this message
    if inspect.isgeneratorfunction(handler.apply):
        applied = handler.apply(prepared, ops, reply, now, recovering, step_tx)
        responses, statuses = yield from _turns(applied, events, made, turned)
    else:
        start = len(events)
        responses, statuses = handler.apply(prepared, ops, reply, now, recovering)
        _turn_made(start, len(events), made, turned)
    settled = reply.earlier + [e for a, b in made for e in events[a:b]]
    pending = None
    if defer_notifications:
        pending = reply.settlements(settled)
    elif len(made) == 1:
        responses += reply.notifications(settled)
    else:  # a message of several turns: each camt.054 in a turn of its own
        responses += yield from reply.notification_turns(settled)
    if log is not None:
        log.finish(key, msg_id, [(r.name, r.receiver, r.data) for r in responses])
    return Processed(
        opened.message_id, msg_id, tuple(responses), statuses, queued=tuple(reply.queued),
        notifications=pending,
    )  # fmt: skip


def _turns(
    inner: Generator[None, int, Any],
    events: Sized,
    made: list[tuple[int, int]],
    turned: Callable[[int, int], None] | None,
) -> Generator[None, int, Any]:
    """Run ``inner`` turn by turn, passing each turn's business time on; the hub's events
    each of its turns made go to ``made`` and ``turned``."""
    sent: int | None = None
    while True:
        start = len(events)
        try:
            inner.send(sent)  # type: ignore[arg-type]
        except StopIteration as stop:
            _turn_made(start, len(events), made, turned)
            return stop.value
        _turn_made(start, len(events), made, turned)
        sent = yield


def _turn_made(
    start: int, end: int, made: list[tuple[int, int]], turned: Callable[[int, int], None] | None
) -> None:
    made.append((start, end))
    if turned is not None:
        turned(start, end)


def _uetrs_named(prepared: Any, engine: Any) -> list[int]:
    """The UETRs of the payments a message names: its transactions' (a pacs.004's: the
    original's and the return's it will run under), or the payments a camt.056 asks to
    cancel."""
    found: list[int] = []
    if isinstance(prepared, tuple):
        message = prepared[0]
        for tx in message.transactions:
            if tx.uetr is not None:
                found.append(tx.uetr)
                original = engine.find(tx.uetr) if message.message_id == schemas.PACS_004 else None
                if original is not None:
                    found.append(next_return_uetr(engine, original.payment))
    for item in getattr(prepared, "items", ()):
        number = uetr_number(item.original_uetr)
        if number is not None:
            found.append(number)
    return found


def _commands(target: Any) -> int | None:
    """The length of a ``DurableHub``'s command log; None for a hub that keeps none."""
    count = getattr(target, "commands", None)
    return count if isinstance(count, int) else None


def _identity(opened: Incoming) -> tuple[str | None, str | None, str]:
    """(sender BIC, MsgId, path of the header's agent element) read before validation, by
    local names: the AppHdr's Fr, else the header's InstgAgt (camt.056: the assigner);
    GrpHdr/MsgHdr MsgId (camt.056: Assgnmt/Id)."""
    body = opened.document[0] if len(opened.document) else None
    if body is None:
        return None, None, "/Document"
    sender = opened.header.from_bic if opened.header else None
    for child in body:
        name = etree.QName(child).localname if isinstance(child.tag, str) else ""
        if name not in _MSG_ID_TAGS:
            continue
        msg_id = child.xpath("string(*[local-name()='MsgId' or local-name()='Id'][1])")
        agent = child.xpath(
            "string(*[local-name()='InstgAgt' or local-name()='Assgnr']"
            "//*[local-name()='BICFI'][1])"
        )
        agent_tag = "Assgnr" if name == "Assgnmt" else "InstgAgt"
        path = f"/Document/{etree.QName(body).localname}/{name}/{agent_tag}"
        # Read before validation: only values the answer can carry are used (a MsgId of 1 to
        # 35 characters, a well-formed BIC); anything else is as if absent.
        text = str(msg_id)
        usable_id = text if 1 <= len(text) <= 35 and text.strip() == text else None
        bic = sender or str(agent)
        return (bic if _BIC.fullmatch(bic) else None), usable_id, path
    return (sender if sender and _BIC.fullmatch(sender) else None), None, "/Document"


def _foreign_sender(
    caller: Caller, opened: Incoming, sender: str | None, agent_path: str
) -> IsoRejection | None:
    """Why ``caller`` may not send this message (AGNT, with the sender's path), or None."""
    named, path = sender, agent_path
    if opened.header is not None:
        named, path = opened.header.from_bic, "/AppHdr/Fr"
        if not named:
            return IsoRejection(INCORRECT_AGENT, "the AppHdr names no sender (Fr)", path=path)
    if named is not None and not caller.acts_for(named):
        reason = f"{named} is not {caller.bic} nor settles through it"
        return IsoRejection(INCORRECT_AGENT, reason, path=path)
    return None


class _Reply:
    """Builds the responses of one message: ids derived from the message's digest (so a
    replay is identical), each wrapped with an AppHdr."""

    def __init__(self, hub: SettlementHub, base: str, created: str) -> None:
        self.hub = hub
        self.base = base
        self.created = created
        self.related: AppHeader | None = None
        self.sender: str | None = None  # who sent the message (directory BIC), if known
        self.receiver = HUB_BIC
        self.earlier: list[Any] = []  # settlements of an interrupted attempt, to notify now
        self.queued: list[tuple[int, str, str]] = []  # see `Processed.queued`

    @property
    def envelope(self) -> Envelope:
        return Envelope(self.base, self.created, self.related, HUB_BIC)

    def wrap(self, message_id: str, suffix: str, document: bytes, receiver: str) -> Response:
        return self.envelope.wrap(message_id, suffix, document, receiver)

    def status_report(
        self, message: CreditTransferMessage, rejections: list[TxRejection],
        accepted: dict[int, str],
    ) -> Response:  # fmt: skip
        report = build_status_report(
            message, rejections, msg_id=f"{self.base}-002", created_at=self.created,
            accepted_status=accepted, original_name=message.message_id, xml_declaration=False,
        )  # fmt: skip
        return self.wrap(schemas.PACS_002, "002", report, self.receiver)

    def refusal(self, message_id: str, msg_id: str, problems: Sequence[IsoRejection]) -> Processed:
        report = build_file_rejection(
            problems, original_msg_id=msg_id, original_name=message_id,
            msg_id=f"{self.base}-002", created_at=self.created,
        )  # fmt: skip
        response = self.wrap(schemas.PACS_002, "002", report, self.receiver)
        return Processed(message_id, msg_id, (response,), {REJECTED: 1}, tuple(problems))

    def notifications(
        self, events: Sequence[Any], owners: Set[str] | None = None
    ) -> list[Response]:
        """One camt.054 per participant whose settlement account moved in ``events`` (of
        ``owners`` only, when given)."""
        return run_turns(self.notification_turns(events, owners), 0)

    def notification_turns(
        self, events: Sequence[Any], owners: Set[str] | None = None
    ) -> Generator[None, int, list[Response]]:
        """``notifications`` in turns: the postings gathered in one, each camt.054 made in
        one of its own (`render_turns`)."""
        job = self.settlements(events, owners)
        return [] if job is None else (yield from render_turns(job))

    def settlements(
        self, events: Sequence[Any], owners: Set[str] | None = None, mailbox_of: Any = None
    ) -> Settlements | None:
        """The settlements among ``events`` to notify (of ``owners`` only, when given), as
        the columns `render` makes the camt.054s of; None when there are none."""
        engine = self.hub.engine
        directory = self.hub.directory
        done, entry_of, find = Status.SETTLED, engine.entries.get, engine.find
        settled = [
            (event.at_ns, entry)
            for event in events
            if event.status is done
            and (entry := entry_of(event.uetr) or find(event.uetr)) is not None
        ]

        def owner_of(account: int) -> str | None:
            owner = directory.by_number.get(account_parts(account)[1])
            if owner is None or (owners is not None and owner.bic not in owners):
                return None
            return str(owner.bic)

        currencies = {ledger: code for code, ledger in directory.ledgers.items()}
        return settlements(self.envelope, settled, owner_of, currencies, mailbox_of)


def settlement_notifications(
    hub: SettlementHub, events: Sequence[Any], msg_id_base: str, now: int,
    owners: Set[str] | None = None,
) -> list[Response]:  # fmt: skip
    """The camt.054s of the settlements among ``events``, as ``process_message`` makes them
    for a message (one per participant whose settlement account moved, of ``owners`` only
    when given), for settlements made outside a message: MsgIds from ``msg_id_base``,
    created at ``now`` (ns), related to no message."""
    return _Reply(hub, msg_id_base, _iso_time(now)).notifications(events, owners)


def status_updates(
    hub: SettlementHub, updates: Sequence[tuple[str, str, str, Sequence[StatusUpdate]]],
    msg_id_base: str, now: int,
) -> list[Response]:  # fmt: skip
    """The pacs.002s, one per (receiver, original MsgId, original message name, updates),
    telling the final status of transactions that the original's report answered ACSP:
    from the hub to the receiver, MsgIds ``msg_id_base``-1, -2, ..., created at ``now``
    (ns), wrapped as ``process_message`` wraps its responses."""
    reply = _Reply(hub, msg_id_base, _iso_time(now))
    made = []
    for number, (receiver, original_msg_id, original_name, items) in enumerate(updates, start=1):
        document = build_status_update(
            items, original_msg_id=original_msg_id, original_name=original_name,
            msg_id=f"{msg_id_base}-{number}", created_at=reply.created, xml_declaration=False,
        )  # fmt: skip
        made.append(reply.wrap(schemas.PACS_002, str(number), document, receiver))
    return made


class _CreditTransfers:
    """pacs.008.001.08 and pacs.009.001.08."""

    @staticmethod
    def prepare(opened: Incoming, hub: SettlementHub, content: Any) -> Any:
        registry = default_registry()
        message = (
            content if content is not None else read_credit_transfer(opened.document, registry)
        )
        return _checked(opened, message, check_rules(message, known_bics(hub), registry))

    @staticmethod
    def apply(
        prepared: Any, ops: _Ops, reply: _Reply, now: int, recovering: bool, step_tx: int | None
    ) -> Generator[None, int, tuple[list[Response], dict[str, int]]]:
        message, rejections = prepared
        if reply.receiver == HUB_BIC and message.transactions:
            # No AppHdr, no InstgAgt: the report goes to the debtor agent (who instructed).
            reply.receiver = participant_bic(message.transactions[0].debtor_agent) or HUB_BIC
        today = ops.hub.engine.business_date or business_day(now)
        rejections = list(rejections) + date_problems(message, rejections, today)
        rejections += _quote_problems(ops.hub, message, rejections, recovering)
        statuses = yield from _settle(ops, message, rejections, now, recovering, _payments, step_tx)
        if step_tx is not None and len(message.transactions) > step_tx:
            yield  # the report of a message of several batches in a turn of its own
        reply.earlier.extend(statuses.earlier)
        refused = {r.index for r in rejections}  # `_settle` added the hub's refusals
        if None not in refused:  # no group rule failed: each transaction has its own status
            reply.queued.extend(
                (tx.uetr, tx.instruction_id or "", tx.end_to_end_id or "")
                for tx in message.transactions
                if tx.uetr is not None and tx.index not in refused
                and statuses.accepted.get(tx.index) == ACCEPTED_SETTLEMENT_IN_PROCESS
            )  # fmt: skip
        return [reply.status_report(message, rejections, statuses.accepted)], statuses.counts


def business_day(now: int) -> str:
    """The hub's business day of ``now`` (ns) when no calendar opened the day: its UTC date,
    ISO 8601. (A day the calendar opened has the calendar's date: `business_date`.)"""
    return datetime.fromtimestamp(now // 1_000_000_000, UTC).date().isoformat()


def date_problems(
    message: CreditTransferMessage, rejections: Sequence[TxRejection], today: str
) -> list[TxRejection]:
    """DESIGN §7 "settlement date valid": a transaction's IntrBkSttlmDt (its own, or the
    group header's), when given, is the hub's business day `today`; else DT01."""
    refused = {r.index for r in rejections}
    several = len(message.transactions) > 1
    problems = []
    for tx in message.transactions:
        date = tx.settlement_date
        if date is None or date == today or tx.index in refused:
            continue
        if date == message.settlement_date:
            path = f"{message.document_path}/GrpHdr/IntrBkSttlmDt"
        else:
            where = f"/CdtTrfTxInf[{tx.index}]" if several else "/CdtTrfTxInf"
            path = f"{message.document_path}{where}/IntrBkSttlmDt"
        reason = f"IntrBkSttlmDt {date} is not the hub's business day {today}"
        problems.append(TxRejection(tx.index, tx.end_to_end_id, INVALID_DATE, reason, path))
    return problems


def _quote_problems(
    hub: SettlementHub,
    message: CreditTransferMessage,
    rejections: Sequence[TxRejection],
    recovering: bool,
) -> list[TxRejection]:
    """Each cross-currency transaction's amounts against the quote it cites: InstdAmt is the
    quote's send amount in its source currency, IntrBkSttlmAmt its deliver amount in its
    destination currency, XchgRate (optional) its effective rate. Whether the quote may bind
    the payment at all (unknown, expired, used, another agent's) is the hub's to say."""
    if all(tx.quote_reference is None for tx in message.transactions):
        return []  # no transaction cites a quote (a quote id needs a reference)
    refused = {r.index for r in rejections}
    several = len(message.transactions) > 1
    problems = []
    for tx in message.transactions:
        if tx.quote_id is None or tx.index in refused:
            continue
        if recovering and hub.engine.find(tx.uetr) is not None:
            continue  # submitted by the interrupted attempt: its quote is used by it
        found = hub.quotes.get(tx.quote_id)
        if found is None:
            continue
        path = f"{message.document_path}/CdtTrfTxInf" + (f"[{tx.index}]" if several else "")
        for code, reason, where in _against_quote(tx, found):
            problems.append(TxRejection(tx.index, tx.end_to_end_id, code, reason, path + where))
    return problems


def _against_quote(tx: CreditTransferTx, found: Quote) -> list[tuple[str, str, str]]:
    problems = []
    sides = (
        ("/InstdAmt", tx.instructed_currency, tx.instructed_amount, found.source,
         found.send_amount),
        ("/IntrBkSttlmAmt", tx.currency, tx.amount, found.destination, found.deliver_amount),
    )  # fmt: skip
    for where, currency, amount, quoted_currency, quoted in sides:
        if currency != quoted_currency:
            reason = f"{where[1:]} is in {currency}; quote {found.id} is in {quoted_currency}"
            problems.append((INCORRECT_CURRENCY, reason, where))
        elif amount != quoted:
            text = format_amount(quoted, default_registry().get(quoted_currency))
            reason = f"{where[1:]} is not quote {found.id}'s {text} {quoted_currency}"
            problems.append((WRONG_AMOUNT, reason, where))
    if tx.exchange_rate is not None and not rate_agrees(tx.exchange_rate, found):
        reason = f"XchgRate {tx.exchange_rate} is not quote {found.id}'s rate"
        problems.append((WRONG_AMOUNT, reason, "/XchgRate"))
    return problems


def rate_agrees(given: Decimal, found: Quote) -> bool:
    """``given`` (a BaseOneRate: at most 11 digits, 10 after the point) states the quote's
    effective rate: exactly, or rounded half-even to as many fraction digits as the type
    allows for its integer part."""
    effective = found.effective_rate
    if Fraction(given) == effective:
        return True
    places = base_one_places(effective)
    exponent = given.as_tuple().exponent
    if not isinstance(exponent, int) or -exponent != places:
        return False
    return given == Decimal(round(effective * 10**places)).scaleb(-places)


class _Returns:
    """pacs.004.001.09: each return becomes a payment from the original creditor agent to
    the original debtor agent, in the original currency, for at most the original amount.
    Its UETR is derived from the original's (``return_uetr``) and the attempt
    (``next_return_uetr``), so a payment is returned at most once: a second return of it is
    DUPL, while a return cancelled or rejected unsettled leaves the next attempt free."""

    @staticmethod
    def prepare(opened: Incoming, hub: SettlementHub, content: Any = None) -> Any:
        registry = default_registry()
        message = read_return(opened.document, registry)
        if opened.header is not None and opened.header.from_bic:
            # No InstgAgt: the AppHdr's sender is who returns (checked against the payment).
            sent_by = opened.header.from_bic
            message = replace(message, transactions=tuple(
                replace(tx, debtor_agent=tx.debtor_agent or sent_by) for tx in message.transactions
            ))  # fmt: skip
        return _checked(opened, message, check_return_rules(message, registry))

    @staticmethod
    def apply(
        prepared: Any, ops: _Ops, reply: _Reply, now: int, recovering: bool, step_tx: int | None
    ) -> Generator[None, int, tuple[list[Response], dict[str, int]]]:
        message, rejections = prepared
        rejections = list(rejections)
        refused = {r.index for r in rejections}
        engine = ops.hub.engine
        several = len(message.transactions) > 1
        returns = []
        for tx in message.transactions:
            path = f"{message.document_path}/TxInf" + (f"[{tx.index}]" if several else "")
            if tx.index in refused:
                returns.append(tx)
                continue
            assert tx.uetr is not None and tx.amount is not None
            original = engine.find(tx.uetr)
            problem = _return_problem(tx, original, path, reply.sender, ops.hub.directory)
            if problem is not None:
                rejections.append(problem)
                returns.append(tx)
                continue
            assert original is not None
            returns.append(
                replace(
                    tx,
                    uetr=next_return_uetr(engine, original.payment),
                    debtor_agent=original.payment.creditor_agent,
                    creditor_agent=original.payment.debtor_agent,
                )
            )
        # The report names the ORIGINAL UETR (OrgnlUETR); the payment runs under its own.
        settled_as = replace(message, transactions=tuple(returns))
        statuses = yield from _settle(
            ops, settled_as, rejections, now, recovering, _payments, step_tx
        )
        reply.earlier.extend(statuses.earlier)
        return [reply.status_report(message, rejections, statuses.accepted)], statuses.counts


def _return_problem(
    tx: CreditTransferTx,
    original: Any,
    path: str,
    message_sender: str | None,
    directory: Directory,
) -> TxRejection | None:
    """Why ``tx`` cannot return ``original``. To a sender that is no agent of the payment
    the answer is that of an unknown UETR: its status, currency and amount stay hidden."""

    def refuse(code: str, reason: str, where: str) -> TxRejection:
        return TxRejection(tx.index, tx.end_to_end_id, code, reason, path + where)

    sender = participant_bic(tx.debtor_agent) or message_sender
    if original is None or not _party_to(directory, original.payment, sender):
        return refuse(NOT_FOUND, f"no payment {tx.uetr_text} was received", "/OrgnlUETR")
    payment = original.payment
    if original.status is not Status.SETTLED:
        reason = f"payment {tx.uetr_text} is {original.status.value}: only a settled one returns"
        return refuse(NOT_SETTLED, reason, "/OrgnlUETR")
    if original.fx is not None:
        reason = (
            f"payment {tx.uetr_text} was cross-currency: its return is a new cross-currency "
            "payment (a pacs.008 citing a quote)"
        )
        return refuse(TRANSACTION_FORBIDDEN, reason, "/OrgnlUETR")
    if tx.currency != payment.currency:
        reason = f"returned in {tx.currency}, the payment was in {payment.currency}"
        return refuse(WRONG_AMOUNT, reason, "/RtrdIntrBkSttlmAmt")
    if tx.amount is not None and tx.amount > payment.amount:
        reason = "the returned amount is more than the payment's"
        return refuse(WRONG_AMOUNT, reason, "/RtrdIntrBkSttlmAmt")
    if sender is not None and sender != payment.creditor_agent:
        reason = f"{sender} is not the payment's creditor agent {payment.creditor_agent}"
        return refuse(INCORRECT_AGENT, reason, "/InstgAgt")
    return None


def _party_to(directory: Directory, payment: Payment, bic: str | None) -> bool:
    """``bic`` (None: not known, as for a file the operator submits) is an agent of
    ``payment`` or the direct participant one of them settles through: it may know that the
    payment exists."""
    if bic is None:
        return True
    for agent in (payment.debtor_agent, payment.creditor_agent):
        settling = directory.settling_participant(agent)
        if bic == agent or (settling is not None and settling.bic == bic):
            return True
    return False


# The returns of one payment the hub may take in turn: each next one once the last was
# cancelled or rejected unsettled (or its UETR was taken by another payment).
RETURN_ATTEMPTS_MAX = 16


def return_uetr(original: int, attempt: int = 0) -> int:
    """The UETR of return ``attempt`` (0, 1, ...) of payment ``original``: a UUID v4 derived
    from both (the first attempt's from the original alone, as every return had before)."""
    tail = b" %d" % attempt if attempt else b""
    digest = hashlib.sha256(b"samarkand return " + original.to_bytes(16, "big") + tail).digest()
    number = int.from_bytes(digest[:16], "big")
    number = (number & ~(0xF << 76)) | (0x4 << 76)  # version 4
    return (number & ~(0x3 << 62)) | (0x2 << 62)  # variant 10


def _is_return(payment: Payment, original: Payment) -> bool:
    """``payment`` runs as a return of ``original`` does: from its creditor agent back to
    its debtor agent, in its currency."""
    return (payment.debtor_agent, payment.creditor_agent, payment.currency) == (
        original.creditor_agent, original.debtor_agent, original.currency,
    )  # fmt: skip


def returns_of(engine: Any, original: Payment) -> Iterator[Any]:
    """The hub's entries of the returns of ``original`` taken so far, in the order of their
    attempts (a payment under a return's UETR that is no return of it is passed over)."""
    for attempt in range(RETURN_ATTEMPTS_MAX):
        entry = engine.find(return_uetr(original.uetr, attempt))
        if entry is None:
            return
        if _is_return(entry.payment, original):
            yield entry


def next_return_uetr(engine: Any, original: Payment) -> int:
    """The UETR a return of ``original`` runs under: its first attempt's that the hub has
    not taken, or that holds a return neither cancelled nor rejected (settled or under way:
    this one is then the same return again, DUPL, or its resend after a crash). Attempts
    whose UETR another payment took are passed over."""
    for attempt in range(RETURN_ATTEMPTS_MAX):
        uetr = return_uetr(original.uetr, attempt)
        entry = engine.find(uetr)
        if entry is None or (
            _is_return(entry.payment, original)
            and entry.status not in (Status.CANCELLED, Status.REJECTED)
        ):
            return uetr
    return uetr  # every attempt taken: refused as a duplicate


class _LiquidityTransfers:
    """camt.050.001.07: into or out of a direct participant's settlement account."""

    @staticmethod
    def prepare(opened: Incoming, hub: SettlementHub, content: Any = None) -> Any:
        transfer = read_liquidity_transfer(opened.document, default_registry())
        if isinstance(transfer, IsoRejection):
            return [transfer]
        return transfer

    @staticmethod
    def apply(
        transfer: Any, ops: _Ops, reply: _Reply, now: int, recovering: bool
    ) -> tuple[list[Response], dict[str, int]]:
        directory = ops.hub.directory
        central = directory.central_bank_of.get(transfer.currency)
        creditor = participant_bic(transfer.creditor)
        debtor = participant_bic(transfer.debtor)
        path = "/Document/LqdtyCdtTrf/LqdtyCdtTrf"
        item: Liquidity | None = None
        problem: tuple[str, str, str] | None = None
        if central is None:
            problem = ("AM03", f"{transfer.currency} is not settled by the hub", "/TrfdAmt")
        elif creditor is not None and creditor != central.bic and debtor in (None, central.bic):
            item = Liquidity(creditor, transfer.currency, transfer.amount, into_hub=True)
        elif debtor is not None and debtor != central.bic and creditor in (None, central.bic):
            item = Liquidity(debtor, transfer.currency, transfer.amount, into_hub=False)
        else:
            reason = f"one side must be a participant, the other {central.bic} or absent"
            problem = (INCORRECT_AGENT, reason, "/Cdtr")
        sent_by = participant_bic(reply.related.from_bic) if reply.related else reply.sender
        if (
            item is not None
            and central is not None
            and sent_by not in (None, item.bic, central.bic)
        ):
            # Only the participant itself or its central bank moves its liquidity.
            reason = f"{sent_by} may not move the liquidity of {item.bic}"
            item, problem = None, (INCORRECT_AGENT, reason, "/Cdtr")
        status = ACCEPTED_SETTLEMENT_COMPLETED
        rejections = []
        if reply.receiver == HUB_BIC:  # no AppHdr: the answer goes to the participant
            reply.receiver = item.bic if item is not None else creditor or debtor or HUB_BIC
        if recovering and item is not None:
            # Begun before a stop: it may have run. Never run it twice; say so instead.
            item, status = None, PENDING
            problem = None
        if item is not None:
            [refusal] = ops.liquidity([item], now)
            if refusal is not None:
                problem = (refusal.iso, refusal.text, "/Cdtr" if item.into_hub else "/Dbtr")
        if problem is not None:
            code, text, where = problem
            rejections.append(TxRejection(1, transfer.end_to_end_id, code, text, path + where))
            status = REJECTED
        message = CreditTransferMessage(
            msg_id=transfer.msg_id, created_at=transfer.created_at, number_of_transactions=1,
            control_sum=None, settlement_method="", message_id=schemas.CAMT_050,
            document_path="/Document/LqdtyCdtTrf",
            transactions=(CreditTransferTx(
                1, transfer.instruction_id, transfer.end_to_end_id,
                uetr_number(transfer.uetr_text), transfer.uetr_text, transfer.amount, None,
                transfer.currency, transfer.debtor, transfer.creditor, None, None, "NORMAL",
                None,
            ),),
        )  # fmt: skip
        accepted = PENDING if status == PENDING else ACCEPTED_SETTLEMENT_COMPLETED
        report = reply.status_report(message, rejections, {1: accepted})  # RJCT if rejected
        return [report], {status: 1}


class _Cancellations:
    """camt.056.001.08 -> ``cancel`` of each payment named by OrgnlUETR -> camt.029.001.09."""

    @staticmethod
    def prepare(opened: Incoming, hub: SettlementHub, content: Any = None) -> Any:
        request = read_cancellation_request(opened.document)
        header = opened.header
        if header is not None and header.from_bic and request.assigner:
            if participant_bic(header.from_bic) != participant_bic(request.assigner):
                reason = f"AppHdr/Fr {header.from_bic} is not the assigner {request.assigner}"
                return [IsoRejection(INCORRECT_AGENT, reason, path="/AppHdr/Fr")]
        return request

    @staticmethod
    def apply(
        request: Any, ops: _Ops, reply: _Reply, now: int, recovering: bool
    ) -> tuple[list[Response], dict[str, int]]:
        engine = ops.hub.engine
        asker = participant_bic(request.assigner) or ""
        outcomes = []
        for item in request.items:
            uetr = uetr_number(item.original_uetr)
            entry = engine.find(uetr) if uetr is not None else None
            if uetr is None:
                reason = "OrgnlUETR missing or not a UUID v4: the hub finds payments by UETR"
                outcomes.append(CancellationOutcome(item, CANCELLATION_REJECTED, NOT_FOUND, reason))
                continue
            if recovering and entry is not None and entry.status is Status.CANCELLED:
                outcomes.append(CancellationOutcome(item, ACCEPTED))
                continue
            if entry is not None and not _party_to(ops.hub.directory, entry.payment, asker or None):
                # Another bank's payment looks exactly like no payment at all.
                unknown = Reason.NOT_FOUND.text
                outcomes.append(
                    CancellationOutcome(item, CANCELLATION_REJECTED, NOT_FOUND, unknown)
                )
                continue
            refusal = ops.cancel(uetr, asker, now)
            if refusal is None:
                outcomes.append(CancellationOutcome(item, ACCEPTED))
                continue
            code = {
                Reason.NOT_FOUND: NOT_FOUND,
                Reason.NOT_OWNER: NOT_DEBTOR_AGENT,
            }.get(refusal, ALREADY_FINAL)
            outcomes.append(
                CancellationOutcome(item, CANCELLATION_REJECTED, code, f"{refusal.text}")
            )
        document = build_resolution(
            request, outcomes, msg_id=f"{reply.base}-029", created_at=reply.created,
            hub_bic=HUB_BIC,
        )  # fmt: skip
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return [reply.wrap(schemas.CAMT_029, "029", document, reply.receiver)], counts


_HANDLERS: dict[str, Any] = {
    schemas.PACS_008: _CreditTransfers,
    schemas.PACS_009: _CreditTransfers,
    schemas.PACS_004: _Returns,
    schemas.CAMT_050: _LiquidityTransfers,
    schemas.CAMT_056: _Cancellations,
}


def _checked(
    opened: Incoming, message: CreditTransferMessage, rejections: list[TxRejection]
) -> Any:
    """The message with its rejections, or the problems refusing it as a whole."""
    header = _header_problems(opened.header, message.instructing_agent)
    return _whole_message_refused(header + rejections) or (message, rejections)


def _whole_message_refused(rejections: Sequence[TxRejection]) -> list[IsoRejection]:
    """The group-level rejections (AppHdr, NbOfTxs, CtrlSum) as the problems of a message
    refused as a whole; [] when there are none (transactions are then judged one by one)."""
    return [IsoRejection(r.code, r.reason, path=r.path) for r in rejections if r.index is None]


def _header_problems(header: AppHeader | None, instructing_agent: str | None) -> list[TxRejection]:
    """The AppHdr's Fr must be the instructing agent when the message names one."""
    if header is None or not header.from_bic or not instructing_agent:
        return []
    if participant_bic(header.from_bic) == participant_bic(instructing_agent):
        return []
    reason = f"AppHdr/Fr {header.from_bic} is not the instructing agent {instructing_agent}"
    return [TxRejection(None, None, INCORRECT_AGENT, reason, "/AppHdr/Fr")]


@dataclass(frozen=True, slots=True)
class _Settled:
    accepted: dict[int, str]  # index -> ACSC/ACSP for every transaction not rejected
    counts: dict[str, int]
    final: dict[int, str]
    earlier: list[Any]  # recovering: the settlement events of the interrupted attempt


def _settle(
    ops: _Ops,
    message: CreditTransferMessage,
    rejections: list[TxRejection],
    now: int,
    recovering: bool,
    to_payments: Callable[[Sequence[CreditTransferTx]], list[Payment]],
    step_tx: int | None,
) -> Generator[None, int, _Settled]:
    """Submit the transactions no rule refused, in one batch (``step_tx``: in batches of at
    most that many, a turn each); add the engine's refusals to ``rejections``; return the
    statuses. ``recovering``: a transaction whose UETR the hub already holds was submitted
    by the interrupted first attempt: report it, don't resubmit."""
    entries, find = ops.hub.engine.entries, ops.hub.engine.find
    transactions = message.transactions
    group_refused = any(r.index is None for r in rejections)
    refused = {r.index for r in rejections}
    candidates = [] if group_refused else [
        tx for tx in transactions if tx.index not in refused
    ]  # fmt: skip
    if recovering:
        fresh = [tx for tx in candidates if tx.uetr not in entries and find(tx.uetr) is None]
    else:
        fresh = candidates
    reasons: dict[int | None, Reason | None] = {}
    step = step_tx or max(1, len(fresh))
    for first in range(0, max(1, len(fresh)), step):
        if first:
            now = yield  # the next batch in a later turn
        part = fresh[first : first + step]
        # One batch per kind: the single-currency payments, then the cross-currency ones.
        if all(tx.quote_reference is None for tx in part):
            plain, converted = part, []
        else:
            plain = [tx for tx in part if tx.quote_id is None]
            converted = [tx for tx in part if tx.quote_id is not None]
        reasons.update(zip((tx.index for tx in plain),
                           ops.submit(to_payments(plain), now), strict=True))  # fmt: skip
        if converted:
            reasons.update(zip((tx.index for tx in converted),
                               ops.submit_fx([_fx_payment(tx) for tx in converted], now),
                               strict=True))  # fmt: skip
    statuses: dict[int, str] = {}
    for tx in candidates:
        reason = reasons.get(tx.index)
        if reason is not None:
            path = f"{message.document_path}/CdtTrfTxInf[{tx.index}]"
            if message.message_id == schemas.PACS_004:
                path = f"{message.document_path}/TxInf[{tx.index}]"
            elif reason in _QUOTE_REASONS:
                path += "/InstrForNxtAgt/InstrInf"
            rejections.append(TxRejection(tx.index, tx.end_to_end_id, reason.iso, reason.text,
                                          path))  # fmt: skip
            continue
        assert tx.uetr is not None
        found = entries.get(tx.uetr) or find(tx.uetr)
        assert found is not None  # accepted: the engine holds it
        status = found.status
        if status is Status.SETTLED:
            statuses[tx.index] = ACCEPTED_SETTLEMENT_COMPLETED
        elif status is Status.REJECTED or status is Status.CANCELLED:
            rejections.append(TxRejection(tx.index, tx.end_to_end_id, "NARR",
                                          f"payment is {status.value}", ""))  # fmt: skip
        else:
            statuses[tx.index] = ACCEPTED_SETTLEMENT_IN_PROCESS
    indices = [tx.index for tx in transactions]
    accepted = dict.fromkeys(indices, ACCEPTED_SETTLEMENT_IN_PROCESS)
    accepted.update(statuses)
    final = dict.fromkeys(indices, REJECTED)
    if not group_refused:
        final.update(statuses)
    counts = dict(Counter(final.values()))
    earlier = []
    if fresh is not candidates:
        submitted = {tx.index for tx in fresh}
        earlier = [
            event
            for tx in candidates
            if tx.index not in submitted and (found := find(tx.uetr)) is not None
            for event in found.history
            if event.status is Status.SETTLED
        ]
    return _Settled(accepted, counts, final, earlier)


_PAYMENT_DEFAULTS = {f.name: f.default for f in fields(Payment) if f.default is not MISSING}


def _payments(transactions: Sequence[CreditTransferTx]) -> list[Payment]:
    """The payments of ``transactions`` (the rules refused those with no UETR or amount),
    built a column at a time: each agent's directory BIC and each priority found once."""
    uetrs = [tx.uetr for tx in transactions]
    amounts = [tx.amount for tx in transactions]
    assert None not in uetrs and None not in amounts  # the rules refused the others
    debtors = [tx.debtor_agent for tx in transactions]
    creditors = [tx.creditor_agent for tx in transactions]
    bics = {bic: participant_bic(bic) or "" for bic in {*debtors, *creditors}}
    priorities = [tx.priority for tx in transactions]
    by_name = {name: Priority[name] for name in set(priorities)}
    columns: dict[str, Iterable[Any]] = {
        "uetr": uetrs,
        "debtor_agent": map(bics.__getitem__, debtors),
        "creditor_agent": map(bics.__getitem__, creditors),
        "amount": amounts,
        "currency": [tx.currency for tx in transactions],
        "priority": map(by_name.__getitem__, priorities),
    }
    columns.update((name, repeat(value)) for name, value in _PAYMENT_DEFAULTS.items())
    return instances(Payment, len(transactions), columns)


def _fx_payment(tx: CreditTransferTx) -> FxPayment:
    assert tx.uetr is not None and tx.quote_id is not None  # the rules refused the others
    return FxPayment(
        uetr=tx.uetr,
        debtor_agent=participant_bic(tx.debtor_agent) or "",
        creditor_agent=participant_bic(tx.creditor_agent) or "",
        quote_id=tx.quote_id,
        priority=Priority[tx.priority],
    )
