"""The gate every request passes before a route: body size limit, then the signature.

A pure ASGI middleware: it reads the body (refusing more than `BODY_BYTES_MAX` with 413
before reading it all), checks the request's signature over it for every `/v1/` path, puts
the authenticated `Principal` in the request's state, and hands the body on to the route.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from samarkand.service.auth import AuthError, Principal, Verifier
from samarkand.service.errors import error_body

BODY_BYTES_MAX = 10 * 1024 * 1024
PROTECTED_PREFIX = "/v1/"


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
        fast_paths: dict[tuple[str, str], FastPath] | None = None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.body_bytes_max = body_bytes_max
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
        for name, value in scope["headers"]:
            headers[name.decode("latin-1").lower()] = value.decode("latin-1")
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
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.body_bytes_max:
                await _send_error(
                    send, 413, "body_too_large", "body",
                    f"the body is larger than {self.body_bytes_max:,} bytes",
                )  # fmt: skip
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        path = scope["path"]
        if path.startswith(PROTECTED_PREFIX):
            raw = scope.get("raw_path")
            query = scope.get("query_string", b"").decode("latin-1")
            target = (raw.decode("latin-1") if raw else path) + ("?" + query if query else "")
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
            fast = self.fast_paths.get((scope["method"], path))
            if fast is not None:
                answer = await fast(principal, headers.get("content-type", ""), body)
                if answer is not None:
                    await _send(send, answer[0], answer[1])
                    return
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
