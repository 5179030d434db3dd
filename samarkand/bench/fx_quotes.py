"""FX quoting speed: quotes per second over a synthetic market (DESIGN §6, §10).

Not domain code: this module reads the clock (``time.perf_counter``) to time the quotes,
and only this module does. The market is generated deterministically from a seed (numpy's
PCG64), so two runs with one seed quote the same requests against the same book; only the
timing differs.

The market: ``currencies`` national currencies of the default registry (plus USD and EUR,
which the router must avoid), each with a hidden worth; ``providers`` FX providers, each
quoting ``pairs_per_provider`` random pairs in one to three amount bands, with rates within
a few per cent of the worth ratio (truncated to 10 decimals and parsed from text, as a
provider would post them) and log-normal liquidity. Requests are random pairs, half "send"
and half "deliver", with amounts spread log-uniformly over 10**2..10**10 minor units.

    python -m samarkand.bench.fx_quotes [currencies] [providers] [seed] [quotes]
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from samarkand.fx import PostResult, Quote, RateBook, RateTier, parse_rate, quote
from samarkand.money import default_registry
from samarkand.money.participants import SCO_PARTICIPANT_CURRENCY_CODES, VEHICLE_CURRENCY_CODES

RATE_SCALE = 10**10  # rates carry at most 10 decimals
BANDS = ((1, 10**6), (10**6 + 1, 10**9), (10**9 + 1, 10**13))  # minor units of the sell side
PROVIDERS_MAX = 999  # provider BICs are numbered with three digits
NOW_NS = 1_000_000_000
VALID_NS = 3_600 * 10**9


@dataclass(frozen=True, slots=True)
class Request:
    source: str
    destination: str
    send_amount: int | None
    deliver_amount: int | None


def _rate_text(rate: Fraction) -> str:
    scaled = max(1, (rate * RATE_SCALE).__floor__())
    return f"{scaled // RATE_SCALE}.{scaled % RATE_SCALE:010d}"


def synthetic_market(
    *, currencies: int, providers: int, seed: int, pairs_per_provider: int = 12
) -> RateBook:
    """A rate book, the same for the same arguments; see the module docstring."""
    if not 2 <= currencies <= len(SCO_PARTICIPANT_CURRENCY_CODES):
        raise ValueError(f"currencies must be 2..{len(SCO_PARTICIPANT_CURRENCY_CODES)}")
    if not 1 <= providers <= PROVIDERS_MAX:
        raise ValueError(f"providers must be 1..{PROVIDERS_MAX}")
    rng = np.random.Generator(np.random.PCG64(seed))
    registry = default_registry()
    codes = SCO_PARTICIPANT_CURRENCY_CODES[:currencies] + VEHICLE_CURRENCY_CODES
    # Worth of one major unit in millionths of a common unit: integers, so rates are exact.
    worth = {
        code: int(w) + 1 for code, w in zip(codes, rng.lognormal(13, 3, len(codes)), strict=True)
    }
    book = RateBook(registry)
    for index in range(providers):
        bic = f"F{index:03d}CNBJ"
        for _ in range(pairs_per_provider):
            sell, buy = (codes[i] for i in rng.choice(len(codes), 2, replace=False))
            for low, high in BANDS[: int(rng.integers(1, len(BANDS) + 1))]:
                spread_bp = int(rng.integers(5, 400))
                rate = Fraction(worth[sell], worth[buy]) * Fraction(10_000 - spread_bp, 10_000)
                exponent = registry.get(buy).exponent - registry.get(sell).exponent
                # Deep enough for most requests, shallow enough that some fall back.
                liquidity = int(rng.lognormal(22, 3)) + 1
                tier = RateTier(
                    provider=bic,
                    sell=sell,
                    buy=buy,
                    min_amount=low,
                    max_amount=high,
                    rate=parse_rate(_rate_text(rate)),
                    liquidity=min(liquidity * 10 ** max(exponent, 0), 10**30),
                    valid_from_ns=0,
                    valid_until_ns=NOW_NS + VALID_NS,
                )
                if book.post(tier) not in (PostResult.POSTED, PostResult.REPLACED):
                    raise AssertionError(f"synthetic tier refused: {tier}")
    return book


def synthetic_requests(book: RateBook, *, count: int, seed: int) -> list[Request]:
    """``count`` quote requests between the market's national currencies, seeded."""
    rng = np.random.Generator(np.random.PCG64(seed + 1))
    codes = sorted({t.sell for t in book.tiers()} - book.vehicle_only)
    requests = []
    for index in range(count):
        source, destination = (codes[i] for i in rng.choice(len(codes), 2, replace=False))
        amount = int(10 ** rng.uniform(2, 10))
        if index % 2:
            requests.append(Request(source, destination, None, amount))
        else:
            requests.append(Request(source, destination, amount, None))
    return requests


def quote_rate(
    currencies: int = 20, providers: int = 100, seed: int = 1, quotes: int = 2_000
) -> float:
    """Quotes per second over the synthetic market (refusals count: they are answers too)."""
    return measure(currencies=currencies, providers=providers, seed=seed, quotes=quotes)[
        "quotes_per_s"
    ]


def measure(*, currencies: int, providers: int, seed: int, quotes: int) -> dict[str, float]:
    """Quotes per second, with the share of requests quoted and the mean number of hops."""
    book = synthetic_market(currencies=currencies, providers=providers, seed=seed)
    requests = synthetic_requests(book, count=quotes, seed=seed)
    answers = []
    start = time.perf_counter()
    for quote_id, request in enumerate(requests, start=1):
        answers.append(
            quote(
                book,
                source=request.source,
                destination=request.destination,
                send_amount=request.send_amount,
                deliver_amount=request.deliver_amount,
                now=NOW_NS,
                quote_id=quote_id,
                ttl_ns=30 * 10**9,
            )
        )
    elapsed_s = time.perf_counter() - start
    quoted = [a for a in answers if isinstance(a, Quote)]
    return {
        "tiers": float(len(book)),
        "quotes": float(len(requests)),
        "quotes_per_s": len(requests) / elapsed_s,
        "quoted_share": len(quoted) / len(requests),
        "mean_hops": sum(len(q.hops) for q in quoted) / max(1, len(quoted)),
        # Routes that convert through a vehicle-only currency (USD, EUR) on their way.
        "vehicle_currency_share": sum(
            any(hop.buy in book.vehicle_only for hop in q.hops[:-1]) for q in quoted
        )
        / max(1, len(quoted)),
    }


def main(argv: list[str]) -> None:
    currencies, providers, seed, quotes = (
        int(a) for a in (argv + ["20", "100", "1", "2000"][len(argv) :])
    )
    result = measure(currencies=currencies, providers=providers, seed=seed, quotes=quotes)
    for name, value in result.items():
        print(f"{name:>14}: {value:,.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
