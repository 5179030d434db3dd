"""A stream of same-currency interbank transfers calibrated on bilateral trade.

Member central banks issue liquidity in their own currency to every bank's settlement
account in that currency; banks then pay each other for trade, importer's bank to
exporter's bank, in the currency of one side of the trade. The settlement issue replaces
this with a full business day (queues, liquidity-saving mechanisms, windows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samarkand.ledger import Account, AccountFlags, Transfer, TransferColumns
from samarkand.ledger.types import AccountCode, TransferCode
from samarkand.money import default_registry
from samarkand.sim.data import Country, members, trade_flows
from samarkand.sim.rates import UNITS_PER_USD_MILLI


def account_id(ledger: int, participant: int, code: int) -> int:
    """Readable 128-bit account ids: ledger, participant number and account code."""
    return (ledger << 64) | (participant << 16) | code


@dataclass(frozen=True, slots=True)
class Bank:
    number: int
    bic: str
    name: str
    country: str


@dataclass(frozen=True, slots=True)
class Network:
    countries: tuple[Country, ...]
    central_banks: dict[str, int]  # country -> participant number
    banks: tuple[Bank, ...]
    ledgers: dict[str, int]  # currency -> ledger
    currency_of: dict[str, str]  # country -> currency

    def mirror_account(self, currency: str) -> int:
        country = next(c for c in self.countries if c.currency == currency)
        return account_id(
            self.ledgers[currency], self.central_banks[country.iso2], AccountCode.MIRROR
        )

    def settlement_account(self, bank: Bank, currency: str) -> int:
        return account_id(self.ledgers[currency], bank.number, AccountCode.SETTLEMENT)


def build_network(banks_per_country: int = 3) -> Network:
    registry = default_registry()
    countries = tuple(members())
    central_banks = {c.iso2: index + 1 for index, c in enumerate(countries)}
    banks = []
    number = len(countries) + 1
    for country in countries:
        for k in range(banks_per_country):
            code = "SM" + chr(ord("A") + k // 26) + chr(ord("A") + k % 26)
            banks.append(
                Bank(
                    number,
                    f"{code}{country.iso2}22",
                    f"Bank {k + 1} of {country.name}",
                    country.iso2,
                )
            )
            number += 1
    ledgers = {c.currency: registry.get(c.currency).ledger for c in countries}
    return Network(
        countries, central_banks, tuple(banks), ledgers, {c.iso2: c.currency for c in countries}
    )


def accounts(network: Network, intraday_credit_usd: int) -> list[Account]:
    """Each central bank's mirror account and every bank's settlement account in every
    member currency; banks may use intraday credit in their home currency."""
    result = []
    for country in network.countries:
        ledger = network.ledgers[country.currency]
        result.append(
            Account(
                network.mirror_account(country.currency),
                ledger,
                AccountCode.MIRROR,
                user_data=network.central_banks[country.iso2],
            )
        )
    for bank in network.banks:
        for currency, ledger in network.ledgers.items():
            home = network.currency_of[bank.country] == currency
            limit = usd_to_minor(intraday_credit_usd * 100, currency) if home else 0
            result.append(
                Account(
                    network.settlement_account(bank, currency),
                    ledger,
                    AccountCode.SETTLEMENT,
                    flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
                    user_data=bank.number,
                    limit=limit,
                )
            )
    return result


def usd_to_minor(usd_cents: int, currency: str) -> int:
    exponent = default_registry().get(currency).exponent
    return usd_cents * UNITS_PER_USD_MILLI[currency] * 10**exponent // 100_000


def funding(network: Network, home_usd: int, foreign_usd: int, first_id: int) -> list[Transfer]:
    """Liquidity transfers from each central bank's mirror account to the banks."""
    result = []
    next_id = first_id
    for bank in network.banks:
        for currency, ledger in network.ledgers.items():
            home = network.currency_of[bank.country] == currency
            amount = usd_to_minor((home_usd if home else foreign_usd) * 100, currency)
            result.append(
                Transfer(
                    next_id,
                    network.mirror_account(currency),
                    network.settlement_account(bank, currency),
                    amount,
                    ledger,
                    TransferCode.LIQUIDITY,
                )
            )
            next_id += 1
    return result


def payments(
    network: Network, count: int, seed: int, first_id: int, batch_size: int
) -> list[TransferColumns]:
    """`count` trade payments in batches: flows proportional to bilateral trade, amounts
    heavy-tailed (log-normal, median about $40,000), currency of one side at random."""
    rng = np.random.default_rng(seed)
    flows = [
        f
        for f in trade_flows()
        if f.exporter in network.currency_of and f.importer in network.currency_of
    ]
    weights = np.array([f.value_usd_thousands for f in flows], dtype=np.float64)
    chosen = rng.choice(len(flows), size=count, p=weights / weights.sum())
    usd_cents = (
        np.minimum(rng.lognormal(mean=15.2, sigma=1.6, size=count), 5e10).astype(np.int64) + 100
    )
    in_exporter_currency = rng.random(count) < 0.5
    banks_by_country: dict[str, list[Bank]] = {}
    for bank in network.banks:
        banks_by_country.setdefault(bank.country, []).append(bank)
    payer_pick = rng.integers(0, 1 << 30, size=count)
    payee_pick = rng.integers(0, 1 << 30, size=count)

    debit, credit, amount, ledger = [], [], [], []
    for i, flow_index in enumerate(chosen.tolist()):
        flow = flows[flow_index]
        currency = network.currency_of[flow.exporter if in_exporter_currency[i] else flow.importer]
        payers = banks_by_country[flow.importer]
        payees = banks_by_country[flow.exporter]
        payer = payers[int(payer_pick[i]) % len(payers)]
        payee = payees[int(payee_pick[i]) % len(payees)]
        debit.append(network.settlement_account(payer, currency))
        credit.append(network.settlement_account(payee, currency))
        amount.append(usd_to_minor(int(usd_cents[i]), currency))
        ledger.append(network.ledgers[currency])
    batches = []
    for start in range(0, count, batch_size):
        stop = min(count, start + batch_size)
        batches.append(
            TransferColumns.build(
                id=np.arange(first_id + start, first_id + stop, dtype=np.uint64),
                debit_account_id=debit[start:stop],
                credit_account_id=credit[start:stop],
                amount=amount[start:stop],
                ledger=ledger[start:stop],
                code=np.full(stop - start, TransferCode.PAYMENT, dtype=np.uint16),
            )
        )
    return batches
