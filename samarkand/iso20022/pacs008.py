"""Intake of pacs.008.001.08 (FI to FI customer credit transfer) and pacs.009.001.08
(financial institution credit transfer), single or bulk: the same reader for both, since every
name inside CdtTrfTxInf is shared; in a pacs.009 the Dbtr and Cdtr institutions are the
agents the hub settles between (``/Dbtr`` and ``/Cdtr`` in the paths of DNOR/CNOR).

Three stages, each over the whole message (STYLE habit 8): ``parse_document`` and
``validate_document`` refuse a file as a whole (FF01/CH16/CH17/CH21); ``read_credit_transfer``
turns a valid tree into plain values (amounts as int minor units); ``check_rules`` applies the
hub's message rules of DESIGN §7 and returns one ``TxRejection`` per problem. ``intake_pacs008``
strings them together. A bulk message is read a field at a time, every transaction at once
(see "Reading by columns" below), and each rule is asked of a whole column first: the
structure the schema guarantees is what makes a column line up with the transactions.

Hub rules and their ExternalStatusReason1Code (see also the table in ``problems``):

| rule | code | rejects |
|---|---|---|
| GrpHdr/NbOfTxs equals the number of CdtTrfTxInf | AM18 | the message |
| GrpHdr/CtrlSum, when given, equals the sum of IntrBkSttlmAmt | AM10 | the message |
| PmtId/UETR present (CBPR+ makes it mandatory; the base XSD does not) | CH21 | the tx |
| no UETR twice in one message; the first one goes on | DUPL | the later tx |
| amount and currency acceptable to ``samarkand.money`` | MoneyError's code | the tx |
| DbtrAgt (pacs.009: Dbtr) BIC is a participant | DNOR | the tx |
| CdtrAgt (pacs.009: Cdtr) BIC is a participant | CNOR | the tx |

AM18 InvalidNumberOfTransactions, AM10 InvalidControlSum, CH21 RequiredCompulsoryElementMissing,
DUPL DuplicatePayment, DNOR/CNOR Debtor/CreditorBankIsNotRegistered; MoneyError gives AM01
(zero), AM02 (too large), AM03 (currency not settled), AM11 (currency unknown), AM12 (decimals).

DNOR/CNOR rather than RC01 (BankIdentifierIncorrect): the BIC is well formed (the XSD checked
its pattern) but not registered with the hub, and ``samarkand.settlement`` uses DNOR/CNOR for
the same refusal. UETR uniqueness across messages is the hub's job (it needs the store).

``priority`` is "URGENT" or "NORMAL", the names of ``samarkand.settlement.Priority``: this
folder may import only ``money`` (DESIGN §3), so the hub maps it with ``Priority[name]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Set
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation, localcontext
from itertools import repeat
from operator import attrgetter
from typing import Any, NamedTuple

from lxml import etree

from samarkand.money import AMOUNT_MAX, Currency, CurrencyRegistry, MoneyError, to_minor
from samarkand.money.columns import instances

from . import schemas
from .parse import MESSAGE_BYTES_MAX, parse_document
from .problems import (
    CREDITOR_BANK_NOT_REGISTERED,
    DEBTOR_BANK_NOT_REGISTERED,
    DUPLICATE_PAYMENT,
    ELEMENT_CONTENT_INCORRECT,
    INVALID_CONTROL_SUM,
    INVALID_NUMBER_OF_TRANSACTIONS,
    REQUIRED_ELEMENT_MISSING,
    IsoRejection,
)
from .validate import validate_document

MESSAGE_ID = schemas.PACS_008
FI_MESSAGE_ID = schemas.PACS_009
# A cross-currency pacs.008 cites the hub's FX quote as CdtTrfTxInf/InstrForNxtAgt/InstrInf
# "/FXQT/<id>" (the hub is the next agent), with InstdAmt in the source currency (the quote's
# send amount) and IntrBkSttlmAmt in the destination currency (its deliver amount).
FX_QUOTE_PREFIX = "/FXQT/"
_QUOTE_ID = re.compile(r"[1-9][0-9]{0,17}")
_UETR = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# Sums of up to 10**6 amounts of 18 digits stay exact at this precision.
_SUM_CONTEXT = Context(prec=60)


class _Tags(NamedTuple):
    """Qualified tags and paths of one message, built once: lxml's find is fastest with
    Clark notation. pacs.008 and pacs.009 share every name inside CdtTrfTxInf."""

    message_id: str
    document_path: str
    body: str
    grp_hdr: str
    tx: str
    msg_id: str
    cre_dt_tm: str
    nb_of_txs: str
    ctrl_sum: str
    sttlm_dt: str
    sttlm_mtd: str
    priority: str
    instg_agt_bic: str
    pmt_id: str
    instr_id: str
    end_to_end_id: str
    uetr: str
    amount: str
    pmt_tp_inf: str
    instr_prty: str
    dbtr: str
    cdtr: str
    dbtr_agt: str
    cdtr_agt: str
    nm: str
    bicfi: str
    instd_amt: str
    xchg_rate: str
    instr_for_nxt_agt: str
    instr_inf: str


def _tags(message_id: str, body: str) -> _Tags:
    ns = "{" + schemas.namespace(message_id) + "}"
    return _Tags(
        message_id=message_id,
        document_path=f"/Document/{body}",
        body=ns + body,
        grp_hdr=ns + "GrpHdr",
        tx=ns + "CdtTrfTxInf",
        msg_id=ns + "MsgId",
        cre_dt_tm=ns + "CreDtTm",
        nb_of_txs=ns + "NbOfTxs",
        ctrl_sum=ns + "CtrlSum",
        sttlm_dt=ns + "IntrBkSttlmDt",
        sttlm_mtd=f"{ns}SttlmInf/{ns}SttlmMtd",
        priority=f"{ns}PmtTpInf/{ns}InstrPrty",
        instg_agt_bic=f"{ns}InstgAgt/{ns}FinInstnId/{ns}BICFI",
        pmt_id=ns + "PmtId",
        instr_id=ns + "InstrId",
        end_to_end_id=ns + "EndToEndId",
        uetr=ns + "UETR",
        amount=ns + "IntrBkSttlmAmt",
        pmt_tp_inf=ns + "PmtTpInf",
        instr_prty=ns + "InstrPrty",
        dbtr=ns + "Dbtr",
        cdtr=ns + "Cdtr",
        dbtr_agt=ns + "DbtrAgt",
        cdtr_agt=ns + "CdtrAgt",
        nm=ns + "Nm",
        bicfi=ns + "BICFI",
        instd_amt=ns + "InstdAmt",
        xchg_rate=ns + "XchgRate",
        instr_for_nxt_agt=ns + "InstrForNxtAgt",
        instr_inf=ns + "InstrInf",
    )


_CUSTOMER = _tags(MESSAGE_ID, "FIToFICstmrCdtTrf")
_INSTITUTION = _tags(FI_MESSAGE_ID, "FICdtTrf")
_BY_DOCUMENT = {
    "{" + schemas.namespace(t.message_id) + "}Document": t for t in (_CUSTOMER, _INSTITUTION)
}
CREDIT_TRANSFER_IDS = (MESSAGE_ID, FI_MESSAGE_ID)


@dataclass(frozen=True, slots=True)
class CreditTransferTx:
    """One CdtTrfTxInf. ``index`` is its 1-based position; texts are as given.

    ``amount`` is in minor units of ``currency``, or None when ``samarkand.money`` refused
    the amount or the currency (``check_rules`` says why); ``amount_decimal`` is the amount
    as given (None only if it is not a number, which a valid document cannot have).
    """

    index: int
    instruction_id: str | None
    end_to_end_id: str
    uetr: int | None
    uetr_text: str | None
    amount: int | None
    amount_decimal: Decimal | None
    currency: str
    debtor_agent: str | None
    creditor_agent: str | None
    debtor_name: str | None
    creditor_name: str | None
    priority: str
    settlement_date: str | None
    # A cross-currency payment (see ``FX_QUOTE_PREFIX``): InstdAmt as given, its amount in
    # minor units (None when refused), XchgRate, and the text after /FXQT/ in InstrForNxtAgt.
    instructed_decimal: Decimal | None = None
    instructed_currency: str = ""
    instructed_amount: int | None = None
    exchange_rate: Decimal | None = None
    quote_reference: str | None = None

    @property
    def quote_id(self) -> int | None:
        """The FX quote id cited, or None when none is cited or it is not a quote id."""
        text = self.quote_reference
        return int(text) if text is not None and _QUOTE_ID.fullmatch(text) else None

    @property
    def cross_currency(self) -> bool:
        """The transaction cites a quote or instructs an amount in another currency."""
        return self.quote_reference is not None or (
            self.instructed_currency not in ("", self.currency)
        )


@dataclass(frozen=True, slots=True)
class CreditTransferMessage:
    """A pacs.008 group header and its transactions (a tuple: the value stays immutable)."""

    msg_id: str
    created_at: str
    number_of_transactions: int
    control_sum: Decimal | None
    settlement_method: str
    transactions: tuple[CreditTransferTx, ...]
    message_id: str = MESSAGE_ID  # pacs.008.001.08 or pacs.009.001.08 (or pacs.004.001.09)
    instructing_agent: str | None = None  # GrpHdr/InstgAgt BICFI, when given
    document_path: str = "/Document/FIToFICstmrCdtTrf"
    settlement_date: str | None = None  # GrpHdr/IntrBkSttlmDt, when given


@dataclass(frozen=True, slots=True)
class TxRejection:
    """A rule broken by one transaction (``index`` 1-based) or, with ``index`` None, the group."""

    index: int | None
    end_to_end_id: str | None
    code: str
    reason: str
    path: str


@dataclass(frozen=True, slots=True)
class Intake:
    """The outcome of ``intake_pacs008``: either ``file_problems`` (the file is refused as a
    whole and ``message`` is None) or a message with its rule ``rejections`` (maybe none)."""

    message: CreditTransferMessage | None
    file_problems: tuple[IsoRejection, ...]
    rejections: tuple[TxRejection, ...]


def intake_pacs008(
    data: bytes,
    *,
    registry: CurrencyRegistry,
    known_bics: Set[str],
    max_bytes: int = MESSAGE_BYTES_MAX,
) -> Intake:
    """Parse, validate, read and check one pacs.008.001.08 file; never raises for bad input."""
    root = parse_document(data, max_bytes=max_bytes)
    if isinstance(root, IsoRejection):
        return Intake(None, (root,), ())
    return intake_document(root, MESSAGE_ID, registry=registry, known_bics=known_bics)


def intake_document(
    root: etree._Element, message_id: str, *, registry: CurrencyRegistry, known_bics: Set[str]
) -> Intake:
    """Validate, read and check a parsed pacs.008.001.08 or pacs.009.001.08 document."""
    problems = validate_document(root, message_id)
    if problems:
        return Intake(None, tuple(problems), ())
    message = read_credit_transfer(root, registry)
    return Intake(message, (), tuple(check_rules(message, known_bics, registry)))


def read_credit_transfer(root: etree._Element, registry: CurrencyRegistry) -> CreditTransferMessage:
    """Return the values of a pacs.008.001.08 or pacs.009.001.08 ``root`` that
    ``validate_document`` accepted. In a pacs.009 the debtor and creditor are themselves
    financial institutions: their BICFI stands for the agent when DbtrAgt/CdtrAgt is absent."""
    tags = _BY_DOCUMENT.get(root.tag)
    if tags is None or not len(root) or root[0].find(tags.grp_hdr) is None:
        raise ValueError("read_credit_transfer needs a document that passed validate_document")
    document = root[0]
    header = document.find(tags.grp_hdr)
    group_priority = header.findtext(tags.priority)
    group_date = header.findtext(tags.sttlm_dt)
    control_sum = header.findtext(tags.ctrl_sum)
    minor_units = MinorUnits(registry)
    institutions = tags is _INSTITUTION
    transactions = _read_columns(document, tags, group_priority, group_date, minor_units)
    if transactions is None:  # a field the columns cannot place: one transaction at a time
        transactions = tuple(
            _read_tx(index, element, group_priority, group_date, minor_units, tags, institutions)
            for index, element in enumerate(document.iterchildren(tags.tx), start=1)
        )
    return CreditTransferMessage(
        msg_id=header.findtext(tags.msg_id) or "",
        created_at=header.findtext(tags.cre_dt_tm) or "",
        number_of_transactions=int(header.findtext(tags.nb_of_txs) or "0"),
        control_sum=decimal_or_none(control_sum),
        settlement_method=header.findtext(tags.sttlm_mtd) or "",
        transactions=transactions,
        message_id=tags.message_id,
        instructing_agent=header.findtext(tags.instg_agt_bic),
        document_path=tags.document_path,
        settlement_date=group_date,
    )


def _read_tx(
    index: int,
    tx: etree._Element,
    group_priority: str | None,
    group_date: str | None,
    minor_units: MinorUnits,
    tags: _Tags,
    institutions: bool,
) -> CreditTransferTx:
    # One pass over the children with a tag dispatch: about four times faster than a
    # findtext per field, and this loop runs once per transaction of a bulk message.
    _PMT_ID, _INSTR_ID, _END_TO_END_ID, _UETR_TAG = (
        tags.pmt_id, tags.instr_id, tags.end_to_end_id, tags.uetr
    )  # fmt: skip
    _AMOUNT, _PMT_TP_INF, _INSTR_PRTY, _STTLM_DT = (
        tags.amount, tags.pmt_tp_inf, tags.instr_prty, tags.sttlm_dt
    )  # fmt: skip
    _DBTR, _CDTR, _DBTR_AGT, _CDTR_AGT, _NM, _BICFI = (
        tags.dbtr, tags.cdtr, tags.dbtr_agt, tags.cdtr_agt, tags.nm, tags.bicfi
    )  # fmt: skip
    _INSTD_AMT, _XCHG_RATE, _INSTR_FOR_NXT_AGT = (
        tags.instd_amt, tags.xchg_rate, tags.instr_for_nxt_agt
    )  # fmt: skip
    instructed_text, instructed_currency = "", ""
    exchange_rate: Decimal | None = None
    quote_reference: str | None = None
    debtor_bic = creditor_bic = None
    instruction_id = end_to_end_id = uetr_text = None
    debtor_agent = creditor_agent = debtor_name = creditor_name = None
    priority, settlement_date = group_priority, group_date
    amount_text, currency = "", ""
    for child in tx:
        tag = child.tag
        if tag == _PMT_ID:
            for part in child:
                if part.tag == _INSTR_ID:
                    instruction_id = part.text
                elif part.tag == _END_TO_END_ID:
                    end_to_end_id = part.text
                elif part.tag == _UETR_TAG:
                    uetr_text = part.text
        elif tag == _AMOUNT:
            amount_text = child.text or ""
            currency = child.get("Ccy", "")
        elif tag == _PMT_TP_INF:
            priority = child.findtext(_INSTR_PRTY) or group_priority
        elif tag == _STTLM_DT:
            settlement_date = child.text
        elif tag == _DBTR:
            if institutions:
                debtor_bic = _agent_bic(child, _BICFI)
            else:
                debtor_name = _first_text(child, _NM)
        elif tag == _CDTR:
            if institutions:
                creditor_bic = _agent_bic(child, _BICFI)
            else:
                creditor_name = _first_text(child, _NM)
        elif tag == _DBTR_AGT:
            debtor_agent = _agent_bic(child, _BICFI)
        elif tag == _CDTR_AGT:
            creditor_agent = _agent_bic(child, _BICFI)
        elif tag == _INSTD_AMT:
            instructed_text = child.text or ""
            instructed_currency = child.get("Ccy", "")
        elif tag == _XCHG_RATE:
            exchange_rate = decimal_or_none(child.text)
        elif tag == _INSTR_FOR_NXT_AGT and quote_reference is None:
            text = child.findtext(tags.instr_inf) or ""
            if text.startswith(FX_QUOTE_PREFIX):
                quote_reference = text[len(FX_QUOTE_PREFIX) :]
    if institutions:
        # The institutions themselves are the hub's participants here.
        debtor_agent, creditor_agent = debtor_bic, creditor_bic
    amount_decimal = decimal_or_none(amount_text)
    instructed_decimal = decimal_or_none(instructed_text)
    return CreditTransferTx(
        index=index,
        instruction_id=instruction_id,
        end_to_end_id=end_to_end_id or "",
        uetr=uetr_number(uetr_text),
        uetr_text=uetr_text,
        amount=minor_units.of(amount_decimal, currency),
        amount_decimal=amount_decimal,
        currency=currency,
        debtor_agent=debtor_agent,
        creditor_agent=creditor_agent,
        debtor_name=debtor_name,
        creditor_name=creditor_name,
        priority="URGENT" if priority == "HIGH" else "NORMAL",
        settlement_date=settlement_date,
        instructed_decimal=instructed_decimal,
        instructed_currency=instructed_currency,
        instructed_amount=(
            minor_units.of(instructed_decimal, instructed_currency) if instructed_text else None
        ),
        exchange_rate=exchange_rate,
        quote_reference=quote_reference,
    )


def _first_text(parent: etree._Element, tag: str) -> str | None:
    """The text of ``parent``'s first child if it is a ``tag``: Nm and BICFI come first."""
    if len(parent) and parent[0].tag == tag:
        return parent[0].text
    return None


