"""Payment-versus-payment: the legs of a quoted cross-currency payment and the PvP decision.

Pure (DESIGN §6): no I/O, clock or randomness; the hub (`samarkand.hub.pvp`) makes each phase
durable. A quote of n hops settles as n + 1 legs, one per currency on the route:

    leg 0      payer      -> provider 0   sell_amount of hop 0, in hop 0's sell currency
    leg k      provider k-1 -> provider k  buy_amount of hop k-1 (= sell_amount of hop k)
    leg n      provider n-1 -> payee      buy_amount of hop n-1, in the destination currency

so each provider receives exactly what the quote says it sells against and pays exactly what
it buys: no leg depends on another provider's rounding. A leg whose debtor and creditor
accounts are the same (the payer's bank is itself the provider, or one provider takes two
consecutive hops) moves nothing and is left out; its index stays unused.

Phase 1 ("reserve") makes every leg a PENDING transfer with a timeout in its own currency
ledger, all in one batch and *not* linked, so each leg gets its own result code and a
refusal names the party that failed. Phase 2 posts all of them (COMMIT) or voids all of them
(ABORT). Transfer ids derive from the PvP id alone, so recovery finds the legs without any
other record: reserve id ``pvp_id << 8 | index``, post/void id ``pvp_id << 8 | 0x80 | index``.
The hub must take PvP ids from a range no other transfer id of the ledger falls in.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from samarkand.ledger.types import (
    U32_MAX,
    CreateTransferResult,
    Transfer,
    TransferCode,
    TransferFlags,
)

from .routing import Quote

PVP_ID_MAX = 2**120 - 1  # leaves 8 bits for the leg index and phase inside a 128-bit id
LEG_INDEX_LIMIT = 0x80  # indexes 0..127; the 0x80 bit marks the phase-2 transfer
PHASE_TWO_BIT = 0x80
LEGS_MAX = 8  # a quote has at most three hops (four legs); room to spare, still bounded

R = CreateTransferResult
PENDING = int(TransferFlags.PENDING)
POST = int(TransferFlags.POST_PENDING)
VOID = int(TransferFlags.VOID_PENDING)


class PvpDecision(enum.Enum):
    COMMIT = "commit"
    ABORT = "abort"


class PartyRole(enum.Enum):
    PAYER = "payer"
    PROVIDER = "provider"
    PAYEE = "payee"


class PvpReason(enum.Enum):
    """Why a PvP aborted. Value: (ISO 20022 ExternalStatusReason1Code, explanation)."""

    INSUFFICIENT_FUNDS = ("AM04", "the payer's settlement account does not hold enough")
    # The same code the quote gives when a provider's committed liquidity is short
    # (`QUOTE_REASON_CODES`): one business reason, one code, whenever it is found.
    PROVIDER_LIQUIDITY = ("AM02", "an FX provider does not hold enough of the currency it sells")
    ACCOUNT_CLOSED = ("AC04", "a settlement account of the route is closed")
    NO_ACCOUNT = ("AC01", "a party holds no account in a currency of the route")
    AMOUNT_TOO_LARGE = ("AM02", "a leg would overflow an account's balance")
    OTHER = ("MS03", "a leg was refused by the ledger")


_RESULT_REASONS: dict[CreateTransferResult, PvpReason] = {
    R.DEBIT_ACCOUNT_NOT_FOUND: PvpReason.NO_ACCOUNT,
    R.CREDIT_ACCOUNT_NOT_FOUND: PvpReason.NO_ACCOUNT,
    R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER: PvpReason.NO_ACCOUNT,
    R.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS: PvpReason.NO_ACCOUNT,
    R.DEBIT_ACCOUNT_ALREADY_CLOSED: PvpReason.ACCOUNT_CLOSED,
    R.CREDIT_ACCOUNT_ALREADY_CLOSED: PvpReason.ACCOUNT_CLOSED,
    R.OVERFLOWS_DEBITS_PENDING: PvpReason.AMOUNT_TOO_LARGE,
    R.OVERFLOWS_CREDITS_PENDING: PvpReason.AMOUNT_TOO_LARGE,
    R.OVERFLOWS_DEBITS: PvpReason.AMOUNT_TOO_LARGE,
    R.OVERFLOWS_CREDITS: PvpReason.AMOUNT_TOO_LARGE,
}


@dataclass(frozen=True, slots=True)
class Leg:
    """One currency's transfer of a PvP: `debtor` pays `amount` minor units to `creditor`."""

    index: int
    currency: str
    ledger: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    debtor: str
    debtor_role: PartyRole
    creditor: str
    creditor_role: PartyRole


