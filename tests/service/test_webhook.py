"""Webhook push: loopback only, retried until the receiver takes it, acknowledged by a 2xx."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from samarkand.service.webhook import WebhookRefused, check_url
from tests.service.conftest import CREDITOR, DEBTOR


class Receiver:
    """A loopback HTTP server that fails its first `failures` deliveries."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[dict] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.attempts += 1
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
