"""One writer per hub: a second process (or a second open in the same process) is refused."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from samarkand.bench.api import free_port, start_server, stop_server
from samarkand.bench.iso import bulk_pacs008
from samarkand.store.lock import HubInUse, WriterLock
from tests.store.conftest import PG_DSN


def test_a_second_writer_of_an_sqlite_hub_is_refused_until_the_first_lets_go(tmp_path):
    db = str(tmp_path / "hub.db")
    first = WriterLock(db, schema="unused")
    with pytest.raises(HubInUse, match="another process has this hub open for writing"):
        WriterLock(db, schema="unused")
    WriterLock(str(tmp_path / "other.db"), schema="unused").release()  # another hub: free
    first.release()
    WriterLock(db, schema="unused").release()


def test_a_second_writer_of_a_postgresql_hub_is_refused(pg_schema):
    first = WriterLock(PG_DSN, schema=pg_schema)
    try:
        with pytest.raises(HubInUse, match=pg_schema):
            WriterLock(PG_DSN, schema=pg_schema)
        WriterLock(PG_DSN, schema=pg_schema + "_other").release()
    finally:
        first.release()
    WriterLock(PG_DSN, schema=pg_schema).release()


def test_submit_and_a_second_serve_are_refused_beside_a_running_service(tmp_path):
    db = tmp_path / "hub.db"
    port = free_port()
    server = start_server(db, port)
    try:
        with pytest.raises(RuntimeError, match="another process has this hub open"):
            start_server(db, free_port())
        message = tmp_path / "bulk.xml"
        message.write_bytes(bulk_pacs008(2, debtor="SMAACN22XXX", creditors=("SMAARU22XXX",),
                                         first_uetr=uuid.uuid4().int >> 8, msg_id="LOCKED",
                                         settlement_date=None))  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "samarkand", "submit", str(message), "--db", str(db),
             "--out", str(tmp_path / "out")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 2, done.stdout + done.stderr
        assert "another process has this hub open for writing" in " ".join(done.stderr.split())
        assert not (tmp_path / "out").exists()
    finally:
        stop_server(server)
    assert server.returncode == 0
    done = subprocess.run(
        [sys.executable, "-m", "samarkand", "submit", str(message), "--db", str(db),
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr  # the service is gone: free
