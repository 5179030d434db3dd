"""The service's bounds on a request head's time and on its open connections
(`samarkand.service.connections`), against `samarkand serve` as a real process on loopback.

Most tests run `serve` with a head bound of HEAD_S (the command's is `HEAD_READ_S`) or a small
cap on the connections, through `samarkand.service.server.serve` in a process of its own;
one runs the command itself with its bounds."""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from samarkand.bench.api import free_port, listening, start_server, stop_server
from samarkand.service.auth import load_private_keys, sign_headers
from samarkand.service.connections import (
    CONNECTIONS_MAX,
    DESCRIPTORS_RESERVED,
    FULL_SPARE,
    HEAD_READ_S,
    connections_cap,
)
from tests.service.conftest import DEBTOR, new_payment

HEAD_S = 1.0  # the head bound of the tests' service
CAP = 300  # the connections served at once by the tests' capped service
PARTIAL_HEAD = b"GET /health HTTP/1.1\r\nHost: x\r\n"  # no blank line
HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
SERVE = """
import sys
from samarkand.service.server import serve
db, port, head_read_s, connections_max = sys.argv[1:]
serve(db, "127.0.0.1", int(port), None, print, head_read_s=float(head_read_s),
      connections_max=int(connections_max))
"""


def _serve(db: Path, port: int, head_read_s: float, connections_max: int, nofile=None):
    """`serve` with these bounds in a process of its own, once it listens; `nofile`: the
    process's soft limit of open files when it starts."""

    def lower_limit() -> None:
        if nofile is not None:
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
            )

    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(db), str(port), str(head_read_s), str(connections_max)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=lower_limit,
    )  # fmt: skip
    return listening(process, port)


@pytest.fixture(scope="module")
def head_bound(tmp_path_factory):
    """(port, db) of a service whose requests' heads must arrive within HEAD_S."""
    db = tmp_path_factory.mktemp("head") / "hub.db"
    port = free_port()
    server = _serve(db, port, HEAD_S, CONNECTIONS_MAX)
    yield port, db
    stop_server(server)
    assert server.returncode == 0, server.stderr.read().decode()[-2000:]


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _until_closed(connection: socket.socket, wait_s: float = 10) -> tuple[float, bytes]:
    """Seconds until the service closes `connection`, and what it sent before."""
    started = time.monotonic()
    connection.settimeout(wait_s)
    received = b""
    try:
        while chunk := connection.recv(65_536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"still open after {wait_s} s; received {received[:200]!r}")
    return time.monotonic() - started, received


def _response(connection: socket.socket) -> tuple[int, bytes]:
    """The next response on `connection` (a body of a content-length): status, body. Reads
    no further than its end, so that a pipelined one stays for the next call."""
    connection.settimeout(10)
    with connection.makefile("rb", buffering=0) as reader:
        status = int(reader.readline().split()[1])
        length = 0
        while (line := reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        body = b""
        while len(body) < length and (chunk := reader.read(length - len(body))):
            body += chunk
    assert len(body) == length, f"closed after {body!r}"
    return status, body


def _health_answers(port: int) -> None:
    assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json() == {"status": "ok"}


def test_a_connection_that_sends_nothing_is_closed_after_the_head_bound(head_bound):
    port, _ = head_bound
    with _connect(port) as idle:
        took, received = _until_closed(idle)
    assert received == b""  # no request, no answer
    assert HEAD_S - 0.2 < took < HEAD_S + 2
    _health_answers(port)


def test_a_partial_head_is_answered_408_and_closed_after_the_head_bound(head_bound):
    port, _ = head_bound
    with _connect(port) as partial:
        partial.sendall(PARTIAL_HEAD)
        took, received = _until_closed(partial)
    assert HEAD_S - 0.2 < took < HEAD_S + 2
    assert received.startswith(b"HTTP/1.1 408 ")
    error = json.loads(received.partition(b"\r\n\r\n")[2])["error"]
    assert error["code"] == "request_timeout" and error["field"] == "head"
    _health_answers(port)


@pytest.mark.parametrize(
    "head",
    [b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
     b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
     b"GET /health HTTP/1.1\r\nBad Header: x\r\n\r\n",
     b"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n"],
)  # fmt: skip
def test_what_the_parser_cannot_read_is_400_with_a_json_error(head_bound, head):
    # uvicorn answered these in plain text ("Invalid HTTP request received.").
    port, _ = head_bound
    with _connect(port) as sent:
        sent.sendall(head)
        _, received = _until_closed(sent)
    status, _, rest = received.partition(b"\r\n")
    assert status == b"HTTP/1.1 400 Bad Request", received
    assert b"content-type: application/json" in rest.lower()
    error = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]
    assert error["code"] == "bad_request" and error["field"] == "request"
    _health_answers(port)


def test_a_head_sent_a_byte_at_a_time_gets_no_more_time(head_bound):
    port, _ = head_bound
    with _connect(port) as dripping:
        dripping.settimeout(0.1)
        started = time.monotonic()
        received = b""
        for byte in PARTIAL_HEAD * 10:
            try:
                dripping.sendall(bytes([byte]))
                received = dripping.recv(65_536)
                break  # answered, or closed
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        took = time.monotonic() - started
    assert took < HEAD_S + 2, "still open"
    assert HEAD_S - 0.2 < took
    assert received == b"" or received.startswith(b"HTTP/1.1 408 ")
    _health_answers(port)


