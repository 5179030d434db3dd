"""The column reader of ``pacs008`` against the transaction-by-transaction reader it replaced
(kept below as the reference): on generated pacs.008 and pacs.009 messages it must give the
same ``CreditTransferMessage`` and ``check_rules`` the same rejections, in the same order."""

from __future__ import annotations

from collections.abc import Set
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from samarkand.iso20022 import schemas
from samarkand.iso20022.pacs008 import (
    _BY_DOCUMENT,
    _INSTITUTION,
    _SUM_CONTEXT,
    CREDITOR_BANK_NOT_REGISTERED,
    DEBTOR_BANK_NOT_REGISTERED,
    DUPLICATE_PAYMENT,
    ELEMENT_CONTENT_INCORRECT,
    FI_MESSAGE_ID,
    FX_QUOTE_PREFIX,
    INVALID_CONTROL_SUM,
    INVALID_NUMBER_OF_TRANSACTIONS,
    REQUIRED_ELEMENT_MISSING,
    CreditTransferMessage,
    CreditTransferTx,
    MinorUnits,
    TxRejection,
    _conversion_problems,
    _decimals,
    _minor_units,
    _Tags,
    amount_refusal,
    check_rules,
    decimal_or_none,
    read_credit_transfer,
    uetr_number,
)
from samarkand.iso20022.parse import parse_document
from samarkand.iso20022.validate import validate_document
from samarkand.money import CurrencyRegistry, default_registry

REGISTRY = default_registry()
KNOWN = frozenset({"BKCHCNBJXXX", "SABRRUMMXXX", "SBININBBXXX", "BKCHCNBJ"})


# -- The reference: the reader and rules as they were, one transaction at a time ---------------


