"""Liquidity a business day used, read from the ledger's journal.

The liquidity an account used is its largest drawdown: how far its available balance
(balance plus intraday credit) fell below where it stood when the day's payments began. Pure
gross settlement of the same payments, each on arrival, would need the "upper bound"; the
saving is one minus their ratio.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from samarkand.ledger.columns import TransferColumns
from samarkand.ledger.state import PENDING, VOID


def drawdowns(rows: TransferColumns, accounts: Iterable[int]) -> dict[int, int]:
    """Largest fall of each account's posted balance below its level before `rows`.

    `rows` are journal rows in journal order (pending and void rows do not move posted
    balances and are skipped). Exact for any amount: Python ints where int64 may not hold.
    """
    wanted = set(accounts)
    result = dict.fromkeys(wanted, 0)
    posting = (rows.flags.astype(np.int64) & (PENDING | VOID)) == 0
    debit = rows.debit_account_id[posting].tolist()
    credit = rows.credit_account_id[posting].tolist()
    amount = rows.amount[posting].tolist()
    level: dict[int, int] = {}
    for d, c, a in zip(debit, credit, amount, strict=True):
        if d in wanted:
            now = level.get(d, 0) - a
            level[d] = now
            if -now > result[d]:
                result[d] = -now
        if c in wanted:
            level[c] = level.get(c, 0) + a
    return result


def saving_pct(used: int, upper_bound: int) -> float | None:
    """Share of the pure-gross need that the day did not use, in percent (display only)."""
    if upper_bound <= 0:
        return None
    return 100.0 * (upper_bound - used) / upper_bound
