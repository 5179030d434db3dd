"""`samarkand demo`: one simulated business day of intra-SCO trade payments through RTGS,
queues and the liquidity-saving mechanisms, on the embedded store, with a summary, a report
with charts, and the ledger's invariants checked after reopening the store."""

from __future__ import annotations

import os
import time
import uuid
from decimal import Decimal
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from samarkand.analytics.day import summarise, usd_cents
from samarkand.analytics.fx import summarise_fx
from samarkand.analytics.report import usd_text, write_report
from samarkand.hub.durable import COMMANDS_SUFFIX, SNAPSHOT_SUFFIX, DurableHub
from samarkand.ledger.invariants import problems
from samarkand.money import Currency, default_registry, format_amount
from samarkand.progress import progress_bar
from samarkand.sim.day import DayConfig, simulate_day
from samarkand.sim.run import RunConfig, run_day
from samarkand.store import DurableLedger, SqliteStore


def compact(minor: int, currency: Currency) -> str:
    """A short display of an amount (thousands, millions, billions); exact values stay in the
    store and the equality checks compare exact integers."""
    major = Decimal(format_amount(minor, currency))
    for scale, suffix in ((10**12, " tn"), (10**9, " bn"), (10**6, " M"), (10**3, " k")):
        if abs(major) >= scale:
            return f"{major / scale:,.2f}{suffix}"
    return f"{major:,}"