def reference_read(root: etree._Element, registry: CurrencyRegistry) -> CreditTransferMessage:
    tags = _BY_DOCUMENT[root.tag]
    document = root[0]
    header = document.find(tags.grp_hdr)
    group_priority = header.findtext(tags.priority)
    group_date = header.findtext(tags.sttlm_dt)
    control_sum = header.findtext(tags.ctrl_sum)
    minor_units = MinorUnits(registry)
    institutions = tags is _INSTITUTION
    transactions = tuple(
        _reference_tx(index, element, group_priority, group_date, minor_units, tags, institutions)
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


def _reference_tx(
    index: int,
    tx: etree._Element,
    group_priority: str | None,
    group_date: str | None,
    minor_units: MinorUnits,
    tags: _Tags,
    institutions: bool,
) -> CreditTransferTx:
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
        if tag == tags.pmt_id:
            for part in child:
                if part.tag == tags.instr_id:
                    instruction_id = part.text
                elif part.tag == tags.end_to_end_id:
                    end_to_end_id = part.text
                elif part.tag == tags.uetr:
                    uetr_text = part.text
        elif tag == tags.amount:
            amount_text = child.text or ""
            currency = child.get("Ccy", "")
        elif tag == tags.pmt_tp_inf:
            priority = child.findtext(tags.instr_prty) or group_priority
        elif tag == tags.sttlm_dt:
            settlement_date = child.text
        elif tag == tags.dbtr:
            if institutions:
                debtor_bic = _agent_bic(child, tags.bicfi)
            else:
                debtor_name = _first_text(child, tags.nm)
        elif tag == tags.cdtr:
            if institutions:
                creditor_bic = _agent_bic(child, tags.bicfi)
            else:
                creditor_name = _first_text(child, tags.nm)
        elif tag == tags.dbtr_agt:
            debtor_agent = _agent_bic(child, tags.bicfi)
        elif tag == tags.cdtr_agt:
            creditor_agent = _agent_bic(child, tags.bicfi)
        elif tag == tags.instd_amt:
            instructed_text = child.text or ""
            instructed_currency = child.get("Ccy", "")
        elif tag == tags.xchg_rate:
            exchange_rate = decimal_or_none(child.text)
        elif tag == tags.instr_for_nxt_agt and quote_reference is None:
            text = child.findtext(tags.instr_inf) or ""
            if text.startswith(FX_QUOTE_PREFIX):
                quote_reference = text[len(FX_QUOTE_PREFIX) :]
    if institutions:
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
    if len(parent) and parent[0].tag == tag:
        return parent[0].text
    return None


def _agent_bic(agent: etree._Element, bicfi: str) -> str | None:
    return _first_text(agent[0], bicfi) if len(agent) else None


def reference_rules(
    message: CreditTransferMessage, known_bics: Set[str], registry: CurrencyRegistry
) -> list[TxRejection]:
    rejections = []
    count = len(message.transactions)
    if message.number_of_transactions != count:
        reason = f"NbOfTxs is {message.number_of_transactions} but the message holds {count}"
        path = message.document_path + "/GrpHdr/NbOfTxs"
        rejections.append(TxRejection(None, None, INVALID_NUMBER_OF_TRANSACTIONS, reason, path))
    if message.control_sum is not None:
        total = Decimal(0)
        for tx in message.transactions:
            if tx.amount_decimal is not None:
                total = _SUM_CONTEXT.add(total, tx.amount_decimal)
        if total != message.control_sum:
            reason = f"CtrlSum is {message.control_sum} but the amounts add up to {total}"
            path = message.document_path + "/GrpHdr/CtrlSum"
            rejections.append(TxRejection(None, None, INVALID_CONTROL_SUM, reason, path))
    seen_uetrs: set[int] = set()
    several = len(message.transactions) > 1
    debtor, creditor = (
        ("/Dbtr", "/Cdtr") if message.message_id == FI_MESSAGE_ID else ("/DbtrAgt", "/CdtrAgt")
    )
    for tx in message.transactions:
        path = f"{message.document_path}/CdtTrfTxInf" + (f"[{tx.index}]" if several else "")

        def reject(
            code: str, reason: str, where: str, tx: CreditTransferTx = tx, path: str = path
        ) -> None:
            rejections.append(TxRejection(tx.index, tx.end_to_end_id, code, reason, path + where))

        if tx.uetr_text is None:
            reject(REQUIRED_ELEMENT_MISSING, "UETR is missing; CBPR+ requires one", "/PmtId")
        elif tx.uetr is None:
            reject(ELEMENT_CONTENT_INCORRECT, "UETR is not a UUID version 4", "/PmtId/UETR")
        elif tx.uetr in seen_uetrs:
            reject(DUPLICATE_PAYMENT, f"UETR {tx.uetr_text} appears earlier in this message",
                   "/PmtId/UETR")  # fmt: skip
        else:
            seen_uetrs.add(tx.uetr)
        if tx.amount is None:
            code, reason = amount_refusal(tx, registry)
            reject(code, reason, "/IntrBkSttlmAmt")
        if tx.cross_currency:
            for code, reason, where in _conversion_problems(tx, registry):
                reject(code, reason, where)
        if tx.debtor_agent not in known_bics:
            agent = tx.debtor_agent or "(no BICFI)"
            reject(DEBTOR_BANK_NOT_REGISTERED, f"debtor agent {agent} is not a participant of "
                   "the hub", debtor + "/FinInstnId/BICFI")  # fmt: skip
        if tx.creditor_agent not in known_bics:
            agent = tx.creditor_agent or "(no BICFI)"
            reject(CREDITOR_BANK_NOT_REGISTERED, f"creditor agent {agent} is not a participant "
                   "of the hub", creditor + "/FinInstnId/BICFI")  # fmt: skip
    return rejections


# -- Generated messages -------------------------------------------------------------------------

BICS = ("BKCHCNBJXXX", "SABRRUMMXXX", "SBININBBXXX", "HABBPKKAXXX", "BKCHCNBJ")
CURRENCIES = ("CNY", "RUB", "INR", "JPY", "KWD", "USD", "XAU", "ZZZ")
AMOUNTS = st.one_of(
    st.sampled_from(["1", "1.5", "1.50", "1.500", "0", "0.00", ".5", "5.", "001.20", "7.1234"]),
    st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False).map(str),
    st.integers(min_value=0, max_value=10**14).map(str),
)
TEXTS = st.one_of(
    st.sampled_from(["A", "x & y", "<b>", "  spaced  ", "Ünïcode ✓"]),
    # Characters XML 1.0 allows: no surrogates, no controls, not U+FFFE or U+FFFF.
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"),
                          exclude_characters="\ufffe\uffff"), min_size=1,
            max_size=12).filter(lambda t: t.strip() == t and t),
)  # fmt: skip
# A UETR that is not a UUID v4 is refused by the schema (and pyiso20022's model) already.
UETRS = st.one_of(
    st.integers(1, 40).map(lambda n: f"{n:08x}-0000-4abc-8def-{n:012x}"),  # repeats: DUPL
    st.none(),
)
DATES = st.one_of(st.none(), st.sampled_from(["2026-11-27", "2026-11-28"]))
PRIORITIES = st.one_of(st.none(), st.sampled_from(["HIGH", "NORM"]))


