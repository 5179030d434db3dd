"""`samarkand benchmark api`: the running service driven over loopback from another process.

The benchmark starts `samarkand serve` in a subprocess on a free loopback port with a fresh
store (a development hub: an SQLite file in a scratch folder, or with `--db postgresql://…` a
fresh schema of that database, dropped afterwards), and drives it from this process with a
small HTTP/1.1 client on asyncio (keep-alive connections, every request Ed25519-signed like a
participant's):

- single payments: `connections` clients each send JSON payments one after another for
  `seconds`; payments/s and the latency of each request (sent to answered: signed, checked,
  group-committed with the others waiting, durable, answered). Each client first opens a
  session, as a bank sending many payments would, and signs its payments with the
  session's HMAC (`sessions=False`: each payment Ed25519-signed, as before sessions);
- bulk: pacs.008 messages of `bulk_size` transactions each, `bulk_connections` at a time;
  transactions/s and the latency of each message;
- mixed (with `mixed_messages`): large pacs.008s (`mixed_size` transactions) one after
  another on one connection while `MIXED_CONNECTIONS` clients send single payments, each
  pausing `MIXED_PAUSE_S` between its requests: the single payments' latency while the hub
  decides large messages.

Then, on another fresh hub of the same kind, the bulk phase's ceiling (`engine_ceiling`):
the same messages, read beforehand, decided by the service's engine in this process with no
HTTP, no signatures and no parsing; the rate and the CPU per payment of the hub's thread
and of the mailbox writer.

Client and server share the machine's cores; the report says how many there are.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop

from samarkand.bench.iso import bulk_pacs008
from samarkand.service.auth import (
    accept_session,
    load_private_keys,
    session_offer,
    sign_headers,
)
from samarkand.service.engine import MESSAGE_BATCH
from samarkand.store.factory import POSTGRES_PREFIXES

STARTUP_S_MAX = 60.0
MIXED_CONNECTIONS = 8
MIXED_PAUSE_S = 0.005


@dataclass(frozen=True, slots=True)
class ApiBenchmark:
    seconds: float = 10.0
    connections: int = 32
    bulk_messages: int = 40
    bulk_size: int = 1_000
    bulk_connections: int = 2
    mixed_messages: int = 0  # 0: no mixed phase
    mixed_size: int = 10_000
    message_batch: int = MESSAGE_BATCH  # `serve --message-batch`
    sessions: bool = True  # single payments signed in a session (HMAC), else each with its key


class HttpError(RuntimeError):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection: a request, then its whole response."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"content-length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(db: Path | str, port: int, *options: str) -> subprocess.Popen:
    """`samarkand serve --db db --port port [options]`, once it listens."""
    command = [sys.executable, "-m", "samarkand", "serve", "--db", str(db), "--port", str(port)]
    command += options
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    return listening(process, port)


def listening(process: subprocess.Popen, port: int) -> subprocess.Popen:
    """`process` (a service starting, its stderr a pipe) once it listens on `port`; stopped,
    with the error, if it exits or does not listen within `STARTUP_S_MAX`."""
    deadline = time.monotonic() + STARTUP_S_MAX
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited: {process.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    stop_server(process)
    raise RuntimeError("the service did not start listening in time")


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command's name (state, ppid, ...), or None
    for a process (or thread) that is not there."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _ticks(fields: list[str], *at: int) -> float:
    return sum(int(fields[i]) for i in at) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU time a process has used (Linux /proc), 0.0 where unknown."""
    fields = _stat(pid)
    return 0.0 if fields is None else _ticks(fields, 11, 12)