def test_a_connection_idle_between_requests_is_kept_alive_past_the_head_bound(head_bound):
    """Between requests uvicorn's keep-alive timeout (5 s) applies, not the head bound; a
    later request's partial head has the head bound from its first byte."""
    port, _ = head_bound
    with _connect(port) as connection:
        connection.sendall(HEALTH)
        assert _response(connection)[0] == 200
        time.sleep(HEAD_S * 2)
        connection.sendall(HEALTH)
        assert _response(connection)[0] == 200
        time.sleep(HEAD_S / 2)
        connection.sendall(PARTIAL_HEAD)
        took, received = _until_closed(connection)
    assert HEAD_S - 0.2 < took < HEAD_S + 2
    assert received.startswith(b"HTTP/1.1 408 ")


def test_pipelined_requests_and_a_body_slower_than_the_head_bound_are_answered(head_bound):
    port, db = head_bound
    with _connect(port) as connection:
        connection.sendall(HEALTH * 3)
        for _ in range(3):
            status, body = _response(connection)
            assert status == 200 and json.loads(body) == {"status": "ok"}
    # A head sent at once and its body over twice the head bound (the body has 30 s).
    keys = load_private_keys(f"{db}.keys.json")
    payment = json.dumps(new_payment()).encode()
    headers = sign_headers(keys[DEBTOR], DEBTOR, "POST", "/v1/payments", payment)
    head = b"POST /v1/payments HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
    head += b"".join(f"{name}: {value}\r\n".encode() for name, value in headers.items())
    head += b"content-length: %d\r\n\r\n" % len(payment)
    with _connect(port) as connection:
        connection.sendall(head)
        pieces = [payment[i : i + 10] for i in range(0, len(payment), 10)]
        for piece in pieces:
            time.sleep(HEAD_S * 2 / len(pieces))
            connection.sendall(piece)
        status, body = _response(connection)
    assert status == 200 and json.loads(body)["status"] == "ACSC"


def test_connections_beyond_the_cap_are_refused_and_those_held_go_on(tmp_path):
    port = free_port()
    # Started with a soft limit of open files below its hard one, which `serve` raises.
    lowered = min(1_024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    server = _serve(tmp_path / "hub.db", port, 30.0, CAP, nofile=lowered)
    held: list[socket.socket] = []
    try:
        # Soft == hard: raised by `serve` as it starts (looked at until then: a service of
        # another test may have answered on this port first).
        deadline = time.monotonic() + 30
        while True:
            limits = Path(f"/proc/{server.pid}/limits").read_text()
            files = next(line for line in limits.splitlines() if line.startswith("Max open files"))
            if files.split()[3] == files.split()[4] or server.poll() is not None:
                break
            assert time.monotonic() < deadline, files
            time.sleep(0.1)
        assert files.split()[3] == files.split()[4] and server.poll() is None, files

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            assert client.get("/health").status_code == 200  # a keep-alive connection
            # Many idle connections below the cap: a new connection's request is answered.
            held += [_connect(port) for _ in range(CAP - 2)]
            time.sleep(0.5)
            _health_answers(port)
            held.append(_connect(port))  # the cap: CAP connections open
            time.sleep(0.5)
            assert client.get("/health").status_code == 200  # those open go on

            with _connect(port) as refused:
                refused.sendall(HEALTH)
                received = _until_closed(refused)[1]
            assert received.startswith(b"HTTP/1.1 503 ")
            head, _, body = received.partition(b"\r\n\r\n")
            assert b"connection: close" in head.lower()
            error = json.loads(body)["error"]
            assert error["code"] == "unavailable" and error["field"] is None

            # Beyond the spare connections answered 503, a connection is closed at once.
            spare = [_connect(port) for _ in range(FULL_SPARE)]
            held += spare
            time.sleep(0.5)
            with _connect(port) as closed:
                took, received = _until_closed(closed, wait_s=5)
            assert received == b"" and took < 2
            assert client.get("/health").status_code == 200

            for connection in held[-(FULL_SPARE + 10) :]:
                connection.close()
            del held[-(FULL_SPARE + 10) :]
            time.sleep(0.5)
            _health_answers(port)  # room again
    finally:
        for connection in held:
            connection.close()
        stop_server(server)
    log = server.stderr.read().decode()
    assert server.returncode == 0, log[-2000:]
    assert "connections open, the most served at once" in log


def test_the_cap_leaves_descriptors_for_the_process_own_use():
    assert connections_cap(1_048_576) == CONNECTIONS_MAX
    assert connections_cap(1_024) == 1_024 - DESCRIPTORS_RESERVED - FULL_SPARE
    assert connections_cap(1_024, wanted=100) == 100
    assert connections_cap(64) == 1


@pytest.mark.slow
def test_serve_closes_idle_and_partial_connections_after_its_head_bound(tmp_path):
    """`samarkand serve` itself, with its bound of HEAD_READ_S."""
    port = free_port()
    server = start_server(tmp_path / "hub.db", port)
    try:
        took: dict[str, float] = {}

        def wait(name: str, sent: bytes) -> None:
            with _connect(port) as connection:
                connection.sendall(sent)
                took[name] = _until_closed(connection, wait_s=HEAD_READ_S + 10)[0]

        waits = [
            threading.Thread(target=wait, args=args)
            for args in (("idle", b""), ("partial", PARTIAL_HEAD))
        ]
        for thread in waits:
            thread.start()
        for thread in waits:
            thread.join()
        _health_answers(port)
    finally:
        stop_server(server)
    assert server.returncode == 0
    assert HEAD_READ_S - 0.5 < took["idle"] < HEAD_READ_S + 3
    assert HEAD_READ_S - 0.5 < took["partial"] < HEAD_READ_S + 3
