"""Cross-currency payments in the settlement engine: routes, cover and offsetting.

A cross-currency payment settles as the legs of its quote (the hub turns the quote into
`RouteLeg`s; the engine knows nothing of rates): the debtor's bank pays the first provider in
the source currency, each provider pays the next in the currency it bought, the last pays the
creditor's bank in the destination currency. All legs post as one linked chain across the
currency ledgers, so they settle together or not at all, in one durable ledger batch.

Cover is checked on net per account: a payment (or a set of them) may settle when every
account it debits on net, banks and providers in every currency, can pay its net debit.

Providers' commitments. A hop priced on a tier whose liquidity is committed in total (see
`samarkand.fx.book`) draws its buy amount from that commitment when the legs settle, gross:
offsetting lowers what a provider's account pays on net, not what the provider pays out
under its tiers. A route's `needs` are its `net` plus, for each such draw, the commitment
as one more "account" that pays the draw, under the key `commitment_key(commitment)` (the
commitment negated: no account id is negative). What a commitment "can pay" is what is left
of it, so the same cover test and the same removal loop keep a set of payments within every
commitment it draws on as well as within every account's liquidity.

Cross-currency offsetting (DESIGN §6) settles queued cross-currency payments together when
together they are covered although one by one they are not: a cycle CNY→RUB→INR→CNY pays its
providers in the currencies they pay out, so a provider needs only its residual. The set is
found like the Bech–Soramäki loop of the single-currency LSM, on the union of every sender's
FIFO queue prefix: while some account is uncovered on net, cut the prefix holding the most
recently received payment that debits that account, just before it (so the set stays a
union of queue prefixes: FIFO holds); recompute; repeat. What remains is covered; it need not
be the largest such set (the problem across currencies is no longer a single-currency FIFO
one), but it is found in at most one cut per queued payment, each found from a heap per account.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from samarkand.settlement import netting
from samarkand.settlement.netting import net_positions


@dataclass(frozen=True, slots=True)
class RouteLeg:
    """One currency's transfer of a cross-currency payment: `debtor` pays `amount` minor
    units to `creditor` in `ledger`. `index` is the leg's place on the route (payer's leg 0)."""

    index: int
    currency: str
    ledger: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    debtor: str
    creditor: str
    provider_pays: bool  # the debtor is an FX provider paying out what it bought
    provider_receives: bool  # the creditor is an FX provider receiving what it sells against


@dataclass(frozen=True, slots=True)
class Draw:
    """What one hop of a route pays out under a tier's commitment when the legs settle:
    `amount` minor units of the tier's buy currency, of the tier's committed `liquidity`."""

    commitment: int  # the tier's posting number (`samarkand.fx.book`), positive
    amount: int
    liquidity: int


def commitment_key(commitment: int) -> int:
    """The key of a commitment among a route's `needs` (module docstring)."""
    return -commitment


@dataclass(frozen=True, slots=True)
class FxRoute:
    """What the engine keeps of a cross-currency payment's quote: its legs, when its rates
    stop standing, and, opaque to the engine, the quote itself (for the tracker and the
    statistics) and a description of the route for the payment's history."""

    quote_id: int
    source: str
    destination: str
    send_amount: int  # what the debtor pays, in source minor units
    deliver_amount: int  # what the creditor receives, in destination minor units
    legs: tuple[RouteLeg, ...]
    net: Mapping[int, int]  # account -> net credit (+) or debit (-) when every leg posts
    provider_accounts: frozenset[int]  # the providers' accounts the legs debit
    deadline_ns: int  # the quoted rates stand until then (0: no end)
    draws: tuple[Draw, ...]  # what the hops pay out under commitments counted in total
    needs: Mapping[int, int]  # `net` and each draw as a debit of its commitment's key
    description: str = ""
    quote: object = None

    @property
    def provider_gross(self) -> dict[int, int]:
        """Ledger -> what the providers pay out in it, leg by leg."""
        out: dict[int, int] = {}
        for leg in self.legs:
            if leg.provider_pays:
                out[leg.ledger] = out.get(leg.ledger, 0) + leg.amount
        return out


