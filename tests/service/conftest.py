"""A hub service on a temporary store, and a client that signs like a participant."""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    # Starlette's test client names a successor of httpx; httpx is what is pinned here.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from samarkand.service.auth import load_private_keys, sign_headers
from samarkand.service.server import open_service

DEBTOR = "SMAACN22"  # a direct bank of China (the scenario's largest)
CREDITOR = "SMAARU22"  # a direct bank of Russia
OTHER = "SMABCN22"  # another Chinese bank
CENTRAL_BANK_CN = "PBOCCNBJ"


class Signed:
    """Sends requests signed with the keyring's keys."""

    def __init__(self, client: TestClient, keyring: Path) -> None:
        self.client = client
        self.keys = load_private_keys(keyring)

    def request(
        self,
        method: str,
        path: str,
        key: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        sign_body: bytes | None = None,
    ):
        if body is None:
            data = b""
        elif isinstance(body, bytes):
            data = body
        else:
            data = json.dumps(body).encode()
        signed = sign_headers(
            self.keys[key], key, method, path, data if sign_body is None else sign_body
        )
        if body is not None:
            signed["content-type"] = content_type
        signed.update(headers or {})
        return self.client.request(method, path, content=data, headers=signed)

    def pay(self, key: str = DEBTOR, **fields: Any):
        payment = new_payment(**fields)
        return payment, self.request("POST", "/v1/payments", key, payment)


def new_payment(**fields: Any) -> dict[str, Any]:
    """A JSON payment of 100.00 CNY from DEBTOR to CREDITOR with a fresh UETR."""
    return {
        "uetr": str(uuid.uuid4()),
        "debtor_agent": DEBTOR,
        "creditor_agent": CREDITOR,
        "amount": "100.00",
        "currency": "CNY",
    } | fields


@pytest.fixture
def service(tmp_path):
    opened = open_service(str(tmp_path / "hub.db"))
    yield opened
    opened.close()


@contextmanager
def signed_client(service) -> Iterator[Signed]:
    """A signing client of an opened service, for a test that opens its own."""
    with TestClient(service.app) as client:
        yield Signed(client, service.keyring)


@pytest.fixture
def api(service):
    with signed_client(service) as client:
        yield client


@contextmanager
def served(db: str, **options: Any) -> Iterator[tuple[Any, Signed]]:
    """A service opened on `db` (with `open_service`'s `options`), closed afterwards, and a
    client signing for it: for a test that stops a service and opens it again."""
    service = open_service(db, **options)
    try:
        with signed_client(service) as client:
            yield service, client
    finally:
        service.close()


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    """Poll `condition` until it holds: for what the hub's thread does on its own. Fails
    with `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
