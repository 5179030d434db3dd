"""Settling a set of payments at once: net positions, pay-ins and pay-outs, unwinding.

Both the liquidity-saving mechanisms and the deferred net settlement windows settle a set of
payments simultaneously. Booking each payment gross, one after the other, may be impossible
even when the set is feasible (a ring of payments between banks with no liquidity: whichever
goes first fails its limit). So a set settles through the currency's clearing account: every
net payer pays its net debit in, then every net receiver is paid its net credit out. Pay-ins
come first, each covered by construction; pay-outs come from the clearing account, which has
no limit and returns to zero. The transfers form one linked chain: all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from samarkand.ledger.types import Transfer, TransferCode, TransferFlags


@dataclass(frozen=True, slots=True)
class Leg:
    """One payment reduced to what netting needs: who pays whom how much."""

    key: int  # the payment's UETR
    sender: int  # settlement account id
    receiver: int
    amount: int


def net_positions(legs: Iterable[Leg]) -> dict[int, int]:
    """Net credit (positive) or debit (negative) of every account the legs touch."""
    net: dict[int, int] = {}
    for leg in legs:
        net[leg.sender] = net.get(leg.sender, 0) - leg.amount
        net[leg.receiver] = net.get(leg.receiver, 0) + leg.amount
    return net


def settlement_transfers(
    positions: dict[int, int],
    clearing_account: int,
    ledger: int,
    next_id: Callable[[], int],
    reference: int,
    code: int = TransferCode.NET_SETTLEMENT,
) -> list[Transfer]:
    """Pay-ins, then pay-outs, as one linked chain (empty when every position is zero).

    `reference` (the LSM run or settlement window number) goes into `user_data`, so the
    statement of an account can name the run that moved it.
    """
    pay_ins = sorted((account, -net) for account, net in positions.items() if net < 0)
    pay_outs = sorted((account, net) for account, net in positions.items() if net > 0)
    if sum(a for _, a in pay_ins) != sum(a for _, a in pay_outs):
        raise ValueError("net positions do not sum to zero")
    transfers = [
        Transfer(next_id(), account, clearing_account, amount, ledger, code, user_data=reference)
        for account, amount in pay_ins
    ] + [
        Transfer(next_id(), clearing_account, account, amount, ledger, code, user_data=reference)
        for account, amount in pay_outs
    ]
    return linked_chain(transfers)


def linked_chain(transfers: Sequence[Transfer]) -> list[Transfer]:
    """The transfers as one linked chain: every one LINKED but the last, which closes it.
    The ledger applies a chain all or nothing, across currency ledgers too."""
    linked = int(TransferFlags.LINKED)
    last = len(transfers) - 1
    return [
        Transfer(
            t.id,
            t.debit_account_id,
            t.credit_account_id,
            t.amount,
            t.ledger,
            t.code,
            flags=(t.flags | linked) if index < last else (t.flags & ~linked),
            user_data=t.user_data,
        )
        for index, t in enumerate(transfers)
    ]


@dataclass(frozen=True, slots=True)
class WindowOutcome:
    settled: tuple[Leg, ...]
    defaulted: tuple[int, ...]  # accounts that could not pay in, in the order they were removed
    removed: tuple[Leg, ...]  # legs taken out because a side defaulted
    positions: dict[int, int]  # final net positions of the settled legs


def settle_window(legs: Sequence[Leg], available: Callable[[int], int]) -> WindowOutcome:
    """Deferred net settlement of one window with unwinding.

    Every account whose net debit exceeds what it `available`-ly holds defaults: all legs to
    and from it are removed and the positions recomputed, and so on until every remaining
    net payer can pay in. Of several defaulters at one round, the one with the largest
    uncovered debit goes first (fewest removals); ties by account id, for determinism.
    """
    remaining = list(legs)
    defaulted: list[int] = []
    removed: list[Leg] = []
    while True:
        positions = net_positions(remaining)
        short = [
            (available(account) + net, account)
            for account, net in positions.items()
            if net < 0 and available(account) + net < 0
        ]
        if not short:
            return WindowOutcome(tuple(remaining), tuple(defaulted), tuple(removed), positions)
        _, account = min(short)
        defaulted.append(account)
        kept: list[Leg] = []
        for leg in remaining:
            (removed if account in (leg.sender, leg.receiver) else kept).append(leg)
        remaining = kept
