"""One writer per hub: a second process (or a second open in the same process) is refused."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
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


# A holder that forks a child (as the hub's background snapshot does), then is killed alone.
_KILLED_HOLDER = """
import os, signal, sys, time
from samarkand.store.lock import WriterLock
lock = WriterLock(sys.argv[1], schema=sys.argv[2])
started, running = os.pipe()
child = os.fork()
if child == 0:
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)  # the test reads the holder's output to its end: not the child's
    os.dup2(quiet, 2)
    os.write(running, b"!")
    time.sleep(30)
    os._exit(0)
os.read(started, 1)  # the child runs: its after-fork handlers have run
print(child, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_child_forked_by_the_holder_does_not_hold_the_lock(tmp_path, kind, request):
    # The background snapshot's child kept the lock's descriptor (the lock file's, or the
    # lock session's socket): its parent killed alone, a restart was refused until the child
    # ended (seconds, with a large hub).
    if kind == "postgresql":
        if not PG_DSN:
            pytest.skip("set SAMARKAND_TEST_PG_DSN to run PostgreSQL tests")
        db, schema = PG_DSN, request.getfixturevalue("pg_schema")
    else:
        db, schema = str(tmp_path / "hub.db"), "unused"
    holder = subprocess.run(
        [sys.executable, "-c", _KILLED_HOLDER, db, schema],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert holder.returncode == -signal.SIGKILL, holder.stderr
    child = int(holder.stdout)
    try:
        deadline = time.monotonic() + 5  # a server ends a session it lost a moment later
        while True:
            try:
                WriterLock(db, schema=schema).release()
                break
            except HubInUse:
                assert time.monotonic() < deadline, "the holder's child still holds the lock"
                time.sleep(0.1)
    finally:
        os.kill(child, signal.SIGKILL)


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


def test_the_hubs_snapshot_child_ends_with_its_parent_killed_alone():
    # It wrote on for seconds as an orphan (a large hub's snapshot), holding the lock then.
    script = _KILLED_HOLDER.replace(
        "quiet = os.open", "end_with_parent(os.getppid())\n    quiet = os.open"
    ).replace(
        "from samarkand.store.lock",
        "from samarkand.hub.durable import end_with_parent\nfrom samarkand.store.lock",
    )
    with tempfile.TemporaryDirectory() as folder:
        holder = subprocess.run(
            [sys.executable, "-c", script, os.path.join(folder, "hub.db"), "unused"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert holder.returncode == -signal.SIGKILL, holder.stderr
    child = int(holder.stdout)
    deadline = time.monotonic() + 5
    try:
        while _alive(child):
            assert time.monotonic() < deadline, "the child outlived its parent"
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"  # a zombie is gone but for its entry
    except FileNotFoundError:
        return False
