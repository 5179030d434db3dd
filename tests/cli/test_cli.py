"""The `samarkand` command as a user runs it: real processes, real exit codes, no tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from samarkand.hub import snapshot
from samarkand.hub.durable import COMMANDS_SUFFIX, SNAPSHOT_SUFFIX, CommandLog


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samarkand", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )


def test_help_lists_the_subcommands() -> None:
    done = run("--help")
    assert done.returncode == 0
    for command in ("demo", "verify", "benchmark"):
        assert command in done.stdout
    bench = run("benchmark", "--help")
    assert "ledger" in bench.stdout


def test_demo_runs_a_business_day_durably_and_verify_agrees(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    report = tmp_path / "report"
    done = run(
        "demo",
        "--payments",
        "3000",
        "--db",
        str(db),
        "--seed",
        "3",
        "--report",
        str(report),
        "--dns-pct",
        "10",
    )
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert "invariants hold" in out
    assert "held = issued" in out and "NO" not in done.stdout
    assert re.search(r"settled [0-9,]+ of 2,700 payments", out)  # single-currency
    assert re.search(r"cross-currency: [0-9,]+ of 300 settled", out)
    assert "0 through USD/EUR" in out
    assert re.search(r"provider liquidity saved by cross-currency offsetting: [0-9.]+ %", out)
    assert "## Cross-currency payments" in (report / "report.md").read_text()
    assert re.search(r"[0-9.]+ % saved", out)
    assert "gridlocks resolved by offsetting" in out
    assert (report / "report.md").is_file() and (report / "queue.png").is_file()
    assert db.is_file()
    header = snapshot.header_of(Path(f"{db}{SNAPSHOT_SUFFIX}").read_bytes())
    log = CommandLog(f"{db}{COMMANDS_SUFFIX}")
    try:  # the snapshot its child wrote covers the whole day: `track` replays nothing
        assert header is not None and header.log_length == log.length > 0
    finally:
        log.close()
    transfers = re.search(r"\(([0-9,]+) transfers\)", out)
    assert transfers is not None
    checked = run("verify", "--db", str(db))
    assert checked.returncode == 0, checked.stderr
    assert "all invariants hold" in checked.stdout
    assert f"{transfers.group(1)} transfers" in checked.stdout
    sample = re.search(r"samarkand track ([0-9a-f-]{36})", out)
    assert sample is not None
    tracked = run("track", sample.group(1), "--db", str(db))
    assert tracked.returncode == 0, tracked.stderr
    history = " ".join(tracked.stdout.split())
    assert f"payment {sample.group(1)}" in history
    assert "received" in history
    assert "settled" in history or "rejected" in history
    fx_sample = re.search(r"with its legs: `samarkand track ([0-9a-f-]{36})", out)
    assert fx_sample is not None
    fx_tracked = run("track", fx_sample.group(1), "--db", str(db))
    assert fx_tracked.returncode == 0, fx_tracked.stderr
    legs = " ".join(fx_tracked.stdout.split())
    assert "cross-currency, quote" in legs and "FX legs" in legs
    pair = re.search(r"cross-currency, quote [0-9]+: ([A-Z]{3}) -> ([A-Z]{3})", legs)
    assert pair is not None and pair.group(1) != pair.group(2)
    assert legs.count(pair.group(2)) >= 3  # header, rate and the leg paying it out
    unknown = run("track", "00000000-0000-4000-8000-000000000000", "--db", str(db))
    assert unknown.returncode == 1 and "NOOR" in unknown.stderr
    _submit_against_the_demo_store(db, tmp_path)


def _submit_against_the_demo_store(db: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from tests.iso20022.builders import Tx, pacs008, uetr
    from tests.iso20022.iso_builders import envelope, pacs004

    transactions = [
        Tx(number=1, amount="100.00", currency="CNY", debtor_agent="SMAACN22XXX",
           creditor_agent="SMAARU22XXX"),
        Tx(number=2, amount="1.00", currency="CNY", debtor_agent="NOPECN22XXX",
           creditor_agent="SMAARU22XXX"),
    ]  # fmt: skip
    message = tmp_path / "pacs008.xml"
    message.write_bytes(pacs008(transactions, msg_id="CLI-1"))
    # The demo's day is over: after its cut-off the hub refuses with TM01.
    late = run("submit", str(message), "--db", str(db), "--out", str(tmp_path / "late"))
    assert late.returncode == 0, late.stderr
    report = next((tmp_path / "late").glob("*.pacs.002.xml")).read_text()
    assert report.count("<TxSts>RJCT</TxSts>") == 2 and "TM01" in report and "DNOR" in report
    # The next business day opens with yesterday's balances: sent again under a new MsgId,
    # the payment settles.
    retry = tmp_path / "retry.xml"
    # IntrBkSttlmDt must be the hub's business day: that of --at.
    dated = [replace(tx, settlement_date="2026-01-06") for tx in transactions]
    retry.write_bytes(pacs008(dated, msg_id="CLI-2"))
    done = run("submit", str(retry), "--db", str(db), "--out", str(tmp_path / "next"),
               "--next-day", "--at", "2026-01-06T09:00:00Z")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 ACSC, 1 RJCT" in " ".join(done.stdout.split())
    notifications = sorted((tmp_path / "next").glob("*.camt.054.xml"))
    assert len(notifications) == 2  # debtor and creditor agent
    tracked = run("track", uetr(1), "--db", str(db))
    assert "settled" in tracked.stdout
    # The same message again, in another process: its recorded responses, byte for byte.
    again = run("submit", str(retry), "--db", str(db), "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert "taken in before" in " ".join(again.stdout.split())
    first = {p.name: p.read_bytes() for p in (tmp_path / "next").iterdir()}
    second = {p.name: p.read_bytes() for p in (tmp_path / "again").iterdir()}
    assert first == second
    # A new MsgId reusing the UETR: DUPL, never a second settlement.
    reuse = tmp_path / "reuse.xml"
    reuse.write_bytes(pacs008(transactions[:1], msg_id="CLI-3"))
    duplicate = run("submit", str(reuse), "--db", str(db), "--out", str(tmp_path / "reuse"))
    assert duplicate.returncode == 0, duplicate.stderr
    report = next((tmp_path / "reuse").glob("*.pacs.002.xml")).read_text()
    assert "DUPL" in report and "ACSC" not in report
    assert not list((tmp_path / "reuse").glob("*.camt.054.xml"))
    # The creditor agent returns part of it: a pacs.004 in a BizMsg envelope with an AppHdr.
    back = tmp_path / "return.xml"
    back.write_bytes(envelope(pacs004([(uetr(1), "40.00", "CNY")], sender="SMAARU22XXX"),
                              sender="SMAARU22XXX", message_id="pacs.004.001.09"))  # fmt: skip
    returned = run("submit", str(back), "--db", str(db), "--out", str(tmp_path / "return"))
    assert returned.returncode == 0, returned.stderr
    assert "pacs.004.001.09 RTR-1: 1 ACSC" in " ".join(returned.stdout.split())
    assert len(list((tmp_path / "return").glob("*.camt.054.xml"))) == 2
    # The tracker links the payment and its return, and names the messages that carried them.
    from samarkand.hub.messages import return_uetr

    back_uetr = str(uuid.UUID(int=return_uetr(uuid.UUID(uetr(1)).int)))
    original = " ".join(run("track", uetr(1), "--db", str(db)).stdout.split())
    assert f"returned by {back_uetr} (settled)" in original
    messages = re.search(r"messages: (.*)", original)
    assert messages is not None
    names = messages.group(1)
    assert [names.find(m) >= 0 for m in ("CLI-1", "CLI-2", "CLI-3", "pacs.004 RTR-1")] == [True] * 4
    assert names.find("CLI-1") < names.find("CLI-2") < names.find("RTR-1")
    the_return = " ".join(run("track", back_uetr, "--db", str(db)).stdout.split())
    assert f"return of {uetr(1)}" in the_return and "pacs.004 RTR-1" in the_return
    # Once its day is archived, the tracker still finds the payment and its return.
    from samarkand.hub.durable import DurableHub

    with DurableHub.open(str(db)) as hub:
        now = hub.hub.clock + 1
        hub.end_of_day(now)
        hub.open_day(dict.fromkeys(hub.hub.engine.cut_off_ns, now + 10**12), now + 1)
        assert hub.archive(now + 1, now + 2)[0] > 3_000  # the demo's and the CLI's
    archived = " ".join(run("track", uetr(1), "--db", str(db)).stdout.split())
    assert "SMAACN22 -> SMAARU22, 100.00 CNY" in archived and "archived" in archived
    assert f"returned by {back_uetr} (settled)" in archived
    archived_return = " ".join(run("track", back_uetr, "--db", str(db)).stdout.split())
    assert f"return of {uetr(1)}" in archived_return and "archived" in archived_return
    # Parsed far enough to have a MsgId but broken: a group RJCT, exit status 1.
    broken = tmp_path / "broken.xml"
    broken.write_bytes(pacs008(transactions, msg_id="CLI-4", number_of_transactions=7))
    refused = run("submit", str(broken), "--db", str(db), "--out", str(tmp_path / "broken"))
    assert refused.returncode == 1, refused.stderr
    report = next((tmp_path / "broken").glob("*.pacs.002.xml")).read_text()
    assert "<GrpSts>RJCT</GrpSts>" in report and "AM18" in report
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<Document>not pacs</Document>")
    refused = run("submit", str(bad), "--db", str(db), "--out", str(tmp_path / "bad"))
    assert refused.returncode == 2 and "FF01" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_demo_is_deterministic_by_seed(tmp_path: Path) -> None:
    outputs = []
    for name in ("a.db", "b.db"):
        done = run(
            "demo",
            "--payments",
            "2000",
            "--db",
            str(tmp_path / name),
            "--seed",
            "9",
            "--report",
            str(tmp_path / f"report-{name}"),
        )
        assert done.returncode == 0, done.stderr
        table = done.stdout[done.stdout.index("Settlement per") : done.stdout.index(" in ")]
        outputs.append(
            table
            + done.stdout[done.stdout.index("Closing balances") : done.stdout.index("report:")]
        )
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("verify", "--db", "/nonexistent/x.db"), "--db: no store at /nonexistent/x.db"),
        (("benchmark", "ledger", "--distribution", "normal"), "--distribution"),
        (("benchmark", "ledger", "--pg", "mysql://x"), "--pg"),
        (("benchmark", "ledger", "--transfers", "-5"), "--transfers"),
        (("demo", "--payments", "zero"), "--payments"),
        (("demo", "--liquidity-pct", "101"), "--liquidity-pct"),
        (("demo", "--urgent-pct", "60", "--dns-pct", "60"), "urgent_pct + dns_pct"),
        (("nosuchcommand",), "No such command"),
        (("track", "not-a-uuid", "--db", "/nonexistent.db"), "UETR"),
        # Refused before the day is simulated, not after.
        (("demo", "--report", "/proc/samarkand/report"), "--report: cannot make the folder"),
        (("demo", "--db", "/proc/samarkand/demo.db"), "--db: cannot make the folder"),
    ],
)
def test_bad_arguments_get_one_clear_line(args: tuple[str, ...], message: str) -> None:
    done = run(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_track_on_a_store_without_a_hub_says_so_and_creates_nothing(tmp_path: Path) -> None:
    from samarkand.store import DurableLedger, SqliteStore

    db = tmp_path / "ledger.db"
    DurableLedger.open(SqliteStore(str(db))).close()
    done = run("track", "00000000-0000-4000-8000-000000000000", "--db", str(db))
    assert done.returncode == 2
    assert "no hub" in " ".join(done.stderr.split()) and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.db"]


def test_verify_rejects_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("these are not the ledgers you are looking for\n" * 100)
    done = run("verify", "--db", str(bogus))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "notes.db" in done.stderr


def test_benchmark_json_has_the_agreed_keys(tmp_path: Path) -> None:
    done = run(
        "benchmark",
        "ledger",
        "--transfers",
        "16380",
        "--accounts",
        "100",
        "--json",
        "--sqlite-dir",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for key in (
        "inmem_tps",
        "sqlite_tps",
        "sqlite_raw_tps",
        "sqlite_ratio",
        "pg_tps",
        "pg_raw_tps",
        "pg_ratio",
        "batch_p99_ms",
    ):
        assert key in result
    assert result["inmem_tps"] > 0 and result["sqlite_tps"] > 0
    assert result["pg_tps"] is None and result["pg_ratio"] is None
    assert 0 < result["sqlite_ratio"] < 10
    assert not list(tmp_path.glob("bench-*.db*")), "benchmark left its files behind"


def test_benchmark_fx_json_has_the_agreed_keys(tmp_path: Path) -> None:
    done = run(
        "benchmark", "fx", "--quotes", "200", "--pvps", "200", "--json", "--folder", str(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for key in ("quotes_per_s", "pvp_inmem_per_s", "pvp_durable_per_s", "vehicle_currency_share"):
        assert key in result
    assert result["quotes_per_s"] > 0 and result["pvp_durable_per_s"] > 0
    assert result["vehicle_currency_share"] == 0.0
    assert result["quoted_share"] > 0.9
    # Gridlocked cross-currency cycles: one offsetting run settles them all, and providers
    # need only the residual.
    assert result["fx_offset_queued"] > 0
    assert result["fx_offset_settled"] == result["fx_offset_queued"]
    assert result["fx_offset_settled_share"] == 1.0
    assert 50.0 < result["fx_offset_provider_saved_pct"] < 100.0
    assert not list(tmp_path.iterdir()), "benchmark left its files behind"


def test_benchmark_hub_json_has_every_workload_and_way() -> None:
    done = run("benchmark", "hub", "--scale", "0.02", "--repeat", "1", "--banks", "8", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["banks"] == 8 and result["repeat"] == 1
    for workload, round_size in (
        ("round_1", 1),
        ("round_14", 14),
        ("batch_1000", 1_000),
        ("queued_mix", 100),
    ):
        assert result[f"{workload}_round"] == round_size
        assert result[f"{workload}_payments"] >= round_size
        for way in ("durable", "memory", "ledger"):
            assert result[f"{workload}_{way}_per_s"] > 0
            assert result[f"{workload}_{way}_cpu_us_per_payment"] > 0


def test_benchmark_iso_json_has_the_agreed_keys() -> None:
    done = run("benchmark", "iso", "--transactions", "500", "--runs", "1", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for key in ("tx_per_s", "baseline_tx_per_s", "ratio"):
        assert result[key] > 0
    assert result["transactions"] == 500
    assert abs(result["ratio"] - result["tx_per_s"] / result["baseline_tx_per_s"]) < 1e-9


def test_statement_lists_accounts_and_writes_a_camt053_that_adds_up(tmp_path: Path) -> None:
    from lxml import etree
    from pyiso20022.camt.camt_053_001_08 import Document
    from xsdata.formats.dataclass.parsers import XmlParser

    from samarkand.iso20022 import schemas
    from samarkand.iso20022.envelope import unwrap
    from samarkand.iso20022.validate import validate_document
    from samarkand.store import DurableLedger, SqliteStore

    db = tmp_path / "demo.db"
    made = run("demo", "--payments", "2000", "--db", str(db), "--report", str(tmp_path / "r"))
    assert made.returncode == 0, made.stderr
    listed = run("statement", "--db", str(db), "--list-accounts")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines() if line.strip()]
    assert rows and all(len(row) == 4 and row[1].startswith("(0x") for row in rows)
    ledger = DurableLedger.open(SqliteStore(str(db)))
    try:
        journal = ledger.state.journal.columns()
        touched = journal.debit_account_id.tolist() + journal.credit_account_id.tolist()
        listed_ids = {int(row[0]) for row in rows}
        busiest = max(listed_ids, key=touched.count)
        balance = ledger.state.balance(busiest).net_credit
    finally:
        ledger.close()
    out = tmp_path / "statement.xml"
    done = run(
        "statement", "--db", str(db), "--account", hex(busiest), "--date", "2026-01-05",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    header, root = unwrap(out.read_bytes())
    assert validate_document(header, schemas.HEAD_001, root_name="AppHdr") == []
    assert header.findtext("{*}MsgDefIdr") == schemas.CAMT_053
    assert validate_document(root, schemas.CAMT_053) == []
    data = etree.tostring(root)
    statement = XmlParser().from_bytes(data, Document).bk_to_cstmr_stmt.stmt[0]

    def signed(amount, indicator) -> int:
        # format_amount writes exactly the currency's decimals: drop the point.
        minor = int(amount.value.scaleb(-amount.value.as_tuple().exponent))
        return minor if indicator.value == "CRDT" else -minor

    assert statement.acct.id.othr.id == str(busiest)
    opening, closing = (signed(b.amt, b.cdt_dbt_ind) for b in statement.bal)
    assert [b.tp.cd_or_prtry.cd for b in statement.bal] == ["OPBD", "CLBD"]
    entries = [signed(n.amt, n.cdt_dbt_ind) for n in statement.ntry]
    assert len(entries) > 20
    assert opening + sum(entries) == closing == balance
    assert all(n.sts.cd == "BOOK" for n in statement.ntry)
    for args, message in (
        (("--account", "nope", "--date", "2026-01-05"), "not a number"),
        (("--account", "5", "--date", "2026-01-05"), "no account"),
        (("--account", str(busiest), "--date", "05/01/2026"), "--date"),
        (("--account", str(156 << 64 | 1 << 16 | 6), "--date", "2026-01-05"), "not a settlement"),
    ):
        bad = run("statement", "--db", str(db), *args)
        assert bad.returncode == 2, (args, bad.stdout, bad.stderr)
        assert message in " ".join(bad.stderr.split())
        assert "Traceback" not in bad.stderr + bad.stdout


def test_statement_refusals_name_the_option_at_fault_without_a_traceback(tmp_path: Path) -> None:
    """A date outside the hub's clock, and an account holding more than camt.053's 18
    digits: each refused naming its option, as the service's route names the field."""
    from samarkand.hub.durable import DurableHub
    from samarkand.hub.settlement import Liquidity
    from tests.settlement.fx_world import CNY, LEDGERS, START_NS, A, B, fx_directory

    db = tmp_path / "hub.db"
    with DurableHub.open(str(db)) as hub:
        hub.configure(fx_directory(), cut_off_ns=dict.fromkeys(LEDGERS, 10**18))
        hub.open_accounts(START_NS)
        hub.liquidity([Liquidity(B, CNY, 10**18)], START_NS + 1)  # 19 digits
        directory = hub.hub.directory
        small, huge = (directory.settlement_account(directory.get(bic), CNY) for bic in (A, B))
    for account, date, message in (
        (small, "0001-01-01", "--date: the date must be in 1970-01-01..2262-04-10"),
        (small, "2262-04-11", "--date: the date must be in 1970-01-01..2262-04-10"),
        (huge, "1970-01-01", "--account: amount 1000000000000000000 is beyond the 18 digits"),
    ):
        bad = run("statement", "--db", str(db), "--account", str(account), "--date", date)
        assert bad.returncode == 2, (date, bad.stdout, bad.stderr)
        assert message in " ".join(bad.stderr.split()), bad.stderr
        assert "Traceback" not in bad.stderr + bad.stdout
    assert (
        run(
            "statement", "--db", str(db), "--account", str(small), "--date", "1970-01-01"
        ).returncode
        == 0
    )