@st.composite
def transactions(draw: st.DrawFn, institutions: bool) -> dict[str, object]:
    tx: dict[str, object] = {
        "instruction_id": draw(st.one_of(st.none(), TEXTS)),
        "end_to_end_id": draw(TEXTS),
        "uetr": draw(UETRS),
        "amount": draw(AMOUNTS),
        "currency": draw(st.sampled_from(CURRENCIES)),
        "date": draw(DATES),
        "debtor": draw(st.one_of(st.none(), st.sampled_from(BICS))),
        "creditor": draw(st.one_of(st.none(), st.sampled_from(BICS))),
    }
    if not institutions:
        tx["priority"] = draw(st.one_of(st.none(), st.just("tp"), PRIORITIES))
        tx["debtor_name"] = draw(st.one_of(st.none(), TEXTS))
        tx["creditor_name"] = draw(st.one_of(st.none(), TEXTS))
        if draw(st.booleans()):
            tx["instructed"] = (draw(AMOUNTS), draw(st.sampled_from(CURRENCIES)))
            tx["rate"] = draw(st.one_of(st.none(), st.sampled_from(["1.5", "0.0123456789"])))
            tx["quotes"] = draw(st.lists(st.one_of(
                st.sampled_from(["/FXQT/12", "/FXQT/", "/FXQT/0", "/FXQT/1x", "note"]),
                st.none(),  # InstrForNxtAgt with a Cd and no InstrInf
            ), max_size=3))  # fmt: skip
    return tx


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    institutions = draw(st.booleans())
    message_id = schemas.PACS_009 if institutions else schemas.PACS_008
    ns = "{" + schemas.namespace(message_id) + "}"

    def sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        element = etree.SubElement(parent, ns + name)
        element.text = text
        return element

    def agent(parent: etree._Element, name: str, bic: str | None) -> None:
        institution = sub(sub(parent, name), "FinInstnId")
        if bic is None:
            sub(institution, "Nm", "No BIC Bank")
        else:
            sub(institution, "BICFI", bic)

    txs = draw(st.lists(transactions(institutions), min_size=1, max_size=12))
    if draw(st.booleans()):  # as most bulk messages are: the mandatory elements, a date or not
        date, currency = draw(DATES), draw(st.sampled_from(CURRENCIES))
        for tx in txs:
            tx.update(date=date, priority=None, currency=currency)
            for rare in ("instructed", "rate", "quotes"):
                tx.pop(rare, None)
    clean = draw(st.booleans())  # and, half the time, one no rule refuses
    if clean:
        for n, tx in enumerate(txs, start=1):
            tx.update(uetr=f"{n:08x}-0000-4abc-8def-{n:012x}", currency="RUB")
            tx.update(debtor="BKCHCNBJXXX", creditor="SABRRUMMXXX", amount=f"{n}.{n % 100:02d}")
    root = etree.Element(ns + "Document", nsmap={None: schemas.namespace(message_id)})
    body = sub(root, "FICdtTrf" if institutions else "FIToFICstmrCdtTrf")
    header = sub(body, "GrpHdr")
    sub(header, "MsgId", "GEN-1")
    sub(header, "CreDtTm", "2026-11-27T10:00:00+03:00")
    sub(header, "NbOfTxs", str(len(txs) + (0 if clean else draw(st.sampled_from([0, 0, 1])))))
    control_sum = "auto" if clean else draw(st.sampled_from(["auto", None, "1.00"]))
    if control_sum == "auto":
        control_sum = str(sum(Decimal(str(tx["amount"])) for tx in txs))
    if control_sum is not None:
        sub(header, "CtrlSum", control_sum)
    if draw(st.booleans()):
        sub(header, "IntrBkSttlmDt", draw(st.sampled_from(["2026-11-27", "2026-11-26"])))
    sub(sub(header, "SttlmInf"), "SttlmMtd", "CLRG")
    priority = draw(PRIORITIES)
    if priority is not None:
        sub(sub(header, "PmtTpInf"), "InstrPrty", priority)
    for tx in txs:
        element = sub(body, "CdtTrfTxInf")
        ids = sub(element, "PmtId")
        if tx["instruction_id"] is not None:
            sub(ids, "InstrId", str(tx["instruction_id"]))
        sub(ids, "EndToEndId", str(tx["end_to_end_id"]))
        if tx["uetr"] is not None:
            sub(ids, "UETR", str(tx["uetr"]))
        if tx.get("priority") is not None:
            kind = sub(element, "PmtTpInf")
            if tx["priority"] != "tp":
                sub(kind, "InstrPrty", str(tx["priority"]))
            else:
                sub(sub(kind, "SvcLvl"), "Cd", "G001")
        sub(element, "IntrBkSttlmAmt", str(tx["amount"])).set("Ccy", str(tx["currency"]))
        if tx["date"] is not None:
            sub(element, "IntrBkSttlmDt", str(tx["date"]))
        if institutions:
            agent(element, "Dbtr", tx["debtor"])  # type: ignore[arg-type]
            agent(element, "Cdtr", tx["creditor"])  # type: ignore[arg-type]
            continue
        if "instructed" in tx:
            amount, currency = tx["instructed"]  # type: ignore[misc]
            sub(element, "InstdAmt", amount).set("Ccy", currency)
            if tx["rate"] is not None:
                sub(element, "XchgRate", str(tx["rate"]))
        sub(element, "ChrgBr", "SHAR")
        debtor = sub(element, "Dbtr")
        if tx["debtor_name"] is not None:
            sub(debtor, "Nm", str(tx["debtor_name"]))
        else:
            sub(sub(debtor, "PstlAdr"), "TwnNm", "Tashkent")
        agent(element, "DbtrAgt", tx["debtor"])  # type: ignore[arg-type]
        agent(element, "CdtrAgt", tx["creditor"])  # type: ignore[arg-type]
        creditor = sub(element, "Cdtr")
        if tx["creditor_name"] is not None:
            sub(creditor, "Nm", str(tx["creditor_name"]))
        for quote in tx.get("quotes", ()):  # type: ignore[attr-defined]
            instruction = sub(element, "InstrForNxtAgt")
            if quote is None:
                sub(instruction, "Cd", "PHOA")
            else:
                sub(instruction, "InstrInf", quote)
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    if draw(st.booleans()):  # the same message as a participant might lay it out
        data = etree.tostring(etree.fromstring(data), pretty_print=True, encoding="UTF-8")
    return data