def _agent_bic(agent: etree._Element, bicfi: str) -> str | None:
    """FinInstnId/BICFI of an agent: FinInstnId is its first child, BICFI that one's first."""
    return _first_text(agent[0], bicfi) if len(agent) else None


class MinorUnits:
    """Converts amounts with one registry lookup per currency per message (the data path)."""

    __slots__ = ("_currencies", "_registry")

    def __init__(self, registry: CurrencyRegistry) -> None:
        self._registry = registry
        self._currencies: dict[str, Currency | MoneyError] = {}

    def currency(self, code: str) -> Currency | MoneyError:
        """The settlement currency ``code``, or why ``samarkand.money`` refuses it."""
        currency = self._currencies.get(code)
        if currency is None:
            try:
                currency = self._registry.settlement_currency(code)
            except MoneyError as error:
                currency = error
            self._currencies[code] = currency
        return currency

    def of(self, amount: Decimal | None, code: str) -> int | None:
        if amount is None:
            return None
        currency = self.currency(code)
        if isinstance(currency, MoneyError):
            return None
        try:
            return to_minor(amount, currency)
        except MoneyError:
            return None


# -- Reading by columns ------------------------------------------------------------------------
# A bulk message is read a field at a time: one compiled XPath per field returns that field of
# every transaction at once, in document order, in C (a Python walk over each transaction's
# elements cost three times more). A field found in every transaction, or in none, needs nothing
# more; one found in only some is placed by the transactions that hold it. An element's text
# is its one text node: ``parse_document`` merges CDATA sections into the text around them
# and drops comments and processing instructions, so ``text()`` is lxml's ``.text``.

