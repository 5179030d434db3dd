"""The `samarkand` command: demo, benchmarks and operator tools."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from samarkand.sim.day import DayConfig
from samarkand.sim.run import RunConfig

app = typer.Typer(
    name="samarkand",
    help="Samarkand: cross-border interbank payments settled in national currencies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
benchmark_app = typer.Typer(
    help="Measure Samarkand against a baseline taken in the same run.", no_args_is_help=True
)
app.add_typer(benchmark_app, name="benchmark")

console = Console()
_DAY = DayConfig()  # the defaults the demo's options show
_RUN = RunConfig()
errors = Console(stderr=True)


# A hub's store: an SQLite path, or a PostgreSQL DSN with everything in --schema (as `serve`).
HubDb = Annotated[
    str,
    typer.Option(
        "--db", help="The hub's store: SQLite path (e.g. out/demo.db) or postgresql:// DSN."
    ),
]
Schema = Annotated[
    str, typer.Option(help="PostgreSQL schema of the hub (with --db postgresql://...).")
]
DEFAULT_SCHEMA = "samarkand"


class UserError(Exception):
    """A problem with what the user asked for: printed as one line, never a traceback."""


def _make_folder(option: str, folder: Path) -> None:
    """Make `folder` (and its parents) for `option`'s files, or stop with a `UserError`
    naming the option: before any work, not after it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        problem = f"cannot make the folder {error.filename}: {error.strerror}"
        raise UserError(f"{option}: {problem}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{option}: the folder {folder} is not writable")


@app.command()
def demo(
    db: Annotated[Path, typer.Option(help="SQLite file to create (replaced if it exists).")] = Path(
        "out/demo.db"
    ),
    report: Annotated[Path, typer.Option(help="Folder for the report and charts.")] = Path(
        "out/report"
    ),
    payments: Annotated[int, typer.Option(min=1, max=2_000_000, help="Payments in the day.")] = (
        200_000
    ),
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same journal.")] = 1,
    liquidity_pct: Annotated[
        int,
        typer.Option(
            min=0,
            max=100,
            help="Opening liquidity: lower bound + this % of the way to the pure-gross need.",
        ),
    ] = _DAY.liquidity_pct,
    interbank_pct: Annotated[
        int, typer.Option(min=0, max=100, help="Share of two-way interbank flows.")
    ] = _DAY.interbank_pct,
    urgent_pct: Annotated[int, typer.Option(min=0, max=100)] = _DAY.urgent_pct,
    dns_pct: Annotated[
        int, typer.Option(min=0, max=100, help="Share settled in DNS windows.")
    ] = _DAY.dns_pct,
    direct_banks: Annotated[int, typer.Option(min=20, max=1000)] = _DAY.direct_banks,
    fx_pct: Annotated[
        int,
        typer.Option(
            min=0,
            max=100,
            help="Share of cross-currency payments (paid in one currency, received in another).",
        ),
    ] = _DAY.cross_currency_pct,
    non_fifo_every: Annotated[
        int, typer.Option(min=0, max=1440, help="Minutes between non-FIFO runs (0: never).")
    ] = _RUN.non_fifo_every_minutes,
) -> None:
    """Simulate one business day of intra-SCO trade payments through RTGS, queues and the
    liquidity-saving mechanisms on an embedded store; print a summary, write a report."""
    from samarkand.demo import run_demo

    config = DayConfig(
        seed=seed,
        payments=payments,
        liquidity_pct=liquidity_pct,
        interbank_pct=interbank_pct,
        urgent_pct=urgent_pct,
        dns_pct=dns_pct,
        direct_banks=direct_banks,
        cross_currency_pct=fx_pct,
    )
    problems = config.problems()
    if problems:
        raise UserError("; ".join(problems))
    _make_folder("--db", db.parent)  # before the day is simulated, not after
    _make_folder("--report", report)
    run_demo(
        console,
        db=db,
        report=report,
        config=config,
        run_config=RunConfig(non_fifo_every_minutes=non_fifo_every),
    )


