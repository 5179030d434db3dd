"""Inbound messages built with pyiso20022 (an independent library) and its serializer."""

from __future__ import annotations

from decimal import Decimal

from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.models.datatype import XmlDateTime

from samarkand.hub.settlement import Liquidity, SettlementHub
from samarkand.settlement.participants import Directory, Participant, ParticipantKind
from samarkand.store import DurableLedger, MemoryStore

CREATED = XmlDateTime.from_string("2026-11-28T10:00:00Z")
CUT_OFF = 10**15


def small_hub() -> SettlementHub:
    """Two central banks (CNY, RUB), banks A (CNY, funded with 1,500.00), B (RUB), C (CNY)."""
    people = [
        Participant("PBOCCNBJ", "PBoC", "CN", ParticipantKind.CENTRAL_BANK, 1, "CNY"),
        Participant("CBRFRUMM", "Bank of Russia", "RU", ParticipantKind.CENTRAL_BANK, 2, "RUB"),
        Participant("BKCHCNBJ", "Bank A", "CN", ParticipantKind.DIRECT, 11, "CNY"),
        Participant("SABRRUMM", "Bank B", "RU", ParticipantKind.DIRECT, 12, "RUB"),
        Participant("SBININBB", "Bank C", "IN", ParticipantKind.DIRECT, 13, "CNY"),
    ]
    hub = SettlementHub(
        Directory(people, {"CNY": 156, "RUB": 643}),
        DurableLedger.open(MemoryStore()),
        cut_off_ns={"CNY": CUT_OFF, "RUB": CUT_OFF},
    )
    hub.open_accounts(1)
    assert hub.liquidity([Liquidity("BKCHCNBJ", "CNY", 150_000)], 2) == [None]
    return hub


def _render(document: object) -> bytes:
    return XmlSerializer().render(document).encode("utf-8")


def pacs009(
    transfers: list[tuple[str, str, str, str, str]], *, msg_id: str = "FI-1",
    number_of_transactions: int | None = None,
) -> bytes:  # fmt: skip
    """(uetr, amount, currency, debtor BIC, creditor BIC) per transfer."""
    from pyiso20022.pacs.pacs_009_001_08 import pacs_009_001_08 as m

    def institution(bic: str) -> m.BranchAndFinancialInstitutionIdentification6:
        return m.BranchAndFinancialInstitutionIdentification6(
            fin_instn_id=m.FinancialInstitutionIdentification18(bicfi=bic)
        )

    transactions = [
        m.CreditTransferTransaction36(
            pmt_id=m.PaymentIdentification7(instr_id=f"I-{n}", end_to_end_id=f"E-{n}", uetr=uetr),
            intr_bk_sttlm_amt=m.ActiveCurrencyAndAmount(value=Decimal(amount), ccy=currency),
            dbtr=institution(debtor),
            cdtr=institution(creditor),
        )
        for n, (uetr, amount, currency, debtor, creditor) in enumerate(transfers, start=1)
    ]
    count = len(transfers) if number_of_transactions is None else number_of_transactions
    return _render(
        m.Document(
            ficdt_trf=m.FinancialInstitutionCreditTransferV08(
                grp_hdr=m.GroupHeader93(
                    msg_id=msg_id, cre_dt_tm=CREATED, nb_of_txs=str(count),
                    sttlm_inf=m.SettlementInstruction7(sttlm_mtd=m.SettlementMethod1Code.CLRG),
                ),
                cdt_trf_tx_inf=transactions,
            )
        )
    )  # fmt: skip


def camt050(
    amount: str, currency: str, *, creditor: str | None, debtor: str | None,
    msg_id: str = "LQ-1", with_currency: bool = True,
) -> bytes:  # fmt: skip
    from pyiso20022.camt.camt_050_001_07 import camt_050_001_07 as m

    def institution(bic: str | None) -> m.BranchAndFinancialInstitutionIdentification8 | None:
        if bic is None:
            return None
        return m.BranchAndFinancialInstitutionIdentification8(
            fin_instn_id=m.FinancialInstitutionIdentification23(bicfi=bic)
        )

    value = Decimal(amount)
    transferred = (
        m.Amount2Choice(amt_wth_ccy=m.ActiveCurrencyAndAmount(value=value, ccy=currency))
        if with_currency
        else m.Amount2Choice(amt_wtht_ccy=value)
    )
    return _render(
        m.Document(
            lqdty_cdt_trf=m.LiquidityCreditTransferV07(
                msg_hdr=m.MessageHeader1(msg_id=msg_id, cre_dt_tm=CREATED),
                lqdty_cdt_trf=m.LiquidityCreditTransfer4(
                    lqdty_trf_id=m.PaymentIdentification8(end_to_end_id=f"{msg_id}-E2E"),
                    cdtr=institution(creditor),
                    trfd_amt=transferred,
                    dbtr=institution(debtor),
                ),
            )
        )
    )


def camt056(uetrs: list[str | None], *, assigner: str, msg_id: str = "CXL-1") -> bytes:
    from pyiso20022.camt.camt_056_001_08 import camt_056_001_08 as m

    def agent(bic: str) -> m.Party40Choice:
        return m.Party40Choice(
            agt=m.BranchAndFinancialInstitutionIdentification6(
                fin_instn_id=m.FinancialInstitutionIdentification18(bicfi=bic)
            )
        )

    items = [
        m.PaymentTransaction106(
            cxl_id=f"C-{n}",
            orgnl_grp_inf=m.OriginalGroupInformation29(
                orgnl_msg_id="MSG-1", orgnl_msg_nm_id="pacs.008.001.08"
            ),
            orgnl_end_to_end_id=f"E2E-{n}",
            orgnl_uetr=uetr,
        )
        for n, uetr in enumerate(uetrs, start=1)
    ]
    return _render(
        m.Document(
            fito_fipmt_cxl_req=m.FitoFipaymentCancellationRequestV08(
                assgnmt=m.CaseAssignment5(
                    id=msg_id, assgnr=agent(assigner), assgne=agent("SMRKUZ2TXXX"),
                    cre_dt_tm=CREATED,
                ),
                undrlyg=[m.UnderlyingTransaction23(tx_inf=items)],
            )
        )
    )  # fmt: skip