_JOIN = "\0"  # between the values of a column joined for one regex: no XML 1.0 text has it
_UETR_COLUMN = re.compile(f"(?:{_UETR.pattern}{_JOIN})*{_UETR.pattern}")
_PLAIN = r"[0-9]{1,30}(?:\.[0-9]*)?|\.[0-9]+"
_PLAIN_COLUMN = re.compile(f"(?:(?:{_PLAIN}){_JOIN})*(?:{_PLAIN})")
_NO_POINT = re.compile(r"\0([0-9]+)(?=\0)")  # in a column framed by NULs


_Field = tuple[etree.XPath, etree.XPath]  # the texts of a field, the transactions holding one


class _Fields(NamedTuple):
    """The XPaths of the fields read as columns, one way of finding them."""

    instruction_id: _Field
    end_to_end_id: _Field
    uetr: _Field
    amount: _Field
    currency: etree.XPath
    debtor_agent: _Field
    creditor_agent: _Field
    names: tuple[_Field, _Field] | None  # Dbtr/Nm and Cdtr/Nm; None in a pacs.009


# A pacs.008 CdtTrfTxInf must hold these seven, in this order (the others are optional); with
# IntrBkSttlmDt it comes third.
_MANDATORY = ("PmtId", "IntrBkSttlmAmt", "ChrgBr", "Dbtr", "DbtrAgt", "CdtrAgt", "Cdtr")


