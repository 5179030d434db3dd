"""Webhook push: a participant's new mailbox messages POSTed to a loopback URL it registered.

Push is on top of the mailbox, never instead of it: messages stay in the mailbox until
acknowledged. The status of the receiver's answer decides, as soon as the answer's head (its
status line and headers) is read: a 2xx acknowledges what it was sent (the mailbox then never
delivers those again); the answer's body is never read, and the connection is closed after
the head. Any other status, or no head within `TIMEOUT_S` of starting to connect, leaves the
messages in the mailbox and the push is retried with a doubling delay (1 s up to 60 s), at
most `ATTEMPTS_MAX` times per wake-up; the next message for that participant wakes it again.
Only loopback URLs are accepted: the hub makes no call to a network.

Pushes run on threads of their own, so the event loop and the hub's thread never wait on a
receiver, and one participant's at a time. `TIMEOUT_S` bounds a push's whole exchange, not
each read or write alone (`_Deadline`), so no receiver holds a thread longer, whatever the
pace at which it sends or takes bytes. A participant whose last push failed is pushed to on
threads of their own (`FAILING_THREADS`), apart from the others (`PUSH_THREADS`), so a
receiver that is slow, down or refusing holds up its own pushes only; the one exception is
its first failing push, which runs with the others' and holds its thread `TIMEOUT_S` at
most. A push waiting for its retry holds no thread (a scheduler thread starts it when it is
due). Pushes read and acknowledge through the hub's
thread (`Engine.call`), like any request.

Every push is signed by the hub as a participant signs a request (`auth.sign_headers`: the
four X-Samarkand- headers over method, path and query, timestamp, nonce and the body's
hash), with the hub's own key (key id `HUB_KEY_ID`), signed anew for each attempt. The hub
publishes the public key at `GET /v1/hub/key`; a receiver makes one `push_verifier(key)`
and checks each push with `verify_push(verifier, path, headers, body)`, and so tells the
hub's push from any other POST to its loopback port (and a replayed one).
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import json
import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from samarkand.hub.messages import HUB_BIC
from samarkand.service.auth import (
    WINDOW_MS,
    KeyEntry,
    Role,
    Verifier,
    public_key_of,
    public_key_text,
    sign_headers,
)
from samarkand.service.engine import Engine, EngineBusy, EngineStopped
from samarkand.store import StoreError

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0  # a push's whole exchange, from connecting to the answer's head
PUSH_THREADS = 4  # participants pushed to at once
FAILING_THREADS = 4  # and, apart from them, participants whose last push failed
WRITE_PIECE = 64 * 1024  # a request is written in pieces of at most this many bytes
RETRY_S_FIRST = 1.0
RETRY_S_MAX = 60.0
ATTEMPTS_MAX = 8
BATCH_MAX = 100
HUB_KEY_ID = HUB_BIC  # the X-Samarkand-Key of a push


class WebhookRefused(ValueError):
    """A webhook URL the hub will not call."""


def check_url(url: str) -> str:
    """`url` if the pusher can call it: http(s) on loopback, no credentials, and one that
    httpx takes as it is (no control characters or spaces, a port in range), since a URL
    refused only when pushed to would never be pushed to."""
    if not url.isprintable() or any(c.isspace() for c in url):
        raise WebhookRefused("the webhook URL must not hold spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise WebhookRefused("the webhook URL must be http:// or https://")
    try:
        port = parts.port
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as error:
        raise WebhookRefused(f"the webhook URL is not one the hub can call: {error}") from None
    if port == 0:
        raise WebhookRefused("the webhook URL's port must be 1 to 65535")
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


def push_verifier(
    public_key: str, *, window_ms: int = WINDOW_MS, clock: Callable[[], float] = time.time
) -> Verifier:
    """A receiver's check of the hub's pushes, from the hub's public key (base64, as
    `GET /v1/hub/key` gives it). Keep one for as long as the receiver runs: it remembers the
    nonces it saw, so a push replayed within the window is refused."""
    return Verifier(
        [KeyEntry(HUB_KEY_ID, Role.HUB, public_key_of(public_key))],
        window_ms=window_ms,
        clock=clock,
    )


def verify_push(verifier: Verifier, target: str, headers: Mapping[str, str], body: bytes) -> None:
    """Return if `body`, POSTed to `target` (the path and query the receiver was called
    on) with `headers`, is a push the hub signed; otherwise raise `auth.AuthError`, whose
    `field` names the header at fault (another key, a changed body or path, a stale
    timestamp, a nonce seen before)."""
    verifier.verify("POST", target, {name.lower(): value for name, value in headers.items()}, body)


# What a push's exchange raises when it fails: the receiver is down, hangs, is too slow,
# or answers what is not HTTP.
_EXCHANGE_FAILED = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)


class _Deadline(httpcore.NetworkBackend):
    """httpcore's own sockets (`httpcore.SyncBackend`), with every wait on them cut to what is
    left until `deadline` (a `time.monotonic()` time), so that an exchange ends by then
    whatever the pace at which the other end sends or takes bytes. httpx's and httpcore's
    timeouts bound each read, write or connect alone: a receiver sending a byte now and then
    never trips them."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._sockets = httpcore.SyncBackend()

    def left(self, timeout: float | None, expired: type[Exception]) -> float:
        """How long the next wait may last: `timeout` (None: unbounded) cut to the time left;
        `expired` is raised if none is left."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise expired("the push's deadline passed")
        return left if timeout is None else min(timeout, left)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._sockets.connect_tcp(
            host, port, self.left(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream, self)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection of `_Deadline`: a read or the TLS handshake waits at most until the
    deadline, a write as told in `write`, and each raises httpcore's timeout for it once the
    deadline has passed."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # httpcore's write waits up to its timeout anew for each part of the buffer the socket
        # takes, so the buffer is handed over in pieces, each with only the time left: a piece
        # the socket takes in parts can run past the deadline, by less than the time that was
        # left when it began for each part after the first.
        for start in range(0, len(buffer), WRITE_PIECE):
            piece = buffer[start : start + WRITE_PIECE]
            self._stream.write(piece, self._deadline.left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        try:
            left = self._deadline.left(timeout, httpcore.ConnectTimeout)
        except httpcore.ConnectTimeout:
            self.close()
            raise
        # Python's handshake keeps to its socket's timeout in all, not per read.
        stream = self._stream.start_tls(ssl_context, server_hostname, left)
        return _DeadlineStream(stream, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class Pusher:
    """Pushes to registered webhooks; `wake(participants)` after messages are published.
    Each push is signed with `key`, the hub's own (never logged or shown)."""

    def __init__(self, engine: Engine, key: Ed25519PrivateKey) -> None:
        self.engine = engine
        self._key = key
        self.key_id = HUB_KEY_ID
        self.public_key = public_key_text(key)
        self.urls: dict[str, str] = {}
        # The scheduler: participants woken ("" when a retry may be due; None: stop).
        self._wakes: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._main, name="samarkand-webhook", daemon=True)
        self._pool = ThreadPoolExecutor(PUSH_THREADS, thread_name_prefix="samarkand-push")
        self._failing_pool = ThreadPoolExecutor(
            FAILING_THREADS, thread_name_prefix="samarkand-push-failing"
        )
        self._ssl_context = httpx.create_ssl_context()  # for an https:// URL, as httpx's own
        self._lock = threading.Lock()
        self._busy: set[str] = set()  # pushing, or waiting for a retry
        self._failing: set[str] = set()  # whose last push the receiver did not take
        self._again: set[str] = set()  # woken while busy: pushed again after
        self._retries: list[tuple[float, int, str, int, float]] = []  # (due, n, who, try, delay)
        self._numbers = itertools.count()
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
        else:
            self.urls[participant] = check_url(url)
        with self._lock:
            self._failing.discard(participant)  # another receiver, or none
        if url is not None:
            self._wakes.put(participant)

    def wake(self, participants: set[str]) -> None:
        for participant in participants:
            if participant in self.urls:
                self._wakes.put(participant)

    def _main(self) -> None:
        """The scheduler: starts the push of each participant woken (unless one of its own
        runs or waits), and each retry when it is due."""
        try:
            while True:
                with self._lock:
                    due_in = self._retries[0][0] - time.monotonic() if self._retries else None
                try:
                    participant = self._wakes.get(
                        timeout=None if due_in is None else max(0, due_in)
                    )
                except queue.Empty:
                    participant = ""
                if participant is None:
                    return
                if participant:
                    with self._lock:
                        start = participant not in self._busy
                        (self._busy if start else self._again).add(participant)
                    if start:
                        self._submit(participant, 0, self.retry_s_first)
                now = time.monotonic()
                with self._lock:
                    due = []
                    while self._retries and self._retries[0][0] <= now:
                        due.append(heapq.heappop(self._retries))
                for _, _, who, attempt, delay in due:
                    self._submit(who, attempt, delay)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._failing_pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, participant: str, attempt: int, delay: float) -> None:
        """Start a try at `participant`'s mailbox: on the threads for those whose last push
        failed if its did, so that those never keep the others waiting."""
        with self._lock:
            failing = participant in self._failing
        pool = self._failing_pool if failing else self._pool
        pool.submit(self._attempt, participant, attempt, delay)

    def _attempt(self, participant: str, attempt: int, delay: float) -> None:
        """One try at `participant`'s mailbox, on a pool thread: failed, it is tried again
        after `delay` (doubling, up to `retry_s_max`), at most `ATTEMPTS_MAX` times."""
        refused = False  # by the receiver
        try:
            done = self._push(participant)
            refused = not done
        except EngineStopped:
            done = True  # the hub is going away: nothing more to push
        except (StoreError, EngineBusy):
            done = False  # the store failed, or the hub is full: tried again later
        except Exception:  # noqa: BLE001 - a fault of this code: logged, tried again later
            log.exception("a webhook push to %s failed", participant)
            done = False  # the participant stays pushable, never busy for good
        if not done:
            with self._lock:
                self.failures += 1
                if refused:
                    self._failing.add(participant)
                if attempt + 1 < ATTEMPTS_MAX:
                    retry = (time.monotonic() + delay, next(self._numbers), participant,
                             attempt + 1, min(delay * 2, self.retry_s_max))  # fmt: skip
                    heapq.heappush(self._retries, retry)
                    self._wakes.put("")  # the scheduler looks at its next retry again
                    return
        with self._lock:
            self._busy.discard(participant)
            again = participant in self._again
            self._again.discard(participant)
        if again:
            self._wakes.put(participant)

    def _push(self, participant: str) -> bool:
        """Push `participant`'s messages, `BATCH_MAX` at a time, until none is left (True) or
        a push is not taken (False). After `ATTEMPTS_MAX` batches taken it lets the others
        have the thread, and wakes itself again."""
        for _ in range(ATTEMPTS_MAX):
            url = self.urls.get(participant)
            if url is None:
                return True
            messages, _, _ = self.engine.call(
                lambda e, _now: e.mailbox.read(participant, 0, BATCH_MAX)
            ).result()
            if not messages:
                return True
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
                # Signed for this attempt: a retry a minute later is still within the window.
                headers = sign_headers(
                    self._key, self.key_id, "POST", httpx.URL(url).raw_path.decode("ascii"), body
                )
                headers["content-type"] = "application/json"
                ok = self._post(url, body, headers)
            except (httpx.InvalidURL, *_EXCHANGE_FAILED):
                ok = False  # an unusable URL fails its own pushes, never the pusher
            if not ok:
                return False
            upto = messages[-1].sequence
            self.engine.call(lambda e, _now, upto=upto: e.mailbox.ack(participant, upto)).result()
            with self._lock:
                self.delivered += len(messages)
                self._failing.discard(participant)
        with self._lock:
            self._again.add(participant)
        return True

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> bool:
        """POST `body` to `url` with `headers`: True if the answer's status is 2xx.

        From connecting until the answer's head is read, the exchange has `TIMEOUT_S` in all
        (`_Deadline`): past it, it raises httpcore's timeout; failing otherwise, another of
        `_EXCHANGE_FAILED`. The answer's body is not read: leaving the block closes the
        connection, however much of the body is still to come. A connection serves one push
        (the pool is this push's own), so the deadline is the connection's."""
        parsed = httpx.URL(url)
        target = httpcore.URL(
            scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path
        )
        sent: list[tuple[str | bytes, str | bytes]] = [
            *headers.items(),
            ("host", parsed.netloc.decode("ascii")),
            ("connection", "close"),  # the connection ends with this push
        ]
        pool = httpcore.ConnectionPool(
            ssl_context=self._ssl_context, network_backend=_Deadline(time.monotonic() + TIMEOUT_S)
        )
        with pool, pool.stream("POST", target, headers=sent, content=body) as answer:
            return 200 <= answer.status < 300
