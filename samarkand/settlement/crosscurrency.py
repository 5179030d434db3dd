"""Cross-currency payments in the settlement engine: routes, cover and offsetting.

A cross-currency payment settles as the legs of its quote (`samarkand.fx.pvp.route_legs`):
the debtor's bank pays the first provider in the source currency, each provider pays the next
in the currency it bought, the last pays the creditor's bank in the destination currency. All
legs post as one linked chain across the currency ledgers, so they settle together or not at
all, in one durable ledger batch.

Cover is checked on net per account: a payment (or a set of them) may settle when every
account it debits on net, banks and providers in every currency, can pay its net debit.

Cross-currency offsetting (DESIGN §6) settles queued cross-currency payments together when
together they are covered although one by one they are not: a cycle CNY→RUB→INR→CNY pays its
providers in the currencies they pay out, so a provider needs only its residual. The set is
found like the Bech–Soramäki loop of the single-currency LSM, on the union of every sender's
FIFO queue prefix: while some account is uncovered on net, cut the prefix holding the most
recently received payment that debits that account, just before it (so the set stays a
union of queue prefixes: FIFO holds); recompute; repeat. What remains is covered; it need not
be the largest such set (the problem across currencies is no longer a single-currency FIFO
one), but it is found in at most one cut per queued payment.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from samarkand.fx.pvp import Leg, PartyRole
from samarkand.fx.routing import Quote


@dataclass(frozen=True, slots=True)
class FxRoute:
    """What the engine keeps of a redeemed quote for the payment it binds."""

    quote: Quote
    legs: tuple[Leg, ...]
    net: Mapping[int, int]  # account -> net credit (+) or debit (-) when every leg posts
    provider_accounts: frozenset[int]  # the providers' accounts the legs debit
    deadline_ns: int  # the quoted rates stand until then (0: no end)

    @property
    def provider_gross(self) -> dict[int, int]:
        """Ledger -> what the providers pay out in it, leg by leg."""
        out: dict[int, int] = {}
        for leg in self.legs:
            if leg.debtor_role is PartyRole.PROVIDER:
                out[leg.ledger] = out.get(leg.ledger, 0) + leg.amount
        return out


def make_route(quote: Quote, legs: Sequence[Leg]) -> FxRoute:
    return FxRoute(
        quote=quote,
        legs=tuple(legs),
        net=leg_net(legs),
        provider_accounts=frozenset(
            leg.debit_account_id for leg in legs if leg.debtor_role is PartyRole.PROVIDER
        ),
        deadline_ns=quote.rates_valid_until_ns,
    )


def leg_net(legs: Iterable[Leg]) -> dict[int, int]:
    """Net credit (positive) or debit (negative) of every account the legs touch."""
    net: dict[int, int] = {}
    for leg in legs:
        net[leg.debit_account_id] = net.get(leg.debit_account_id, 0) - leg.amount
        net[leg.credit_account_id] = net.get(leg.credit_account_id, 0) + leg.amount
    return net


def covered(net: Mapping[int, int], available: Callable[[int], int]) -> bool:
    """Whether every account that pays on net can pay its net debit."""
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
    for items in prefixes.values():
        for item in items:
            for account, amount in net_of(item).items():
                net[account] = net.get(account, 0) + amount
    while True:
        uncovered = sorted(a for a, n in net.items() if n < 0 and available(a) + n < 0)
        if not uncovered:
            break
        account = uncovered[0]
        cut: tuple[int, K, int] | None = None  # (sequence, sender, index)
        for sender, items in prefixes.items():
            for index in range(len(items) - 1, -1, -1):
                if net_of(items[index]).get(account, 0) < 0:
                    if cut is None or items[index].sequence > cut[0]:
                        cut = (items[index].sequence, sender, index)
                    break
        if cut is None:  # cannot happen: a net debit has a payment that debits
            raise AssertionError(f"account {account} pays on net but no payment debits it")
        _, sender, index = cut
        for item in prefixes[sender][index:]:
            for acct, amount in net_of(item).items():
                net[acct] -= amount
        del prefixes[sender][index:]
    return [item for items in prefixes.values() for item in items]