class _Paths:
    """The compiled XPaths of one message (pacs.008 or pacs.009), from its body element.

    Each step names the one element the schema allows there, with ``[1]`` so that libxml2
    stops at it: PmtId, first in CdtTrfTxInf, is found without a look at the rest. Where
    the reader takes an element only in first place (FinInstnId in an agent, BICFI in
    FinInstnId, Nm in a party) the XSD's sequence of pacs.008 puts it there; pyiso20022's
    model, which checks a pacs.009, does not check the order, so there the path says so.

    ``compact``: a pacs.008 whose transactions hold only the mandatory elements (and each an
    IntrBkSttlmDt, or none does), as a bulk message mostly is, has each field at a known
    position: steps by position skip the name tests, and no rare field needs a look."""

    def __init__(self, tags: _Tags) -> None:
        namespaces = {"p": schemas.namespace(tags.message_id)}

        def xpath(path: str) -> etree.XPath:
            return etree.XPath(path, namespaces=namespaces, smart_strings=False)

        def field(path: str) -> _Field:
            return xpath(f"p:CdtTrfTxInf/{path}/text()"), xpath(f"p:CdtTrfTxInf[{path}/text()]")

        def fields(
            payment_id: str, amount: str, debtor: str, creditor: str, names: tuple[str, str] | None
        ) -> _Fields:
            return _Fields(
                instruction_id=field(f"{payment_id}/p:InstrId[1]"),
                end_to_end_id=field(f"{payment_id}/p:EndToEndId[1]"),
                uetr=field(f"{payment_id}/p:UETR[1]"),
                amount=field(amount),
                currency=xpath(f"p:CdtTrfTxInf/{amount}/@Ccy"),
                debtor_agent=field(debtor),
                creditor_agent=field(creditor),
                names=None if names is None else (field(names[0]), field(names[1])),
            )

        self.count = xpath("count(p:CdtTrfTxInf)")
        self.settlement_date = field("p:IntrBkSttlmDt[1]")
        # Fields that most messages leave out, read element by element where they occur.
        rare = ("p:PmtTpInf", "p:InstdAmt", "p:XchgRate", "p:InstrForNxtAgt")
        self.rare_count = xpath(f"count({' | '.join('p:CdtTrfTxInf/' + r for r in rare)})")
        self.rare = xpath(f"p:CdtTrfTxInf[{' or '.join(rare)}]")
        self.children = xpath("count(p:CdtTrfTxInf/*)")
        self.compact: tuple[_Fields, _Fields] | None = None
        if tags is _INSTITUTION:
            bic = "p:{}[1]/*[1][self::p:FinInstnId]/*[1][self::p:BICFI]"
            self.named = fields(
                "p:PmtId[1]", "p:IntrBkSttlmAmt[1]", bic.format("Dbtr"), bic.format("Cdtr"), None
            )
            return
        bic = "p:{}[1]/p:FinInstnId[1]/p:BICFI[1]"
        self.named = fields(
            "p:PmtId[1]", "p:IntrBkSttlmAmt[1]", bic.format("DbtrAgt"), bic.format("CdtrAgt"),
            ("p:Dbtr[1]/p:Nm[1]", "p:Cdtr[1]/p:Nm[1]"),
        )  # fmt: skip
        shapes = []
        for dated in (0, 1):  # the position of each mandatory element, after IntrBkSttlmDt
            at = {name: n + 1 + (1 if dated and n >= 2 else 0) for n, name in enumerate(_MANDATORY)}
            shapes.append(
                fields(
                    f"*[{at['PmtId']}]", f"*[{at['IntrBkSttlmAmt']}]",
                    f"*[{at['DbtrAgt']}]/*[1]/p:BICFI[1]", f"*[{at['CdtrAgt']}]/*[1]/p:BICFI[1]",
                    (f"*[{at['Dbtr']}]/p:Nm[1]", f"*[{at['Cdtr']}]/p:Nm[1]"),
                )
            )  # fmt: skip
        self.compact = (shapes[0], shapes[1])


