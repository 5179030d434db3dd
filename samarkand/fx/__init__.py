"""FX without a vehicle currency (DESIGN §6): exact rates, the rate book, quotes, routing.

Pure: no I/O, clock or randomness; ``now`` comes in as nanoseconds. Rates are ``Fraction``
values parsed from decimal text; amounts are ints of minor units. `samarkand.fx.pvp` turns a
quote into payment-versus-payment legs (reserve as pending transfers, then post all or void
all); `samarkand.hub.pvp` runs them durably with a decision log and recovers after a crash.
"""

from .book import DEFAULT_VEHICLE_ONLY, Offer, PostResult, RateBook, WithdrawResult
from .quotes import REDEEM_REASON_CODES, IssueResult, QuoteRegistry, RedeemResult
from .rates import (
    RATE_DECIMALS_MAX,
    RateError,
    RateProblem,
    RateTier,
    ReferenceRate,
    parse_rate,
)
from .routing import QUOTE_REASON_CODES, Quote, QuoteHop, QuoteRefusal, QuoteResult, quote

__all__ = [
    "DEFAULT_VEHICLE_ONLY",
    "QUOTE_REASON_CODES",
    "RATE_DECIMALS_MAX",
    "REDEEM_REASON_CODES",
    "IssueResult",
    "Offer",
    "PostResult",
    "Quote",
    "QuoteHop",
    "QuoteRefusal",
    "QuoteRegistry",
    "QuoteResult",
    "RateBook",
    "RateError",
    "RateProblem",
    "RateTier",
    "RedeemResult",
    "ReferenceRate",
    "WithdrawResult",
    "parse_rate",
    "quote",
]
