"""Quotes: turn "send X in A" or "deliver Y in B" into the best route of at most three hops.

A route is direct (A→B) or passes through one or two intermediate currencies (A→C→B,
A→C→D→B), never through a vehicle-only currency (USD, EUR) unless the operator allows the
(A, B) corridor (see ``samarkand.fx.book``). Each hop uses one provider's tier: the tier
applies only when the hop's sell amount is inside its band, and only when what is left of the
provider's committed liquidity covers the hop's buy amount: the tier's liquidity less what the
legs of quotes on it have paid out so far (``paid``, by commitment; see `samarkand.fx.book`).
Orders are not split across providers.

Arithmetic is exact, in integer minor units. A hop selling ``s`` buys
``floor(s * rate * 10**(exp_buy - exp_sell))``: the fraction of a minor unit stays with the
provider, never created out of nothing. "Send" quotes pass each hop's whole buy amount to
the next hop, so what is delivered never exceeds the unrounded product of the rates.
"Deliver" quotes work backwards, asking each hop for the smallest sell amount
``ceil(target / (rate * 10**shift))`` whose floored buy amount still reaches the target,
then replay the route forwards with those tiers and whole amounts: the delivered amount is
at least the target (it may exceed it by the rounding of the hops, never fall short).

Choice of route. The search enumerates every simple path of at most three hops, taking on
each hop the best tier that applies to the amount at hand; it is exact (bands and liquidity
make a hop's output non-monotone in its input, so a shortest-path relaxation that keeps one
amount per currency could miss the best route). "Send" keeps the route that delivers the
most; "deliver" the one that needs the least source, then delivers the most. Remaining ties
go to fewer hops, then to the alphabetically first currencies and providers, so a quote does
not depend on the order in which tiers were posted. With n currencies the search visits at
most n² paths of three hops, each with int arithmetic only.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

from samarkand.money import AMOUNT_MAX, MoneyError

from .book import Offer, RateBook

Path = tuple[Offer, ...]
_NO_OFFERS: dict[str, tuple[Offer, ...]] = {}  # read only
NOTHING_PAID: Mapping[int, int] = MappingProxyType({})


class QuoteResult(enum.Enum):
    """Why no quote was given; ``QUOTE_REASON_CODES`` maps each to an ISO 20022 reason."""

    BOTH_OR_NEITHER_AMOUNT = "both_or_neither_amount"  # exactly one of send/deliver is needed
    NOT_POSITIVE = "not_positive"
    AMOUNT_TOO_LARGE = "amount_too_large"  # above AMOUNT_MAX minor units
    UNKNOWN_CURRENCY = "unknown_currency"
    SAME_CURRENCY = "same_currency"  # no conversion: the hub settles it in one ledger
    NO_ROUTE = "no_route"  # no tiers valid now connect the currencies in three hops
    FORBIDDEN_VEHICLE = "forbidden_vehicle"  # the only routes go through USD/EUR
    CURRENCY_RESTING = "currency_resting"  # the only routes go through a currency resting today
    AMOUNT_OUTSIDE_TIERS = "amount_outside_tiers"  # routes exist, but no band fits the amount
    INSUFFICIENT_PROVIDER_LIQUIDITY = "insufficient_provider_liquidity"


# ISO 20022 ExternalStatusReason1Code a pacs.002 would carry for a payment refused for this
# reason; a suggestion for the API's one mapping table (STYLE habit 3). AM03 "not
# processable currency outside of existing agreement" is the nearest code for a corridor the
# hub cannot convert; AM02 "not allowed amount" for the bands. SAME_CURRENCY refuses no
# payment: it tells the hub to take the single-currency path.
QUOTE_REASON_CODES: dict[QuoteResult, str | None] = {
    QuoteResult.BOTH_OR_NEITHER_AMOUNT: "AM12",
    QuoteResult.NOT_POSITIVE: "AM12",
    QuoteResult.AMOUNT_TOO_LARGE: "AM02",
    QuoteResult.UNKNOWN_CURRENCY: "AM11",
    QuoteResult.SAME_CURRENCY: None,
    QuoteResult.NO_ROUTE: "AM03",
    QuoteResult.FORBIDDEN_VEHICLE: "AM03",
    QuoteResult.CURRENCY_RESTING: "DT01",
    QuoteResult.AMOUNT_OUTSIDE_TIERS: "AM02",
    QuoteResult.INSUFFICIENT_PROVIDER_LIQUIDITY: "AM02",
}


@dataclass(frozen=True, slots=True)
class QuoteHop:
    """One conversion of a route: ``provider`` takes ``sell_amount`` and gives ``buy_amount``."""

    provider: str
    sell: str
    buy: str
    sell_amount: int
    buy_amount: int
    rate: Fraction
    valid_until_ns: int = 0  # the end of the tier's validity (0: not recorded)
    # The tier's commitment (`samarkand.fx.book`) and its committed liquidity, in minor units
    # of `buy`: what this hop's payout counts against when the legs settle. 0 and 0: a tier
    # whose liquidity bounds each quote alone (posted by a log written before the count).
    commitment: int = 0
    liquidity: int = 0


@dataclass(frozen=True, slots=True)
class Quote:
    """A priced route. It reserves nothing: each hop's tier is priced against what is left of
    its committed liquidity when the quote is given, and the hop's ``buy_amount`` counts
    against that commitment only when the legs of the payment bound to the quote settle.
    Quotes given meanwhile may therefore promise more than is left: the legs that would take
    a tier past its commitment do not settle, and the payment is rejected
    (``Reason.FX_PROVIDER_LIQUIDITY``, AM02; `samarkand.settlement.engine`).

    ``effective_rate`` is ``deliver_amount / send_amount`` in major units (B per A).
    Valid for ``created_ns <= now < expires_ns``.
    """

    id: int
    source: str
    destination: str
    send_amount: int
    deliver_amount: int
    hops: tuple[QuoteHop, ...]
    effective_rate: Fraction
    created_ns: int
    expires_ns: int

    @property
    def rates_valid_until_ns(self) -> int:
        """When the first of the route's tiers stops standing (0: none recorded). A payment
        bound to the quote may settle at the quoted rates only before then."""
        ends = [hop.valid_until_ns for hop in self.hops if hop.valid_until_ns]
        return min(ends) if ends else 0


@dataclass(frozen=True, slots=True)
class QuoteRefusal:
    result: QuoteResult
    detail: str


def quote(
    book: RateBook,
    *,
    source: str,
    destination: str,
    send_amount: int | None = None,
    deliver_amount: int | None = None,
    now: int,
    quote_id: int,
    ttl_ns: int,
    resting: frozenset[str] = frozenset(),
    paid: Mapping[int, int] = NOTHING_PAID,
) -> Quote | QuoteRefusal:
    """Price the best route for exactly one of ``send_amount`` (in ``source`` minor units)
    or ``deliver_amount`` (in ``destination`` minor units); see the module docstring. No
    route converts through a currency of ``resting`` (one that does not settle today).
    ``paid``: what each commitment has paid out so far (absent: nothing), read only.

    Refusals are values (``QuoteRefusal``); a non-int amount, ``now``, ``quote_id`` or
    ``ttl_ns``, or a non-positive ``ttl_ns`` or ``quote_id``, is a caller bug and raises.
    """
    _check_call(now, quote_id, ttl_ns)
    refusal = _check_request(book, source, destination, send_amount, deliver_amount)
    if refusal is not None:
        return refusal
    allow_vehicle = (source, destination) in book.allowed_vehicle_corridors
    blocked = (frozenset() if allow_vehicle else book.vehicle_only) | resting
    if send_amount is not None:
        path = _search_send(book, source, destination, send_amount, now, blocked, True, paid)
        amount = send_amount
    else:
        assert deliver_amount is not None  # _check_request guarantees exactly one
        found = _search_deliver(book, source, destination, deliver_amount, now, blocked, True, paid)
        path, amount = found if found is not None else (None, 0)
    if path is None:
        return _why_not(
            book, source, destination, send_amount, deliver_amount, now, blocked, resting
        )
    amounts = _execute(path, amount, now, True, paid)
    _ensure(amounts is not None, "the chosen route must replay")
    assert amounts is not None
    built = _build(book, quote_id, source, destination, path, amounts, now, ttl_ns)
    _ensure(deliver_amount is None or built.deliver_amount >= deliver_amount, "short delivery")
    return built


def _check_call(now: int, quote_id: int, ttl_ns: int) -> None:
    for name, value in (("now", now), ("quote_id", quote_id), ("ttl_ns", ttl_ns)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if quote_id <= 0 or ttl_ns <= 0 or now < 0:
        raise ValueError(f"need quote_id > 0, ttl_ns > 0, now >= 0: {quote_id}, {ttl_ns}, {now}")


def _check_request(
    book: RateBook,
    source: str,
    destination: str,
    send_amount: int | None,
    deliver_amount: int | None,
) -> QuoteRefusal | None:
    if (send_amount is None) == (deliver_amount is None):
        detail = "give exactly one of send_amount and deliver_amount"
        return QuoteRefusal(QuoteResult.BOTH_OR_NEITHER_AMOUNT, detail)
    amount = send_amount if send_amount is not None else deliver_amount
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"amounts are ints of minor units, not {type(amount).__name__}")
    if amount <= 0:
        return QuoteRefusal(QuoteResult.NOT_POSITIVE, f"amount {amount} must be positive")
    if amount > AMOUNT_MAX:
        return QuoteRefusal(QuoteResult.AMOUNT_TOO_LARGE, "amount above AMOUNT_MAX")
    for currency in (source, destination):
        try:
            book.registry.get(currency)
        except MoneyError as error:
            return QuoteRefusal(QuoteResult.UNKNOWN_CURRENCY, str(error))
    if source == destination:
        return QuoteRefusal(QuoteResult.SAME_CURRENCY, f"{source} to {source} needs no FX")
    return None


def _ensure(condition: bool, message: str) -> None:
    """An invariant check that survives ``python -O``."""
    if not condition:
        raise AssertionError(message)


def _left(committed: int, commitment: int, paid: Mapping[int, int]) -> int:
    """What is left of a tier's committed liquidity: all of it for a tier counted per quote
    (commitment 0), else less what its commitment has paid out."""
    return committed - paid.get(commitment, 0) if commitment else committed


def _sell_hop(
    offers: tuple[Offer, ...],
    sell: int,
    now: int,
    liquidity: bool,
    paid: Mapping[int, int] = NOTHING_PAID,
):
    """The best (buy amount, offer) for selling ``sell`` on one pair, or None."""
    for offer in offers:  # best rate first
        numerator, denominator, low, high, committed, start, end, _, commitment = offer
        if low <= sell <= high and start <= now < end:
            buy = sell * numerator // denominator
            if buy <= 0:
                return None  # every later offer has a lower rate: it buys nothing either
            if liquidity and buy > _left(committed, commitment, paid):
                continue
            return buy, offer
    return None


def _buy_hop(
    offers: tuple[Offer, ...],
    buy: int,
    now: int,
    liquidity: bool,
    paid: Mapping[int, int] = NOTHING_PAID,
):
    """The smallest (sell amount, offer) whose floored buy amount reaches ``buy``, or None."""
    for offer in offers:  # best rate first, so the needed sell amount only grows
        numerator, denominator, low, high, committed, start, end, _, commitment = offer
        if start <= now < end:
            sell = -(-buy * denominator // numerator)  # ceiling division
            if low <= sell <= high:
                if liquidity and sell * numerator // denominator > _left(
                    committed, commitment, paid
                ):
                    continue
                return sell, offer
    return None


def _execute(
    path: Path, amount: int, now: int, liquidity: bool, paid: Mapping[int, int] = NOTHING_PAID
) -> list[int] | None:
    """Replay ``path`` forwards from ``amount``: the amounts before and after each hop."""
    amounts = [amount]
    for numerator, denominator, low, high, committed, start, end, _, commitment in path:
        sell = amounts[-1]
        if not (low <= sell <= high and start <= now < end):
            return None
        buy = sell * numerator // denominator
        if buy <= 0 or (liquidity and buy > _left(committed, commitment, paid)):
            return None
        amounts.append(buy)
    return amounts


def _tie_key(path: Path) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
    return (len(path), tuple(o.tier.buy for o in path), tuple(o.tier.provider for o in path))


def _search_send(
    book: RateBook,
    source: str,
    destination: str,
    amount: int,
    now: int,
    blocked: frozenset[str],
    liquidity: bool,
    paid: Mapping[int, int] = NOTHING_PAID,
) -> Path | None:
    """The path of at most three hops that delivers the most ``destination`` for ``amount``.

    Short routes are priced first; a three-hop route is then priced only if the best rates
    standing on its last two pairs (whatever their bands) could beat the best so far. The
    bound is exact (floors only lower an amount), so the pruning never loses a route.
    """
    best_amount = 0
    best_path: Path | None = None

    def consider(delivered: int, path: Path) -> None:
        nonlocal best_amount, best_path
        if delivered > best_amount or (
            delivered == best_amount
            and best_path is not None
            and _tie_key(path) < _tie_key(best_path)
        ):
            best_amount, best_path = delivered, path

    table = book.table()
    firsts: list[tuple[str, int, Offer]] = []
    for middle, first_offers in table.get(source, {}).items():
        first = _sell_hop(first_offers, amount, now, liquidity, paid)
        if first is None:
            continue
        if middle == destination:
            consider(first[0], (first[1],))
        elif middle not in blocked:
            firsts.append((middle, first[0], first[1]))
    for middle, bought, first_offer in firsts:
        second_offers = table.get(middle, _NO_OFFERS).get(destination)
        second = second_offers and _sell_hop(second_offers, bought, now, liquidity, paid)
        if second:
            consider(second[0], (first_offer, second[1]))
    for middle, bought, first_offer in firsts:
        for last, second_offers in table.get(middle, _NO_OFFERS).items():
            if last == destination or last == source or last in blocked:
                continue
            third_offers = table[last].get(destination) if last in table else None
            if not third_offers:
                continue
            top_second, top_third = second_offers[0], third_offers[0]
            if (
                bought * top_second.numerator * top_third.numerator
                < best_amount * top_second.denominator * top_third.denominator
            ):
                continue  # even the best rates on both pairs deliver less than the best so far
            second = _sell_hop(second_offers, bought, now, liquidity, paid)
            if second is None:
                continue
            third = _sell_hop(third_offers, second[0], now, liquidity, paid)
            if third is not None:
                consider(third[0], (first_offer, second[1], third[1]))
    return best_path


def _search_deliver(
    book: RateBook,
    source: str,
    destination: str,
    target: int,
    now: int,
    blocked: frozenset[str],
    liquidity: bool,
    paid: Mapping[int, int] = NOTHING_PAID,
) -> tuple[Path, int] | None:
    """The path needing the least ``source`` to deliver at least ``target``, and that amount.

    Prunes like ``_search_send``, backwards: a three-hop route is priced only if the best
    rates on its first two pairs could need no more source than the best so far.
    """
    best: tuple[int, int, Path] | None = None  # (send amount, delivered, path)

    def consider(needed: int, path: Path) -> None:
        nonlocal best
        if best is not None and needed > best[0]:
            return  # needs more source than the best so far: cannot win
        amounts = _execute(path, needed, now, liquidity, paid)
        if amounts is None:  # a rounded-up amount left a band or the liquidity: unusable
            return
        if best is None or (needed, -amounts[-1]) < (best[0], -best[1]):
            best = (needed, amounts[-1], path)
        elif (needed, amounts[-1]) == best[:2] and _tie_key(path) < _tie_key(best[2]):
            best = (needed, amounts[-1], path)

    table = book.table()
    from_source = table.get(source, {})
    lasts: list[tuple[str, int, Offer]] = []
    for before_last in book.sources_view(destination):
        last = _buy_hop(table[before_last][destination], target, now, liquidity, paid)
        if last is None:
            continue
        if before_last == source:
            consider(last[0], (last[1],))
        elif before_last not in blocked:
            lasts.append((before_last, last[0], last[1]))
    for before_last, needed_last, last_offer in lasts:
        first_offers = from_source.get(before_last)
        first = first_offers and _buy_hop(first_offers, needed_last, now, liquidity, paid)
        if first:
            consider(first[0], (first[1], last_offer))
    for before_last, needed_last, last_offer in lasts:
        for middle, first_offers in from_source.items():
            if middle == destination or middle == before_last or middle in blocked:
                continue
            second_offers = table[middle].get(before_last) if middle in table else None
            if not second_offers:
                continue
            top_first, top_second = first_offers[0], second_offers[0]
            if best is not None and (
                needed_last * top_first.denominator * top_second.denominator
                > best[0] * top_first.numerator * top_second.numerator
            ):
                continue  # even the best rates on both pairs need more than the best so far
            second = _buy_hop(second_offers, needed_last, now, liquidity, paid)
            if second is None:
                continue
            first = _buy_hop(first_offers, second[0], now, liquidity, paid)
            if first is not None:
                consider(first[0], (first[1], second[1], last_offer))
    if best is None:
        return None
    return best[2], best[0]


def _connected(
    book: RateBook, source: str, destination: str, now: int, blocked: frozenset[str]
) -> bool:
    """Whether tiers valid at ``now`` connect the currencies in at most three hops."""

    def live(sell: str, buy: str) -> bool:
        return any(o.valid_from_ns <= now < o.valid_until_ns for o in book.offers(sell, buy))

    for middle in book.offers_from(source):
        if not live(source, middle):
            continue
        if middle == destination:
            return True
        if middle in blocked:
            continue
        for last in book.offers_from(middle):
            if last == source or not live(middle, last):
                continue
            if last == destination:
                return True
            if last not in blocked and live(last, destination):
                return True
    return False


def _why_not(
    book: RateBook,
    source: str,
    destination: str,
    send_amount: int | None,
    deliver_amount: int | None,
    now: int,
    blocked: frozenset[str],
    resting: frozenset[str],
) -> QuoteRefusal:
    """Name the first obstacle: liquidity, then bands, then the currencies resting today,
    then the vehicle policy, then none."""
    found: object
    if send_amount is not None:
        found = _search_send(book, source, destination, send_amount, now, blocked, False)
    else:
        assert deliver_amount is not None
        found = _search_deliver(book, source, destination, deliver_amount, now, blocked, False)
    corridor = f"{source} to {destination}"
    if found is not None:
        detail = f"{corridor}: what is left of providers' committed liquidity is too little"
        return QuoteRefusal(QuoteResult.INSUFFICIENT_PROVIDER_LIQUIDITY, detail)
    if _connected(book, source, destination, now, blocked):
        detail = f"{corridor}: no tier's amount band fits the amount on any route"
        return QuoteRefusal(QuoteResult.AMOUNT_OUTSIDE_TIERS, detail)
    vehicles_only = blocked - resting
    if resting and _connected(book, source, destination, now, vehicles_only):
        closed = ", ".join(sorted(resting))
        detail = f"{corridor}: every route goes through {closed}, which does not settle today"
        return QuoteRefusal(QuoteResult.CURRENCY_RESTING, detail)
    if vehicles_only and _connected(book, source, destination, now, frozenset()):
        vehicles = ", ".join(sorted(book.vehicle_only))
        detail = f"{corridor}: every route goes through {vehicles}, not allowed on this corridor"
        return QuoteRefusal(QuoteResult.FORBIDDEN_VEHICLE, detail)
    return QuoteRefusal(QuoteResult.NO_ROUTE, f"{corridor}: no tiers connect them in 3 hops")


def _build(
    book: RateBook,
    quote_id: int,
    source: str,
    destination: str,
    path: Path,
    amounts: list[int],
    now: int,
    ttl_ns: int,
) -> Quote:
    hops = tuple(
        QuoteHop(
            provider=offer.tier.provider,
            sell=offer.tier.sell,
            buy=offer.tier.buy,
            sell_amount=amounts[index],
            buy_amount=amounts[index + 1],
            rate=offer.tier.rate,
            valid_until_ns=offer.valid_until_ns,
            commitment=offer.commitment,
            liquidity=offer.liquidity if offer.commitment else 0,
        )
        for index, offer in enumerate(path)
    )
    _ensure(hops[0].sell == source and hops[-1].buy == destination, "route ends")
    for before, after in zip(hops, hops[1:], strict=False):
        _ensure(before.buy == after.sell, "route must chain currencies")
    send, deliver = amounts[0], amounts[-1]
    scale_source = 10 ** book.registry.get(source).exponent
    scale_destination = 10 ** book.registry.get(destination).exponent
    return Quote(
        id=quote_id,
        source=source,
        destination=destination,
        send_amount=send,
        deliver_amount=deliver,
        hops=hops,
        effective_rate=Fraction(deliver * scale_source, send * scale_destination),
        created_ns=now,
        expires_ns=now + ttl_ns,
    )
