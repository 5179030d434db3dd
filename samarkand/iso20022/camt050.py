"""Intake of camt.050.001.07 (liquidity credit transfer): funds moved between a direct
participant's settlement account and its central bank.

CBPR+ has no camt.050; camt.050.001.07 is the version pyiso20022 models (no official XSD of
it could be vendored, so ``validate_document`` checks it against that model). One transfer per
message (the schema allows one). The hub reads:

- ``LqdtyCdtTrf/TrfdAmt/AmtWthCcy`` with its currency (AmtWthtCcy is refused, CH21: the hub
  settles several currencies and the amount alone does not say which);
- ``Cdtr`` and ``Dbtr`` (FinInstnId/BICFI): one of them is the participant, the other the
  central bank of the currency or absent. A participant as creditor funds its settlement
  account (into the hub); as debtor it drains it. Which side is which is the hub's call
  (it knows the central banks), so this module only reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from lxml import etree

from samarkand.money import CurrencyRegistry, MoneyError, to_minor

from . import schemas
from .problems import ELEMENT_CONTENT_INCORRECT, REQUIRED_ELEMENT_MISSING, IsoRejection

MESSAGE_ID = schemas.CAMT_050
_NS = "{" + schemas.namespace(MESSAGE_ID) + "}"
TRANSFER_PATH = "/Document/LqdtyCdtTrf/LqdtyCdtTrf"


@dataclass(frozen=True, slots=True)
class LiquidityTransfer:
    msg_id: str
    created_at: str
    instruction_id: str | None
    end_to_end_id: str
    uetr_text: str | None
    creditor: str | None
    debtor: str | None
    currency: str
    amount: int  # minor units


def read_liquidity_transfer(
    root: etree._Element, registry: CurrencyRegistry
) -> LiquidityTransfer | IsoRejection:
    """The transfer of a camt.050.001.07 ``root`` that validation accepted, or the refusal
    of its amount (CH21 without a currency; MoneyError's code for a bad amount)."""
    body = root[0]
    ns = _NS
    transfer = body.find(ns + "LqdtyCdtTrf")
    assert transfer is not None  # validated: mandatory
    amount = transfer.find(f"{ns}TrfdAmt/{ns}AmtWthCcy")
    if amount is None:
        reason = "TrfdAmt needs AmtWthCcy: the hub settles several currencies"
        return IsoRejection(REQUIRED_ELEMENT_MISSING, reason, path=TRANSFER_PATH + "/TrfdAmt")
    currency = amount.get("Ccy", "")
    try:
        minor = to_minor(Decimal(amount.text or ""), registry.settlement_currency(currency))
    except MoneyError as error:
        return IsoRejection(error.code, error.reason, path=TRANSFER_PATH + "/TrfdAmt/AmtWthCcy")
    except ArithmeticError:
        reason = "AmtWthCcy is not a decimal number"
        path = TRANSFER_PATH + "/TrfdAmt/AmtWthCcy"
        return IsoRejection(ELEMENT_CONTENT_INCORRECT, reason, path=path)
    ids = f"{ns}LqdtyTrfId/{ns}"
    return LiquidityTransfer(
        msg_id=body.findtext(f"{ns}MsgHdr/{ns}MsgId") or "",
        created_at=body.findtext(f"{ns}MsgHdr/{ns}CreDtTm") or "",
        instruction_id=transfer.findtext(ids + "InstrId"),
        end_to_end_id=transfer.findtext(ids + "EndToEndId") or "",
        uetr_text=transfer.findtext(ids + "UETR"),
        creditor=transfer.findtext(f"{ns}Cdtr/{ns}FinInstnId/{ns}BICFI"),
        debtor=transfer.findtext(f"{ns}Dbtr/{ns}FinInstnId/{ns}BICFI"),
        currency=currency,
        amount=minor,
    )
