"""The gate every request passes before a route: body size limit, then the signature.

A pure ASGI middleware: it reads the body (refusing more than `BODY_BYTES_MAX` with 413
before reading it all), checks the request's signature over it for every `/v1/` path, puts
the authenticated `Principal` in the request's state, and hands the body on to the route.
"""

from __future__ import annotations

import json
from typing import Any

from samarkand.service.auth import AuthError, Verifier
from samarkand.service.errors import error_body

BODY_BYTES_MAX = 10 * 1024 * 1024
PROTECTED_PREFIX = "/v1/"


async def _send_error(send: Any, status: int, code: str, field: str | None, message: str) -> None:
    body = json.dumps(error_body(code, field, message)).encode()
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


class Gate:
    def __init__(self, app: Any, verifier: Verifier, body_bytes_max: int = BODY_BYTES_MAX) -> None:
        self.app = app
        self.verifier = verifier
        self.body_bytes_max = body_bytes_max

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
                principal = self.verifier.verify(scope["method"], target, headers, body)
            except AuthError as error:
                await _send_error(send, 401, "unauthenticated", error.field, error.message)
                return
            scope.setdefault("state", {})["principal"] = principal
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