def test_submit_takes_a_cross_currency_pacs008_into_a_store(tmp_path: Path) -> None:
    from samarkand.fx.routing import Quote
    from samarkand.hub.durable import DurableHub
    from samarkand.hub.settlement import Liquidity, QuoteRequest
    from tests.iso20022.builders import uetr
    from tests.iso20022.iso_builders import fx_pacs008
    from tests.settlement.fx_world import (
        CNY,
        CUT_OFF_NS,
        CYCLE_TIERS,
        LEDGERS,
        RUB,
        A,
        B,
        P,
        fx_directory,
    )

    db = tmp_path / "fx.db"
    with DurableHub.open(db) as hub:
        hub.configure(fx_directory(), cut_off_ns=dict.fromkeys(LEDGERS, CUT_OFF_NS))
        hub.open_accounts(100)
        assert hub.post_tiers(CYCLE_TIERS, 101) == [None, None, None]
        funding = [Liquidity(A, CNY, 1_000_00), Liquidity(P, RUB, 5_000_00)]
        assert hub.liquidity(funding, 102) == [None, None]
        [found] = hub.request_quotes([QuoteRequest(A, CNY, RUB, 100_00, None, 10**12)], 103)
        assert isinstance(found, Quote)
    transaction = {
        "uetr": uetr(1), "debtor": A + "XXX", "creditor": B + "XXX",
        "settled": ("1250.00", RUB), "instructed": ("100.00", CNY), "rate": "12.5",
        "quote": f"/FXQT/{found.id}",
    }  # fmt: skip
    message = tmp_path / "fx.xml"
    message.write_bytes(fx_pacs008([transaction, {**transaction, "uetr": uetr(2)}]))
    done = run("submit", str(message), "--db", str(db), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "1 ACSC, 1 RJCT" in " ".join(done.stdout.split())
    report = next((tmp_path / "out").glob("*.pacs.002.xml")).read_text()
    assert "DUPL" in report and "CdtTrfTxInf[2]/InstrForNxtAgt/InstrInf" in report
    notifications = list((tmp_path / "out").glob("*.camt.054.xml"))
    assert len(notifications) == 3  # A (CNY), B (RUB) and the provider P (both)
    with DurableHub.open(db) as reopened:
        state = reopened.hub
        account = state.directory.settlement_account(state.directory.get(B), RUB)
        assert state.ledger.balance(account).net_credit == 1_250_00
    tracked = run("track", uetr(1), "--db", str(db))
    assert tracked.returncode == 0 and "FX legs" in tracked.stdout
