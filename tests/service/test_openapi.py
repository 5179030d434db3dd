"""The published OpenAPI spec, fuzzed by schemathesis: no request makes a server error.

One run signs every generated request (an ASGI wrapper adds the auth headers, with a key
that has the route's role), so the fuzzer reaches the routes; another sends them unsigned.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from samarkand.service.auth import load_private_keys, sign_headers
from samarkand.service.server import open_service
from tests.service.conftest import CENTRAL_BANK_CN, DEBTOR, OTHER

EXAMPLES = 30


class SigningClient:
    """Signs each request that passes through with a key that holds the route's role."""

    def __init__(self, app, keyring) -> None:
        self.app = app
        self.keys = load_private_keys(keyring)

    def key_for(self, path: str) -> str:
        if path.startswith("/v1/operator/credit") or path.endswith("/approve"):
            return CENTRAL_BANK_CN
        if path.startswith("/v1/operator/"):
            return "OPERATOR"
        return DEBTOR

    def sparing_signers(self, scope):
        """A key route aimed at a key this client signs with is aimed at another bank's: the
        fuzzer takes the schema's example BIC (the signer's) for the path, and a revoked
        signer would leave every later case refused 401."""
        prefix = "/v1/operator/keys/"
        if scope["path"].removeprefix(prefix) in (DEBTOR, CENTRAL_BANK_CN, "OPERATOR"):
            path = prefix + OTHER
            scope = dict(scope, path=path, raw_path=path.encode())
        return scope

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        scope = self.sparing_signers(scope)
        raw = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"").decode("latin-1")
        target = raw.decode("latin-1") + ("?" + query if query else "")
        key = self.key_for(scope["path"])
        signed = sign_headers(self.keys[key], key, scope["method"], target, body)
        headers = [(k, v) for k, v in scope["headers"] if not k.startswith(b"x-samarkand-")]
        headers += [(k.encode(), v.encode()) for k, v in signed.items()]
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(dict(scope, headers=headers), replay, send)


@pytest.fixture(scope="module")
def opened(tmp_path_factory):
    service = open_service(str(tmp_path_factory.mktemp("fuzz") / "hub.db"))
    yield service
    service.close()


@pytest.fixture(scope="module")
def signed_schema(opened):
    return schemathesis.openapi.from_asgi(
        "/openapi.json", SigningClient(opened.app, opened.keyring)
    )


@pytest.fixture(scope="module")
def unsigned_schema(opened):
    return schemathesis.openapi.from_asgi("/openapi.json", opened.app)


FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
)


def _fuzz(schema, also=None) -> int:
    """Run every operation's generated cases; return how many operations ran."""
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy())
        def run(case) -> None:
            response = case.call_and_validate(checks=[not_a_server_error])
            if also is not None:
                also(case, response)

        run()
    return len(operations)


# schemathesis' own pytest plugin does not run on this pytest (it reads a private node id),
# so each operation's strategy is driven through hypothesis directly.


def test_signed_requests_never_make_a_server_error(signed_schema):
    statuses: list[int] = []

    def passed_the_gate(case, response) -> None:
        statuses.append(response.status_code)
        assert response.status_code != 401, (case.method, case.path, response.text)

    _fuzz(signed_schema, passed_the_gate)
    assert any(200 <= s < 300 for s in statuses)  # the fuzzer reached the routes
    assert any(400 <= s < 500 for s in statuses)  # and sent them what they refuse


def test_unsigned_requests_never_make_a_server_error(unsigned_schema):
    def refused(case, response) -> None:
        if case.path.startswith("/v1/"):
            assert response.status_code == 401, (case.method, case.path, response.text)

    _fuzz(unsigned_schema, refused)


def test_the_spec_is_published_and_lists_the_routes(opened):
    from starlette.testclient import TestClient

    with TestClient(opened.app) as client:
        spec = client.get("/openapi.json").json()
    assert {
        "/v1/payments",
        "/v1/messages",
        "/v1/mailbox",
        "/v1/operator/admissions",
        "/v1/fx/tiers",
        "/v1/fx/quotes",
        "/v1/fx/payments",
    } <= set(spec["paths"])
    assert json.dumps(spec)  # serialisable as published
