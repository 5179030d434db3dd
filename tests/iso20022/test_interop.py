"""Interoperability with an independent library: pyiso20022's xsdata dataclasses."""

from __future__ import annotations

from pyiso20022.pacs.pacs_002_001_10 import Document as StatusReport
from pyiso20022.pacs.pacs_008_001_08 import Document as CreditTransfer
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.serializers import XmlSerializer

from samarkand.iso20022 import build_status_report, intake_pacs008
from samarkand.money import default_registry

from .builders import BICS, Tx, pacs008, uetr

REGISTRY = default_registry()


def test_a_message_serialised_by_pyiso20022_is_taken_in() -> None:
    """pyiso20022 reads our fixture into its dataclasses and writes it out again with its own
    serializer; Samarkand takes in what pyiso20022 wrote, with the same values."""
    ours = pacs008([Tx(number=1), Tx(number=2, amount="12.5", currency="RUB")])
    document = XmlParser().from_bytes(ours, CreditTransfer)
    assert len(document.fito_ficstmr_cdt_trf.cdt_trf_tx_inf) == 2
    theirs = XmlSerializer().render(document).encode("utf-8")
    result = intake_pacs008(theirs, registry=REGISTRY, known_bics=frozenset(BICS))
    assert result.file_problems == () and result.rejections == ()
    assert result.message is not None
    assert [tx.amount for tx in result.message.transactions] == [100_000, 1_250]
    assert [tx.currency for tx in result.message.transactions] == ["CNY", "RUB"]
    assert [tx.uetr_text for tx in result.message.transactions] == [uetr(1), uetr(2)]


def test_the_status_report_we_emit_parses_back_with_pyiso20022() -> None:
    data = pacs008([Tx(number=1), Tx(number=2, amount="1.234")])  # 3 decimals in CNY
    result = intake_pacs008(data, registry=REGISTRY, known_bics=frozenset(BICS))
    assert result.message is not None
    report = build_status_report(
        result.message, result.rejections, msg_id="STS-1", created_at="2026-11-27T10:00:01Z"
    )
    parsed = XmlParser().from_bytes(report, StatusReport)
    statuses = parsed.fito_fipmt_sts_rpt.tx_inf_and_sts
    assert len(statuses) == 2
    assert [s.tx_sts for s in statuses] == ["ACTC", "RJCT"]
    reason = statuses[1].sts_rsn_inf[0].rsn.cd
    assert reason == "AM12"