def _read_both(data: bytes) -> tuple[CreditTransferMessage, CreditTransferMessage] | None:
    root = parse_document(data)
    assert not isinstance(root, Exception) and isinstance(root, etree._Element), root
    message_id = schemas.PACS_009 if root.tag.endswith("pacs.009.001.08}Document") else (
        schemas.PACS_008
    )  # fmt: skip
    if validate_document(root, message_id):
        return None
    return read_credit_transfer(root, REGISTRY), reference_read(root, REGISTRY)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_the_column_reader_reads_what_the_reference_reads(data: bytes) -> None:
    both = _read_both(data)
    if both is None:  # a generated value the schema refuses: nothing for a reader to read
        return
    fast, reference = both
    assert fast == reference
    # Decimals equal as numbers may differ in exponent; the texts must be the same too.
    assert [str(tx.amount_decimal) for tx in fast.transactions] == [
        str(tx.amount_decimal) for tx in reference.transactions
    ]
    assert check_rules(fast, KNOWN, REGISTRY) == reference_rules(reference, KNOWN, REGISTRY)


def test_generated_messages_are_mostly_valid_and_cover_the_fields() -> None:
    # The property above is only as good as the messages the schema lets through.
    seen = {"valid": 0, "rare": 0, "pacs.009": 0, "rejected": 0, "compact": 0, "scattered": 0}
    seen["accepted"] = 0

    @settings(max_examples=150, deadline=None, database=None)
    @given(messages())
    def count(data: bytes) -> None:
        both = _read_both(data)
        if both is None:
            return
        fast, _ = both
        transactions = fast.transactions
        seen["valid"] += 1
        seen["pacs.009"] += fast.message_id == schemas.PACS_009
        seen["rare"] += any(tx.instructed_currency for tx in transactions)
        rejected = bool(check_rules(fast, KNOWN, REGISTRY))
        seen["rejected"] += rejected
        seen["accepted"] += not rejected
        # Only the seven mandatory elements (and IntrBkSttlmDt in all or none): by position.
        root, n = etree.fromstring(data), len(transactions)
        children = root.xpath("count(*/*[local-name()='CdtTrfTxInf']/*)")
        dated = root.xpath("count(*/*[local-name()='CdtTrfTxInf']/*[local-name()='IntrBkSttlmDt'])")
        seen["compact"] += fast.message_id == schemas.PACS_008 and (
            (children == 7 * n and dated == 0) or (children == 8 * n and dated == n)
        )
        names = [tx.instruction_id is None for tx in transactions]
        seen["scattered"] += len(set(names)) == 2

    count()
    assert seen["valid"] >= 75, seen
    assert min(seen.values()) > 0, seen


