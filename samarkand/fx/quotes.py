"""The quote registry: each quote binds at most one payment, and only before it expires.

A pure state object: the hub issues a quote when it answers a participant and redeems it
when the payment that cites the quote arrives. Redemption is once only, so one good price
cannot be reused for many payments, and never at or after ``expires_ns``, so a participant
cannot wait for the market to move against the provider.

Memory is bounded: at most ``QUOTES_OPEN_MAX`` quotes are held, and ``prune(now)`` forgets
those that have expired (used or not); a pruned quote id redeems as UNKNOWN_QUOTE. Quote ids
come from the hub's id source and must never repeat.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator

from .routing import Quote

QUOTES_OPEN_MAX = 1_000_000


class IssueResult(enum.Enum):
    ISSUED = "issued"
    EXISTS = "exists"  # the same quote was issued before: idempotent
    EXISTS_WITH_DIFFERENT_FIELDS = "exists_with_different_fields"  # id reused: a hub bug
    REGISTRY_FULL = "registry_full"  # QUOTES_OPEN_MAX held; prune, or refuse to quote


class RedeemResult(enum.Enum):
    """Why a payment may not use a quote; ``REDEEM_REASON_CODES`` gives ISO 20022 codes."""

    UNKNOWN_QUOTE = "unknown_quote"
    EXPIRED = "expired"
    ALREADY_USED = "already_used"


# ISO 20022 ExternalStatusReason1Code suggestions for the API's mapping table: TM01
# "received after the agreed cut-off time" is the nearest to a payment that cites an expired
# price; DUPL for a second payment on one quote; CH16 "element content formally incorrect"
# for a quote reference the hub does not know.
REDEEM_REASON_CODES: dict[RedeemResult, str] = {
    RedeemResult.UNKNOWN_QUOTE: "CH16",
    RedeemResult.EXPIRED: "TM01",
    RedeemResult.ALREADY_USED: "DUPL",
}


class QuoteRegistry:
    """Issued quotes by id, each marked used at most once."""

    __slots__ = ("_quotes", "_used")

    def __init__(self) -> None:
        self._quotes: dict[int, Quote] = {}
        self._used: set[int] = set()

    def issue(self, quote: Quote) -> IssueResult:
        if not isinstance(quote, Quote):
            raise TypeError(f"QuoteRegistry.issue takes a Quote, not {type(quote).__name__}")
        known = self._quotes.get(quote.id)
        if known is not None:
            if known == quote:
                return IssueResult.EXISTS
            return IssueResult.EXISTS_WITH_DIFFERENT_FIELDS
        if len(self._quotes) >= QUOTES_OPEN_MAX:
            return IssueResult.REGISTRY_FULL
        self._quotes[quote.id] = quote
        return IssueResult.ISSUED

    def redeem(self, quote_id: int, now: int) -> Quote | RedeemResult:
        """Bind the quote to the payment citing it: the quote once, or why not.

        ALREADY_USED is checked before EXPIRED, so a second use reads as what it is.
        """
        quote = self._quotes.get(quote_id)
        if quote is None:
            return RedeemResult.UNKNOWN_QUOTE
        if quote_id in self._used:
            return RedeemResult.ALREADY_USED
        if not quote.created_ns <= now < quote.expires_ns:
            return RedeemResult.EXPIRED
        self._used.add(quote_id)
        return quote

    def get(self, quote_id: int) -> Quote | None:
        """The quote issued under ``quote_id``, used or not, without redeeming it."""
        return self._quotes.get(quote_id)

    def is_used(self, quote_id: int) -> bool:
        return quote_id in self._used

    def issued(self) -> Iterator[Quote]:
        """Every quote held (used or not, not yet pruned), in the order issued."""
        return iter(self._quotes.values())

    def prune(self, now: int) -> int:
        """Forget every quote that expired at or before ``now``; return how many."""
        gone = [qid for qid, q in self._quotes.items() if q.expires_ns <= now]
        for quote_id in gone:
            del self._quotes[quote_id]
            self._used.discard(quote_id)
        return len(gone)

    def __len__(self) -> int:
        return len(self._quotes)
