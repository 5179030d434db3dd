"""`samarkand serve` killed (SIGKILL) in the middle of traffic, then started again on its store:
nothing it acknowledged is lost, nothing is done twice.

While clients send single payments (JSON) and bulk pacs.008 messages, and one participant
acknowledges its mailbox, the process is killed without warning. After a restart:

- every payment answered 200 is known to the hub, settled if it was answered ACSC;
- every message answered 200 is answered again, byte for byte, when sent again;
- every acknowledged payment has its status notice in its debtor's mailbox, and every
  answered message its pacs.002 in its sender's mailbox;
- every transaction settled by a message (answered before the kill, or in flight then and
  sent again after it) is in a camt.054 in its creditor's mailbox;
- what was acknowledged in a mailbox is never delivered again;
- a payment sent again (answered or not before the kill) never settles twice: it is settled
  once or refused as a duplicate (DUPL);
- the ledger's invariants hold (`samarkand verify`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from lxml import etree

from samarkand.bench.api import free_port, start_server, stop_server
from samarkand.bench.iso import bulk_pacs008
from samarkand.service.auth import load_private_keys, sign_headers

BANKS = ["SMAACN22", "SMAARU22", "SMAAIN22", "SMAAKZ22"]
BULK_SIZE = 200
KILL_AFTER = 150  # single payments acknowledged before the kill


class Client:
    def __init__(self, port: int, keys: dict) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        self.keys = keys

    def send(self, who: str, method: str, path: str, body: bytes = b"", kind: str = "json"):
        headers = sign_headers(self.keys[who], who, method, path, body)
        if body:
            headers["content-type"] = "application/json" if kind == "json" else "application/xml"
        return self.http.request(method, path, content=body, headers=headers)

    def mailbox(self, who: str) -> list[dict]:
        found, after = [], 0
        while True:
            page = self.send(who, "GET", f"/v1/mailbox?after={after}&limit=1000").json()
            found += page["messages"]
            if not page["messages"]:
                return found
            after = page["messages"][-1]["sequence"]


def _texts(xml: str | bytes, name: str) -> list[str]:
    """The texts of the elements named `name` (any namespace), in document order."""
    root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)
    return [e.text or "" for e in root.iter() if etree.QName(e).localname == name]


def payment_body(uetr: str, debtor: str, creditor: str) -> bytes:
    return json.dumps(
        {"uetr": uetr, "debtor_agent": debtor, "creditor_agent": creditor,
         "amount": "3.00", "currency": "CNY"}
    ).encode()  # fmt: skip


PG_DSN = os.environ.get("SAMARKAND_TEST_PG_DSN", "")


@pytest.fixture(
    params=["sqlite", "sqlite-turns", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store(request, tmp_path: Path):
    """(--db, the other options of the store, the keyring, options of `serve` alone) of a
    fresh hub; "sqlite-turns": its messages decided in batches of 64 transactions, a round
    each, so that the kill may fall between two batches of a message."""
    keyring = tmp_path / "keys.json"
    if request.param.startswith("sqlite"):
        turns = ("--message-batch", "64") if request.param == "sqlite-turns" else ()
        yield str(tmp_path / "hub.db"), ("--keyring", str(keyring)), keyring, turns
        return
    if not PG_DSN:
        pytest.skip("set SAMARKAND_TEST_PG_DSN=postgresql://postgres@127.0.0.1:5432/test to run")
    schema = f"kill_{uuid.uuid4().hex[:12]}"
    yield PG_DSN, ("--schema", schema, "--keyring", str(keyring)), keyring, ()
    from samarkand.store import PostgresStore

    PostgresStore.drop_schema(PG_DSN, schema)


@pytest.mark.slow
def test_a_killed_service_loses_nothing_it_acknowledged(store) -> None:
    db, options, keyring, serving = store
    port = free_port()
    server = start_server(db, port, *options, *serving)
    keys = load_private_keys(keyring)
    acknowledged: dict[str, tuple[str, str]] = {}  # uetr -> (debtor, status)
    sent: dict[str, bytes] = {}  # every single payment's body, answered or not
    messages: dict[str, tuple[str, bytes, bytes]] = {}  # msg id -> (sender, body, answer)
    in_flight: dict[str, tuple[str, bytes]] = {}  # messages sent and never answered
    lock = threading.Lock()
    stop = threading.Event()

    def singles(index: int) -> None:
        debtor, creditor = BANKS[index % 4], BANKS[(index + 1) % 4]
        client = Client(port, keys)
        while not stop.is_set():
            uetr = str(uuid.uuid4())
            body = payment_body(uetr, debtor, creditor)
            with lock:
                sent[uetr] = body
            try:
                answer = client.send(debtor, "POST", "/v1/payments", body)
            except httpx.HTTPError:
                return  # the server went away: this one was never acknowledged
            assert answer.status_code == 200, answer.text
            with lock:
                acknowledged[uetr] = (debtor, answer.json()["status"])

    def bulk() -> None:
        client = Client(port, keys)
        number = 0
        while not stop.is_set():
            number += 1
            sender = BANKS[number % 4]
            data = bulk_pacs008(
                BULK_SIZE, debtor=sender + "XXX",
                creditors=tuple(b + "XXX" for b in BANKS if b != sender),
                first_uetr=number << 40, msg_id=f"KILL-{number}", settlement_date=None,
            )  # fmt: skip
            with lock:
                in_flight[f"KILL-{number}"] = (sender, data)
            try:
                answer = client.send(sender, "POST", "/v1/messages", data, kind="xml")
            except httpx.HTTPError:
                return
            assert answer.status_code == 200, answer.text
            with lock:
                messages[f"KILL-{number}"] = (sender, data, answer.content)
                del in_flight[f"KILL-{number}"]

    # SMAAKZ22 reads and acknowledges its mailbox as it goes.
    acked_upto = 0

    def reader() -> None:
        nonlocal acked_upto
        client = Client(port, keys)
        while not stop.is_set():
            try:
                page = client.send("SMAAKZ22", "GET", "/v1/mailbox?limit=50").json()
                if page["messages"]:
                    upto = page["messages"][-1]["sequence"]
                    body = json.dumps({"upto": upto}).encode()
                    if client.send("SMAAKZ22", "POST", "/v1/mailbox/ack", body).status_code == 200:
                        acked_upto = upto
            except httpx.HTTPError:
                return

    threads = [threading.Thread(target=singles, args=(i,)) for i in range(8)]
    threads += [threading.Thread(target=bulk), threading.Thread(target=reader)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        while (len(acknowledged) < KILL_AFTER or len(messages) < 2) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(server.pid, signal.SIGKILL)  # no warning, in the middle of it all
        server.wait()
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        stop.set()
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert len(acknowledged) >= KILL_AFTER and len(messages) >= 2 and acked_upto > 0
    assert len(sent) > len(acknowledged)  # killed with payments in flight

    server = start_server(db, port, *options, *serving)
    try:
        client = Client(port, keys)
        for uetr, (debtor, status) in acknowledged.items():
            tracked = client.send(debtor, "GET", f"/v1/payments/{uetr}")
            assert tracked.status_code == 200, (uetr, tracked.text)
            if status == "ACSC":
                assert tracked.json()["status"] == "settled"
        for msg_id, (sender, data, answer) in messages.items():
            again = client.send(sender, "POST", "/v1/messages", data, kind="xml")
            assert again.status_code == 200 and again.content == answer, msg_id
        for msg_id, (sender, data) in in_flight.items():  # its sender never had an answer
            again = client.send(sender, "POST", "/v1/messages", data, kind="xml")
            assert again.status_code == 200, (msg_id, again.text)
            messages[msg_id] = (sender, data, again.content)
        notices: dict[str, set[str]] = {}
        reports: dict[str, set[str]] = {}
        credited: dict[str, set[str]] = {}  # UETRs in each bank's camt.054s
        for bank in BANKS:
            read = client.mailbox(bank)
            if bank == "SMAAKZ22":
                assert all(m["sequence"] > acked_upto for m in read)  # never again
            for item in read:
                if item["kind"] == "status":
                    notices.setdefault(bank, set()).update(
                        n["uetr"] for n in json.loads(item["body"])["notices"]
                    )
                elif item["kind"] == "pacs.002":
                    reports.setdefault(bank, set()).add(item["body"])
                elif item["kind"] == "camt.054":
                    credited.setdefault(bank, set()).update(_texts(item["body"], "UETR"))
        for uetr, (debtor, _) in acknowledged.items():
            if debtor != "SMAAKZ22":  # its acknowledged notices are gone, as they should be
                assert uetr in notices.get(debtor, set()), uetr
        for msg_id, (sender, data, answer) in messages.items():
            creditors = dict(zip(_texts(data, "UETR"), _texts(data, "BICFI")[1::2], strict=True))
            settled = [u for u, s in zip(_texts(answer, "OrgnlUETR"), _texts(answer, "TxSts"),
                                         strict=True) if s == "ACSC"]  # fmt: skip
            assert settled, msg_id
            for uetr in settled:
                creditor = creditors[uetr][:8]
                if creditor != "SMAAKZ22":  # it acknowledges (and so deletes) as it goes
                    assert uetr in credited.get(creditor, set()), (msg_id, uetr)
            if sender != "SMAAKZ22":
                assert answer.decode() in reports.get(sender, set()), msg_id
        # Everything sent again: settled once, or refused as a duplicate; never twice.
        for uetr, body in list(sent.items())[:400]:
            debtor = json.loads(body)["debtor_agent"]
            again = client.send(debtor, "POST", "/v1/payments", body)
            assert again.status_code == 200, again.text
            outcome = again.json()
            if uetr in acknowledged:
                assert outcome["status"] == "RJCT" and outcome["reason"]["code"] == "DUPL"
            else:
                assert outcome["status"] == "ACSC" or outcome["reason"]["code"] == "DUPL"
    finally:
        stop_server(server)
    verified = subprocess.run(
        [sys.executable, "-m", "samarkand", "verify", "--db", db, *options[:-2]],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "all invariants hold" in verified.stdout
