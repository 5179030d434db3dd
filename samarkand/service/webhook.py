"""Webhook push: a participant's new mailbox messages POSTed to a loopback URL it registered.

Push is on top of the mailbox, never instead of it: messages stay in the mailbox until
acknowledged. A receiver that answers 2xx acknowledges what it was sent (the mailbox then
never delivers those again); any other answer, or none within the timeout, leaves them in
the mailbox and the push is retried with a doubling delay (1 s up to 60 s), at most
`ATTEMPTS_MAX` times per wake-up; the next message for that participant wakes it again.
Only loopback URLs are accepted: the hub makes no call to a network.

One thread pushes, so the event loop and the hub's thread never wait on a receiver. It
reads and acknowledges through the hub's thread (`Engine.call`), like any request.
"""

from __future__ import annotations

import ipaddress
import json
import queue
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from samarkand.service.engine import Engine, EngineStopped

TIMEOUT_S = 5.0
RETRY_S_FIRST = 1.0
RETRY_S_MAX = 60.0
ATTEMPTS_MAX = 8
BATCH_MAX = 100


class WebhookRefused(ValueError):
    """A webhook URL the hub will not call."""


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise WebhookRefused("the webhook URL must be http:// or https://")
    host = parts.hostname or ""
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise WebhookRefused("the webhook URL must be on loopback (127.0.0.1, ::1)")
    if parts.username or parts.password:
        raise WebhookRefused("the webhook URL must not carry credentials")
    return url


class Pusher:
    """Pushes to registered webhooks; `wake(participants)` after messages are published."""

    def __init__(self, engine: Engine, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.engine = engine
        self.urls: dict[str, str] = {}
        self._sleep = sleep
        self._wakes: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._main, name="samarkand-webhook", daemon=True)
        self.delivered = 0
        self.failures = 0
        self.retry_s_first = RETRY_S_FIRST
        self.retry_s_max = RETRY_S_MAX

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._wakes.put(None)
            self._thread.join(timeout=TIMEOUT_S * 2)

    def register(self, participant: str, url: str | None) -> None:
        if url is None:
            self.urls.pop(participant, None)
            return
        self.urls[participant] = check_url(url)
        self._wakes.put(participant)

    def wake(self, participants: set[str]) -> None:
        for participant in participants:
            if participant in self.urls:
                self._wakes.put(participant)

    def _main(self) -> None:
        with httpx.Client(timeout=TIMEOUT_S) as client:
            while True:
                participant = self._wakes.get()
                if participant is None:
                    return
                try:
                    self._push(client, participant)
                except EngineStopped:
                    return

    def _push(self, client: httpx.Client, participant: str) -> None:
        delay = self.retry_s_first
        for _ in range(ATTEMPTS_MAX):
            url = self.urls.get(participant)
            if url is None:
                return
            messages, _, _ = self.engine.call(
                lambda e, _now: e.mailbox.read(participant, 0, BATCH_MAX)
            ).result()
            if not messages:
                return
            body = json.dumps(
                {
                    "participant": participant,
                    "messages": [
                        {"sequence": m.sequence, "kind": m.kind, "body": m.body.decode()}
                        for m in messages
                    ],
                }
            ).encode()
            try:
                answer = client.post(
                    url, content=body, headers={"content-type": "application/json"}
                )
                ok = 200 <= answer.status_code < 300
            except httpx.HTTPError:
                ok = False
            if ok:
                upto = messages[-1].sequence
                self.engine.call(
                    lambda e, _now, upto=upto: e.mailbox.ack(participant, upto)
                ).result()
                self.delivered += len(messages)
                delay = self.retry_s_first
                continue  # more may be waiting
            self.failures += 1
            self._sleep(delay)
            delay = min(delay * 2, self.retry_s_max)
