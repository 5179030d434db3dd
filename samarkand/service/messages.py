"""ISO 20022 messages through the service: the one place that hands a message to the hub.

Every inbound type goes through the hub's dispatcher (`process_message`: pacs.008, pacs.009,
pacs.004, camt.050, camt.056) with the service's message log, so a message sent again gets
the same responses back, byte for byte, and never settles twice, across restarts too.

Who may send what:

- The message's sender is its AppHdr `Fr`, else the group header's instructing agent
  (camt.056: the assigner). It must be the authenticated participant or an agent that
  settles through it; otherwise the message is refused (403, AGNT) before the hub or its
  message log is looked at. A Document sent without an AppHdr is taken as if wrapped in one
  from its instructing agent, or from the caller, to the hub: the caller is its sender.
- Each payment the message would submit (a pacs.008/009 transaction, a pacs.004 return)
  must have a debtor agent the caller acts for; one that has not is refused with AGNT in
  the pacs.002 and never reaches the hub.
- camt.050 and camt.056 then follow the hub's own rules on the sender (a participant moves
  its own liquidity; only the debtor agent cancels).

Every response goes to its receiver's mailbox (an agent's messages to the direct participant
it settles through), in the same transaction as the round's status notices; the HTTP answer
is the response to the sender (pacs.002 or camt.029).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lxml import etree

from samarkand.hub.messages import (
    HUB_BIC,
    Processed,
    Response,
    message_bic,
    participant_bic,
    process_message,
)
from samarkand.iso20022.envelope import app_header, open_message, wrap
from samarkand.service.shared import owns
from samarkand.settlement.participants import Directory
from samarkand.settlement.payments import FxPayment, Payment, Reason

if TYPE_CHECKING:
    from samarkand.service.engine import Engine

ANSWER_KINDS = ("pacs.002", "camt.029")
_HEADER_TAGS = ("GrpHdr", "MsgHdr", "Assgnmt")
_BIC = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?")
_CREATED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")


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


def response_kind(response: Response) -> str:
    """`pacs.002` of a response named `<MsgId>.pacs.002.xml`."""
    return ".".join(response.name.split(".")[-3:-1])


def addressed(data: bytes, directory: Directory, caller: str) -> bytes:
    """The message as the hub is to read it: refused (NotSender) when its sender is not the
    caller's; a Document alone wrapped in an AppHdr from its sender. A file that cannot be
    opened, or has no MsgId, is passed on as it is: the hub answers with its problems."""
    opened = open_message(data)
    if isinstance(opened, list):
        return data
    header = _group_header(opened.document)
    named = None if header is None else _text(header, "InstgAgt", "Assgnr")
    if opened.header is not None:
        sender, where = opened.header.from_bic, "/AppHdr/Fr"
    else:
        tag = "/Assgnr" if _is_assignment(header) else "/InstgAgt"
        sender, where = named, _path(header) + tag
    if sender is not None and not acts_for(directory, caller, sender):
        raise NotSender(where, f"{sender} is not {caller} nor settles through it")
    if opened.header is not None:
        if sender is None:
            raise NotSender(where, "the AppHdr names no sender (Fr)")
        return data
    msg_id = None if header is None else _text(header, "MsgId", "Id", bic=False)
    if msg_id is None or not 1 <= len(msg_id) <= 35:
        return data
    created = _text(header, "CreDtTm", bic=False) if header is not None else None
    envelope = app_header(
        from_bic=sender if sender is not None else message_bic(caller),
        to_bic=HUB_BIC,
        business_message_id=msg_id,
        message_id=opened.message_id,
        created=created if created and _CREATED.fullmatch(created) else "1970-01-01T00:00:00Z",
    )
    return wrap(envelope, data)


def _group_header(document: etree._Element) -> etree._Element | None:
    body = document[0] if len(document) else None
    if body is None:
        return None
    for child in body:
        if isinstance(child.tag, str) and etree.QName(child).localname in _HEADER_TAGS:
            return child
    return None


def _is_assignment(header: etree._Element | None) -> bool:
    return header is not None and etree.QName(header).localname == "Assgnmt"


def _path(header: etree._Element | None) -> str:
    if header is None:
        return "/Document"
    body = header.getparent()
    assert body is not None
    return f"/Document/{etree.QName(body).localname}/{etree.QName(header).localname}"


def _text(header: etree._Element, *names: str, bic: bool = True) -> str | None:
    test = " or ".join(f"local-name()='{n}'" for n in names)
    path = f"string(*[{test}]//*[local-name()='BICFI'][1])" if bic else f"string(*[{test}][1])"
    text = str(header.xpath(path)).strip()
    if not text:
        return None
    return text if not bic or _BIC.fullmatch(text) else None


class _CallerHub:
    """The hub as one caller's message may use it: a payment whose debtor agent the caller
    does not act for is refused (AGNT) here and never reaches the hub."""

    def __init__(self, durable: Any, caller: str) -> None:
        self._durable = durable
        self._caller = caller
        self.hub = durable.hub
        self.cancel = durable.cancel
        self.liquidity = durable.liquidity

    @property
    def commands(self) -> int:
        return int(self._durable.commands)

    def submit(self, payments: Sequence[Payment], now: int) -> list[Reason | None]:
        return self._owned(payments, now, self._durable.submit)

    def submit_fx(self, payments: Sequence[FxPayment], now: int) -> list[Reason | None]:
        return self._owned(payments, now, self._durable.submit_fx)

    def _owned(self, payments: Sequence[Any], now: int, run: Any) -> list[Reason | None]:
        directory = self.hub.directory
        mine = [acts_for(directory, self._caller, p.debtor_agent) for p in payments]
        taken = [p for p, m in zip(payments, mine, strict=True) if m]
        accepted = iter(run(taken, now) if taken else [])
        return [next(accepted) if m else Reason.NOT_OWNER for m in mine]


def submit_message(engine: Engine, data: bytes, now: int, *, caller: str) -> MessageAnswer:
    """Run one message for `caller` on the hub's thread; its responses are posted to the
    mailboxes with the round's notices (a recorded replay posts nothing again)."""
    durable = engine.durable
    assert durable is not None
    directory = durable.hub.directory
    message = addressed(data, directory, caller)
    processed = process_message(_CallerHub(durable, caller), message, now, log=engine.messages)
    if not processed.replayed and processed.responses:
        engine.post([(mailbox_of(directory, r.receiver), response_kind(r), r.data)
                     for r in processed.responses])  # fmt: skip
    answer = next((r for r in processed.responses if response_kind(r) in ANSWER_KINDS), None)
    return MessageAnswer(processed, answer)