def tree_cpu_seconds(pid: int) -> float:
    """`cpu_seconds` of a process with its children's (those running, found by their
    parent in /proc, and those it has waited for): the service's, its camt.054 process's
    included."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    total = _ticks(fields, 11, 12, 13, 14)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        child = _stat(stat.parent.name)
        if child is not None and child[1] == str(pid):
            total += _ticks(child, 11, 12)
    return total


def thread_cpu_seconds(native_id: int | None) -> float:
    """User + system CPU time one thread of this process has used (Linux /proc), 0.0 where
    unknown."""
    return cpu_seconds(f"self/task/{native_id}") if native_id is not None else 0.0


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(pct / 100 * len(ordered)))]


async def _singles(port: int, keys, banks: list[str], config: ApiBenchmark) -> dict:
    stop_at = time.perf_counter() + config.seconds
    return await _single_clients(
        port, keys, banks, config.connections, lambda: time.perf_counter() < stop_at,
        sessions=config.sessions,
    )  # fmt: skip


async def _signer(connection: Connection, key, bank: str, sessions: bool):
    """How one client signs its payments: in a session it opens now (`sessions`), else
    each with its key."""
    if not sessions:
        return lambda body: sign_headers(key, bank, "POST", "/v1/payments", body)
    private, offer = session_offer()
    headers = sign_headers(key, bank, "POST", "/v1/sessions", offer)
    headers["content-type"] = "application/json"
    status, answer = await connection.request("POST", "/v1/sessions", headers, offer)
    if status != 201:
        raise HttpError(f"session answered {status}: {answer[:300]!r}")
    session = accept_session(bank, private, json.loads(answer))
    return lambda body: session.headers("POST", "/v1/payments", body)


async def _single_clients(
    port: int, keys, banks: list[str], connections: int, going, pause: float = 0.0,
    *, sessions: bool = True,
) -> dict:  # fmt: skip
    """`connections` clients sending single payments while `going()`, each waiting for its
    answer (and then `pause` s) before the next; each in a session of its own (`sessions`),
    else each payment signed with the bank's key."""
    latencies: list[float] = []
    counts = {"ACSC": 0, "ACSP": 0, "RJCT": 0}

    async def client(index: int) -> None:
        debtor = banks[index % len(banks)]
        creditors = [b for b in banks if b != debtor]
        connection = Connection("127.0.0.1", port)
        await connection.open()
        sign = await _signer(connection, keys[debtor], debtor, sessions)
        n = 0
        try:
            while going():
                n += 1
                body = json.dumps(
                    {
                        "uetr": str(uuid.uuid4()),
                        "debtor_agent": debtor,
                        "creditor_agent": creditors[n % len(creditors)],
                        "amount": "1.00",
                        "currency": "CNY",
                    }
                ).encode()
                started = time.perf_counter()
                headers = sign(body)
                headers["content-type"] = "application/json"
                status, answer = await connection.request("POST", "/v1/payments", headers, body)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    raise HttpError(f"payment answered {status}: {answer[:300]!r}")
                counts[json.loads(answer)["status"]] += 1
                if pause:
                    await asyncio.sleep(pause)
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(connections)))
    elapsed = time.perf_counter() - started
    return {
        "single_payments": len(latencies),
        "single_per_s": len(latencies) / elapsed,
        "single_p50_ms": 1000 * _percentile(latencies, 50),
        "single_p99_ms": 1000 * _percentile(latencies, 99),
        "single_max_ms": 1000 * max(latencies, default=0.0),
        "single_mean_ms": 1000 * statistics.fmean(latencies) if latencies else 0.0,
        "single_settled": counts["ACSC"],
        "single_rejected": counts["RJCT"],
    }


def _bulk_messages(banks: list[str], count: int, size: int, first: int) -> list[tuple[str, bytes]]:
    """`count` pacs.008s of `size` transactions, each from one bank to the others (MsgIds
    and UETRs from `first` on: distinct across phases)."""
    messages = []
    for m in range(first, first + count):
        debtor = banks[m % len(banks)]
        creditors = tuple(b + "XXX" for b in banks if b != debtor)
        messages.append(
            (
                debtor,
                bulk_pacs008(
                    size,
                    debtor=debtor + "XXX",
                    creditors=creditors,
                    first_uetr=(m + 1) << 40,
                    msg_id=f"BULK-{m}",
                    settlement_date=None,
                ),
            )
        )
    return messages


async def _bulk(port: int, keys, banks: list[str], config: ApiBenchmark) -> dict:
    messages = _bulk_messages(banks, config.bulk_messages, config.bulk_size, 0)
    return await _send_messages(port, keys, messages, config.bulk_connections, config.bulk_size)