def run_demo(
    console: Console, *, db: Path, report: Path, config: DayConfig, run_config: RunConfig
) -> None:
    config.validate()
    run_config.validate()
    db.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
        Path(f"{db}{COMMANDS_SUFFIX}{suffix}").unlink(missing_ok=True)
    Path(f"{db}{SNAPSHOT_SUFFIX}").unlink(missing_ok=True)
    day = simulate_day(config)
    console.print(
        f"[bold]Samarkand[/bold]: business day {config.date} of the SCO hub, "
        f"{len(day.payments):,} payments, {len(day.directory.direct())} direct banks of "
        f"{len(day.currencies)} member states, store {db}"
    )
    durable = DurableHub.open(db)
    ledger = durable.durable_ledger
    started = time.perf_counter()
    with progress_bar(console) as progress:
        task = progress.add_task("payments", total=len(day.payments))
        run = run_day(day, durable, run_config, lambda n: progress.advance(task, n))
    elapsed = time.perf_counter() - started
    # The hub's snapshot, written by a child process while this one reports the day.
    snapshotting = durable.snapshot_in_background()
    summary = summarise(run)

    table = Table(
        title="Settlement per currency (values in US$ at sizing rates)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    # Short headers: the table stays readable in an 80-column terminal.
    for column in ("ccy", "payments", "settled", "value", "rejected", "liq. used", "gross need",
                   "saved"):  # fmt: skip
        table.add_column(column, justify="right", no_wrap=True)
    for c in summary.currencies:
        saved = 100.0 * (c.upper_bound - c.used) / c.upper_bound if c.upper_bound else None
        table.add_row(
            c.currency,
            f"{c.received:,}",
            f"{c.settled:,}",
            usd_text(usd_cents(c.settled_value, c.currency, c.exponent)),
            f"{c.rejected:,}",
            usd_text(usd_cents(c.used, c.currency, c.exponent)),
            usd_text(usd_cents(c.upper_bound, c.currency, c.exponent)),
            "n/a" if saved is None else f"{saved:.1f}%",
        )
    console.print(table)
    delays = summary.delay_percentiles_s
    waited = summary.queued_delay_percentiles_s
    console.print(
        f"settled {summary.settled:,} of {summary.payments:,} payments "
        f"({usd_text(summary.settled_value_usd_cents)}) in {elapsed:.1f} s, durably; "
        f"{summary.queued_share_pct:.1f} % waited in a queue\n"
        f"queue delay, all settled: p50 {delays['p50'] / 60:.1f} min, p90 "
        f"{delays['p90'] / 60:.1f}, p99 {delays['p99'] / 60:.1f}; of those that waited: "
        f"p50 {waited['p50'] / 60:.1f} min, p99 {waited['p99'] / 60:.1f}\n"
        f"liquidity used {usd_text(summary.used_usd_cents)} against "
        f"{usd_text(summary.upper_bound_usd_cents)} for pure gross settlement: "
        f"[bold]{summary.liquidity_saving_pct or 0:.1f} % saved[/bold] (the most any "
        f"mechanism could save on this day: {summary.saving_ceiling_pct or 0:.1f} %)\n"
        f"gridlocks resolved by offsetting: {summary.gridlocks_resolved:,}; settled by "
        + ", ".join(f"{name} {n:,}" for name, n in summary.by_mechanism.most_common())
    )
    if summary.rejections:
        console.print(
            "rejected: "
            + "; ".join(f"{n:,} × {reason}" for reason, n in summary.rejections.most_common())
        )
    _fx_line(console, run)
    _balances(console, run, ledger)
    path = write_report(run, summary, report)
    console.print(f"report: {path} (with charts beside it)")
    sample = run.entries()[len(run.entries()) // 2].payment.uetr
    console.print(
        f"every command is in {db}{COMMANDS_SUFFIX}; follow a payment with "
        f"`samarkand track {uuid.UUID(int=sample)} --db {db}`"
    )
    fx_entries = run.fx_entries()
    if fx_entries:
        fx_sample = fx_entries[len(fx_entries) // 2].payment.uetr
        console.print(
            "a cross-currency one, with its legs: "
            f"`samarkand track {uuid.UUID(int=fx_sample)} --db {db}`"
        )
    if snapshotting is not None:
        pid, covers = snapshotting
        _, status = os.waitpid(pid, 0)
        durable.snapshot_finished(covers, os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)
    durable.close()  # writes the snapshot here if the child could not
    _verify_reopened(console, db, ledger)


def _fx_line(console: Console, run) -> None:
    fx = summarise_fx(run)
    if not fx.payments:
        return
    saved = "n/a" if fx.provider_saved_pct is None else f"{fx.provider_saved_pct} %"
    spread = "n/a" if fx.spread_bps is None else f"{fx.spread_bps} bps"
    console.print(
        f"cross-currency: {fx.settled:,} of {fx.payments:,} settled "
        f"({usd_text(fx.settled_usd_cents)}), {fx.routes['direct']:,} direct and "
        f"{fx.routes['through a third currency']:,} through a third national currency, "
        f"{fx.vehicle_routes:,} through USD/EUR; average spread {spread} against the "
        f"reference rates; provider liquidity saved by cross-currency offsetting: "
        f"[bold]{saved}[/bold] (ceiling for the day: {fx.provider_day_saved_pct} %)"
    )


def _balances(console: Console, run, ledger: DurableLedger) -> None:
    registry = default_registry()
    directory = run.day.directory
    table = Table(title="Closing balances per currency (major units)")
    for column in (
        "currency",
        "issued by central bank",
        "held by banks",
        "held = issued",
        "clearing account",
    ):
        table.add_column(column, justify="right")
    state = ledger.state
    for code in run.day.currencies:
        currency = registry.get(code)
        mirror = state.balance(directory.mirror_account(code))
        issued = mirror.debits_posted - mirror.credits_posted
        held = sum(
            state.balance(directory.settlement_account(p, code)).net_credit
            for p in directory.direct()
        )
        clearing = state.balance(run.hub.engine.clearing_account(code)).net_credit
        table.add_row(
            code,
            compact(issued, currency),
            compact(held, currency),
            "[green]yes[/green]" if held == issued else "[red]NO[/red]",
            "0" if clearing == 0 else f"[red]{compact(clearing, currency)}[/red]",
        )
    console.print(table)


def _verify_reopened(console: Console, db: Path, ledger: DurableLedger) -> None:
    state = ledger.state
    reopened = DurableLedger.open(SqliteStore(str(db)))
    found = problems(reopened.state)
    same = all(reopened.state.balance(a.id) == state.balance(a.id) for a in state.accounts)
    reopened.close()
    if found or not same:
        for line in found:
            console.print(f"[red]invariant broken:[/red] {line}")
        if not same:
            console.print("[red]balances after reopening differ from those in memory[/red]")
        raise SystemExit(1)
    console.print(
        "[green]invariants hold[/green] after reopening the store: per currency debits = "
        "credits, no account beyond its limit, balances = sum of the journal "
        f"({len(reopened.state.journal):,} transfers). Check it again with "
        f"`samarkand verify --db {db}`."
    )
