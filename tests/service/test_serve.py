"""`samarkand serve` as a real process on loopback, and the API benchmark against it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid

import httpx
import pytest

from samarkand.bench.api import free_port, start_server, stop_server
from samarkand.service.auth import load_private_keys, sign_headers

SAMARKAND = [sys.executable, "-m", "samarkand"]


def test_serve_refuses_a_non_loopback_host(tmp_path):
    done = subprocess.run(
        [*SAMARKAND, "serve", "--db", str(tmp_path / "hub.db"), "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "not a loopback address" in done.stderr
    assert not (tmp_path / "hub.db").exists()


@pytest.mark.parametrize(
    "option, value, said",
    [
        ("--keyring", "/proc/samarkand/keys.json", "--keyring: No such file or directory"),
        ("--keyring", "{tmp}", "--keyring: {tmp}: not a keyring (IsADirectoryError)"),
        ("--keyring", "{tmp}/bad.json", "--keyring: {tmp}/bad.json: not a keyring"),
        ("--db", "/proc/samarkand/hub.db", "--db: cannot make the folder /proc/samarkand"),
    ],
)
def test_serve_names_a_bad_keyring_or_store_folder_without_a_traceback(
    tmp_path, option, value, said
):
    (tmp_path / "bad.json").write_text("{not json")
    arguments = {"--db": str(tmp_path / "hub.db"), option: value.format(tmp=tmp_path)}
    options = [x for item in arguments.items() for x in item]
    done = subprocess.run(
        [*SAMARKAND, "serve", "--port", str(free_port()), *options],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    # The console wraps long lines, a path too: compared without any white space.
    assert "".join(said.format(tmp=tmp_path).split()) in "".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_serve_answers_signed_requests_over_loopback(tmp_path):
    db = tmp_path / "hub.db"
    port = free_port()
    server = start_server(db, port)
    try:
        keyring = f"{db}.keys.json"
        assert stat.S_IMODE(os.stat(keyring).st_mode) == 0o600
        keys = load_private_keys(keyring)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base) as client:
            assert client.get("/openapi.json").json()["info"]["title"] == "Samarkand hub"
            body = json.dumps(
                {
                    "uetr": str(uuid.uuid4()),
                    "debtor_agent": "SMAACN22",
                    "creditor_agent": "SMAARU22",
                    "amount": "10.00",
                    "currency": "CNY",
                }
            ).encode()
            headers = sign_headers(keys["SMAACN22"], "SMAACN22", "POST", "/v1/payments", body)
            headers["content-type"] = "application/json"
            answer = client.post("/v1/payments", content=body, headers=headers)
            assert answer.status_code == 200 and answer.json()["status"] == "ACSC"
            replay = client.post("/v1/payments", content=body, headers=headers)
            assert replay.status_code == 401
            assert client.get("/v1/accounts").status_code == 401
    finally:
        stop_server(server)
    assert server.returncode == 0
    log = server.stderr.read().decode()
    for private in keys.values():  # no private key and no signature reaches the output
        assert private.private_bytes_raw().hex() not in log
    assert headers["x-samarkand-signature"] not in log


@pytest.mark.slow
def test_sigterm_stops_the_service_cleanly(tmp_path):
    """SIGTERM (what a supervisor sends): requests under way are answered, the hub and its
    stores are closed (SQLite folds its write-ahead logs back and removes them, which a
    killed process leaves behind), and the process exits 0."""
    import signal

    db = tmp_path / "hub.db"
    port = free_port()
    server = start_server(db, port)
    try:
        keys = load_private_keys(f"{db}.keys.json")
        body = json.dumps({"uetr": str(uuid.uuid4()), "debtor_agent": "SMAACN22",
                           "creditor_agent": "SMAARU22", "amount": "1.00",
                           "currency": "CNY"}).encode()  # fmt: skip
        headers = sign_headers(keys["SMAACN22"], "SMAACN22", "POST", "/v1/payments", body)
        headers["content-type"] = "application/json"
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/payments", content=body, headers=headers)
        assert answer.status_code == 200
        assert list(tmp_path.glob("*-wal"))  # open stores, in WAL mode
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, server.stderr.read().decode()[-2000:]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert sorted(p.name for p in tmp_path.glob("*-wal")) == []


def test_benchmark_api_reports_json(tmp_path):
    done = subprocess.run(
        [*SAMARKAND, "benchmark", "api", "--seconds", "2", "--connections", "8",
         "--bulk-messages", "2", "--bulk-size", "200", "--mixed-messages", "2",
         "--mixed-size", "2500", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["single_per_s"] > 0 and result["single_p99_ms"] >= result["single_p50_ms"]
    assert result["bulk_per_s"] > 0 and result["bulk_accepted"] == 400
    assert result["single_rejected"] == 0
    # Group commit: fewer durable submit commands than single-payment requests.
    assert result["submit_commands"] - 2 < result["single_payments"]
    # Single payments went on while two messages of 2,500 transactions were decided.
    assert result["mixed_size"] == 2500 and result["mixed_single_payments"] > 0
    assert result["mixed_single_max_ms"] >= result["mixed_single_p99_ms"] > 0
    assert result["mixed_bulk_per_s"] > 0
    # The bulk phase's ceiling: the same messages through the engine alone, every one taken.
    assert result["engine_bulk_accepted"] == 400 and result["engine_bulk_per_s"] > 0
    assert result["engine_hub_thread_us"] >= 0 and result["engine_writer_thread_us"] >= 0
    assert result["engine_render_process_us"] >= 0  # the camt.054 process's (ticks of 10 ms)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("SAMARKAND_TEST_PG_DSN"),
    reason="set SAMARKAND_TEST_PG_DSN=postgresql://postgres@127.0.0.1:5432/test to run",
)
def test_benchmark_api_on_postgresql_uses_a_fresh_schema_and_drops_it():
    import psycopg

    dsn = os.environ["SAMARKAND_TEST_PG_DSN"]
    done = subprocess.run(
        [*SAMARKAND, "benchmark", "api", "--seconds", "1", "--connections", "4",
         "--bulk-messages", "2", "--bulk-size", "100", "--db", dsn, "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["single_per_s"] > 0 and result["bulk_accepted"] == 200
    assert result["submit_commands"] - 2 < result["single_payments"]
    with psycopg.connect(dsn, autocommit=True) as connection:
        left = connection.execute(
            "SELECT count(*) FROM information_schema.schemata "
            "WHERE schema_name LIKE 'bench_api_%' OR schema_name LIKE 'bench_engine_%'"
        ).fetchone()
    assert left == (0,)
    assert result["engine_bulk_accepted"] == 200


def test_benchmark_api_takes_only_a_postgresql_dsn_for_db():
    done = subprocess.run(
        [*SAMARKAND, "benchmark", "api", "--db", "out/hub.db"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "--db: a postgresql:// DSN" in done.stderr