async def _send_messages(
    port: int, keys, messages: list[tuple[str, bytes]], connections: int, size: int
) -> dict:
    latencies: list[float] = []
    accepted = 0
    work = list(reversed(messages))

    async def client() -> None:
        nonlocal accepted
        connection = Connection("127.0.0.1", port)
        await connection.open()
        try:
            while work:
                debtor, data = work.pop()
                started = time.perf_counter()
                headers = sign_headers(keys[debtor], debtor, "POST", "/v1/messages", data)
                headers["content-type"] = "application/xml"
                status, answer = await connection.request("POST", "/v1/messages", headers, data)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    raise HttpError(f"message answered {status}: {answer[:300]!r}")
                accepted += answer.count(b"<TxSts>ACS")
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    total = len(messages) * size
    return {
        "bulk_payments": total,
        "bulk_accepted": accepted,
        "bulk_per_s": total / elapsed,
        "bulk_message_p50_ms": 1000 * _percentile(latencies, 50),
        "bulk_message_p99_ms": 1000 * _percentile(latencies, 99),
    }


async def _mixed(port: int, keys, banks: list[str], config: ApiBenchmark) -> dict:
    """Single payments while large messages are decided (see the module docstring)."""
    messages = _bulk_messages(banks, config.mixed_messages, config.mixed_size, 1 << 20)
    sending = asyncio.ensure_future(_send_messages(port, keys, messages, 1, config.mixed_size))
    singles = await _single_clients(
        port, keys, banks, MIXED_CONNECTIONS, lambda: not sending.done(), MIXED_PAUSE_S,
        sessions=config.sessions,
    )  # fmt: skip
    bulk = await sending
    return {
        "mixed_single_payments": singles["single_payments"],
        "mixed_single_p50_ms": singles["single_p50_ms"],
        "mixed_single_p99_ms": singles["single_p99_ms"],
        "mixed_single_max_ms": singles["single_max_ms"],
        "mixed_bulk_per_s": bulk["bulk_per_s"],
        "mixed_size": config.mixed_size,
    }


def _submit_commands(db: str, schema: str) -> int:
    """How many durable submit commands the hub logged."""
    if db.startswith(POSTGRES_PREFIXES):
        import psycopg
        from psycopg import sql

        with psycopg.connect(db, autocommit=True) as connection:
            query = sql.SQL("SELECT count(*) FROM {} WHERE body::jsonb->>'op' = 'submit'")
            row = connection.execute(query.format(sql.Identifier(schema, "hub_commands")))
            return int(row.fetchone()[0])  # type: ignore[index]
    with sqlite3.connect(f"file:{db}.commands?mode=ro", uri=True) as connection:
        found = connection.execute(
            "SELECT count(*) FROM hub_commands WHERE json_extract(body, '$.op') = 'submit'"
        ).fetchone()
    return int(found[0])


def run_api_benchmark(
    config: ApiBenchmark, folder: Path | None = None, postgres: str | None = None
) -> dict[str, float]:
    """Run the benchmark against a fresh hub: an SQLite store in a scratch folder, or with
    `postgres` (a DSN) a fresh schema of that database, dropped afterwards; then the bulk
    phase's ceiling (`engine_ceiling`) on another fresh hub of the same kind."""
    measured = _run_service(config, folder, postgres)
    return {**measured, **engine_ceiling(config, folder, postgres)}