def test_cdata_and_entities_read_as_their_text() -> None:
    data = (
        b"<?xml version='1.0' encoding='UTF-8'?>"
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"><FIToFICstmrCdtTrf>'
        b"<GrpHdr><MsgId>M</MsgId><CreDtTm>2026-11-27T10:00:00</CreDtTm><NbOfTxs>2</NbOfTxs>"
        b"<SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf></GrpHdr>"
        b"<CdtTrfTxInf><PmtId><EndToEndId>a<![CDATA[<&>]]>b<!-- c -->d&amp;e</EndToEndId></PmtId>"
        b'<IntrBkSttlmAmt Ccy="CNY">1.00</IntrBkSttlmAmt><ChrgBr>SHAR</ChrgBr><Dbtr/>'
        b"<DbtrAgt><FinInstnId><BICFI>BKCHCNBJXXX</BICFI></FinInstnId></DbtrAgt>"
        b"<CdtrAgt><FinInstnId><BICFI>SABRRUMMXXX</BICFI></FinInstnId></CdtrAgt><Cdtr/>"
        b"</CdtTrfTxInf>"
        b"<CdtTrfTxInf><PmtId><InstrId>I</InstrId><EndToEndId>E</EndToEndId></PmtId>"
        b'<IntrBkSttlmAmt Ccy="CNY">2</IntrBkSttlmAmt><ChrgBr>SHAR</ChrgBr><Dbtr/>'
        b"<DbtrAgt><FinInstnId><BICFI>BKCHCNBJXXX</BICFI></FinInstnId></DbtrAgt>"
        b"<CdtrAgt><FinInstnId><BICFI>SABRRUMMXXX</BICFI></FinInstnId></CdtrAgt><Cdtr/>"
        b"</CdtTrfTxInf></FIToFICstmrCdtTrf></Document>"
    )
    both = _read_both(data)
    assert both is not None
    fast, reference = both
    assert fast == reference
    assert [tx.end_to_end_id for tx in fast.transactions] == ["a<&>bd&e", "E"]
    assert [tx.instruction_id for tx in fast.transactions] == [None, "I"]
    assert [tx.amount for tx in fast.transactions] == [100, 200]


def test_amounts_converted_as_a_column_are_those_converted_one_by_one() -> None:
    texts = ["1", "1.", ".5", "1.5", "1.50", "1.505", "0", "0.0", "001.20", "7", "99999999999999"]
    odd = ["1e3", " 1", "+1", "1_0", "", "-1", "1.2.3"]
    # UZS with no decimals and KHR with four: every exponent the hub allows; USD is carried but
    # not settled, ZZZ unknown.
    registry = default_registry(exponent_overrides={"UZS": 0, "KHR": 4})
    for code in ("UZS", "CNY", "KWD", "KHR", "USD", "ZZZ"):
        columns = [texts, [t for t in texts if "." in t], texts + odd]
        columns += [[text, "2"] for text in texts + odd]  # each text in a column that converts
        for column in columns:
            minor_units = MinorUnits(registry)
            amounts = [decimal_or_none(text) for text in column]
            expected = [minor_units.of(amount, code) for amount in amounts]
            codes = [code] * len(column)
            assert _minor_units(column, _decimals(column), codes, minor_units) == expected, code
            assert [str(a) for a in _decimals(column)] == [str(a) for a in amounts]
    mixed = ["1.5", "2.25", "3"]
    minor_units = MinorUnits(registry)
    assert _minor_units(mixed, _decimals(mixed), ["UZS", "CNY", "KWD"], minor_units) == [
        None,
        225,
        3000,
    ]