def make_route(
    quote_id: int,
    source: str,
    destination: str,
    send_amount: int,
    deliver_amount: int,
    legs: Sequence[RouteLeg],
    deadline_ns: int,
    *,
    draws: Sequence[Draw] = (),
    description: str = "",
    quote: object = None,
) -> FxRoute:
    net = leg_net(legs)
    needs = dict(net)
    for draw in draws:
        if type(draw.commitment) is not int or draw.commitment <= 0:
            raise ValueError(f"quote {quote_id}: a draw on commitment {draw.commitment!r}")
        if not 0 < draw.amount <= draw.liquidity:
            raise ValueError(f"quote {quote_id}: a draw of {draw.amount} of {draw.liquidity}")
        key = commitment_key(draw.commitment)
        needs[key] = needs.get(key, 0) - draw.amount
    return FxRoute(
        quote_id=quote_id,
        source=source,
        destination=destination,
        send_amount=send_amount,
        deliver_amount=deliver_amount,
        legs=tuple(legs),
        net=net,
        provider_accounts=frozenset(leg.debit_account_id for leg in legs if leg.provider_pays),
        deadline_ns=deadline_ns,
        draws=tuple(draws),
        needs=needs,
        description=description,
        quote=quote,
    )


def leg_net(legs: Iterable[RouteLeg]) -> dict[int, int]:
    """Net credit (positive) or debit (negative) of every account the legs touch."""
    return net_positions(
        netting.Leg(leg.index, leg.debit_account_id, leg.credit_account_id, leg.amount)
        for leg in legs
    )


def covered(net: Mapping[int, int], available: Callable[[int], int]) -> bool:
    """Whether every account that pays on net can pay its net debit (and, over `needs`,
    every commitment its draws)."""
    return all(n >= 0 or available(account) + n >= 0 for account, n in net.items())


class _Queued(Protocol):
    sequence: int


Q = TypeVar("Q", bound=_Queued)
K = TypeVar("K", bound=Hashable)


def offset_prefixes(
    queues: Mapping[K, Sequence[Q]],
    net_of: Callable[[Q], Mapping[int, int]],
    available: Callable[[int], int],
) -> list[Q]:
    """The covered union of queue prefixes found by the removal loop (module docstring).

    `queues` holds each sender's queued payments in FIFO order; `net_of` a payment's net per
    account; `available` what an account can pay. Returns the chosen payments, by sender in
    the order of `queues`, each sender's in FIFO order.
    """
    prefixes: dict[K, list[Q]] = {sender: list(items) for sender, items in queues.items()}
    net: dict[int, int] = {}
    # account -> heap of (-sequence, order, sender, index) of the payments debiting it; an
    # entry whose payment was cut since is skipped when it comes to the top.
    debits: dict[int, list[tuple[int, int, K, int]]] = {}
    order = 0
    for sender, items in prefixes.items():
        for index, item in enumerate(items):
            for account, amount in net_of(item).items():
                net[account] = net.get(account, 0) + amount
                if amount < 0:
                    order += 1
                    debits.setdefault(account, []).append((-item.sequence, order, sender, index))
    for heap in debits.values():
        heapq.heapify(heap)
    room = {account: available(account) for account in net}
    uncovered = {a for a, n in net.items() if n < 0 and room[a] + n < 0}
    while uncovered:
        account = min(uncovered)
        heap = debits[account]
        while True:  # the most recent payment still chosen that debits the account
            _, _, sender, index = heap[0]
            if index < len(prefixes[sender]):
                break
            heapq.heappop(heap)
        for item in prefixes[sender][index:]:
            for acct, amount in net_of(item).items():
                net[acct] -= amount
                if net[acct] < 0 and room[acct] + net[acct] < 0:
                    uncovered.add(acct)
                else:
                    uncovered.discard(acct)
        del prefixes[sender][index:]
    return [item for items in prefixes.values() for item in items]