@dataclass(frozen=True, slots=True)
class PvpPlan:
    """The legs of one PvP, each reserved for `timeout_s` seconds."""

    pvp_id: int
    quote_id: int
    legs: tuple[Leg, ...]
    timeout_s: int
    uetr: int = 0

    @property
    def leg_mask(self) -> int:
        """The leg indexes as a bit set: what the decision log records to find the legs."""
        return sum(1 << leg.index for leg in self.legs)


@dataclass(frozen=True, slots=True)
class LegFailure:
    index: int
    result: CreateTransferResult
    reason: PvpReason


def reserve_id(pvp_id: int, index: int) -> int:
    _check_ids(pvp_id, index)
    return pvp_id << 8 | index


def phase_two_id(pvp_id: int, index: int) -> int:
    _check_ids(pvp_id, index)
    return pvp_id << 8 | PHASE_TWO_BIT | index


def leg_indexes(leg_mask: int) -> list[int]:
    return [index for index in range(LEG_INDEX_LIMIT) if leg_mask >> index & 1]


def _check_ids(pvp_id: int, index: int) -> None:
    if type(pvp_id) is not int or not 0 < pvp_id <= PVP_ID_MAX:
        raise ValueError(f"pvp_id must be an int in 1..2**120 - 1, got {pvp_id!r}")
    if type(index) is not int or not 0 <= index < LEG_INDEX_LIMIT:
        raise ValueError(f"leg index must be an int in 0..127, got {index!r}")


def plan(
    pvp_id: int,
    quote: Quote,
    *,
    payer: str,
    payee: str,
    payer_account: int,
    payee_account: int,
    provider_accounts: Mapping[tuple[str, str], int],
    ledgers: Mapping[str, int],
    timeout_s: int,
    uetr: int = 0,
) -> PvpPlan:
    """The legs of `quote` between the given accounts (see the module docstring).

    `provider_accounts[(provider, currency)]` is the provider's account in that currency,
    `ledgers[currency]` the currency's ledger number. A quote whose hops do not chain, or a
    missing account, is a caller bug and raises.
    """
    _check_ids(pvp_id, 0)
    if type(timeout_s) is not int or not 0 < timeout_s <= U32_MAX:
        raise ValueError(f"timeout_s must be a positive int of seconds, got {timeout_s!r}")
    legs = route_legs(
        quote,
        payer=payer,
        payee=payee,
        payer_account=payer_account,
        payee_account=payee_account,
        provider_accounts=provider_accounts,
        ledgers=ledgers,
    )
    return PvpPlan(pvp_id, quote.id, legs, timeout_s, uetr)


def route_legs(
    quote: Quote,
    *,
    payer: str,
    payee: str,
    payer_account: int,
    payee_account: int,
    provider_accounts: Mapping[tuple[str, str], int],
    ledgers: Mapping[str, int],
) -> tuple[Leg, ...]:
    """The legs of `quote` between the given accounts (see the module docstring), whether
    they settle as a PvP of pending transfers or as one linked chain.

    A quote whose hops do not chain, or a missing account, is a caller bug and raises.
    """
    hops = quote.hops
    if not 0 < len(hops) < LEGS_MAX:
        raise ValueError(f"quote {quote.id}: {len(hops)} hops")
    if hops[0].sell != quote.source or hops[-1].buy != quote.destination:
        raise ValueError(f"quote {quote.id}: hops do not run from source to destination")
    for before, after in zip(hops, hops[1:], strict=False):
        if before.buy != after.sell or before.buy_amount != after.sell_amount:
            raise ValueError(f"quote {quote.id}: hop {after} does not take what {before} buys")
    # (party, role, currency, account, amount) of each payment along the route.
    debtors = [(payer, PartyRole.PAYER, payer_account)] + [
        (hop.provider, PartyRole.PROVIDER, provider_accounts[(hop.provider, hop.buy)])
        for hop in hops
    ]
    creditors = [
        (hop.provider, PartyRole.PROVIDER, provider_accounts[(hop.provider, hop.sell)])
        for hop in hops
    ] + [(payee, PartyRole.PAYEE, payee_account)]
    currencies = [hop.sell for hop in hops] + [hops[-1].buy]
    amounts = [hop.sell_amount for hop in hops] + [hops[-1].buy_amount]
    legs = []
    for index, (debtor, creditor, currency, amount) in enumerate(
        zip(debtors, creditors, currencies, amounts, strict=True)
    ):
        if type(amount) is not int or amount <= 0:
            raise ValueError(f"quote {quote.id}: leg {index} amount {amount!r}")
        if debtor[2] == creditor[2]:
            continue  # one account on both sides: the leg moves nothing
        legs.append(
            Leg(
                index,
                currency,
                ledgers[currency],
                debtor[2],
                creditor[2],
                amount,
                debtor[0],
                debtor[1],
                creditor[0],
                creditor[1],
            )
        )
    return tuple(legs)


