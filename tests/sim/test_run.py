"""A simulated business day through the hub: deterministic, complete, consistent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from samarkand.analytics.day import summarise
from samarkand.analytics.report import write_report
from samarkand.ledger.invariants import problems
from samarkand.ledger.state import CPO, DPO
from samarkand.settlement.payments import FINAL, Status
from samarkand.sim.day import DayConfig, simulate_day
from samarkand.sim.run import RunConfig, run_day
from samarkand.store import DurableLedger, MemoryStore

SMALL = DayConfig(
    cross_currency_pct=0, payments=3_000, seed=11, dns_pct=10, urgent_pct=10, timed_pct=5
)


@pytest.fixture(scope="module")
def run():
    return run_day(simulate_day(SMALL), DurableLedger.open(MemoryStore()))


def test_every_payment_ends_final_and_the_ledger_holds(run) -> None:
    entries = run.entries()
    assert len(entries) == SMALL.payments
    assert all(e.status in FINAL for e in entries)
    assert problems(run.hub.ledger.state) == []
    for currency in run.day.currencies:
        clearing = run.hub.ledger.state.balance(run.hub.engine.clearing_account(currency))
        assert clearing.credits_posted == clearing.debits_posted


def test_settled_payments_explain_every_balance_change(run) -> None:
    """Each bank's change over the day equals what it was paid minus what it paid."""
    state = run.hub.ledger.state
    directory = run.day.directory
    expected: dict[int, int] = {}
    for entry in run.entries():
        if entry.status is Status.SETTLED:
            expected[entry.sender] = expected.get(entry.sender, 0) - entry.amount
            expected[entry.receiver] = expected.get(entry.receiver, 0) + entry.amount
    rows = state.journal.columns().take(slice(run.journal_start_row, None))
    moved: dict[int, int] = {}
    for d, c, a in zip(
        rows.debit_account_id.tolist(),
        rows.credit_account_id.tolist(),
        rows.amount.tolist(),
        strict=True,
    ):
        moved[d] = moved.get(d, 0) - a
        moved[c] = moved.get(c, 0) + a
    for participant in directory.direct():
        for currency in run.day.currencies:
            account = directory.settlement_account(participant, currency)
            assert moved.get(account, 0) == expected.get(account, 0), (participant.bic, currency)
            values = state._get(state.account_slot[account])
            opening = run.day.opening_balance[(participant.bic, currency)]
            credit = 0 if participant.home_currency != currency else values[4]
            assert values[CPO] - values[DPO] == opening - credit + expected.get(account, 0)


def test_liquidity_used_never_exceeds_pure_gross_need_nor_falls_below_lower_bound(run) -> None:
    summary = summarise(run)
    assert summary.settled + summary.rejected == SMALL.payments
    assert summary.settled > 0.95 * SMALL.payments
    assert 0 < summary.lower_bound_usd_cents <= summary.used_usd_cents
    assert summary.used_usd_cents <= summary.upper_bound_usd_cents
    assert summary.liquidity_saving_pct is not None
    assert 0 <= summary.liquidity_saving_pct <= summary.saving_ceiling_pct
    assert sum(summary.by_mechanism.values()) == summary.settled
    assert summary.delay_percentiles_s["p50"] <= summary.delay_percentiles_s["p99"]


def test_dns_and_offsetting_took_part(run) -> None:
    summary = summarise(run)
    assert summary.by_mechanism["deferred net settlement"] > 0
    assert summary.gridlocks_resolved > 0


def test_same_seed_same_journal_byte_for_byte() -> None:
    config = DayConfig(cross_currency_pct=0, payments=1_500, seed=5)
    journals = []
    for _ in range(2):
        ledger = DurableLedger.open(MemoryStore())
        run_day(simulate_day(config), ledger)
        journals.append(ledger.state.journal.columns())
    first, second = journals
    for name in (
        "id",
        "debit_account_id",
        "credit_account_id",
        "amount",
        "flags",
        "user_data",
        "timestamp",
    ):
        assert np.array_equal(getattr(first, name), getattr(second, name)), name
    other = DurableLedger.open(MemoryStore())
    run_day(simulate_day(DayConfig(cross_currency_pct=0, payments=1_500, seed=6)), other)
    assert not np.array_equal(other.state.journal.columns().amount[-100:], first.amount[-100:])


def test_less_liquidity_means_more_queueing() -> None:
    scarce = summarise(
        run_day(
            simulate_day(
                DayConfig(cross_currency_pct=0, payments=2_000, liquidity_pct=0, timed_pct=0)
            ),
            DurableLedger.open(MemoryStore()),
        )
    )
    ample = summarise(
        run_day(
            simulate_day(
                DayConfig(cross_currency_pct=0, payments=2_000, liquidity_pct=100, timed_pct=0)
            ),
            DurableLedger.open(MemoryStore()),
        )
    )
    assert ample.queued_share_pct == 0.0  # at the upper bound every payment settles on arrival
    assert scarce.queued_share_pct > ample.queued_share_pct
    assert scarce.used_usd_cents < ample.used_usd_cents


def test_report_has_markdown_and_charts(run, tmp_path: Path) -> None:
    path = write_report(run, summarise(run), tmp_path / "report")
    text = path.read_text()
    assert "saved" in text and "| CNY |" in text
    for chart in ("queue.png", "settled.png", "liquidity.png", "delays.png"):
        assert f"]({chart})" in text
        assert (tmp_path / "report" / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_config_rejects_bad_values() -> None:
    for bad, field in (
        (RunConfig(step_minutes=0), "step_minutes"),
        (RunConfig(credit_pct=101), "credit_pct"),
        (RunConfig(dns_windows=("25:00",)), "dns_windows"),
    ):
        with pytest.raises(ValueError, match=field):
            bad.validate()


def test_a_day_through_the_durable_hub_survives_a_reopen(tmp_path: Path) -> None:
    from samarkand.hub.durable import DurableHub

    config = DayConfig(cross_currency_pct=0, payments=1_200, seed=4, dns_pct=5)
    memory = DurableLedger.open(MemoryStore())
    expected = run_day(simulate_day(config), memory)
    path = tmp_path / "day.db"
    durable = DurableHub.open(path)
    run_day(simulate_day(config), durable)
    durable.close()
    reopened = DurableHub.open(path)
    try:
        journal = reopened.durable_ledger.state.journal.columns()
        want = memory.state.journal.columns()
        for name in ("id", "debit_account_id", "credit_account_id", "amount", "timestamp"):
            assert np.array_equal(getattr(journal, name), getattr(want, name)), name
        engine = reopened.hub.engine
        for entry in expected.entries():
            again = engine.entries[entry.payment.uetr]
            assert (again.status, again.settled_ns, again.via) == (
                entry.status,
                entry.settled_ns,
                entry.via,
            )
            assert again.history == entry.history
    finally:
        reopened.close()
