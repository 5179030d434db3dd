"""Webhook push: loopback only, retried until the receiver takes it, acknowledged by a 2xx,
signed with the hub's own key, which the hub publishes."""

from __future__ import annotations

import json
import os
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


def test_a_store_failure_during_a_push_is_retried_not_the_end_of_pushes(api, service):
    """The mailbox read of a push fails (the store failed: its round's answers were not
    written): the push is tried again later, and the participant's pushes go on."""
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
            broken.set_exception(AnswerNotWritten("the round's answers were not written"))
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
