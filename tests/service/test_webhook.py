"""Webhook push: loopback only, retried until the receiver takes it, acknowledged by a 2xx,
signed with the hub's own key, which the hub publishes."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import threading
import time
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from samarkand.service.auth import AuthError, load_private_keys, sign_headers
from samarkand.service.webhook import (
    HUB_KEY_ID,
    TIMEOUT_S,
    WebhookRefused,
    check_url,
    push_verifier,
    verify_push,
)
from tests.service.conftest import CREDITOR, DEBTOR


class Receiver:
    """A loopback HTTP server that fails its first `failures` deliveries; given the hub's
    public key, it takes only pushes whose signature verifies (401 otherwise). `hold_s`: it
    answers each push that late (a slow or hung receiver)."""

    def __init__(self, failures: int, hub_key: str | None = None, hold_s: float = 0.0) -> None:
        self.failures = failures
        self.received: list[dict] = []
        self.raw: list[tuple[str, dict[str, str], bytes]] = []  # (target, headers, body)
        self.refused: list[str] = []  # the header at fault, per refused POST
        self.attempts = 0
        verifier = None if hub_key is None else push_verifier(hub_key)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.attempts += 1
                time.sleep(hold_s)
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.raw.append((self.path, headers, body))
                if verifier is not None:
                    try:
                        verify_push(verifier, self.path, self.headers, body)
                    except AuthError as error:
                        receiver.refused.append(error.field)
                        self.send_response(401)
                        self.end_headers()
                        return
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(503)
                else:
                    receiver.received.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Dripper:
    """A loopback receiver that reads each push whole, then answers it slowly: `at_once` (bytes
    of its answer sent straight away), then `drip`, one byte every `pace` seconds. For each
    push it notes when it was read and when the hub closed the connection (None while open,
    or if the drip ran out first)."""

    def __init__(self, at_once: bytes, drip: bytes, pace: float = 1.0) -> None:
        self.at_once = at_once
        self.drip = drip
        self.pace = pace
        self.exchanges: list[list[float | None]] = []  # [read at, closed by the hub at]
        self.bodies: list[dict] = []
        self._connections: list[socket.socket] = []
        self._closing = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/hook"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with self._listener:
            while True:
                try:
                    connection, _ = self._listener.accept()
                except OSError:
                    return  # shut down
                self._connections.append(connection)
                threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(10)
            try:
                body = self._read(connection)
            except OSError:
                return
            if body is None:
                return  # closed before the push was whole
            exchange: list[float | None] = [time.monotonic(), None]
            self.exchanges.append(exchange)
            self.bodies.append(json.loads(body))
            try:
                connection.sendall(self.at_once)
                for byte in self.drip:
                    connection.sendall(bytes([byte]))
                    connection.settimeout(self.pace)
                    try:
                        if connection.recv(1) == b"":
                            break  # the hub closed the connection
                    except TimeoutError:
                        continue  # still open: the next byte
                else:
                    return
            except OSError:
                pass  # the hub closed the connection (reset)
            if not self._closing:
                exchange[1] = time.monotonic()

    @staticmethod
    def _read(connection: socket.socket) -> bytes | None:
        """The body of the push on `connection`, or None if it closes first."""
        data = b""
        while b"\r\n\r\n" not in data:
            part = connection.recv(65536)
            if not part:
                return None
            data += part
        head, _, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        assert length is not None
        while len(body) < int(length[1]):
            part = connection.recv(65536)
            if not part:
                return None
            body += part
        return body

    def close(self) -> None:
        """Stop, and end the answers still dripping (a push in progress then fails at once)."""
        self._closing = True
        for connection in [self._listener, *self._connections]:  # wakes up their threads
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # closed already


# Four banks with a webhook each, and the payer of the notice that fills each's mailbox.
DRIPPING_BANKS = [
    ("SMABCN22", "SMAACN22", "CNY"),
    ("SMABRU22", "SMAARU22", "RUB"),
    ("SMABIN22", "SMAAIN22", "INR"),
    ("SMABPK22", "SMAAPK22", "PKR"),
]
PROMPT_BANK, PROMPT_BANKS_PAYEE = "SMABKZ22", "SMAAKZ22"


def _notice_for(api, bank: str, payer: str, currency: str) -> None:
    """A settled payment from `payer` to `bank`: a notice in `bank`'s mailbox."""
    _, answer = api.pay(key=payer, debtor_agent=payer, creditor_agent=bank, currency=currency)
    assert answer.json()["status"] == "ACSC"


