"""Every error the service returns: one JSON shape, a 4xx status, the field at fault.

    {"error": {"code": "...", "field": "...", "message": "..."}}

`REASON_STATUS` is the one table that maps the hub's result codes (settlement `Reason`) to
HTTP statuses when a request to act is refused; the ISO 20022 code goes in the body.
`STATEMENT_STATUS` does the same for a statement refused (`hub.statements.StatementRefusal`),
the field at fault the one the refusal names.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from samarkand.hub.statements import StatementRefusal, StatementRefused
from samarkand.settlement.payments import Reason

REASON_STATUS: dict[Reason, int] = {
    Reason.NOT_FOUND: 404,
    Reason.QUOTE_UNKNOWN: 404,
    Reason.NOT_OWNER: 403,
    Reason.NOT_CENTRAL_BANK: 403,
    Reason.ALREADY_SETTLED: 409,
    Reason.ALREADY_FINAL: 409,
    Reason.NOT_QUEUED: 409,
    Reason.CREDIT_BELOW_USE: 409,
    Reason.INSUFFICIENT_FUNDS: 409,
    Reason.CURRENCY_RESTING: 409,
}
REASON_STATUS_DEFAULT = 422

STATEMENT_STATUS: dict[StatementRefusal, int] = {
    StatementRefusal.DATE_INVALID: 422,
    StatementRefusal.DAY_NOT_BEGUN: 404,  # no statement of that date (yet)
    StatementRefusal.CURRENCY_UNKNOWN: 404,
    StatementRefusal.ACCOUNT_UNKNOWN: 404,
    StatementRefusal.NOT_SETTLEMENT_ACCOUNT: 422,  # an account id that can have none
    StatementRefusal.NOT_OWNER: 403,
    # The request is sound; what the account holds does not fit the message.
    StatementRefusal.AMOUNT_BEYOND_CAMT053: 409,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    503: "unavailable",
}


def http_code(status: int) -> str:
    return _HTTP_CODES.get(status, "error")


class ApiError(Exception):
    """A refusal with its HTTP status, code, field and message."""

    def __init__(self, status: int, code: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
        self.message = message


def error_body(code: str, field: str | None, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "field": field, "message": message, **extra}}


def reason_error(reason: Reason, field: str | None = None) -> ApiError:
    return ApiError(
        REASON_STATUS.get(reason, REASON_STATUS_DEFAULT), reason.iso, field, reason.text
    )


def statement_error(refused: StatementRefused) -> ApiError:
    """The refusal of a statement as the service answers it: its status from
    `STATEMENT_STATUS`, the field the refusal names."""
    status = STATEMENT_STATUS[refused.refusal]
    return ApiError(status, http_code(status), refused.field, str(refused))


def _field(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return JSONResponse(error_body(error.code, error.field, error.message), error.status)


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    first = problems[0] if problems else {"loc": ("body",), "msg": "invalid", "type": ""}
    location = tuple(first.get("loc", ("body",)))
    if location and location[0] == "body":
        content_type = request.headers.get("content-type", "")
        if not content_type.split(";")[0].strip().lower() == "application/json":
            return JSONResponse(
                error_body(
                    "unsupported_media_type", "content-type", "the body must be application/json"
                ),
                415,
            )
        if first.get("type") == "json_invalid":
            return JSONResponse(
                error_body("malformed_json", "body", f"malformed JSON: {first.get('msg')}"), 400
            )
    details = [
        {"field": _field(p.get("loc", ())), "message": str(p.get("msg", ""))} for p in problems
    ]
    return JSONResponse(
        error_body("invalid", _field(location), str(first.get("msg", "")), details=details[:20]),
        422,
    )


# What the framework's own refusals are about: an unknown path, a method the route lacks.
_HTTP_FIELDS = {404: "path", 405: "method"}


async def http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    status = error.status_code
    message = str(error.detail) if error.detail else "error"
    if status == 404 and message == "Not Found":
        message = "no such route"
    if status == 405 and message == "Method Not Allowed":
        message = "this route does not take that method"
    field = _HTTP_FIELDS.get(status, "body" if status == 400 else None)
    body = error_body(http_code(status), field, message)
    return JSONResponse(body, status, headers=error.headers)


async def unexpected_error(_request: Request, _error: Exception) -> JSONResponse:
    # A bug: answered without its details (they may hold data); the log has the traceback.
    return JSONResponse(error_body("internal", None, "internal error"), 500)
