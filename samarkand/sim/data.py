"""The project's copy of the participant and trade data (see samarkand/data/README.md)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class Country:
    iso2: str
    name: str
    status: str  # member | observer | dialogue_partner
    currency: str
    central_bank: str
    central_bank_bic: str
    bic_is_placeholder: bool


@dataclass(frozen=True, slots=True)
class TradeFlow:
    exporter: str
    importer: str
    year: int
    value_usd_thousands: int  # thousands of USD, exact
    quality: str


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("samarkand.data").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def countries() -> list[Country]:
    """Every country of the participant file, in file order."""
    result = []
    for row in _rows("sco_participants.csv"):
        bic = row["central_bank_bic"].strip()
        placeholder = not bic
        if placeholder:
            # No confirmed BIC: a clearly artificial one (bank code XXCB) keeps ids unique.
            bic = f"XXCB{row['country_iso2']}XX"
        result.append(
            Country(
                iso2=row["country_iso2"],
                name=row["country_name"],
                status=row["sco_status"],
                currency=row["currency_iso4217"],
                central_bank=row["central_bank_name"],
                central_bank_bic=bic,
                bic_is_placeholder=placeholder,
            )
        )
    return result


def members() -> list[Country]:
    return [c for c in countries() if c.status == "member"]


def trade_flows() -> list[TradeFlow]:
    """Bilateral goods trade by direction; values in thousands of USD as exact integers."""
    flows = []
    for row in _rows("sco_trade.csv"):
        whole, _, fraction = row["value_usd_billion"].partition(".")
        if len(fraction) > 6:
            raise ValueError(
                f"sco_trade.csv: value {row['value_usd_billion']} is finer than $1,000"
            )
        thousands = int(whole) * 1_000_000 + int((fraction + "000000")[:6])
        flows.append(
            TradeFlow(
                exporter=row["exporter_iso2"],
                importer=row["importer_iso2"],
                year=int(row["year"]),
                value_usd_thousands=thousands,
                quality=row["quality"],
            )
        )
    return flows