@app.command()
def verify(
    db: Annotated[str, typer.Option(help="Store to check: a SQLite path or postgresql:// DSN.")],
    schema: Schema = DEFAULT_SCHEMA,
) -> None:
    """Reopen a store, rebuild the ledger from its journal and check every invariant."""
    from samarkand.ledger.invariants import problems
    from samarkand.store import DurableLedger, open_store

    _require_existing(db, schema)
    ledger = DurableLedger.open(open_store(db, schema=schema))
    try:
        found = problems(ledger.state)
    finally:
        ledger.close()
    state = ledger.state
    console.print(
        f"{len(state.accounts):,} accounts, {len(state.journal):,} transfers, "
        f"{state.batches:,} batches"
    )
    if found:
        for line in found:
            errors.print(f"[red]invariant broken:[/red] {line}")
        raise typer.Exit(1)
    console.print(
        "[green]all invariants hold[/green]: per currency debits = credits, "
        "no account beyond its limit, balances = sum of the journal"
    )


@app.command()
def track(
    uetr: Annotated[str, typer.Argument(help="The payment's UETR (a UUID).")],
    db: HubDb,
    schema: Schema = DEFAULT_SCHEMA,
) -> None:
    """The status history of a payment, from intake to its final status."""
    import uuid
    from datetime import UTC, datetime

    from rich.table import Table

    from samarkand.money import default_registry, format_amount

    try:
        number = uuid.UUID(uetr).int
    except ValueError:
        raise UserError(f"UETR: {uetr!r} is not a UUID such as 3b0e0c2a-...-...") from None
    durable = _open_hub(db, schema, read_only=True)
    try:
        entry = durable.hub.engine.find(number)
        events = entry.history if entry else [
            e for e in durable.hub.events if e.uetr == number
        ]  # fmt: skip
        if not events:
            errors.print(f"no payment with UETR {uetr} was received (NOOR)")
            raise typer.Exit(1)
        if entry is not None:
            payment = entry.payment
            currency = default_registry().get(payment.currency)
            console.print(
                f"payment {uetr}: {payment.debtor_agent} -> {payment.creditor_agent}, "
                f"{format_amount(payment.amount, currency)} {payment.currency}, "
                f"{payment.priority.name.lower()}, {payment.method.value}"
            )
            if entry.fx is not None:
                _print_fx_legs(entry.fx)
            if number not in durable.hub.engine.entries:
                console.print(
                    "archived: its receipt and its final status below; its other events are "
                    "in the command log"
                )
        table = Table()
        for column in ("time (UTC)", "status", "reason", "detail"):
            table.add_column(column)
        for event in events:
            when = datetime.fromtimestamp(event.at_ns // 1_000_000_000, UTC)
            table.add_row(
                when.strftime("%Y-%m-%d %H:%M:%S"),
                event.status.value,
                f"{event.reason.iso} {event.reason.text}" if event.reason else "",
                event.detail,
            )
        console.print(table)
        moved = durable.durable_ledger.state.journal.columns()
        rows = [int(i) for i, u in zip(moved.id.tolist(), moved.user_data.tolist(), strict=True)
                if u == number]  # fmt: skip
        if rows:
            console.print(f"ledger transfers carrying this UETR: {', '.join(map(str, rows))}")
        _print_links(durable.hub.engine, number, db, schema)
    finally:
        durable.close()


def _print_links(engine, number: int, db: str, schema: str) -> None:
    """A payment's return (pacs.004) or, for a return, the payment it returns; and the
    messages (MsgId) that named it, when the store has a message log."""
    import uuid

    from samarkand.hub.message_log import MessageLog
    from samarkand.hub.messages import RETURN_ATTEMPTS_MAX, return_uetr, returns_of

    this = engine.find(number)
    for returned in returns_of(engine, this.payment) if this is not None else ():
        console.print(
            f"returned by {uuid.UUID(int=returned.payment.uetr)} ({returned.status.value})"
        )
    if this is not None:
        payment = this.payment
        # A return runs from the original's creditor agent back to its debtor agent.
        swapped = (payment.creditor_agent, payment.debtor_agent)
        kept = [
            e.payment.uetr
            for e in engine.entries.values()
            if (e.payment.debtor_agent, e.payment.creditor_agent) == swapped
        ]
        for original in kept + engine.archived.between(*swapped):
            if number in {return_uetr(original, a) for a in range(RETURN_ATTEMPTS_MAX)}:
                console.print(f"return of {uuid.UUID(int=original)}")
                break
    if db.startswith("memory:") or not MessageLog.kept_beside(db, schema=schema):
        return  # no log: none is created just to look
    with MessageLog.beside(db, schema=schema) as log:
        records = log.messages_of(number)
    if records:
        names = ", ".join(
            f"{r.kind.rsplit('.', 2)[0]} {r.msg_id}" + (f" from {r.sender}" if r.sender else "")
            for r in records
        )
        console.print(f"messages: {names}")


def _print_fx_legs(route) -> None:
    """The legs of a cross-currency payment: currency, amount, who pays whom, the rate."""
    from rich.table import Table

    from samarkand.fx.rates import format_rate as rate_text
    from samarkand.money import default_registry, format_amount

    quote = route.quote  # the Quote the hub kept with the route
    console.print(
        f"cross-currency, quote {quote.id}: {quote.source} -> {quote.destination}, "
        f"effective rate {rate_text(quote.effective_rate)} {quote.destination} per {quote.source}"
    )
    registry = default_registry()
    conversions = Table(title="conversions (quoted)")
    for column in ("provider", "sells", "buys", "rate"):
        conversions.add_column(column)
    for hop in quote.hops:
        conversions.add_row(
            hop.provider,
            f"{format_amount(hop.sell_amount, registry.get(hop.sell))} {hop.sell}",
            f"{format_amount(hop.buy_amount, registry.get(hop.buy))} {hop.buy}",
            f"{rate_text(hop.rate)} {hop.buy} per {hop.sell}",
        )
    console.print(conversions)
    table = Table(title="FX legs (all settle together)")
    for column in ("leg", "currency", "amount", "from", "to"):
        table.add_column(column)
    for leg in route.legs:
        table.add_row(
            str(leg.index),
            leg.currency,
            format_amount(leg.amount, registry.get(leg.currency)),
            leg.debtor,
            leg.creditor,
        )
    console.print(table)


@app.command()
def submit(
    file: Annotated[
        Path,
        typer.Argument(
            help="An ISO 20022 message: pacs.008, pacs.009, pacs.004, camt.050 or camt.056 "
            "(a Document, or a BizMsg envelope with a head.001 AppHdr)."
        ),
    ],
    db: HubDb,
    out: Annotated[Path, typer.Option(help="Folder for the response messages.")],
    at: Annotated[
        str | None,
        typer.Option(help="Business time, ISO 8601 (default: just after the hub's last event)."),
    ] = None,
    next_day: Annotated[
        bool, typer.Option(help="First open the next business day (cut-offs + 24 h).")
    ] = False,
    schema: Schema = DEFAULT_SCHEMA,
) -> None:
    """Process one message file against a hub's store; write every response into --out.

    Responses: pacs.002 (statuses), camt.029 (for a camt.056), camt.054 (to each participant
    whose account moved), each in a BizMsg envelope with an AppHdr. A message re-sent with
    the same MsgId gets its recorded responses again (the store's <db>.messages log).
    Exit status 0: taken in; 1: refused as a whole (pacs.002 RJCT written); 2: not a message.
    """
    from datetime import datetime

    from samarkand.hub.message_log import MessageLog
    from samarkand.hub.messages import process_message
    from samarkand.iso20022.parse import MESSAGE_BYTES_MAX
    from samarkand.store.lock import WriterLock

    if not file.is_file():
        raise UserError(f"FILE: no such file {file}")
    if file.stat().st_size > MESSAGE_BYTES_MAX:
        raise UserError(f"FILE: {file} is larger than {MESSAGE_BYTES_MAX:,} bytes")
    data = file.read_bytes()
    _require_existing(db, schema)
    lock = WriterLock(db, schema=schema)  # not beside a running service: one writer per hub
    try:
        durable = _open_hub(db, schema)
    except BaseException:
        lock.release()
        raise
    durable.guard_writes(lock.check)  # a database restart meanwhile: the lock first
    try:
        engine = durable.hub.engine
        if next_day:
            if engine.queues or engine.warehouse or engine.dns_pending:
                raise UserError("--next-day: the current day still has queued payments")
            durable.open_day({c: t + 86_400 * 10**9 for c, t in engine.cut_off_ns.items()})
        latest = max(durable.hub.clock, durable.durable_ledger.state.timestamp)
        now = latest + 10**9
        if at is not None:
            try:
                when = datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError:
                raise UserError(f"--at: {at!r} is not an ISO 8601 time") from None
            if when.tzinfo is None:
                raise UserError(f"--at: {at!r} needs a time zone, e.g. 2026-01-06T09:00:00Z")
            now = int(when.timestamp()) * 10**9
            if now <= latest:
                raise UserError("--at: the hub's clock is already past that time")
        with MessageLog.beside(db, schema=schema) as log:
            processed = process_message(durable, data, now, log=log)
    finally:
        durable.close()
        lock.release()
    for problem in processed.problems:
        errors.print(
            f"[red]{problem.code}[/red] {problem.path}: {problem.message}", highlight=False
        )
    if not processed.responses:
        raise UserError(f"FILE: {file} is not a message the hub takes in")
    out.mkdir(parents=True, exist_ok=True)
    for response in processed.responses:
        (out / response.name).write_bytes(response.data)
    kinds: dict[str, int] = {}
    for response in processed.responses:
        kind = response.name.split(".", 1)[1].removesuffix(".xml")
        kinds[kind] = kinds.get(kind, 0) + 1
    counts = ", ".join(f"{n:,} {s}" for s, n in sorted(processed.statuses.items()))
    written = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    what = f"{processed.message_id} {processed.msg_id}"
    if processed.replayed:
        console.print(f"{what} was taken in before: its recorded responses ({written}) "
                      f"written to {out}", highlight=False)  # fmt: skip
        return
    console.print(f"{what}: {counts}; {written} written to {out}", highlight=False)
    if processed.problems:
        raise typer.Exit(1)


@app.command()
def statement(
    db: HubDb,
    account: Annotated[
        str | None,
        typer.Option(help="Settlement account id, decimal or 0x hex (see above)."),
    ] = None,
    date: Annotated[
        str | None,
        typer.Option(
            help="Business day, YYYY-MM-DD, e.g. 2026-01-05: a day the calendar opened spans "
            "from its opening to the next day's; a day opened by hand, a UTC day."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="File for the camt.053 (default: standard output).")
    ] = None,
    list_accounts: Annotated[
        bool, typer.Option("--list-accounts", help="List the settlement accounts and stop.")
    ] = False,
    schema: Schema = DEFAULT_SCHEMA,
) -> None:
    """Write the camt.053.001.08 statement of one settlement account for one day, in a
    BizMsg envelope with a head.001 AppHdr (from the hub to the account's owner).

    account ids: ledger << 64 | participant number << 16 | code,

    e.g. the settlement account of participant 11 in CNY (156) is 156<<64|11<<16|1;

    `samarkand statement --db out/demo.db --list-accounts` lists them.
    """
    from datetime import UTC, datetime

    from samarkand.hub.statements import (
        StatementInconsistent,
        StatementRefusal,
        StatementRefused,
        account_owner,
        settlement_statement,
    )
    from samarkand.ledger.types import AccountCode

    account_id = None
    day = None
    if not list_accounts:
        if account is None or date is None:
            raise UserError("--account and --date are needed (or --list-accounts)")
        try:
            account_id = int(account.strip(), 0)
        except ValueError:
            raise UserError(f"--account: {account!r} is not a number (decimal or 0x hex)") from None
        try:
            day = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise UserError(f"--date: {date!r} is not a date such as 2026-01-05") from None
    durable = _open_hub(db, schema, read_only=True)
    try:
        if list_accounts:
            currency_of = {ledger: code for code, ledger in durable.hub.directory.ledgers.items()}
            for item in durable.durable_ledger.state.accounts:
                if item.code == AccountCode.SETTLEMENT:
                    console.print(
                        f"{item.id} ({item.id:#x}) {account_owner(durable, item.id)} "
                        f"{currency_of.get(item.ledger, item.ledger)}",
                        highlight=False,
                    )
            return
        assert account_id is not None and day is not None
        try:
            document, entries = settlement_statement(durable, account_id, day)
        except StatementRefused as error:
            unknown = error.refusal is StatementRefusal.ACCOUNT_UNKNOWN
            hint = " in " + db + " (try --list-accounts)" if unknown else ""
            raise UserError(f"--{error.field}: {error}{hint}") from None
        except StatementInconsistent as error:
            errors.print(f"[red]consistency check failed:[/red] {error}")
            raise typer.Exit(1) from None
    finally:
        durable.close()
    if out is None:
        sys.stdout.buffer.write(document)
        sys.stdout.buffer.flush()
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(document)
    console.print(
        f"{entries:,} entries for account {account_id} on {day:%Y-%m-%d}; "
        f"camt.053 written to {out}",
        highlight=False,
    )


@benchmark_app.command("ledger")
def benchmark_ledger(
    transfers: Annotated[int, typer.Option(min=8_190, max=100_000_000)] = 10_000_000,
    accounts: Annotated[int, typer.Option(min=2, max=1_000_000)] = 10_000,
    batch_size: Annotated[int, typer.Option(min=1, max=8_190)] = 8_190,
    distribution: Annotated[str, typer.Option(help="uniform or zipfian")] = "uniform",
    pg: Annotated[str | None, typer.Option(help="PostgreSQL DSN to measure as well.")] = None,
    sqlite_dir: Annotated[Path, typer.Option(help="Folder for the SQLite files.")] = Path("out"),
    seed: int = 42,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """TigerBeetle-shaped ledger benchmark: in memory, durable SQLite, durable PostgreSQL,
    each against the raw insert rate of the same rows into the same store."""
    from samarkand.bench.ledger import LedgerBenchmark, run_ledger_benchmark

    if distribution not in ("uniform", "zipfian"):
        raise UserError(f"--distribution: expected uniform or zipfian, got {distribution!r}")
    if pg is not None and not pg.startswith(("postgresql://", "postgres://")):
        raise UserError("--pg: expected a DSN such as postgresql://postgres@127.0.0.1:5432/test")
    result = run_ledger_benchmark(
        LedgerBenchmark(transfers, accounts, batch_size, distribution, seed),
        sqlite_dir=sqlite_dir,
        pg_dsn=pg,
        console=errors if as_json else console,
    )
    _print_json(result, as_json)


@benchmark_app.command("lsm")
def benchmark_lsm(
    seed: int = 7,
    payments: Annotated[
        int, typer.Option(min=1_000, max=2_000_000, help="Payments in the simulated day.")
    ] = 200_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Liquidity-saving mechanisms: FIFO offsetting on 1,000 participants x 100,000 queued
    payments; non-FIFO value against the exact MILP optimum, the LP bound and FIFO; liquidity
    saved against pure gross settlement on the simulated business day."""
    from samarkand.bench.liquidity import measure_liquidity_saving
    from samarkand.bench.lsm import run_lsm_benchmark

    out = errors if as_json else console
    result = run_lsm_benchmark(seed, out)
    with out.status("simulating the business day for the liquidity saving"):
        saving = measure_liquidity_saving(DayConfig(seed=seed, payments=payments))
    result |= saving
    out.print(
        f"liquidity saved against pure gross settlement on the simulated day "
        f"({saving['day_payments']:,} payments, {saving['day_settled_value_pct']} % of value "
        f"settled): {saving['liquidity_saving_pct']} % (ceiling for that day "
        f"{saving['liquidity_saving_ceiling_pct']} %); trade-only day: "
        f"{saving['liquidity_saving_trade_only_pct']} % (ceiling "
        f"{saving['liquidity_saving_trade_only_ceiling_pct']} %)"
    )
    _print_json(result, as_json)


@benchmark_app.command("fx")
def benchmark_fx(
    currencies: Annotated[int, typer.Option(min=2, max=26)] = 20,
    providers: Annotated[int, typer.Option(min=1, max=999)] = 100,
    quotes: Annotated[int, typer.Option(min=10, max=1_000_000)] = 5_000,
    pvps: Annotated[int, typer.Option(min=10, max=1_000_000)] = 5_000,
    seed: int = 1,
    folder: Annotated[Path, typer.Option(help="Folder for the durable run's files.")] = Path("out"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """FX: quotes/s of route search without a vehicle currency, and payment-versus-payment
    settlements/s in memory and durable."""
    from samarkand.bench.fx import run_fx_benchmark

    folder.mkdir(parents=True, exist_ok=True)
    out = errors if as_json else console
    with out.status("quoting and settling"):
        result = run_fx_benchmark(
            currencies=currencies,
            providers=providers,
            seed=seed,
            quotes=quotes,
            pvps=pvps,
            folder=folder,
        )
    out.print(
        f"{int(result['tiers']):,} rate tiers over {currencies} national currencies plus USD "
        f"and EUR, {providers} providers: {result['quotes_per_s']:,.0f} quotes/s "
        f"({100 * result['quoted_share']:.1f} % quoted, {result['mean_hops']:.2f} hops on "
        f"average, {100 * result['vehicle_currency_share']:.1f} % through a vehicle "
        f"currency); PvP {result['pvp_inmem_per_s']:,.0f}/s in memory, "
        f"{result['pvp_durable_per_s']:,.0f}/s durable ({int(result['pvps']):,} PvPs); "
        f"cross-currency offsetting: {int(result['fx_offset_settled']):,} of "
        f"{int(result['fx_offset_queued']):,} gridlocked payments settled in one run, "
        f"{result['fx_offset_per_s']:,.0f}/s, provider liquidity saved "
        f"{result['fx_offset_provider_saved_pct']:.1f} %"
    )
    _print_json(result, as_json)


@benchmark_app.command("iso")
def benchmark_iso(
    transactions: Annotated[int, typer.Option(min=1, max=200_000)] = 10_000,
    runs: Annotated[int, typer.Option(min=1, max=50)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """ISO 20022: bulk pacs.008 intake (parse + XSD validation + conversion + rules) per
    core, against parsing the same message with xsdata's dataclass binding."""
    from samarkand.bench.iso import run_iso_benchmark

    out = errors if as_json else console
    with out.status("taking in bulk pacs.008"):
        result = run_iso_benchmark(transactions, runs)
    out.print(
        f"bulk pacs.008.001.08 of {transactions:,} transactions "
        f"({result['message_bytes'] / 1e6:.1f} MB), median of {runs}: "
        f"{result['tx_per_s']:,.0f} transactions/s taken in; xsdata binding parse "
        f"{result['baseline_tx_per_s']:,.0f}/s; ratio {result['ratio']:.2f}"
    )
    _print_json(result, as_json)


@benchmark_app.command("hub")
def benchmark_hub(
    banks: Annotated[int, typer.Option(min=2, max=676)] = 50,
    scale: Annotated[float, typer.Option(min=0.01, max=100, help="Payments x this.")] = 1.0,
    seed: Annotated[int, typer.Option()] = 7,
    repeat: Annotated[int, typer.Option(min=1, max=20, help="Median of this many runs.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The hub's payment path: payments/s through DurableHub.submit on a temporary SQLite
    store, against the in-memory SettlementHub and the ledger's own apply of the same
    transfers (rounds of 1 and 14, batches of 1,000, a queued mix with offsetting)."""
    from rich.table import Table

    from samarkand.bench.hub import run_hub_benchmark, workloads

    out = errors if as_json else console
    with out.status("running payments through the hub") as status:
        result = run_hub_benchmark(
            banks=banks,
            seed=seed,
            scale=scale,
            repeat=repeat,
            progress=lambda name: status.update(name),
        )
    table = Table(title=f"hub payment path, {banks} banks: payments/s (CPU µs per payment)")
    for column in ("workload", "payments", "durable", "memory", "ledger"):
        table.add_column(column, justify="right")
    for work in workloads(scale):
        key = work.name
        table.add_row(
            key,
            f"{result[key + '_payments']:,.0f}",
            *(
                f"{result[f'{key}_{way}_per_s']:,.0f} "
                f"({result[f'{key}_{way}_cpu_us_per_payment']:,.1f})"
                for way in ("durable", "memory", "ledger")
            ),
        )
    out.print(table)
    _print_json(result, as_json)


@benchmark_app.command("api")
def benchmark_api(
    seconds: Annotated[float, typer.Option(min=1, max=600, help="Single-payment phase.")] = 10.0,
    connections: Annotated[int, typer.Option(min=1, max=1_000)] = 32,
    bulk_messages: Annotated[int, typer.Option(min=1, max=10_000)] = 40,
    bulk_size: Annotated[int, typer.Option(min=1, max=10_000)] = 1_000,
    bulk_connections: Annotated[int, typer.Option(min=1, max=64)] = 2,
    mixed_messages: Annotated[
        int,
        typer.Option(
            min=0,
            max=1_000,
            help="Then large messages one after another while single payments go on: their "
            "latency meanwhile (0: no such phase).",
        ),
    ] = 0,
    mixed_size: Annotated[int, typer.Option(min=1, max=10_000)] = 10_000,
    message_batch: Annotated[
        int | None,
        typer.Option(min=1, max=1_000_000, help="The service's --message-batch (default 1,000)."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="postgresql:// DSN: the service keeps its hub in a fresh schema of that "
            "database (dropped afterwards); default: an SQLite file in a scratch folder."
        ),
    ] = None,
    sessions: Annotated[
        bool,
        typer.Option(
            help="Single payments signed in a session each client opens (HMAC-SHA256); "
            "--no-sessions: each payment Ed25519-signed with the bank's key."
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The HTTP service driven from this process over loopback: single JSON payments/s with
    p50/p99 latency, and bulk pacs.008 payments/s (the service runs in a subprocess on a
    fresh store)."""
    from samarkand.bench.api import ApiBenchmark, run_api_benchmark
    from samarkand.store.factory import POSTGRES_PREFIXES

    if db is not None and not db.startswith(POSTGRES_PREFIXES):
        raise UserError("--db: a postgresql:// DSN (the default store is SQLite)")
    out = errors if as_json else console
    config = ApiBenchmark(
        seconds, connections, bulk_messages, bulk_size, bulk_connections, mixed_messages,
        mixed_size, *([] if message_batch is None else [message_batch]), sessions=sessions,
    )  # fmt: skip
    with out.status("driving the service"):
        result = run_api_benchmark(config, postgres=db)
    out.print(
        f"single payments: {result['single_per_s']:,.0f}/s, p50 {result['single_p50_ms']:.1f} "
        f"ms, p99 {result['single_p99_ms']:.1f} ms ({connections} connections"
        f"{' in sessions' if sessions else ', each payment signed'}, "
        f"{result['payments_per_submit_command']:.1f} payments per durable command); bulk "
        f"pacs.008 of {bulk_size:,}: {result['bulk_per_s']:,.0f} payments/s, message p50 "
        f"{result['bulk_message_p50_ms']:.0f} ms; client and service on "
        f"{int(result['cores'])} cores"
    )
    out.print(
        f"ceiling of the bulk phase, the same messages through the engine alone (no HTTP, "
        f"read beforehand): {result['engine_bulk_per_s']:,.0f} payments/s, the hub's thread "
        f"{result['engine_hub_thread_us']:.1f} µs, the mailbox writer "
        f"{result['engine_writer_thread_us']:.1f} µs and the camt.054 process "
        f"{result['engine_render_process_us']:.1f} µs of CPU per payment"
    )
    if mixed_messages:
        out.print(
            f"while pacs.008s of {mixed_size:,} were decided ({result['mixed_bulk_per_s']:,.0f}"
            f" payments/s): single payments p50 {result['mixed_single_p50_ms']:.1f} ms, p99 "
            f"{result['mixed_single_p99_ms']:.1f} ms, at most "
            f"{result['mixed_single_max_ms']:.1f} ms"
        )
    _print_json(result, as_json)


@app.command()
def serve(
    db: Annotated[
        str, typer.Option(help="SQLite store of the hub (created with a development hub if new).")
    ] = "out/hub.db",
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65_535)] = 8_020,
    keyring: Annotated[
        Path | None,
        typer.Option(
            help="Keyring (default <db>.keys.json); made with development keys if missing."
        ),
    ] = None,
    schema: Annotated[
        str, typer.Option(help="PostgreSQL schema for ledger, command log and mailbox.")
    ] = DEFAULT_SCHEMA,
    message_batch: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=1_000_000,
            help="Transactions of an ISO 20022 message decided per round of the hub's thread, "
            "other requests being decided between: smaller keeps their latency low while large "
            "messages are decided, larger gives those messages more throughput. Default: 1,000.",
        ),
    ] = None,
) -> None:
    """Run the hub as an HTTP service on a loopback address: participant and operator API,
    Ed25519-signed requests, OpenAPI at /openapi.json. --db is an SQLite path or a
    postgresql:// DSN."""
    from samarkand.service.server import ServeError, is_postgres
    from samarkand.service.server import serve as run_service

    if not is_postgres(db):
        _make_folder("--db", Path(db).parent)
    try:
        batch = {} if message_batch is None else {"message_batch": message_batch}
        run_service(db, host, port, keyring, console.print, schema, **batch)
    except ServeError as error:
        raise UserError(str(error)) from None


@app.command("new-key")
def new_key(
    key_id: Annotated[
        str, typer.Option("--id", help="The key id it signs as: the participant's BIC.")
    ],
    out: Annotated[
        Path, typer.Option(help="Keyring file for the new private key (mode 0600; not replaced).")
    ],
    role: Annotated[
        str, typer.Option(help="participant, central_bank or operator.")
    ] = "participant",
) -> None:
    """Make a new Ed25519 key for `--id`: its private key goes to `--out`, and the JSON body
    that sets it (`PUT /v1/key`, or `PUT /v1/operator/keys/{bic}` by the bank's central bank)
    is printed: the public key and the new key's proof that its holder has it."""
    import base64

    from samarkand.service.auth import (
        Role,
        possession_text,
        public_key_text,
        write_dev_keyring,
    )

    roles = {r.value: r for r in Role if r is not Role.HUB}
    if role not in roles:
        raise UserError(f"--role: expected one of {', '.join(roles)}, got {role!r}")
    if not key_id or not key_id.isascii() or not key_id.isprintable() or " " in key_id:
        raise UserError(f"--id: expected a key id such as a BIC, got {key_id!r}")
    if out.exists():
        raise UserError(f"--out: {out} exists; a new key never replaces a file")
    try:
        private = write_dev_keyring(out, [(key_id, roles[role])])[key_id]
    except OSError as error:
        raise UserError(f"--out: {out}: {error.strerror}") from None
    text = public_key_text(private)
    proof = base64.b64encode(private.sign(possession_text(key_id, text))).decode()
    print(json.dumps({"public_key": text, "proof": proof}))


def _print_json(result: dict, as_json: bool) -> None:
    """`--json`: the benchmark's one JSON object on stdout (tables went to stderr)."""
    if as_json:
        print(json.dumps(result, sort_keys=True))


def _open_hub(db: str, schema: str = DEFAULT_SCHEMA, *, read_only: bool = False):
    """The durable hub of a store (SQLite, or PostgreSQL `schema`), replayed from its
    command log; `read_only` to look at it beside a running service (`DurableHub.open`)."""
    from samarkand.hub.durable import COMMANDS_SUFFIX, DurableHub
    from samarkand.store.factory import POSTGRES_PREFIXES

    postgres = db.startswith(POSTGRES_PREFIXES)
    if postgres:
        from samarkand.store.postgres import PostgresStore

        if not PostgresStore.has_table(db, schema, "hub_commands"):
            raise UserError(f"--db: no hub in schema {schema!r} of that database (--schema)")
    else:
        _require_existing(db)
        if not Path(db + COMMANDS_SUFFIX).is_file():
            raise UserError(f"--db: {db} holds a ledger but no hub (no {db}{COMMANDS_SUFFIX})")
    with errors.status("replaying the hub's command log"):
        durable = DurableHub.open(db, schema=schema if postgres else None, read_only=read_only)
    if not durable.configured:
        durable.close()
        where = f"schema {schema!r} of that database" if postgres else db
        raise UserError(f"--db: no hub in {where} (its command log is empty)")
    return durable


def _require_existing(db: str, schema: str = DEFAULT_SCHEMA) -> None:
    """A store is at `db` (in `schema` of a PostgreSQL database): none is made by looking."""
    from samarkand.store.factory import POSTGRES_PREFIXES

    if db.startswith(POSTGRES_PREFIXES):
        from samarkand.store.postgres import PostgresStore

        if not PostgresStore.has_table(db, schema, "batches"):
            raise UserError(f"--db: no store in schema {schema!r} of that database (--schema)")
    elif not db.startswith("memory:") and not Path(db).is_file():
        raise UserError(f"--db: no store at {db} (run `samarkand demo` to create one)")


def main() -> None:
    """Entry point: user errors become one clear line and exit status 2."""
    from samarkand.money import MoneyError
    from samarkand.store import StoreError

    try:
        app()
    except (UserError, MoneyError, StoreError) as error:
        errors.print(f"[red]error:[/red] {error}")
        sys.exit(2)
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(130)