def pacs004(
    returns: list[tuple[str, str, str]], *, sender: str | None, msg_id: str = "RTR-1"
) -> bytes:
    """(original uetr, returned amount, currency) per return; ``sender`` in GrpHdr/InstgAgt."""
    from pyiso20022.pacs.pacs_004_001_09 import pacs_004_001_09 as m

    agent = (
        m.BranchAndFinancialInstitutionIdentification6(
            fin_instn_id=m.FinancialInstitutionIdentification18(bicfi=sender)
        )
        if sender
        else None
    )
    return _render(
        m.Document(
            pmt_rtr=m.PaymentReturnV09(
                grp_hdr=m.GroupHeader90(
                    msg_id=msg_id, cre_dt_tm=CREATED, nb_of_txs=str(len(returns)),
                    sttlm_inf=m.SettlementInstruction7(sttlm_mtd=m.SettlementMethod1Code.CLRG),
                    instg_agt=agent,
                ),
                tx_inf=[
                    m.PaymentTransaction112(
                        rtr_id=f"R-{n}", orgnl_end_to_end_id=f"E2E-{n}", orgnl_uetr=uetr,
                        rtrd_intr_bk_sttlm_amt=m.ActiveCurrencyAndAmount(
                            value=Decimal(amount), ccy=currency
                        ),
                    )
                    for n, (uetr, amount, currency) in enumerate(returns, start=1)
                ],
            )
        )
    )  # fmt: skip


def envelope(document: bytes, *, sender: str, message_id: str, msg_id: str = "BAH-1") -> bytes:
    """``document`` in a BizMsg envelope whose AppHdr pyiso20022 built."""
    from lxml import etree
    from pyiso20022.head.head_001_001_02 import head_001_001_02 as m

    def party(bic: str) -> m.Party44Choice:
        return m.Party44Choice(
            fiid=m.BranchAndFinancialInstitutionIdentification6(
                fin_instn_id=m.FinancialInstitutionIdentification18(bicfi=bic)
            )
        )

    header = m.AppHdr(
        fr=party(sender), to=party("SMRKUZ2TXXX"), biz_msg_idr=msg_id,
        msg_def_idr=message_id, cre_dt=CREATED,
    )  # fmt: skip
    root = etree.Element("BizMsg")
    root.append(etree.fromstring(_render(header)))
    root.append(etree.fromstring(document))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def fx_pacs008(
    transactions: list[dict[str, object]], *, msg_id: str = "FX-1",
    settlement_date: str | None = None,
) -> bytes:  # fmt: skip
    """A pacs.008.001.08 of cross-currency payments. Each dict: uetr, debtor, creditor (BICs),
    settled=(amount, currency) for IntrBkSttlmAmt, and optionally instructed=(amount,
    currency) for InstdAmt, rate (XchgRate text), quote (the InstrForNxtAgt/InstrInf text)."""
    from pyiso20022.pacs.pacs_008_001_08 import pacs_008_001_08 as m
    from xsdata.models.datatype import XmlDate

    def agent(bic: object) -> m.BranchAndFinancialInstitutionIdentification6:
        return m.BranchAndFinancialInstitutionIdentification6(
            fin_instn_id=m.FinancialInstitutionIdentification18(bicfi=str(bic))
        )

    items = []
    for n, tx in enumerate(transactions, start=1):
        amount, currency = tx["settled"]  # type: ignore[misc]
        instructed = tx.get("instructed")
        quote = tx.get("quote")
        rate = tx.get("rate")
        items.append(
            m.CreditTransferTransaction39(
                pmt_id=m.PaymentIdentification7(
                    instr_id=f"I-{n}", end_to_end_id=f"E-{n}", uetr=str(tx["uetr"])
                ),
                intr_bk_sttlm_amt=m.ActiveCurrencyAndAmount(value=Decimal(amount), ccy=currency),
                instd_amt=(
                    m.ActiveOrHistoricCurrencyAndAmount(
                        value=Decimal(instructed[0]),
                        ccy=instructed[1],  # type: ignore[index]
                    )
                    if instructed is not None
                    else None
                ),
                xchg_rate=Decimal(str(rate)) if rate is not None else None,
                chrg_br=m.ChargeBearerType1Code.SHAR,
                dbtr=m.PartyIdentification135(nm="Debtor"),
                dbtr_agt=agent(tx["debtor"]),
                cdtr_agt=agent(tx["creditor"]),
                cdtr=m.PartyIdentification135(nm="Creditor"),
                instr_for_nxt_agt=(
                    [m.InstructionForNextAgent1(instr_inf=str(quote))] if quote is not None else []
                ),
            )
        )
    return _render(
        m.Document(
            fito_ficstmr_cdt_trf=m.FitoFicustomerCreditTransferV08(
                grp_hdr=m.GroupHeader93(
                    msg_id=msg_id, cre_dt_tm=CREATED, nb_of_txs=str(len(items)),
                    intr_bk_sttlm_dt=(
                        XmlDate.from_string(settlement_date) if settlement_date else None
                    ),
                    sttlm_inf=m.SettlementInstruction7(sttlm_mtd=m.SettlementMethod1Code.CLRG),
                ),
                cdt_trf_tx_inf=items,
            )
        )
    )  # fmt: skip
