"""Cross-currency routes (docs/fx.md): providers post rate tiers, participants ask for
quotes and pay citing them.

- `POST /v1/fx/tiers`: an FX provider posts its own tiers (DESIGN §6: providers post rates
  per pair in amount tiers): an active direct participant with settlement accounts in both
  currencies of the pair and, on a hub with a register of providers (the dev hub), registered
  by the operator for the pair (else RJCT AG01; docs/fx.md).
- `POST /v1/fx/quotes`: "send X in A" or "deliver Y in B" -> the best route as a quote
  bound to the caller; `GET /v1/fx/quotes/{id}` shows one of the caller's own quotes.
- `POST /v1/fx/payments`: a cross-currency payment citing a quote.

Quote requests and payments go through the hub's thread like single payments: each round
takes all that wait as one durable command. Every refusal carries the hub's ISO code.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import FastAPI, Path, Request
from pydantic import BaseModel, Field, model_validator

from samarkand.fx.rates import base_one_rate, format_rate
from samarkand.fx.routing import Quote
from samarkand.hub.settlement import QUOTE_TTL_NS_DEFAULT, QuoteRequest, TierPost
from samarkand.money import format_amount
from samarkand.service import errors as E
from samarkand.service.auth import Role
from samarkand.service.engine import Engine
from samarkand.service.shared import (
    REGISTRY,
    Amount,
    Bic,
    Currency,
    Moment,
    PaymentStatusOut,
    ReasonOut,
    Uetr,
    _In,
    iso_time,
    minor_units,
    owns,
    payment_status,
    reason_out,
    require_debtor,
    require_role,
    run_on_hub,
)
from samarkand.settlement.payments import FxPayment, Priority, Reason

TIERS_MAX = 1_000
NS = 10**9
RATE_REGEX = r"^[0-9]{1,29}(\.[0-9]{1,10})?$"


class TierIn(_In):
    sell: Currency
    buy: Currency
    min_amount: Amount = Field(description="the band's lowest amount sold, in `sell`")
    max_amount: Amount = Field(description="the band's highest amount sold, in `sell`")
    rate: str = Field(
        pattern=RATE_REGEX, examples=["12.5"], description="`buy` per `sell`, 10 decimals at most"
    )
    liquidity: Amount = Field(description="the most the provider pays out, in `buy`")
    valid_from: Moment | None = Field(default=None, description="default: now")
    valid_until: Moment


class TiersIn(_In):
    tiers: list[TierIn] = Field(min_length=1, max_length=TIERS_MAX)


class TierResultOut(BaseModel):
    status: Literal["posted", "RJCT"]
    reason: ReasonOut | None = None


class QuoteIn(_In):
    source: Currency
    destination: Currency
    send_amount: Amount | None = Field(default=None, description="in `source`")
    deliver_amount: Amount | None = Field(default=None, description="in `destination`")
    ttl_seconds: int = Field(default=QUOTE_TTL_NS_DEFAULT // NS, ge=1, le=3_600, strict=True)

    @model_validator(mode="after")
    def _one_amount(self) -> QuoteIn:
        if (self.send_amount is None) == (self.deliver_amount is None):
            raise ValueError("give exactly one of send_amount and deliver_amount")
        return self


class HopOut(BaseModel):
    provider: str
    sell: str
    buy: str
    sell_amount: str
    buy_amount: str
    rate: str


class QuoteOut(BaseModel):
    id: int
    source: str
    destination: str
    send_amount: str
    deliver_amount: str
    effective_rate: str = Field(
        description="`destination` per `source`, as an ISO 20022 BaseOneRate states it: "
        "exact when it fits, else rounded half-even to 11 digits (at most 10 after the point); "
        "what a pacs.008 citing the quote may give as its XchgRate"
    )
    created: str
    expires: str
    hops: list[HopOut]


class FxPaymentIn(_In):
    uetr: Uetr
    debtor_agent: Bic
    creditor_agent: Bic
    quote_id: int = Field(ge=1, le=2**62, strict=True)
    priority: Literal["normal", "urgent"] = "normal"


def _ns(moment: dt.datetime, field: str) -> int:
    if moment.tzinfo is None:
        raise E.ApiError(422, "invalid", field, "give the time with its zone")
    seconds = moment.timestamp()
    if not 0 <= seconds < 2**62 / NS:
        raise E.ApiError(422, "invalid", field, "the time is out of range")
    whole = int(moment.replace(microsecond=0).timestamp())
    return whole * NS + moment.microsecond * 1_000


def quote_out(quote: Quote) -> QuoteOut:
    def amount(value: int, code: str) -> str:
        return format_amount(value, REGISTRY.get(code))

    return QuoteOut(
        id=quote.id,
        source=quote.source,
        destination=quote.destination,
        send_amount=amount(quote.send_amount, quote.source),
        deliver_amount=amount(quote.deliver_amount, quote.destination),
        effective_rate=base_one_rate(quote.effective_rate),
        created=iso_time(quote.created_ns),
        expires=iso_time(quote.expires_ns),
        hops=[
            HopOut(
                provider=hop.provider,
                sell=hop.sell,
                buy=hop.buy,
                sell_amount=amount(hop.sell_amount, hop.sell),
                buy_amount=amount(hop.buy_amount, hop.buy),
                rate=format_rate(hop.rate),
            )
            for hop in quote.hops
        ],
    )


def add_fx_routes(app: FastAPI, engine: Engine) -> None:
    """Add the cross-currency routes to `app`."""

    @app.post("/v1/fx/tiers", response_model=dict[str, list[TierResultOut]], tags=["fx"])
    async def post_tiers(request: Request, posted: TiersIn) -> dict[str, list[TierResultOut]]:
        """The caller, as FX provider, posts rate tiers: each is posted (the same pair and
        band again replaces its earlier rate) or refused with its ISO code."""
        caller = require_role(request, Role.PARTICIPANT)
        posts = []
        for n, tier in enumerate(posted.tiers):
            where = f"tiers.{n}"
            posts.append(
                (
                    tier,
                    minor_units(tier.min_amount, tier.sell, f"{where}.min_amount", f"{where}.sell"),
                    minor_units(tier.max_amount, tier.sell, f"{where}.max_amount", f"{where}.sell"),
                    minor_units(tier.liquidity, tier.buy, f"{where}.liquidity", f"{where}.buy"),
                    _ns(tier.valid_from, f"{where}.valid_from") if tier.valid_from else None,
                    _ns(tier.valid_until, f"{where}.valid_until"),
                )
            )  # fmt: skip

        def run(engine: Engine, now: int):
            assert engine.durable is not None
            items = [
                TierPost(caller.key_id, t.sell, t.buy, low, high, t.rate, liquidity,
                         now if start is None else start, until)
                for t, low, high, liquidity, start, until in posts
            ]  # fmt: skip
            return engine.durable.post_tiers(items, now)

        reasons = await run_on_hub(engine, run)
        return {
            "results": [
                TierResultOut(status="posted" if r is None else "RJCT", reason=reason_out(r))
                for r in reasons
            ]
        }

    @app.post("/v1/fx/quotes", response_model=QuoteOut, tags=["fx"])
    async def request_quote(request: Request, asked: QuoteIn) -> QuoteOut:
        """The best route of at most three conversions through national currencies for
        "send `send_amount` of `source`" or "deliver `deliver_amount` of `destination`": a
        quote bound to the caller until it expires. It reserves nothing. Refused: 422 (or
        404 for an unknown agent) with the ISO code."""
        caller = require_role(request, Role.PARTICIPANT)
        send = deliver = None
        if asked.send_amount is not None:
            send = minor_units(asked.send_amount, asked.source, "send_amount")
        if asked.deliver_amount is not None:
            deliver = minor_units(asked.deliver_amount, asked.destination, "deliver_amount")
        item = QuoteRequest(caller.key_id, asked.source, asked.destination, send, deliver,
                            asked.ttl_seconds * NS)  # fmt: skip
        (found,) = await asyncio.wrap_future(engine.request_quotes([item]))
        if isinstance(found, Reason):
            raise E.reason_error(found, "destination")
        return quote_out(found)

    @app.get("/v1/fx/quotes/{quote_id}", response_model=QuoteOut, tags=["fx"])
    async def get_quote(
        request: Request, quote_id: Annotated[int, Path(ge=1, le=2**62)]
    ) -> QuoteOut:
        """One of the caller's quotes (until it is forgotten after it expires); another
        participant's quote looks exactly like no quote."""
        caller = require_role(request, Role.PARTICIPANT)

        def run(engine: Engine, _now: int):
            assert engine.durable is not None
            hub = engine.durable.hub
            found = hub.quotes.get(quote_id)
            owner = hub.quote_owner.get(quote_id)
            if found is None or owner is None or not owns(hub.directory, caller.key_id, owner):
                return None
            return found

        found = await run_on_hub(engine, run)
        if found is None:
            raise E.reason_error(Reason.QUOTE_UNKNOWN, "quote_id")
        return quote_out(found)

    @app.post("/v1/fx/payments", response_model=PaymentStatusOut, tags=["fx"])
    async def pay_fx(request: Request, payment: FxPaymentIn) -> PaymentStatusOut:
        """A cross-currency payment citing one of the caller's quotes: the debtor agent pays
        the quote's send amount, the creditor agent receives its deliver amount. Answered
        once durable: ACSC settled (all legs), ACSP queued, RJCT with the ISO reason (the
        quote then stays unused). Track it with GET /v1/payments/{uetr}."""
        caller = require_role(request, Role.PARTICIPANT)
        require_debtor(engine, caller.key_id, payment.debtor_agent)
        item = FxPayment(
            uetr=uuid.UUID(payment.uetr).int,
            debtor_agent=payment.debtor_agent,
            creditor_agent=payment.creditor_agent,
            quote_id=payment.quote_id,
            priority=Priority[payment.priority.upper()],
        )
        (answer,) = await asyncio.wrap_future(engine.submit_fx([item]))
        return payment_status(payment.uetr, answer)
