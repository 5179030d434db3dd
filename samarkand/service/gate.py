"""The gate every request passes before a route: body size limit, then the signature, then
a JSON body's shape.

A pure ASGI middleware: it reads the body (refusing more than `BODY_BYTES_MAX` with 413
before reading it all), checks the request's signature over it for every `/v1/` path, puts
the authenticated `Principal` in the request's state, and hands the body on to the route.

A header the gate or a route reads once (the signature headers, the content type) is
refused when it comes twice: the gate and the framework would not read the same one.

A signer may have at most `IN_FLIGHT_MAX` requests under way at once; more get 429 at once,
so that one bank flooding the service fills neither the hub's queue nor its answers for the
others.

A JSON body must be one UTF-8 JSON text whose objects name each key once (`json_problem`).
Parsers differ on a repeated key (the framework's keeps the last, another the first): the
bytes a bank signed must mean one payment. What is refused here is worded here, with the
key or `body` as the field, so no route sees such a body.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from samarkand.service.auth import (
    KEY_HEADER,
    NONCE_HEADER,
    SESSION_HEADER,
    SIGNATURE_HEADER,
    SIGNER,
    TIMESTAMP_HEADER,
    AuthError,
    Principal,
    Verifier,
)
from samarkand.service.errors import error_body

BODY_BYTES_MAX = 10 * 1024 * 1024
BODY_READ_S = 30.0  # from the request's head to the end of its body
PROTECTED_PREFIX = "/v1/"
# Requests one signer may have under way at once (the hub's queue holds 65,536 items: 64
# signers at the most would fill it).
IN_FLIGHT_MAX = 1_024
SIGNED_HEADERS = frozenset(
    {KEY_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER, SESSION_HEADER}
)
ONCE_HEADERS = SIGNED_HEADERS | {"content-type", "content-encoding"}
KEY_SHOWN_MAX = 64  # characters of a repeated JSON key named in a refusal


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return found


_JSON = json.JSONDecoder(object_pairs_hook=_unique_keys)


def is_json(content_type: str) -> bool:
    """The framework reads a body of this content type as JSON."""
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _charset(content_type: str) -> str | None:
    """The `charset` parameter of a content type, lower case; None when it has none."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def json_problem(body: bytes) -> tuple[str, str] | None:
    """Why `body` is no JSON a route may read, as (field, reason); None when it is one."""
    try:
        _JSON.decode(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        return "body", f"the body is not UTF-8 (byte {error.start})"
    except _RepeatedKey as error:
        key = error.key[:KEY_SHOWN_MAX]
        return key, f"the key {key!r} appears more than once in one object"
    except json.JSONDecodeError as error:
        return "body", f"malformed JSON: {error.msg} at character {error.pos}"
    except RecursionError:
        return "body", "malformed JSON: arrays or objects nested too deep"
    except ValueError:  # Python's bound on an integer's digits (`sys.get_int_max_str_digits`)
        limit = sys.get_int_max_str_digits()
        return "body", f"malformed JSON: a number of more than {limit:,} digits"
    return None


async def _send_error(send: Any, status: int, code: str, field: str | None, message: str) -> None:
    await _send(send, status, json.dumps(error_body(code, field, message)).encode())


async def _send(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# A route's fast path: given the principal, content type and body, the (status, JSON body) to
# answer, or None to hand the request to the full route (which also words every refusal).
FastPath = Callable[[Principal, str, bytes], Awaitable[tuple[int, bytes] | None]]
VERIFY_THREADS = 2
VERIFY_INLINE_BYTES_MAX = 16_384  # larger bodies are hashed and checked on a thread


class Gate:
    def __init__(
        self,
        app: Any,
        verifier: Verifier,
        body_bytes_max: int = BODY_BYTES_MAX,
        body_read_s: float = BODY_READ_S,
        fast_paths: dict[tuple[str, str], FastPath] | None = None,
        in_flight_max: int = IN_FLIGHT_MAX,
    ) -> None:
        self.app = app
        self.in_flight_max = in_flight_max
        self._in_flight: dict[str, int] = {}  # by signer (the event loop's only)
        self.verifier = verifier
        self.body_bytes_max = body_bytes_max
        self.body_read_s = body_read_s
        self.fast_paths = fast_paths or {}
        # Verification (libsodium, and hashing the body) releases the GIL: a large body's is
        # done on its own threads, beside the event loop and the hub's thread. A small
        # body's takes less than the hand-over to a thread and back, so it is done here.
        self._verify_pool = ThreadPoolExecutor(VERIFY_THREADS, thread_name_prefix="verify")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        repeated = None
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            if key in headers and key in ONCE_HEADERS:
                repeated = key
            headers[key] = value.decode("latin-1")
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _send_error(send, 400, "bad_request", "content-length", "not a number")
                return
            if int(declared) > self.body_bytes_max:
                await _send_error(
                    send, 413, "body_too_large", "body",
                    f"the body is larger than {self.body_bytes_max:,} bytes",
                )  # fmt: skip
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        # A client that declares a body and stops sending it (or sends it a byte at a time)
        # holds a connection, since uvicorn waits for the rest: it gets this long, then 408.
        try:
            async with asyncio.timeout(self.body_read_s):
                while more and size <= self.body_bytes_max:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    chunks.append(chunk)
                    more = message.get("more_body", False)
        except TimeoutError:
            await _send_error(
                send, 408, "request_timeout", "body",
                f"the body did not arrive within {self.body_read_s:g} s",
            )  # fmt: skip
            return
        if size > self.body_bytes_max:
            await _send_error(
                send, 413, "body_too_large", "body",
                f"the body is larger than {self.body_bytes_max:,} bytes",
            )  # fmt: skip
            return
        body = b"".join(chunks)
        path = scope["path"]
        if path.startswith(PROTECTED_PREFIX):
            raw = scope.get("raw_path")
            query = scope.get("query_string", b"").decode("latin-1")
            target = (raw.decode("latin-1") if raw else path) + ("?" + query if query else "")
            if repeated in SIGNED_HEADERS:
                await _send_error(send, 401, "unauthenticated", repeated,
                                  f"header {repeated} is given more than once")  # fmt: skip
                return
            if repeated is not None:
                await _send_error(send, 400, "bad_request", repeated,
                                  f"header {repeated} is given more than once")  # fmt: skip
                return
            try:
                if len(body) <= VERIFY_INLINE_BYTES_MAX:
                    principal = self.verifier.verify(scope["method"], target, headers, body)
                else:
                    principal = await asyncio.get_running_loop().run_in_executor(
                        self._verify_pool, self.verifier.verify, scope["method"], target,
                        headers, body,
                    )  # fmt: skip
            except AuthError as error:
                await _send_error(send, 401, "unauthenticated", error.field, error.message)
                return
            scope.setdefault("state", {})["principal"] = principal
            signer = principal.key_id
            under_way = self._in_flight.get(signer, 0)
            if under_way >= self.in_flight_max:
                message = (
                    f"{signer} has {under_way:,} requests under way, the most one signer may "
                    "have: send more once some are answered"
                )
                await _send_error(send, 429, "too_many_requests", KEY_HEADER, message)
                return
            self._in_flight[signer] = under_way + 1
            signing = SIGNER.set(signer)
            try:
                await self._signed(scope, receive, send, principal, headers, body, query)
            finally:
                SIGNER.reset(signing)
                left = self._in_flight[signer] - 1
                if left:
                    self._in_flight[signer] = left
                else:
                    del self._in_flight[signer]
            return
        await self._forward(scope, receive, send, body)

    async def _signed(
        self, scope: dict[str, Any], receive: Any, send: Any, principal: Principal,
        headers: dict[str, str], body: bytes, query: str,
    ) -> None:  # fmt: skip
        """A signed request, its signer counted as under way: the JSON body's shape
        checked, then the route's fast path (not with a query: the route checks that) or
        the route."""
        content_type = headers.get("content-type", "")
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            message = f"a body is taken as sent: no content encoding ({encoding[:40]!r} given)"
            await _send_error(send, 415, "unsupported_media_type", "content-encoding", message)
            return
        if body and is_json(content_type):
            charset = _charset(content_type)
            if charset not in (None, "utf-8", "utf8"):
                message = f"JSON is read as UTF-8 only ({charset[:40]!r} given)"
                await _send_error(send, 415, "unsupported_media_type", "content-type", message)
                return
            problem = json_problem(body)
            if problem is not None:
                await _send_error(send, 400, "malformed_json", *problem)
                return
        fast = None if query else self.fast_paths.get((scope["method"], scope["path"]))
        if fast is not None:
            answer = await fast(principal, content_type, body)
            if answer is not None:
                await _send(send, answer[0], answer[1])
                return
        await self._forward(scope, receive, send, body)

    async def _forward(self, scope: dict[str, Any], receive: Any, send: Any, body: bytes) -> None:
        """The request to the application, its body (already read) handed on."""
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