def _register(api, bank: str, url: str | None) -> None:
    assert api.request("PUT", "/v1/mailbox/webhook", bank, {"url": url}).status_code == 200


def _acked(api, bank: str) -> int:
    return api.request("GET", "/v1/mailbox", bank).json()["acked"]


def _wait(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_only_loopback_urls_are_accepted():
    assert check_url("http://127.0.0.1:9000/x") == "http://127.0.0.1:9000/x"
    assert check_url("http://[::1]:9000/x")
    for url in ("http://10.1.2.3/x", "http://example.com/x", "ftp://127.0.0.1/x",
                "http://user:secret@127.0.0.1/x"):  # fmt: skip
        with pytest.raises(WebhookRefused):
            check_url(url)


def test_webhook_route_refuses_a_network_url(api):
    response = api.request("PUT", "/v1/mailbox/webhook", CREDITOR, {"url": "http://10.0.0.1/"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "url"


def test_push_is_retried_until_taken_and_then_acknowledged(api, service):
    service.pusher.retry_s_first = 0.01
    receiver = Receiver(failures=2)
    try:
        registered = api.request("PUT", "/v1/mailbox/webhook", CREDITOR, {"url": receiver.url})
        assert registered.status_code == 200
        payment, answer = api.pay()
        assert answer.json()["status"] == "ACSC"
        assert _wait(lambda: receiver.received)
        assert receiver.attempts == 3  # two refusals, then taken
        pushed = receiver.received[0]
        assert pushed["participant"] == CREDITOR
        notice = json.loads(pushed["messages"][0]["body"])["notices"][0]
        assert notice["uetr"] == payment["uetr"]
        # Taken with a 2xx: acknowledged, never delivered again by pull or push.
        assert _wait(lambda: api.request("GET", "/v1/mailbox", CREDITOR).json()["acked"] == 1)
        assert api.request("GET", "/v1/mailbox", CREDITOR).json()["messages"] == []
        # The debtor registered nothing: its message waits in its mailbox.
        assert len(api.request("GET", "/v1/mailbox", DEBTOR).json()["messages"]) == 1
    finally:
        receiver.close()


@pytest.mark.parametrize("fault", ["store", "code"])
def test_a_store_failure_during_a_push_is_retried_not_the_end_of_pushes(api, service, fault):
    """The mailbox read of a push fails (the store failed: its round's answers were not
    written; or a fault of the code, which left the participant busy for good, never pushed
    again): the push is tried again later, and the participant's pushes go on."""
    from samarkand.service.engine import AnswerNotWritten

    service.pusher.retry_s_first = 0.01
    receiver = Receiver(failures=0)
    engine = service.engine
    real = engine.call
    failed = []

    def failing_once(function):
        if not failed and threading.current_thread().name.startswith("samarkand-push"):
            failed.append(True)
            broken: Future = Future()
            broken.set_exception(
                AnswerNotWritten("the round's answers were not written")
                if fault == "store"
                else RuntimeError("a fault of the code")
            )
            return broken
        return real(function)

    try:
        registered = api.request("PUT", "/v1/mailbox/webhook", CREDITOR, {"url": receiver.url})
        assert registered.status_code == 200
        engine.call = failing_once
        payment, answer = api.pay()
        assert answer.json()["status"] == "ACSC"
        assert _wait(lambda: receiver.received)
        assert failed
        notice = json.loads(receiver.received[0]["messages"][0]["body"])["notices"][0]
        assert notice["uetr"] == payment["uetr"]
        second, _ = api.pay()  # the participant's pushes go on
        assert _wait(lambda: len(receiver.received) == 2)
        notice = json.loads(receiver.received[1]["messages"][0]["body"])["notices"][0]
        assert notice["uetr"] == second["uetr"]
    finally:
        engine.call = real
        receiver.close()


def test_a_hung_receiver_holds_up_its_own_pushes_only(api, service):
    hung = Receiver(failures=0, hold_s=3.0)
    prompt = Receiver(failures=0)
    try:
        assert (
            api.request("PUT", "/v1/mailbox/webhook", DEBTOR, {"url": hung.url}).status_code == 200
        )
        api.pay()  # a notice for the debtor: its push hangs
        assert _wait(lambda: hung.attempts == 1)
        assert (
            api.request("PUT", "/v1/mailbox/webhook", CREDITOR, {"url": prompt.url}).status_code
            == 200
        )
        started = time.monotonic()
        api.pay()
        assert _wait(lambda: prompt.received, seconds=2.5)
        assert time.monotonic() - started < 2.5  # not behind the debtor's 3 s
        assert not hung.received  # still hanging
        assert _wait(lambda: hung.received)  # taken in the end, its two notices too
    finally:
        hung.close()
        prompt.close()


def test_registration_survives_a_restart(tmp_path):
    from samarkand.service.server import open_service

    db = str(tmp_path / "hub.db")
    service = open_service(db)
    service.engine.call(
        lambda e, _now: e.mailbox.set_webhook(CREDITOR, "http://127.0.0.1:1/")
    ).result()
    service.close()
    reopened = open_service(db)
    try:
        assert reopened.pusher.urls == {CREDITOR: "http://127.0.0.1:1/"}
    finally:
        reopened.close()


def test_a_push_is_signed_with_the_key_the_hub_publishes(api, service):
    published = api.request("GET", "/v1/hub/key", CREDITOR)
    assert published.status_code == 200
    key = published.json()
    assert (key["key_id"], key["algorithm"]) == (HUB_KEY_ID, "Ed25519")
    assert api.client.get("/v1/hub/key").status_code == 401  # signed like any /v1/ route
    receiver = Receiver(failures=0, hub_key=key["public_key"])
    # Checks apart from the receiver's, made before the push (a verifier refuses what was
    # signed before it existed, as the hub does: its nonces are in memory).
    check, *fresh = [push_verifier(key["public_key"]) for _ in range(4)]
    try:
        hook = receiver.url + "?box=1"  # the query is signed too
        assert api.request("PUT", "/v1/mailbox/webhook", CREDITOR, {"url": hook}).status_code == 200
        payment, _ = api.pay()
        assert _wait(lambda: receiver.received)
        assert receiver.refused == []
        target, headers, body = receiver.raw[0]
        assert target == "/hook?box=1" and headers["x-samarkand-key"] == HUB_KEY_ID
        notice = json.loads(json.loads(body)["messages"][0]["body"])["notices"][0]
        assert notice["uetr"] == payment["uetr"]
        # The same push passes once; the body, the path and the signature are checked.
        verify_push(check, target, headers, body)
        with pytest.raises(AuthError) as replayed:
            verify_push(check, target, headers, body)
        assert replayed.value.field == "x-samarkand-nonce"  # a replay
        tampered = body.replace(payment["uetr"].encode(), b"0" * 8 + payment["uetr"][8:].encode())
        assert tampered != body
        cases = [
            (target, headers, tampered),
            ("/other?box=1", headers, body),
            (target, {**headers, "x-samarkand-signature": "AAAA"}, body),
        ]
        for verifier, (case_target, case_headers, case_body) in zip(fresh, cases, strict=True):
            with pytest.raises(AuthError) as refused:
                verify_push(verifier, case_target, case_headers, case_body)
            assert refused.value.field == "x-samarkand-signature"
    finally:
        receiver.close()


def test_a_post_not_from_the_hub_is_refused_by_the_receiver(api, service):
    key = api.request("GET", "/v1/hub/key", CREDITOR).json()["public_key"]
    receiver = Receiver(failures=0, hub_key=key)
    try:
        body = json.dumps({"participant": CREDITOR, "messages": []}).encode()
        participant = load_private_keys(service.keyring)[DEBTOR]
        forged = sign_headers(participant, HUB_KEY_ID, "POST", "/hook", body)  # another key
        unsigned: dict[str, str] = {}
        for headers in (forged, unsigned):
            answer = httpx.post(receiver.url, content=body, headers=headers)
            assert answer.status_code == 401
        assert receiver.refused == ["x-samarkand-signature", "x-samarkand-key"]
        assert receiver.received == []
    finally:
        receiver.close()


def test_the_hubs_key_is_its_own_and_lasts_across_a_restart(tmp_path):
    from samarkand.service.server import open_service

    db = str(tmp_path / "hub.db")
    service = open_service(db)
    public = service.pusher.public_key
    hub_key = service.hub_key
    service.close()
    assert hub_key == tmp_path / "hub.db.hub-key.json"
    assert stat.S_IMODE(os.stat(hub_key).st_mode) == 0o600
    # Not in the keyring clients are given: they cannot sign as the hub.
    assert HUB_KEY_ID not in load_private_keys(tmp_path / "hub.db.keys.json")
    reopened = open_service(db)
    try:
        assert reopened.pusher.public_key == public
        assert HUB_KEY_ID not in reopened.verifier.keys  # never a caller
    finally:
        reopened.close()


def test_a_2xx_is_taken_on_its_head_and_a_dripping_body_holds_nothing_up(api, service):
    """Four receivers answer 200 and then drip its body, a byte a second for 20 s: each push
    is acknowledged on the status line and its connection closed at once; a fifth
    participant's prompt receiver, registered with them, gets its push at once."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n"
    drippers = [Dripper(head, b"x" * 20) for _ in DRIPPING_BANKS]
    prompt = Receiver(failures=0)
    try:
        for (bank, payer, currency), dripper in zip(DRIPPING_BANKS, drippers, strict=True):
            _notice_for(api, bank, payer, currency)
            _register(api, bank, dripper.url)
        _register(api, PROMPT_BANK, prompt.url)
        started = time.monotonic()
        _notice_for(api, PROMPT_BANKS_PAYEE, PROMPT_BANK, "KZT")  # a notice for the payer too
        assert _wait(lambda: prompt.received, seconds=5)
        assert time.monotonic() - started < 2.0
        for (bank, _, _), dripper in zip(DRIPPING_BANKS, drippers, strict=True):
            assert _wait(lambda bank=bank: _acked(api, bank) == 1, seconds=3)
            assert _wait(lambda dripper=dripper: dripper.exchanges[0][1] is not None, seconds=3)
            read, closed = dripper.exchanges[0]
            assert closed - read < 1.0  # not the 20 s of the body
            assert len(dripper.exchanges) == 1  # taken: not pushed again
        assert service.pusher.failures == 0
    finally:
        for dripper in drippers:
            dripper.close()
        prompt.close()


def test_a_receiver_dripping_its_head_fails_by_the_deadline_and_is_retried(api, service):
    """A receiver sends its status line and headers a byte a second: the push fails when its
    deadline passes, though each byte came well within the timeout, and is retried."""
    service.pusher.retry_s_first = 0.5
    dripper = Dripper(b"", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    try:
        _register(api, CREDITOR, dripper.url)
        api.pay()
        assert _wait(lambda: len(dripper.exchanges) == 2, seconds=TIMEOUT_S + 3)
        (read, closed), (again, _) = dripper.exchanges
        assert closed is not None
        assert TIMEOUT_S - 1.0 < closed - read < TIMEOUT_S + 0.5  # the deadline, not 38 s
        assert 0.4 < again - closed < 1.5  # retried after its delay
        assert service.pusher.failures >= 1
        mailbox = api.request("GET", "/v1/mailbox", CREDITOR).json()
        assert mailbox["acked"] == 0 and len(mailbox["messages"]) == 1  # not acknowledged
    finally:
        dripper.close()


def test_receivers_whose_pushes_fail_hold_up_no_other_participants_pushes(api, service):
    """Four receivers drip their heads, so each of their pushes fails at its deadline and is
    tried again and again; while those tries are on, a fifth participant's prompt receiver
    gets its push at once."""
    service.pusher.retry_s_first = 0.2
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    drippers = [Dripper(b"", head) for _ in DRIPPING_BANKS]
    prompt = Receiver(failures=0)
    try:
        for (bank, payer, currency), dripper in zip(DRIPPING_BANKS, drippers, strict=True):
            _notice_for(api, bank, payer, currency)
            _register(api, bank, dripper.url)
        # Each has failed once, and its next try is on.
        assert _wait(lambda: all(len(d.exchanges) >= 2 for d in drippers), seconds=TIMEOUT_S + 3)
        _register(api, PROMPT_BANK, prompt.url)
        started = time.monotonic()
        _notice_for(api, PROMPT_BANKS_PAYEE, PROMPT_BANK, "KZT")
        assert _wait(lambda: prompt.received, seconds=TIMEOUT_S)
        assert time.monotonic() - started < 1.5
        assert all(d.exchanges[-1][1] is None for d in drippers)  # their tries still on
        assert all(_acked(api, bank) == 0 for bank, _, _ in DRIPPING_BANKS)
    finally:
        for dripper in drippers:
            dripper.close()
        prompt.close()