_PATHS = {tags.message_id: _Paths(tags) for tags in (_CUSTOMER, _INSTITUTION)}


def _read_columns(
    body: etree._Element,
    tags: _Tags,
    group_priority: str | None,
    group_date: str | None,
    minor_units: MinorUnits,
) -> tuple[CreditTransferTx, ...] | None:
    """The transactions of ``body`` read by columns; None when a field cannot be placed that
    way (``read_credit_transfer`` then reads them one by one)."""
    paths = _PATHS[tags.message_id]
    count = int(paths.count(body))
    if not count:
        return ()
    positions: dict[etree._Element, int] = {}

    def column(field: tuple[etree.XPath, etree.XPath], absent: Any) -> list[Any] | None:
        texts: list[Any] = field[0](body)
        if len(texts) == count:
            return texts
        if not texts:
            return [absent] * count
        if not positions:
            positions.update((tx, n) for n, tx in enumerate(body.iterchildren(tags.tx)))
        holders = field[1](body)
        if len(holders) != len(texts):
            return None
        values = [absent] * count
        for holder, text in zip(holders, texts, strict=True):
            values[positions[holder]] = text
        return values

    date_texts: list[str] = paths.settlement_date[0](body)
    dated = len(date_texts)
    fields = paths.named
    rare = True
    if paths.compact is not None and dated in (0, count):
        rare = paths.children(body) != (len(_MANDATORY) + bool(dated)) * count
        if not rare:
            fields = paths.compact[bool(dated)]
    dates = date_texts if dated == count else column(paths.settlement_date, group_date)
    instruction_ids = column(fields.instruction_id, None)
    end_to_end_ids = column(fields.end_to_end_id, "")
    uetr_texts = column(fields.uetr, None)
    amount_texts = column(fields.amount, "")
    currencies: list[str] = fields.currency(body)
    debtor_agents = column(fields.debtor_agent, None)
    creditor_agents = column(fields.creditor_agent, None)
    debtor_names: Iterable[str | None] | None = repeat(None)
    creditor_names: Iterable[str | None] | None = repeat(None)
    if fields.names is not None:
        debtor_names = column(fields.names[0], None)
        creditor_names = column(fields.names[1], None)
    if (
        instruction_ids is None
        or end_to_end_ids is None
        or uetr_texts is None
        or amount_texts is None
        or len(currencies) != count
        or dates is None
        or debtor_agents is None
        or creditor_agents is None
        or debtor_names is None
        or creditor_names is None
    ):
        return None
    amounts_decimal = _decimals(amount_texts)
    columns: dict[str, Iterable[Any]] = {
        "index": range(1, count + 1),
        "instruction_id": instruction_ids,
        "end_to_end_id": end_to_end_ids,
        "uetr": _uetr_numbers(uetr_texts),
        "uetr_text": uetr_texts,
        "amount": _minor_units(amount_texts, amounts_decimal, currencies, minor_units),
        "amount_decimal": amounts_decimal,
        "currency": currencies,
        "debtor_agent": debtor_agents,
        "creditor_agent": creditor_agents,
        "debtor_name": debtor_names,
        "creditor_name": creditor_names,
        "priority": repeat("URGENT" if group_priority == "HIGH" else "NORMAL"),
        "settlement_date": dates,
        "instructed_decimal": repeat(None),
        "instructed_currency": repeat(""),
        "instructed_amount": repeat(None),
        "exchange_rate": repeat(None),
        "quote_reference": repeat(None),
    }
    if rare and paths.rare_count(body):
        if not positions:
            positions.update((tx, n) for n, tx in enumerate(body.iterchildren(tags.tx)))
        columns.update(_read_rare(paths.rare(body), positions, group_priority, minor_units, tags))
    return tuple(instances(CreditTransferTx, count, columns))


