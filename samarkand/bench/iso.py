"""`samarkand benchmark iso`: bulk pacs.008 intake against xsdata's dataclass binding.

One bulk pacs.008.001.08 message of `count` transactions (generated, valid), taken in by
Samarkand (hardened parse + XSD validation + reading into values + the hub's rules) and, as
the baseline in the same run, parsed by xsdata into pyiso20022's generated dataclasses
(parsing only: no XSD validation, no rules). Both run on one core; the median of `runs`.
"""

from __future__ import annotations

import statistics
import time
from decimal import Decimal

from lxml import etree

from samarkand.iso20022.pacs008 import intake_pacs008
from samarkand.money import default_registry

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"
BICS = ("PBOCCNBJXXX", "CBRFRUMMXXX", "RBISINBBXXX", "SMAACN22XXX", "SMAARU22XXX")
CURRENCIES = ("CNY", "RUB", "INR")


def bulk_pacs008(
    count: int,
    *,
    debtor: str | None = None,
    creditors: tuple[str, ...] = BICS,
    first_uetr: int = 0,
    msg_id: str | None = None,
    settlement_date: str | None = "2026-11-27",
) -> bytes:
    """A valid bulk pacs.008.001.08 with `count` transactions (deterministic). By default the
    agents cycle through `BICS`; with `debtor`, every transaction is that agent's, paid to the
    `creditors` in turn. UETRs are made from `first_uetr` + 1, 2, ... With
    `settlement_date=None` the transactions carry no IntrBkSttlmDt (the hub's day applies)."""
    ns = "{" + NAMESPACE + "}"

    def sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        element = etree.SubElement(parent, ns + name)
        if text is not None:
            element.text = text
        return element

    amounts = [f"{n % 9_000 + 1}.{n % 100:02d}" for n in range(1, count + 1)]
    root = etree.Element(ns + "Document", nsmap={None: NAMESPACE})
    document = sub(root, "FIToFICstmrCdtTrf")
    header = sub(document, "GrpHdr")
    sub(header, "MsgId", msg_id or f"BENCH-{count}")
    sub(header, "CreDtTm", "2026-11-27T10:00:00+03:00")
    sub(header, "NbOfTxs", str(count))
    sub(header, "CtrlSum", str(sum(Decimal(a) for a in amounts)))
    sub(sub(header, "SttlmInf"), "SttlmMtd", "CLRG")
    for n, amount in enumerate(amounts, start=1):
        tx = sub(document, "CdtTrfTxInf")
        ids = sub(tx, "PmtId")
        sub(ids, "InstrId", f"I-{n}")
        sub(ids, "EndToEndId", f"E-{n}")
        u = first_uetr + n
        sub(ids, "UETR", f"{u % 16**8:08x}-{u % 16**4:04x}-4abc-8def-{u % 16**12:012x}")
        sub(tx, "IntrBkSttlmAmt", amount).set("Ccy", CURRENCIES[n % 3])
        if settlement_date is not None:
            sub(tx, "IntrBkSttlmDt", settlement_date)
        sub(tx, "ChrgBr", "SHAR")
        sub(sub(tx, "Dbtr"), "Nm", f"Debtor {n}")
        paying = BICS[n % 5] if debtor is None else debtor
        paid = BICS[(n + 1) % 5] if debtor is None else creditors[n % len(creditors)]
        sub(sub(sub(tx, "DbtrAgt"), "FinInstnId"), "BICFI", paying)
        sub(sub(sub(tx, "CdtrAgt"), "FinInstnId"), "BICFI", paid)
        sub(sub(tx, "Cdtr"), "Nm", f"Creditor {n}")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def run_iso_benchmark(count: int, runs: int) -> dict[str, float]:
    from pyiso20022.pacs.pacs_008_001_08 import Document
    from xsdata.formats.dataclass.parsers import XmlParser

    data = bulk_pacs008(count)
    registry = default_registry()
    known = frozenset(BICS)
    ours, baseline = [], []
    parser = XmlParser()
    for _ in range(runs):
        started = time.perf_counter()
        intake = intake_pacs008(data, registry=registry, known_bics=known)
        ours.append(time.perf_counter() - started)
        if intake.file_problems or intake.rejections or intake.message is None:
            raise RuntimeError("the benchmark message was refused")
        if len(intake.message.transactions) != count:
            raise RuntimeError("the benchmark message lost transactions")
        started = time.perf_counter()
        parsed = parser.from_bytes(data, Document)
        baseline.append(time.perf_counter() - started)
        if len(parsed.fito_ficstmr_cdt_trf.cdt_trf_tx_inf) != count:
            raise RuntimeError("xsdata lost transactions")
    tx_per_s = count / statistics.median(ours)
    baseline_tx_per_s = count / statistics.median(baseline)
    return {
        "transactions": float(count),
        "message_bytes": float(len(data)),
        "tx_per_s": tx_per_s,
        "baseline_tx_per_s": baseline_tx_per_s,
        "ratio": tx_per_s / baseline_tx_per_s,
    }
