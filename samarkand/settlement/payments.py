"""Payments as the settlement engine sees them, their lifecycle and the reasons it gives.

A payment is received, then settles at once, queues, or is rejected; a queued payment later
settles, is cancelled by its sender, or is rejected at the end of the day. Every transition
carries the engine's time and, for rejections and refusals, a reason with the ISO 20022
external code that goes into the pacs.002 / camt.029 sent back.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Priority(enum.IntEnum):
    """Lower settles first: an urgent payment overtakes queued normal ones of its sender."""

    URGENT = 0
    NORMAL = 1


class Method(enum.Enum):
    RTGS = "rtgs"  # gross, final at once, or queued
    DNS = "dns"  # deferred net settlement in the currency's next window


class Status(enum.Enum):
    RECEIVED = "received"
    QUEUED = "queued"
    SETTLED = "settled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


FINAL = frozenset({Status.SETTLED, Status.REJECTED, Status.CANCELLED})


class Reason(enum.Enum):
    """Why the engine refused something. Value: (ISO 20022 code, explanation)."""

    UETR_INVALID = ("FF01", "UETR is not a 128-bit number")
    DEBTOR_AGENT_UNKNOWN = ("DNOR", "debtor agent is not a participant of the hub")
    CREDITOR_AGENT_UNKNOWN = ("CNOR", "creditor agent is not a participant of the hub")
    PARTICIPANT_SUSPENDED = ("AG01", "participant is suspended")
    SAME_AGENTS = ("AG01", "debtor and creditor agent settle on the same account")
    NO_SETTLEMENT_ACCOUNT = ("AC01", "agent holds no settlement account in this currency")
    QUEUE_FULL = ("AG01", "the currency's queue is at its limit; retry later")
    CURRENCY_NOT_ALLOWED = ("AM03", "currency is not settled by the hub")
    AMOUNT_NOT_POSITIVE = ("AM01", "amount must be positive")
    AMOUNT_TOO_LARGE = ("AM02", "amount exceeds the largest the ledger holds")
    DUPLICATE_UETR = ("DUPL", "a payment with this UETR was already received")
    AFTER_CUT_OFF = ("TM01", "received after the currency's cut-off for the day")
    CURRENCY_RESTING = ("DT01", "not a settlement day of the currency: a holiday of its own")
    SETTLEMENT_WINDOW_INVALID = ("DT01", "latest settlement time is before earliest or now")
    LATEST_TIME_PASSED = ("AB03", "not settled by its latest settlement time")
    NOT_SETTLED_BY_CUT_OFF = ("AB03", "still queued at the end-of-day cut-off")
    INSUFFICIENT_FUNDS_PAY_IN = ("AM04", "participant failed to pay in its net debit")
    INSUFFICIENT_FUNDS = ("AM04", "the settlement account does not hold enough")
    NOT_FOUND = ("NOOR", "no payment with this UETR was received")
    NOT_OWNER = ("AGNT", "only the debtor agent may act on its payment")
    ALREADY_SETTLED = ("PTNA", "already settled: settlement is final")
    ALREADY_FINAL = ("ARDT", "payment is already rejected or cancelled")
    NOT_QUEUED = ("NARR", "payment is not in a queue")
    # Intraday credit (SettlementHub.set_credit). AGNT: the wrong agent acts; AM12: an
    # invalid amount; AM14: an amount beyond the agreed limit, here the credit already used.
    NOT_CENTRAL_BANK = ("AGNT", "only the central bank of the currency sets intraday credit")
    CREDIT_INVALID = ("AM12", "intraday credit must be a whole number of minor units, 0 or more")
    CREDIT_BELOW_USE = ("AM14", "the participant already uses more intraday credit than that")
    # Cross-currency payments (DESIGN §6); the mapping is documented in docs/fx.md.
    QUOTE_UNKNOWN = ("CH16", "no quote with this id was issued, or it expired and was forgotten")
    QUOTE_EXPIRED = ("TM01", "the quote expired before the payment citing it arrived")
    QUOTE_USED = ("DUPL", "the quote already binds another payment")
    QUOTE_NOT_OWNER = ("AGNT", "the quote was issued to another agent")
    RATES_EXPIRED = ("AB03", "the quoted rates stopped standing before the legs could settle")
    FX_NO_ROUTE = ("AM03", "no FX provider converts between these currencies in three hops")
    FX_FORBIDDEN_VEHICLE = ("AM03", "every route goes through a vehicle currency not allowed here")
    FX_AMOUNT_OUTSIDE_TIERS = ("AM02", "no provider's amount band fits the amount")
    # Refuses a quote, and the settlement of a payment whose legs would take a tier past its
    # commitment (what is left of its committed liquidity: `samarkand.fx.book`).
    FX_PROVIDER_LIQUIDITY = (
        "AM02",
        "what is left of the providers' committed liquidity does not cover the amount",
    )
    FX_AMOUNT_INVALID = ("AM12", "give exactly one positive send or deliver amount")
    FX_SAME_CURRENCY = ("AM03", "source and destination are the same currency: no FX needed")
    RATE_INVALID = ("CH16", "the rate is not a plain decimal of at most 10 fraction digits")
    TIER_INVALID = ("CH16", "the tier's band, liquidity or validity is not consistent")
    PROVIDER_NOT_DIRECT = ("AG01", "an FX provider must be an active direct participant")
    PROVIDER_NOT_REGISTERED = (
        "AG01",
        "the operator has not registered this participant as an FX provider for this pair",
    )

    @property
    def iso(self) -> str:
        return self.value[0]

    @property
    def text(self) -> str:
        return self.value[1]


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment instruction between two agents, in one currency (integer minor units).

    `earliest_ns` / `latest_ns` bound when it may settle (0: no bound), in the engine's
    nanoseconds since the epoch. `uetr` is the 128-bit UETR as an int (it is also the
    `user_data` of the ledger transfer that settles it).
    """

    uetr: int
    debtor_agent: str
    creditor_agent: str
    amount: int
    currency: str
    priority: Priority = Priority.NORMAL
    method: Method = Method.RTGS
    earliest_ns: int = 0
    latest_ns: int = 0


@dataclass(frozen=True, slots=True)
class FxPayment:
    """A cross-currency payment: the debtor agent pays in the quote's source currency, the
    creditor agent receives the quote's destination currency; the quote fixes both amounts,
    the route and the providers, and binds this payment only."""

    uetr: int
    debtor_agent: str
    creditor_agent: str
    quote_id: int
    priority: Priority = Priority.NORMAL


@dataclass(frozen=True, slots=True)
class Event:
    """One step of a payment's lifecycle, as the tracker shows it."""

    uetr: int
    status: Status
    at_ns: int
    reason: Reason | None = None
    detail: str = ""


def uetr_text(uetr: int) -> str:
    """A UETR held as a 128-bit int in its canonical text (what ``str(uuid.UUID(int=u))``
    gives, at a fraction of the cost)."""
    text = f"{uetr:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