def _read_rare(
    holders: list[etree._Element],
    positions: dict[etree._Element, int],
    group_priority: str | None,
    minor_units: MinorUnits,
    tags: _Tags,
) -> dict[str, list[Any]]:
    """The columns of the fields most transactions leave out (priority, InstdAmt, XchgRate,
    the FX quote), read in the ``holders`` that have one exactly as ``_read_tx`` reads them."""
    count = len(positions)
    priority = ["URGENT" if group_priority == "HIGH" else "NORMAL"] * count
    instructed_decimal: list[Decimal | None] = [None] * count
    instructed_currency = [""] * count
    instructed_amount: list[int | None] = [None] * count
    exchange_rate: list[Decimal | None] = [None] * count
    quote_reference: list[str | None] = [None] * count
    for holder in holders:
        n = positions[holder]
        for child in holder:
            tag = child.tag
            if tag == tags.pmt_tp_inf:
                given = child.findtext(tags.instr_prty) or group_priority
                priority[n] = "URGENT" if given == "HIGH" else "NORMAL"
            elif tag == tags.instd_amt:
                text, code = child.text or "", child.get("Ccy", "")
                instructed_decimal[n] = amount = decimal_or_none(text)
                instructed_currency[n] = code
                instructed_amount[n] = minor_units.of(amount, code) if text else None
            elif tag == tags.xchg_rate:
                exchange_rate[n] = decimal_or_none(child.text)
            elif tag == tags.instr_for_nxt_agt and quote_reference[n] is None:
                text = child.findtext(tags.instr_inf) or ""
                if text.startswith(FX_QUOTE_PREFIX):
                    quote_reference[n] = text[len(FX_QUOTE_PREFIX) :]
    return {
        "priority": priority,
        "instructed_decimal": instructed_decimal,
        "instructed_currency": instructed_currency,
        "instructed_amount": instructed_amount,
        "exchange_rate": exchange_rate,
        "quote_reference": quote_reference,
    }


def _uetr_numbers(texts: list[str | None]) -> list[int | None]:
    """``uetr_number`` of each text: when all are UUIDs v4, one regex over the joined column."""
    if None not in texts:
        joined = _JOIN.join(texts)  # type: ignore[arg-type]
        if _UETR_COLUMN.fullmatch(joined):
            return list(map(int, joined.replace("-", "").split(_JOIN), repeat(16)))
    return list(map(uetr_number, texts))


def _decimals(texts: list[str]) -> list[Decimal | None]:
    """``decimal_or_none`` of each text: when all are plain decimals, straight to Decimal."""
    if _PLAIN_COLUMN.fullmatch(_JOIN.join(texts)):
        return list(map(Decimal, texts))
    return list(map(decimal_or_none, texts))


