"""The operator commands on a hub kept in PostgreSQL (`--db postgresql://… --schema`), as
`samarkand serve --db postgresql://…` keeps one."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import psycopg
import pytest

from samarkand.bench.iso import bulk_pacs008
from samarkand.hub.durable import DurableHub
from samarkand.service.server import bootstrap_dev_hub
from samarkand.store import PostgresStore
from tests.cli.test_cli import run

PG_DSN = os.environ.get("SAMARKAND_TEST_PG_DSN", "")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not PG_DSN,
        reason="set SAMARKAND_TEST_PG_DSN=postgresql://postgres@127.0.0.1:5432/test to run "
        "PostgreSQL tests",
    ),
]
NOW = 1_790_000_000 * 10**9


def schema_exists(schema: str) -> bool:
    with psycopg.connect(PG_DSN, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s", (schema,)
        ).fetchone()
    return row is not None and row[0] == 1


@pytest.fixture
def schema() -> str:
    name = f"cli_{uuid.uuid4().hex[:12]}"
    yield name
    PostgresStore.drop_schema(PG_DSN, name)


def test_submit_track_and_statement_read_a_hub_in_postgresql(schema: str, tmp_path: Path) -> None:
    with DurableHub.open(PG_DSN, schema=schema) as durable:
        bootstrap_dev_hub(durable, NOW)
        banks = sorted(p.bic for p in durable.hub.directory.direct())
    message = tmp_path / "pacs008.xml"
    message.write_bytes(
        bulk_pacs008(2, debtor=banks[0] + "XXX", creditors=(banks[1] + "XXX",),
                     first_uetr=7 << 40, msg_id="PG-CLI-1", settlement_date=None)
    )  # fmt: skip
    where = ("--db", PG_DSN, "--schema", schema)
    done = run("submit", str(message), *where, "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "2 ACSC" in " ".join(done.stdout.split())
    paid = re.search(r"<UETR>([^<]+)</UETR>", message.read_text()).group(1)
    tracked = run("track", paid, *where)
    assert tracked.returncode == 0, tracked.stderr
    history = " ".join(tracked.stdout.split())
    assert f"{banks[0]} -> {banks[1]}" in history and "settled" in history
    # The message log lives in the same schema: the tracker names the message.
    assert "messages: pacs.008 PG-CLI-1" in history
    # Sent again: the responses recorded in PostgreSQL, byte for byte.
    again = run("submit", str(message), *where, "--out", str(tmp_path / "again"))
    assert again.returncode == 0 and "taken in before" in " ".join(again.stdout.split())
    first = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert first == {p.name: p.read_bytes() for p in (tmp_path / "again").iterdir()}
    accounts = run("statement", *where, "--list-accounts")
    assert accounts.returncode == 0, accounts.stderr
    assert f"{banks[0]} CNY" in accounts.stdout


def test_a_schema_without_a_hub_is_named_and_not_created(schema: str) -> None:
    done = run("track", "00000000-0000-4000-8000-000000000000", "--db", PG_DSN,
               "--schema", schema)  # fmt: skip
    assert done.returncode == 2
    assert f"no hub in schema '{schema}'" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert not schema_exists(schema)


def test_verify_names_a_schema_without_a_store_and_does_not_create_it(schema: str) -> None:
    done = run("verify", "--db", PG_DSN, "--schema", schema)
    assert done.returncode == 2
    assert f"no store in schema '{schema}'" in " ".join(done.stderr.split())
    assert not schema_exists(schema)


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    dsn = "postgresql://postgres:s3cret@127.0.0.1:9/test"
    done = run("track", "00000000-0000-4000-8000-000000000000", "--db", dsn)
    assert done.returncode == 2
    assert "cannot connect to PostgreSQL (127.0.0.1:9" in " ".join(done.stderr.split())
    assert "s3cret" not in done.stderr + done.stdout and "Traceback" not in done.stderr
