"""The HTTP service: participant and operator routes over the hub's engine thread.

`create_app(engine, verifier)` builds the FastAPI application; `samarkand serve` runs it on
uvicorn on a loopback address. Every `/v1/` route is signed (see `auth`); participants see
and act on their own payments, accounts and mailbox only; operator routes need the operator
role, intraday credit and admission approvals the central bank role.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from samarkand.service import errors as E
from samarkand.service.auth import Verifier
from samarkand.service.engine import Engine, EngineBusy, EngineStopped
from samarkand.service.fx_routes import add_fx_routes
from samarkand.service.gate import Gate
from samarkand.service.key_routes import add_key_routes
from samarkand.service.operator_routes import add_operator_routes
from samarkand.service.participant_routes import add_participant_routes
from samarkand.service.session_routes import add_session_routes
from samarkand.service.shared import unavailable
from samarkand.service.webhook import Pusher
from samarkand.store import StoreError


def create_app(engine: Engine, verifier: Verifier, pusher: Pusher | None = None) -> Any:
    """The ASGI application: the FastAPI routes behind the gate (body limit + signatures)."""
    app = FastAPI(
        title="Samarkand hub",
        version="1",
        description=(
            "Cross-border interbank payments in national currencies. Every /v1/ request is "
            "signed with Ed25519: headers X-Samarkand-Key, X-Samarkand-Timestamp (ms), "
            "X-Samarkand-Nonce and X-Samarkand-Signature over METHOD\\nPATH?QUERY\\n"
            "TIMESTAMP\\nNONCE\\nhex(sha256(body))."
        ),
        docs_url=None,
        redoc_url=None,
        # A path with a trailing slash is no route (404), not a redirect built from the
        # request's Host header.
        redirect_slashes=False,
        dependencies=[Depends(_known_query)],
    )
    app.add_exception_handler(E.ApiError, E.api_error)
    app.add_exception_handler(RequestValidationError, E.validation_error)
    app.add_exception_handler(StarletteHTTPException, E.http_error)
    app.add_exception_handler(Exception, E.unexpected_error)

    @app.exception_handler(EngineBusy)
    @app.exception_handler(EngineStopped)
    @app.exception_handler(StoreError)
    async def _busy(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(E.error_body("unavailable", None, unavailable(error)), 503)

    @app.get(
        "/health",
        tags=["service"],
        responses={503: {"description": "the hub's thread has stopped, or its store failed "
                         "and it is opening it again"}},
    )  # fmt: skip
    async def health() -> JSONResponse:
        """200 while the hub takes requests; 503 while it cannot (for a supervisor or a
        load balancer: no signature needed, nothing but the state is told)."""
        if not engine.running:
            return JSONResponse({"status": "stopped"}, 503)
        if engine.durable is not None and engine.durable.broken:
            return JSONResponse({"status": "reopening"}, 503)
        return JSONResponse({"status": "ok"})

    # The same answer without its body, to HEAD: what many load balancers' checks send.
    app.add_api_route(
        "/health", health, methods=["HEAD"], operation_id="health_head", tags=["service"],
        summary="Health (HEAD)", responses={503: {"description": "as GET"}},
    )  # fmt: skip

    fast = add_participant_routes(app, engine, pusher)
    add_fx_routes(app, engine)
    add_operator_routes(app, engine, verifier, pusher)
    add_key_routes(app, engine, verifier)
    add_session_routes(app, verifier)
    _note_query_parameters(app)
    return Gate(app, verifier, fast_paths={("POST", "/v1/payments"): fast})


async def _known_query(request: Request) -> None:
    """A query parameter a `/v1/` route does not take, or one given twice, is refused (400,
    naming it): a misspelt `afer=5` would otherwise be ignored, and of two values the
    framework would take one where the client may have meant the other."""
    if not request.query_params or not request.url.path.startswith("/v1/"):
        return
    taken: frozenset[str] = getattr(request.scope.get("route"), _TAKES, frozenset())
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in seen:
            raise E.ApiError(
                400, "bad_request", name, f"query parameter {name} is given more than once"
            )
        seen.add(name)
        if name not in taken:
            takes = ", ".join(sorted(taken)) or "none"
            raise E.ApiError(
                400, "bad_request", name,
                f"query parameter {name} is not one this route takes ({takes})",
            )  # fmt: skip


_TAKES = "samarkand_query_parameters"


def _note_query_parameters(app: FastAPI) -> None:
    """Each route's query parameters, for `_known_query`."""
    for route in app.routes:
        names: set[str] = set()
        dependants = [getattr(route, "dependant", None)]
        while dependants:
            dependant = dependants.pop()
            if dependant is not None:
                names.update(param.alias for param in dependant.query_params)
                dependants.extend(dependant.dependencies)
        setattr(route, _TAKES, frozenset(names))
