"""Sessions: a caller's requests signed with HMAC-SHA256 under a secret agreed once with
its key (`samarkand.service.auth`, "Sessions").

- `POST /v1/sessions`, signed with the caller's key (not in a session), the body an X25519
  public key the caller made for the session: 201 with the session id, the hub's X25519
  public key and the session's end. Each side derives the secret from its own private key.
- `GET /v1/sessions`: the caller's open sessions (ids and ends; never a secret).
- `DELETE /v1/sessions/{id}`: the caller ends one of its sessions (204); requests in it are
  refused from then on.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Request, Response
from pydantic import Field

from samarkand.service import errors as E
from samarkand.service.auth import SessionRefused, Verifier
from samarkand.service.shared import _In, keyed, principal_of

SESSION_ID_REGEX = r"^[A-Za-z0-9_-]{22}$"
_CODES = {401: "unauthenticated", 422: "invalid", 429: "too_many_requests"}


class SessionIn(_In):
    public_key: str = Field(
        max_length=100, description="base64 raw X25519 public key (32 bytes) made for this session"
    )


def add_session_routes(app: FastAPI, verifier: Verifier) -> None:
    @app.post(
        "/v1/sessions",
        tags=["keys"],
        status_code=201,
        responses={
            403: {"description": "the request came in a session: opening one takes the key"},
            422: {"description": "not a usable X25519 public key"},
            429: {"description": "too many sessions are open"},
        },
    )
    async def open_session(request: Request, offer: SessionIn) -> dict[str, Any]:
        """Open a session: its requests carry `X-Samarkand-Session` and an HMAC-SHA256 of
        the canonical string under the secret both sides derive, instead of an Ed25519
        signature."""
        caller = keyed(principal_of(request), "opening a session")
        try:
            session, hub_public = verifier.open_session(caller, offer.public_key)
        except SessionRefused as refused:
            code = _CODES.get(refused.status, "invalid")
            raise E.ApiError(refused.status, code, refused.field, refused.message) from None
        return {
            "session": session.session_id,
            "key_id": session.key_id,
            "public_key": hub_public,
            "expires_ms": session.expires_ms,
        }

    @app.get("/v1/sessions", tags=["keys"])
    async def list_sessions(request: Request) -> dict[str, Any]:
        """The caller's open sessions, the oldest first."""
        caller = principal_of(request)
        return {
            "sessions": [
                {"session": s.session_id, "expires_ms": s.expires_ms}
                for s in verifier.sessions(caller.key_id)
            ]
        }

    @app.delete(
        "/v1/sessions/{session_id}",
        tags=["keys"],
        status_code=204,
        responses={404: {"description": "the caller has no open session of this id"}},
    )
    async def close_session(
        request: Request, session_id: Annotated[str, Path(pattern=SESSION_ID_REGEX)]
    ) -> Response:
        """End one of the caller's sessions (the one this request came in, too)."""
        caller = principal_of(request)
        if not verifier.close_session(caller.key_id, session_id):
            raise E.ApiError(
                404, "not_found", "session_id", "this key id has no open session of this id"
            )
        return Response(status_code=204)
