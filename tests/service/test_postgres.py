"""The service on PostgreSQL: ledger, command log and mailbox in one schema of its own."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from samarkand.service.server import open_service
from samarkand.settlement.payments import Payment, Status
from samarkand.store import PostgresStore
from tests.service.conftest import CREDITOR, DEBTOR

PG_DSN = os.environ.get("SAMARKAND_TEST_PG_DSN", "")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_DSN, reason="set SAMARKAND_TEST_PG_DSN to run PostgreSQL tests"),
]


@pytest.fixture
def schema():
    name = f"service_test_{uuid.uuid4().hex[:10]}"
    yield name
    PostgresStore.drop_schema(PG_DSN, name)


def test_service_on_postgres_survives_a_restart(tmp_path, schema):
    keyring = tmp_path / "keys.json"
    service = open_service(PG_DSN, keyring, schema=schema)
    try:
        payments = [
            Payment(uuid.UUID(int=n).int, DEBTOR, CREDITOR, 100 * n, "CNY") for n in range(1, 6)
        ]
        # One after another: five rounds, five messages to the creditor.
        answers = [service.engine.submit([p]).result(30) for p in payments]
        assert answers == [[(None, Status.SETTLED)]] * 5
        commands = service.engine.durable.commands
        service.engine.call(lambda e, _now: e.mailbox.ack(CREDITOR, 1)).result(30)
    finally:
        service.close()
    reopened = open_service(PG_DSN, keyring, schema=schema)
    try:
        durable = reopened.engine.durable
        assert durable.durable_ledger.store.__class__ is PostgresStore
        assert durable.commands == commands
        entries = durable.hub.engine.entries
        assert all(entries[p.uetr].status is Status.SETTLED for p in payments)
        messages, last, acked = reopened.engine.call(
            lambda e, _now: e.mailbox.read(CREDITOR, 0, 100)
        ).result(30)
        assert (acked, last) == (1, 5) and [m.sequence for m in messages] == [2, 3, 4, 5]
        notices = [n for m in messages for n in json.loads(m.body)["notices"]]
        assert {n["status"] for n in notices} == {"settled"}
    finally:
        reopened.close()
