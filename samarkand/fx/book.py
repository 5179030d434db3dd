"""The rate book: every provider's standing tiers, by currency pair, ready for routing.

A pure state object (no I/O, no clock): the hub posts and withdraws tiers as providers send
them, and the router reads the book with the ``now`` of the batch. A tier is identified by
(provider, sell, buy, min_amount, max_amount): posting the same band again replaces the
provider's previous rate for it, which is how a provider updates a price.

Commitments. Every tier posted is numbered (1, 2, … in the order the book took them, so a
replay numbers them alike): its ``commitment``. The tier's liquidity is what the provider
commits to pay out of that posting *in total*, counted by the settlement engine as the legs
of quotes on it settle (``SettlementEngine.tier_paid``, by commitment); the router prices
against what is left. A tier posted again, even with the same band and numbers, is a new
posting: a new commitment, counted from zero. A tier posted with ``counted=False`` (by a
command log written before the count existed) has commitment 0: its liquidity bounds each
quote alone, as it did then, and nothing is counted against it.

Vehicle currencies. The hub exists to settle without USD or EUR, so ``vehicle_only``
currencies (default USD, EUR) are never an intermediate step of a route, except on the
(source, destination) corridors the operator lists in ``allowed_vehicle_corridors``. They
may still be a payment's own source or destination; whether they may settle is the
currency registry's policy, not the router's.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Iterator
from fractions import Fraction
from typing import NamedTuple

from samarkand.money import CurrencyRegistry, MoneyError

from .rates import RateTier

DEFAULT_VEHICLE_ONLY: frozenset[str] = frozenset({"USD", "EUR"})
TIERS_PER_PAIR_MAX = 256  # bounds the scan of one hop; a pair with more tiers is a posting bug


class Offer(NamedTuple):
    """A tier prepared for the router's inner loop: the rate as two scaled ints.

    ``numerator / denominator`` is the tier's rate times ``10**(exp_buy - exp_sell)``, so the
    buy amount of a hop is ``sell * numerator // denominator`` in minor units: int arithmetic
    only, which is exact and about fifty times faster than Fraction arithmetic.
    """

    numerator: int
    denominator: int
    min_amount: int
    max_amount: int
    liquidity: int
    valid_from_ns: int
    valid_until_ns: int
    tier: RateTier
    commitment: int  # the posting's number when its liquidity is counted in total; 0: per quote


class PostResult(enum.Enum):
    POSTED = "posted"
    REPLACED = "replaced"  # the provider's earlier rate for this band is gone
    UNKNOWN_CURRENCY = "unknown_currency"  # sell or buy is not carried by the hub (AM11)
    PAIR_FULL = "pair_full"  # TIERS_PER_PAIR_MAX tiers already stand on this pair


class WithdrawResult(enum.Enum):
    WITHDRAWN = "withdrawn"
    NOT_FOUND = "not_found"


TierKey = tuple[str, str, str, int, int]  # provider, sell, buy, min_amount, max_amount


def tier_key(tier: RateTier) -> TierKey:
    return (tier.provider, tier.sell, tier.buy, tier.min_amount, tier.max_amount)


def _rank(offer: Offer) -> tuple[Fraction, str, int, int]:
    # Best rate first; ties broken by provider and band so that the order, and therefore
    # every quote, does not depend on the order in which tiers were posted.
    tier = offer.tier
    return (-tier.rate, tier.provider, tier.min_amount, tier.max_amount)


class RateBook:
    """Tiers by pair, best rate first, with the operator's vehicle-currency policy."""

    __slots__ = (
        "registry",
        "vehicle_only",
        "allowed_vehicle_corridors",
        "_offers",
        "_by_key",
        "_sources",
        "_postings",
    )

    def __init__(
        self,
        registry: CurrencyRegistry,
        *,
        vehicle_only: Iterable[str] = DEFAULT_VEHICLE_ONLY,
        allowed_vehicle_corridors: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.registry = registry
        self.vehicle_only: frozenset[str] = frozenset(vehicle_only)
        self.allowed_vehicle_corridors: frozenset[tuple[str, str]] = frozenset(
            allowed_vehicle_corridors
        )
        for code in sorted(self.vehicle_only):
            registry.get(code)  # a mistyped policy fails at start-up (MoneyError AM11)
        for corridor in sorted(self.allowed_vehicle_corridors):
            if not (isinstance(corridor, tuple) and len(corridor) == 2):
                raise ValueError(f"a corridor is a (source, destination) pair: {corridor!r}")
            registry.get(corridor[0])
            registry.get(corridor[1])
        # sell -> buy -> offers, best first. The lists are replaced, never mutated in place,
        # so a router holding one keeps a consistent view.
        self._offers: dict[str, dict[str, tuple[Offer, ...]]] = {}
        self._by_key: dict[TierKey, Offer] = {}
        # buy -> sells that reach it, for the deliver-amount search that runs backwards.
        self._sources: dict[str, set[str]] = {}
        self._postings = 0  # tiers posted so far: the last commitment number given

    def post(self, tier: RateTier, *, counted: bool = True) -> PostResult:
        """Add ``tier``, or replace the same provider's tier for the same pair and band.

        ``counted``: the tier's liquidity is a commitment in total, numbered (module
        docstring); False only for a tier a command log written before the count existed
        posts, whose liquidity bounds each quote alone."""
        if not isinstance(tier, RateTier):
            raise TypeError(f"RateBook.post takes a RateTier, not {type(tier).__name__}")
        try:
            exponent_sell = self.registry.get(tier.sell).exponent
            exponent_buy = self.registry.get(tier.buy).exponent
        except MoneyError:
            return PostResult.UNKNOWN_CURRENCY
        key = tier_key(tier)
        current = self.offers(tier.sell, tier.buy)
        replaced = key in self._by_key
        if not replaced and len(current) >= TIERS_PER_PAIR_MAX:
            return PostResult.PAIR_FULL
        shift = exponent_buy - exponent_sell
        self._postings += 1
        offer = Offer(
            numerator=tier.rate.numerator * 10 ** max(shift, 0),
            denominator=tier.rate.denominator * 10 ** max(-shift, 0),
            min_amount=tier.min_amount,
            max_amount=tier.max_amount,
            liquidity=tier.liquidity,
            valid_from_ns=tier.valid_from_ns,
            valid_until_ns=tier.valid_until_ns,
            tier=tier,
            commitment=self._postings if counted else 0,
        )
        kept = [o for o in current if tier_key(o.tier) != key]
        kept.append(offer)
        self._store(tier.sell, tier.buy, kept)
        self._by_key[key] = offer
        return PostResult.REPLACED if replaced else PostResult.POSTED

    def withdraw(
        self, provider: str, sell: str, buy: str, min_amount: int, max_amount: int
    ) -> WithdrawResult:
        """Remove the provider's tier for that pair and band."""
        key = (provider, sell, buy, min_amount, max_amount)
        if self._by_key.pop(key, None) is None:
            return WithdrawResult.NOT_FOUND
        kept = [o for o in self.offers(sell, buy) if tier_key(o.tier) != key]
        self._store(sell, buy, kept)
        return WithdrawResult.WITHDRAWN

    def withdraw_provider(
        self, provider: str, *, keep: frozenset[tuple[str, str]] | None = None
    ) -> int:
        """Remove every tier of ``provider`` except those on a pair in ``keep`` (unordered
        pairs, each sorted); return how many were removed. Used when the operator
        deregisters a provider or narrows the pairs it is registered for."""
        gone = [
            key
            for key in self._by_key
            if key[0] == provider and (keep is None or tuple(sorted(key[1:3])) not in keep)
        ]
        for key in gone:
            self.withdraw(*key)
        return len(gone)

    def without_providers(self, providers: Collection[str]) -> RateBook:
        """The book without the tiers of ``providers``: what quotes may route through while
        those providers are suspended (their tiers stand, to quote again once they are
        reinstated). The book itself when none of them has a tier standing; else a copy,
        the offers shared (they are immutable), the commitments numbered as here."""
        gone = [key for key in self._by_key if key[0] in providers]
        if not gone:
            return self
        copy = RateBook.__new__(RateBook)
        copy.registry = self.registry
        copy.vehicle_only = self.vehicle_only
        copy.allowed_vehicle_corridors = self.allowed_vehicle_corridors
        copy._offers = {sell: dict(by_buy) for sell, by_buy in self._offers.items()}
        copy._by_key = dict(self._by_key)
        copy._sources = {buy: set(sells) for buy, sells in self._sources.items()}
        copy._postings = self._postings
        for key in gone:
            copy.withdraw(*key)
        return copy

    def set_vehicle_corridor(self, source: str, destination: str, allowed: bool) -> bool:
        """Allow (or forbid again) routes from ``source`` to ``destination`` through the
        vehicle-only currencies; the corridor is one direction. Returns whether the policy
        changed. Quotes already issued keep the route they were given."""
        self.registry.get(source)  # MoneyError (AM11) for a currency the hub does not know
        self.registry.get(destination)
        corridor = (source, destination)
        if (corridor in self.allowed_vehicle_corridors) == allowed:
            return False
        if allowed:
            self.allowed_vehicle_corridors = self.allowed_vehicle_corridors | {corridor}
        else:
            self.allowed_vehicle_corridors = self.allowed_vehicle_corridors - {corridor}
        return True

    def withdraw_expired(self, now: int) -> int:
        """Remove every tier whose validity ended at or before ``now``; return how many."""
        expired = [key for key, o in self._by_key.items() if o.valid_until_ns <= now]
        for key in expired:
            self.withdraw(*key)
        return len(expired)

    def _store(self, sell: str, buy: str, offers: list[Offer]) -> None:
        by_buy = self._offers.setdefault(sell, {})
        if offers:
            by_buy[buy] = tuple(sorted(offers, key=_rank))
            self._sources.setdefault(buy, set()).add(sell)
            return
        by_buy.pop(buy, None)
        if not by_buy:
            del self._offers[sell]
        sources = self._sources.get(buy)
        if sources is not None:
            sources.discard(sell)
            if not sources:
                del self._sources[buy]

    def offers(self, sell: str, buy: str) -> tuple[Offer, ...]:
        """The offers on one pair, best rate first (empty when none stand)."""
        return self._offers.get(sell, {}).get(buy, ())

    def offers_from(self, sell: str) -> dict[str, tuple[Offer, ...]]:
        """Offers selling ``sell``, by the currency bought. Read only: do not mutate."""
        return self._offers.get(sell, {})

    def table(self) -> dict[str, dict[str, tuple[Offer, ...]]]:
        """All offers, sell -> buy -> offers, for the router's inner loops. Do not mutate."""
        return self._offers

    def sources_of(self, buy: str) -> tuple[str, ...]:
        """The currencies with at least one offer buying ``buy``, sorted."""
        return tuple(sorted(self._sources.get(buy, ())))

    def sources_view(self, buy: str) -> set[str] | tuple[()]:
        """Like ``sources_of`` but unsorted and uncopied, for the router. Do not mutate."""
        return self._sources.get(buy, ())

    def may_pass_through(self, currency: str, source: str, destination: str) -> bool:
        """Whether a route from ``source`` to ``destination`` may convert through ``currency``."""
        if currency not in self.vehicle_only:
            return True
        return (source, destination) in self.allowed_vehicle_corridors

    def commitments(self) -> set[int]:
        """The commitment numbers of the standing tiers whose liquidity is counted in total."""
        return {o.commitment for o in self._by_key.values() if o.commitment}

    def tiers(self) -> Iterator[RateTier]:
        """Every standing tier, in key order (deterministic)."""
        for key in sorted(self._by_key):
            yield self._by_key[key].tier

    def __len__(self) -> int:
        return len(self._by_key)