def _minor_units(
    texts: list[str],
    amounts: list[Decimal | None],
    codes: list[str],
    minor_units: MinorUnits,
) -> list[int | None]:
    """``minor_units.of`` of each amount. When every currency is settled with one exponent
    and every text is plain digits with at most that many decimals, the texts are turned
    into minor units as one column: a point added where none is, fractions padded with
    zeros to the exponent, the point removed, then one int per text."""
    exponents = set()
    for code in set(codes):
        currency = minor_units.currency(code)
        if isinstance(currency, MoneyError):
            exponents.add(-1)
            break
        exponents.add(currency.exponent)
    if len(exponents) == 1 and (exponent := exponents.pop()) >= 0:
        plain, exact, pad = _units_patterns(exponent)
        joined = _JOIN.join(texts)
        if plain.fullmatch(joined):
            if not exact.fullmatch(joined):
                framed = _NO_POINT.sub("\0\\1.", f"{_JOIN}{joined}{_JOIN}")
                for _ in range(exponent):
                    framed = pad.sub(r"\g<1>0", framed)
                joined = framed[1:-1]
            units: list[Any] = list(map(int, joined.replace(".", "").split(_JOIN)))
            if min(units) == 0 or max(units) > AMOUNT_MAX:  # zero (AM01), too large (AM02)
                return [m if 0 < m <= AMOUNT_MAX else None for m in units]
            return units
    return list(map(minor_units.of, amounts, codes))


_UNITS_PATTERNS: dict[int, tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]] = {}


def _units_patterns(exponent: int) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """For a column of amounts: (each is digits with at most ``exponent`` decimals; each has
    a point and exactly ``exponent`` decimals; a fraction short of them, to pad with a 0)."""
    patterns = _UNITS_PATTERNS.get(exponent)
    if patterns is None:
        some = (
            f"[0-9]{{1,30}}(?:\\.[0-9]{{0,{exponent}}})?|\\.[0-9]{{1,{exponent}}}"
            if exponent
            else r"[0-9]{1,30}\.?"
        )
        exact = f"[0-9]{{0,30}}\\.[0-9]{{{exponent}}}"
        patterns = _UNITS_PATTERNS[exponent] = (
            re.compile(f"(?:(?:{some}){_JOIN})*(?:{some})"),
            re.compile(f"(?:{exact}{_JOIN})*{exact}"),
            re.compile(f"(\\.[0-9]{{0,{max(exponent - 1, 0)}}})(?=\\0)"),
        )
    return patterns


def check_rules(
    message: CreditTransferMessage, known_bics: Set[str], registry: CurrencyRegistry
) -> list[TxRejection]:
    """Return every hub-rule problem of ``message`` (group first, then by transaction).

    Each rule is first asked of a whole column (are all UETRs read, distinct; all amounts
    accepted; all agents known?), so only the transactions that break one are looked at
    one by one."""
    rejections = check_group(message)
    transactions = message.transactions
    several = len(transactions) > 1
    document_path = message.document_path
    debtor, creditor = (
        ("/Dbtr", "/Cdtr") if message.message_id == FI_MESSAGE_ID else ("/DbtrAgt", "/CdtrAgt")
    )
    duplicates, suspects = _suspects(transactions, known_bics)
    for position in suspects:
        tx = transactions[position]
        path = (
            f"{document_path}/CdtTrfTxInf[{tx.index}]"
            if several
            else f"{document_path}/CdtTrfTxInf"
        )
        duplicate = position in duplicates
        rejections.extend(_check_tx(tx, path, duplicate, known_bics, registry, debtor, creditor))
    return rejections


_UETRS = attrgetter("uetr")
_AMOUNTS = attrgetter("amount")
_DEBTOR_AGENTS = attrgetter("debtor_agent")
_CREDITOR_AGENTS = attrgetter("creditor_agent")
_QUOTE_REFERENCES = attrgetter("quote_reference")
_INSTRUCTED_CURRENCIES = attrgetter("instructed_currency")


def _suspects(
    transactions: tuple[CreditTransferTx, ...], known_bics: Set[str]
) -> tuple[set[int], list[int]]:
    """(the positions of a UETR seen earlier in the message, the positions of every
    transaction that may break a rule of ``_check_tx``, in order)."""
    suspects: set[int] = set()
    uetrs = list(map(_UETRS, transactions))
    duplicates: set[int] = set()
    if None in uetrs:
        suspects.update(n for n, uetr in enumerate(uetrs) if uetr is None)
    if len(set(uetrs) - {None}) != len(uetrs) - len(suspects):
        seen: set[int] = set()
        for n, uetr in enumerate(uetrs):
            if uetr is not None:
                if uetr in seen:
                    duplicates.add(n)
                seen.add(uetr)
        suspects |= duplicates
    amounts = list(map(_AMOUNTS, transactions))
    if None in amounts:
        suspects.update(n for n, amount in enumerate(amounts) if amount is None)
    quotes = list(map(_QUOTE_REFERENCES, transactions))
    if quotes.count(None) != len(quotes) or set(map(_INSTRUCTED_CURRENCIES, transactions)) - {""}:
        suspects.update(n for n, tx in enumerate(transactions) if tx.cross_currency)
    for agents in (map(_DEBTOR_AGENTS, transactions), map(_CREDITOR_AGENTS, transactions)):
        column = list(agents)
        unknown = {bic for bic in set(column) if bic not in known_bics}
        if unknown:
            suspects.update(n for n, bic in enumerate(column) if bic in unknown)
    return duplicates, sorted(suspects)


