"""The business-day report: Markdown with PNG charts, written into one folder."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from samarkand.analytics.day import DaySummary, usd_cents  # noqa: E402
from samarkand.analytics.fx import FxSummary, summarise_fx  # noqa: E402
from samarkand.money import default_registry, format_amount  # noqa: E402
from samarkand.settlement.payments import Status  # noqa: E402
from samarkand.sim.run import DayRun  # noqa: E402

NS_PER_HOUR = 3_600 * 1_000_000_000


def usd_text(cents: int) -> str:
    value = Decimal(cents) / 100
    for scale, suffix in ((10**9, "bn"), (10**6, "M"), (10**3, "k")):
        if abs(value) >= scale:
            return f"${value / scale:,.1f}{suffix}"
    return f"${value:,.0f}"


def write_report(run: DayRun, summary: DaySummary, folder: Path) -> Path:
    """Write report.md and its charts into `folder`; return the Markdown file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    charts = {
        "queue.png": _queue_chart(run),
        "settled.png": _settled_chart(summary),
        "liquidity.png": _liquidity_chart(summary),
        "delays.png": _delay_chart(run),
    }
    for name, figure in charts.items():
        figure.savefig(folder / name, dpi=110, bbox_inches="tight")
        plt.close(figure)
    path = folder / "report.md"
    text = _markdown(run, summary) + fx_markdown(summarise_fx(run))
    path.write_text(text, encoding="utf-8")
    return path


def _markdown(run: DayRun, s: DaySummary) -> str:
    config = run.day.config
    lines = [
        f"# Simulated business day {config.date}",
        "",
        f"{s.payments:,} intra-SCO payments between {len(run.day.directory.direct())} direct "
        f"and {len(run.day.directory) - len(run.day.directory.direct()) - 10} indirect "
        f"participants of the 10 member states, seed {config.seed}, opening liquidity at "
        f"{config.liquidity_pct} % of the way from the lower to the upper bound, "
        f"{config.interbank_pct} % interbank flows, {config.urgent_pct} % urgent, "
        f"{config.dns_pct} % deferred net settlement.",
        "",
        "## Outcome",
        "",
        f"- settled: {s.settled:,} of {s.payments:,} payments "
        f"({usd_text(s.settled_value_usd_cents)} of {usd_text(s.received_value_usd_cents)})",
        f"- rejected: {s.rejected:,}"
        + "".join(f"; {count:,} × {reason}" for reason, count in s.rejections.most_common()),
        f"- settled at once: {100 - s.queued_share_pct:.1f} %; queued first: "
        f"{s.queued_share_pct:.1f} %",
        "- queue delay of settled payments: "
        + ", ".join(f"{k} {v / 60:.1f} min" for k, v in s.delay_percentiles_s.items()),
        "- queue delay of those that waited: "
        + ", ".join(f"{k} {v / 60:.1f} min" for k, v in s.queued_delay_percentiles_s.items()),
        f"- gridlocks resolved by offsetting: {s.gridlocks_resolved:,} "
        f"(of {s.lsm_runs:,} offsetting runs)",
        "- settled by: "
        + "; ".join(f"{name} {count:,}" for name, count in s.by_mechanism.most_common()),
        "",
        "## Liquidity",
        "",
        "Used: the largest drawdown of each settlement account below its opening level. Pure "
        "gross settlement: what the same settled payments would need if each settled on "
        "arrival (the upper bound). Lower bound: the end-of-day net debits, below which no "
        "mechanism can settle them all. Values in US dollars at the scenario's sizing rates.",
        "",
        f"- used {usd_text(s.used_usd_cents)} against {usd_text(s.upper_bound_usd_cents)} "
        f"for pure gross settlement: **{_pct(s.liquidity_saving_pct)} saved**",
        f"- lower bound {usd_text(s.lower_bound_usd_cents)}: the most any mechanism could "
        f"save on this day is {_pct(s.saving_ceiling_pct)}",
        "",
        "| currency | payments | settled | value settled | rejected | used | pure gross | "
        "lower bound | saved |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in s.currencies:
        saved = 100.0 * (c.upper_bound - c.used) / c.upper_bound if c.upper_bound else None
        lines.append(
            f"| {c.currency} | {c.received:,} | {c.settled:,} | "
            f"{usd_text(usd_cents(c.settled_value, c.currency, c.exponent))} | {c.rejected:,} | "
            f"{usd_text(usd_cents(c.used, c.currency, c.exponent))} | "
            f"{usd_text(usd_cents(c.upper_bound, c.currency, c.exponent))} | "
            f"{usd_text(usd_cents(c.lower_bound, c.currency, c.exponent))} | {_pct(saved)} |"
        )
    lines += [
        "",
        "![Queued payments through the day](queue.png)",
        "",
        "![Value settled per currency and mechanism](settled.png)",
        "",
        "![Liquidity per currency](liquidity.png)",
        "",
        "![Queue delays](delays.png)",
        "",
    ]
    return "\n".join(lines)


PAIRS_SHOWN = 15


def fx_markdown(fx: FxSummary) -> str:
    """The report's section on cross-currency payments."""
    if not fx.payments:
        return "\n## Cross-currency payments\n\nNone on this day (cross_currency_pct = 0).\n"
    registry = default_registry()
    spread = "n/a" if fx.spread_bps is None else f"{fx.spread_bps} bps"

    def saved(value) -> str:
        return "n/a" if value is None else f"{value} %"

    lines = [
        "",
        "## Cross-currency payments",
        "",
        "The debtor's bank pays in its own currency and the creditor's bank is paid in its own; "
        "a quote from the FX providers' tiers fixes the route and both amounts, and all legs "
        "settle together in one linked chain across the currency ledgers. Reference rates "
        "(statistics only) are the scenario's illustrative rates, as in the rest of the report.",
        "",
        f"- cross-currency payments: {fx.payments:,}; quoted {fx.quoted:,}; settled "
        f"{fx.settled:,} ({usd_text(fx.settled_usd_cents)}); rejected {fx.rejected:,}",
        "- settled by: "
        + "; ".join(f"{name} {count:,}" for name, count in fx.by_mechanism.most_common()),
        f"- routes: direct {fx.routes['direct']:,}; through a third national currency "
        f"{fx.routes['through a third currency']:,}"
        + (
            " (" + ", ".join(f"{c} {n:,}" for c, n in fx.through.most_common()) + ")"
            if fx.through
            else ""
        ),
        f"- routes through a vehicle currency (USD, EUR): {fx.vehicle_routes:,}",
        f"- average spread against the reference rates, weighted by value: {spread}",
        f"- provider liquidity: paid out {usd_text(fx.provider_gross_usd_cents)} leg by leg, "
        f"needed {usd_text(fx.provider_net_usd_cents)} with cross-currency offsetting: "
        f"**{saved(fx.provider_saved_pct)} saved**; offsetting the whole day at once would "
        f"need {usd_text(fx.provider_day_net_usd_cents)} ({saved(fx.provider_day_saved_pct)} "
        "saved), the ceiling",
    ]
    if fx.refusals:
        lines.append(
            "- refused: " + "; ".join(f"{n:,} × {r}" for r, n in fx.refusals.most_common())
        )
    lines += [
        "",
        "| pair | payments | sent | delivered | value (US$) |",
        "|---|---:|---:|---:|---:|",
    ]
    for pair in fx.pairs[:PAIRS_SHOWN]:
        source, destination = registry.get(pair.source), registry.get(pair.destination)
        lines.append(
            f"| {pair.source}→{pair.destination} | {pair.settled:,} | "
            f"{format_amount(pair.sent, source)} {pair.source} | "
            f"{format_amount(pair.delivered, destination)} {pair.destination} | "
            f"{usd_text(pair.usd_cents)} |"
        )
    if len(fx.pairs) > PAIRS_SHOWN:
        rest = fx.pairs[PAIRS_SHOWN:]
        lines.append(
            f"| {len(rest)} other pairs | {sum(p.settled for p in rest):,} | | | "
            f"{usd_text(sum(p.usd_cents for p in rest))} |"
        )
    lines.append("")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} %"


