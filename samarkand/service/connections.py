"""The service's HTTP connections: a bound on the time a request's head may take, and a bound
on the connections open at once.

uvicorn's protocol reads a request's head for as long as its client takes: a connection that
sends nothing, or part of a head, stays open for ever, and enough of them use up the
process's file descriptors, after which no request is answered. `BoundedHttpProtocol` (the
httptools protocol, with these bounds) closes such a connection:

- a request's head (its request line and headers, up to the blank line) must arrive within
  `head_read_s` of the connection's opening, or of the first byte of a later request on it.
  A connection that sent nothing is closed without an answer; one that sent part of a head
  is answered 408 first. A pipelined head whose time runs out while a request before it is
  under way has the bound again (the connection is not closed under a response);
- between requests, an idle connection is closed by uvicorn's keep-alive timeout;
- a body has its own bound (`samarkand.service.gate.BODY_READ_S`).

At most `connections_max` connections are served at once. The next `FULL_SPARE` get their
request answered 503 (code `unavailable`) and are closed; beyond those, a connection is
closed as soon as it is accepted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from samarkand.service.errors import error_body

HEAD_READ_S = 10.0  # from a connection's opening, or a request's first byte, to its blank line
CONNECTIONS_MAX = 10_000  # connections served at once
FULL_SPARE = 64  # connections beyond `CONNECTIONS_MAX` answered 503 rather than closed at once
# File descriptors kept for the process's own use: its stores, webhook pushes (httpx keeps at
# most 100 connections), the camt.054 process's pipes. It holds about 35 once started.
DESCRIPTORS_RESERVED = 256
FULL_LOG_S = 60.0  # at most one warning in this long that connections are refused

_logger = logging.getLogger("uvicorn.error")


def raise_descriptor_limit() -> int:
    """Raise the process's soft limit of open files to its hard limit; the soft limit then in
    force. Where the hard limit is unlimited, or the raise is refused, the soft limit stays."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connections_cap(descriptors: int, wanted: int = CONNECTIONS_MAX) -> int:
    """The connections to serve at once: `wanted`, fewer if `descriptors` (the soft limit of
    open files) could not hold them with `FULL_SPARE` and `DESCRIPTORS_RESERVED` besides."""
    if descriptors == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, descriptors - DESCRIPTORS_RESERVED - FULL_SPARE))


def bounded_protocol(
    head_read_s: float = HEAD_READ_S, connections_max: int = CONNECTIONS_MAX
) -> type[BoundedHttpProtocol]:
    """A `BoundedHttpProtocol` class with these bounds, for uvicorn's `http` setting."""
    if not head_read_s > 0:
        raise ValueError(f"head_read_s: expected more than 0, got {head_read_s!r}")
    if connections_max < 1:
        raise ValueError(f"connections_max: expected at least 1, got {connections_max!r}")
    return type(
        "BoundedHttpProtocol",
        (BoundedHttpProtocol,),
        {"head_read_s": head_read_s, "connections_max": connections_max, "full_logged": None},
    )


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on a request head's time and one on the
    connections open at once (see the module's docstring)."""

    head_read_s: float = HEAD_READ_S
    connections_max: int = CONNECTIONS_MAX
    full_logged: float | None = None  # when connections were last said to be refused

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timer: asyncio.TimerHandle | None = None
        self.head_begun = False  # a request's first byte has come, its blank line not yet

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        open_now = len(self.connections)  # this one included
        if open_now > self.connections_max:
            self._say_full()
            if open_now > self.connections_max + FULL_SPARE:
                transport.close()
                return
            self.app = self._refuse_full
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Bytes that begin no request (blank lines between requests, the rest of a body whose
        # response was sent) start the clock too.
        if not self._busy():
            self._arm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_begun = True
        self._arm_head_timer()  # from the first byte (from the opening, for the first head)

    def on_headers_complete(self) -> None:
        self.head_begun = False
        self._disarm_head_timer()
        super().on_headers_complete()

    def _busy(self) -> bool:
        """A request on this connection is under way or waits for one to end."""
        return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

    def _arm_head_timer(self) -> None:
        if self.head_timer is None and not self.transport.is_closing():
            self.head_timer = self.loop.call_later(self.head_read_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self._busy():
            self._arm_head_timer()
            return
        if self.head_begun:
            message = f"the request's head did not arrive within {self.head_read_s:g} s"
            self._write_error(408, error_body("request_timeout", "head", message))
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """What the parser cannot read as HTTP/1.1 (a bad request line, header or framing,
        e.g. a negative Content-Length): 400 with the JSON error body every refusal has
        (uvicorn's own is plain text), then the connection closed."""
        message = "not a well-formed HTTP/1.1 request (its request line, headers or framing)"
        self._write_error(400, error_body("bad_request", "request", message))
        self.transport.close()

    def _write_error(self, status: int, body: dict[str, Any]) -> None:
        content = json.dumps(body).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(content),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + content)

    async def _refuse_full(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI app of a connection beyond the cap: 503, and the connection closed."""
        message = (
            f"the hub serves at most {self.connections_max:,} connections at once and has that "
            "many open; try again shortly"
        )
        content = json.dumps(error_body("unavailable", None, message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})

    def _say_full(self) -> None:
        now = time.monotonic()
        cls = type(self)
        if cls.full_logged is None or now - cls.full_logged >= FULL_LOG_S:
            cls.full_logged = now
            _logger.warning(
                "%d connections open, the most served at once: new ones are refused",
                self.connections_max,
            )