def engine_ceiling(
    config: ApiBenchmark, folder: Path | None = None, postgres: str | None = None
) -> dict[str, float]:
    """The bulk phase's messages decided by the service's engine in this process, with no
    HTTP, no signatures and no parsing on the clock (each message is read beforehand):
    `bulk_connections` threads hand them to the engine one after another and wait for the
    answer, once its responses are in the mailboxes. What the hub's thread and the mailbox
    writer allow on their own: the most the service's bulk phase could reach, whatever the
    HTTP side did. Reports the rate and each of the two threads' CPU per payment."""
    import gc
    from concurrent.futures import ThreadPoolExecutor

    from samarkand.hub.messages import read_message
    from samarkand.service.messages import submit_message_steps
    from samarkand.service.server import GC_YOUNG, open_service

    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        schema = f"bench_engine_{uuid.uuid4().hex[:12]}"
        db = postgres or str(Path(scratch) / "hub.db")
        keyring = Path(scratch) / "keys.json"
        threshold = gc.get_threshold()
        gc.set_threshold(GC_YOUNG, *threshold[1:])  # as `serve` runs
        service = None
        try:
            service = open_service(
                db,
                keyring,
                schema=schema,
                freeze_heap=True,
                message_batch=config.message_batch,
                render_process=True,  # as `serve` runs
            )
            engine = service.engine
            banks = sorted(k for k in load_private_keys(keyring) if k.startswith("SM"))
            # Other UETRs and MsgIds than a warm-up's: the first messages of the list.
            messages = _bulk_messages(banks, config.bulk_messages + 2, config.bulk_size, 0)
            read = [(debtor, read_message(data)) for debtor, data in messages]

            def decide(item: tuple[str, Any]) -> int:
                debtor, message = item
                answer = engine.steps(
                    lambda e, now: submit_message_steps(e, message, now, caller=debtor)
                ).result()
                return answer.answer.data.count(b"<TxSts>ACS") if answer.answer else 0

            for item in read[:2]:  # warm-up: what a first message costs once
                decide(item)
            hub_thread, writer_thread = engine.thread_ids
            hub_before, writer_before = map(thread_cpu_seconds, (hub_thread, writer_thread))
            render_pid = engine.renderer.pid
            render_before = cpu_seconds(render_pid) if render_pid else 0.0
            started = time.perf_counter()
            with ThreadPoolExecutor(config.bulk_connections) as pool:
                accepted = sum(pool.map(decide, read[2:]))
            elapsed = time.perf_counter() - started
            total = config.bulk_messages * config.bulk_size
            return {
                "engine_bulk_per_s": total / elapsed,
                "engine_bulk_accepted": accepted,
                "engine_hub_thread_us": 1e6 * (thread_cpu_seconds(hub_thread) - hub_before) / total,
                "engine_writer_thread_us": 1e6
                * (thread_cpu_seconds(writer_thread) - writer_before)
                / total,
                # The camt.054s' own process (`serve`'s): none is 0.
                "engine_render_process_us": 1e6
                * ((cpu_seconds(render_pid) - render_before) if render_pid else 0.0)
                / total,
            }
        finally:
            if service is not None:
                service.close()
            gc.set_threshold(*threshold)
            if postgres:
                from samarkand.store.postgres import PostgresStore

                PostgresStore.drop_schema(postgres, schema)


def _run_service(
    config: ApiBenchmark, folder: Path | None = None, postgres: str | None = None
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        keyring = Path(scratch) / "keys.json"
        schema = f"bench_api_{uuid.uuid4().hex[:12]}"
        db = postgres or str(Path(scratch) / "hub.db")
        options = ("--keyring", str(keyring), "--message-batch", str(config.message_batch))
        options += ("--schema", schema) if postgres else ()
        port = free_port()
        try:
            server = start_server(db, port, *options)
            try:
                return _measure(server, port, keyring, db, schema, config)
            finally:
                stop_server(server)
        finally:
            if postgres:
                from samarkand.store.postgres import PostgresStore

                PostgresStore.drop_schema(postgres, schema)


def _measure(
    server: subprocess.Popen, port: int, keyring: Path, db: str, schema: str, config: ApiBenchmark
) -> dict[str, float]:
    keys = load_private_keys(keyring)
    banks = sorted(k for k in keys if k.startswith("SM"))
    # uvloop: the client's own share of the shared cores stays small.
    server_before, client_before = tree_cpu_seconds(server.pid), time.process_time()
    singles = uvloop.run(_singles(port, keys, banks, config))
    server_cpu = tree_cpu_seconds(server.pid) - server_before
    client_cpu = time.process_time() - client_before
    server_before = tree_cpu_seconds(server.pid)
    bulk = uvloop.run(_bulk(port, keys, banks, config))
    bulk_server_cpu = tree_cpu_seconds(server.pid) - server_before
    commands = _submit_commands(db, schema)  # of the two phases above
    mixed = uvloop.run(_mixed(port, keys, banks, config)) if config.mixed_messages else {}
    return {
        **singles,
        **bulk,
        **mixed,
        "connections": config.connections,
        "single_in_sessions": config.sessions,
        "bulk_connections": config.bulk_connections,
        "bulk_size": config.bulk_size,
        "submit_commands": commands,
        "payments_per_submit_command": singles["single_payments"]
        / max(1, commands - config.bulk_messages * -(-config.bulk_size // config.message_batch)),
        "cores": os.cpu_count() or 0,
        # CPU per payment, whatever else runs on the machine: where the time goes.
        "single_server_cpu_us": 1e6 * server_cpu / max(1, singles["single_payments"]),
        "single_client_cpu_us": 1e6 * client_cpu / max(1, singles["single_payments"]),
        "bulk_server_cpu_us": 1e6 * bulk_server_cpu / max(1, bulk["bulk_payments"]),
    }