def reserve_transfers(pvp: PvpPlan) -> list[Transfer]:
    """Phase 1: every leg pending for `timeout_s`. Not linked: each leg gets its own result."""
    return [
        Transfer(
            reserve_id(pvp.pvp_id, leg.index),
            leg.debit_account_id,
            leg.credit_account_id,
            leg.amount,
            leg.ledger,
            TransferCode.FX,
            flags=PENDING,
            timeout=pvp.timeout_s,
            user_data=pvp.uetr,
        )
        for leg in pvp.legs
    ]


def finish_transfers(pvp_id: int, indexes: Sequence[int], decision: PvpDecision) -> list[Transfer]:
    """Phase 2: post (COMMIT) or void (ABORT) the pending legs `indexes` in full.

    Accounts, ledger and code are left 0: the ledger takes them from the pending transfer, so
    recovery needs nothing but the ids.
    """
    flags = POST if decision is PvpDecision.COMMIT else VOID
    return [
        Transfer(
            phase_two_id(pvp_id, index),
            0,
            0,
            0,
            0,
            0,
            flags=flags,
            pending_id=reserve_id(pvp_id, index),
        )
        for index in indexes
    ]


def decide(results: Sequence[CreateTransferResult | int]) -> PvpDecision:
    """COMMIT only if every leg was reserved now (OK); anything else, even EXISTS, aborts.

    EXISTS means an earlier attempt reserved the leg: whoever runs the PvP again must go
    through recovery, which knows that attempt's decision, not decide afresh.
    """
    if results and all(R(result) is R.OK for result in results):
        return PvpDecision.COMMIT
    return PvpDecision.ABORT


def failures(pvp: PvpPlan, results: Sequence[CreateTransferResult | int]) -> list[LegFailure]:
    """Every leg the reserve refused, with the reason a pacs.002 would give."""
    if len(results) != len(pvp.legs):
        raise ValueError(f"{len(results)} results for {len(pvp.legs)} legs")
    found = []
    for leg, result in zip(pvp.legs, results, strict=True):
        code = R(result)
        if code is not R.OK:
            found.append(LegFailure(leg.index, code, _reason(leg, code)))
    return found


def _reason(leg: Leg, result: CreateTransferResult) -> PvpReason:
    if result is R.EXCEEDS_CREDITS:
        if leg.debtor_role is PartyRole.PAYER:
            return PvpReason.INSUFFICIENT_FUNDS
        return PvpReason.PROVIDER_LIQUIDITY
    return _RESULT_REASONS.get(result, PvpReason.OTHER)


def net_by_party(pvp: PvpPlan) -> dict[tuple[str, str], int]:
    """(party, currency) -> what the party receives minus what it pays when all legs post."""
    net: dict[tuple[str, str], int] = {}
    for leg in pvp.legs:
        net[(leg.debtor, leg.currency)] = net.get((leg.debtor, leg.currency), 0) - leg.amount
        net[(leg.creditor, leg.currency)] = net.get((leg.creditor, leg.currency), 0) + leg.amount
    return net