def check_group(message: CreditTransferMessage) -> list[TxRejection]:
    rejections = []
    count = len(message.transactions)
    if message.number_of_transactions != count:
        reason = f"NbOfTxs is {message.number_of_transactions} but the message holds {count}"
        path = message.document_path + "/GrpHdr/NbOfTxs"
        rejections.append(TxRejection(None, None, INVALID_NUMBER_OF_TRANSACTIONS, reason, path))
    if message.control_sum is not None:
        amounts = [tx.amount_decimal for tx in message.transactions]
        with localcontext(_SUM_CONTEXT):  # the additions in order, as exact as one by one
            total = sum((amount for amount in amounts if amount is not None), Decimal(0))
        if total != message.control_sum:
            reason = f"CtrlSum is {message.control_sum} but the amounts add up to {total}"
            path = message.document_path + "/GrpHdr/CtrlSum"
            rejections.append(TxRejection(None, None, INVALID_CONTROL_SUM, reason, path))
    return rejections


def _check_tx(
    tx: CreditTransferTx,
    path: str,
    duplicate: bool,
    known_bics: Set[str],
    registry: CurrencyRegistry,
    debtor: str,
    creditor: str,
) -> list[TxRejection]:
    rejections = []

    def reject(code: str, reason: str, where: str) -> None:
        rejections.append(TxRejection(tx.index, tx.end_to_end_id, code, reason, path + where))

    if tx.uetr_text is None:
        reject(REQUIRED_ELEMENT_MISSING, "UETR is missing; CBPR+ requires one", "/PmtId")
    elif tx.uetr is None:
        reject(ELEMENT_CONTENT_INCORRECT, "UETR is not a UUID version 4", "/PmtId/UETR")
    elif duplicate:
        reason = f"UETR {tx.uetr_text} appears earlier in this message"
        reject(DUPLICATE_PAYMENT, reason, "/PmtId/UETR")
    if tx.amount is None:
        code, reason = amount_refusal(tx, registry)
        reject(code, reason, "/IntrBkSttlmAmt")
    if tx.cross_currency:
        for code, reason, where in _conversion_problems(tx, registry):
            reject(code, reason, where)
    if tx.debtor_agent not in known_bics:
        reason = f"debtor agent {tx.debtor_agent or '(no BICFI)'} is not a participant of the hub"
        reject(DEBTOR_BANK_NOT_REGISTERED, reason, debtor + "/FinInstnId/BICFI")
    if tx.creditor_agent not in known_bics:
        agent = tx.creditor_agent or "(no BICFI)"
        reason = f"creditor agent {agent} is not a participant of the hub"
        reject(CREDITOR_BANK_NOT_REGISTERED, reason, creditor + "/FinInstnId/BICFI")
    return rejections


def _conversion_problems(
    tx: CreditTransferTx, registry: CurrencyRegistry
) -> list[tuple[str, str, str]]:
    """The message rules of a cross-currency transaction (the quote itself is the hub's to
    check): a well-formed /FXQT/ quote id, and an acceptable InstdAmt."""
    problems = []
    quote_path = "/InstrForNxtAgt/InstrInf"
    if tx.quote_reference is None:
        reason = (
            f"InstdAmt in {tx.instructed_currency} and IntrBkSttlmAmt in {tx.currency}: a "
            f"conversion cites the hub's FX quote as InstrForNxtAgt/InstrInf {FX_QUOTE_PREFIX}<id>"
        )
        problems.append((REQUIRED_ELEMENT_MISSING, reason, "/InstrForNxtAgt"))
    elif tx.quote_id is None:
        reason = f"{FX_QUOTE_PREFIX}{tx.quote_reference} does not cite a quote id (1 to 18 digits)"
        problems.append((ELEMENT_CONTENT_INCORRECT, reason, quote_path))
    if not tx.instructed_currency:
        reason = "a cross-currency payment gives InstdAmt: the quote's send amount and currency"
        problems.append((REQUIRED_ELEMENT_MISSING, reason, "/InstdAmt"))
    elif tx.instructed_amount is None:
        code, reason = amount_refusal(tx, registry, instructed=True)
        problems.append((code, reason, "/InstdAmt"))
    return problems


def amount_refusal(
    tx: CreditTransferTx, registry: CurrencyRegistry, *, instructed: bool = False
) -> tuple[str, str]:
    # Only on the rare refused amount: run the conversion again to get MoneyError's words.
    name = "InstdAmt" if instructed else "IntrBkSttlmAmt"
    amount = tx.instructed_decimal if instructed else tx.amount_decimal
    currency = tx.instructed_currency if instructed else tx.currency
    if amount is None:
        return ELEMENT_CONTENT_INCORRECT, f"{name} is not a decimal number"
    try:
        to_minor(amount, registry.settlement_currency(currency))
    except MoneyError as error:
        return error.code, f"{error.reason}"
    raise AssertionError(f"{name} of transaction {tx.index} was refused, now accepted")


def decimal_or_none(text: str | None) -> Decimal | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def uetr_number(text: str | None) -> int | None:
    if text is None or not _UETR.fullmatch(text):
        return None
    return int(text.replace("-", ""), 16)