def _hours(run: DayRun, ns: np.ndarray) -> np.ndarray:
    midnight = run.day.start_ns - run.day.start_ns % (24 * NS_PER_HOUR)
    return (ns - midnight) / NS_PER_HOUR


def _queue_chart(run: DayRun):
    figure, axis = plt.subplots(figsize=(8, 3.2))
    times = np.array([t for t, _ in run.queue_series], dtype=np.int64)
    counts = [c for _, c in run.queue_series]
    axis.step(_hours(run, times), counts, where="post")
    axis.set_xlabel("hour of day (UTC)")
    axis.set_ylabel("queued payments")
    axis.set_title("Queue through the day")
    return figure


def _settled_chart(summary: DaySummary):
    figure, axis = plt.subplots(figsize=(8, 3.6))
    names = [c.currency for c in summary.currencies]
    values = [usd_cents(c.settled_value, c.currency, c.exponent) / 1e11 for c in summary.currencies]
    axis.bar(names, values)
    axis.set_ylabel("US$ bn")
    axis.set_title("Value settled per currency")
    return figure


def _liquidity_chart(summary: DaySummary):
    figure, axis = plt.subplots(figsize=(8, 3.6))
    names = [c.currency for c in summary.currencies]
    x = np.arange(len(names))
    width = 0.27
    for offset, label, attribute in (
        (-width, "pure gross (upper bound)", "upper_bound"),
        (0.0, "used", "used"),
        (width, "lower bound", "lower_bound"),
    ):
        values = [
            usd_cents(getattr(c, attribute), c.currency, c.exponent) / 1e11
            for c in summary.currencies
        ]
        axis.bar(x + offset, values, width, label=label)
    axis.set_xticks(x, names)
    axis.set_ylabel("US$ bn")
    axis.set_title("Liquidity per currency")
    axis.legend()
    return figure


def _delay_chart(run: DayRun):
    figure, axis = plt.subplots(figsize=(8, 3.2))
    delays = np.array(
        [
            e.settled_ns - e.received_ns
            for e in run.entries()
            if e.status is Status.SETTLED and e.settled_ns > e.received_ns
        ],
        dtype=np.int64,
    )
    if len(delays):
        minutes = np.sort(delays) / 60e9
        axis.plot(minutes, np.arange(1, len(minutes) + 1) / len(minutes))
        axis.set_xscale("log")
    axis.set_xlabel("queue delay (minutes, log scale)")
    axis.set_ylabel("share of queued payments")
    axis.set_title("How long queued payments waited")
    return figure
