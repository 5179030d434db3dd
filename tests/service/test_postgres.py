"""The service on PostgreSQL: ledger, command log, mailbox and message log in one schema."""

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


def test_a_message_sent_again_gets_the_same_answer_also_after_a_restart(
    tmp_path, schema, monkeypatch
):
    from samarkand.bench.iso import bulk_pacs008
    from samarkand.hub.message_log import MessageLog
    from tests.service.conftest import signed_client

    monkeypatch.chdir(tmp_path)  # where an SQLite message log used to go (out/)
    keyring = tmp_path / "keys.json"
    message = bulk_pacs008(3, debtor=DEBTOR + "XXX", creditors=(CREDITOR + "XXX",),
                           first_uetr=70_000, msg_id="PG-P8-1", settlement_date=None)  # fmt: skip

    def send(service):
        with signed_client(service) as api:
            answer = api.request(
                "POST", "/v1/messages", DEBTOR, message, content_type="application/xml"
            )
            assert answer.status_code == 200
            balances = api.request("GET", "/v1/accounts", DEBTOR).json()["accounts"]
            return answer.content, {a["currency"]: a["balance"] for a in balances}["CNY"]

    service = open_service(PG_DSN, keyring, schema=schema)
    try:
        first, balance = send(service)
        assert first.count(b"<TxSts>ACSC</TxSts>") == 3
        again, balance_again = send(service)
        assert again == first and balance_again == balance  # answered, not run again
        assert isinstance(service.engine.messages, MessageLog)
        assert service.engine.messages.postgres
    finally:
        service.close()
    reopened = open_service(PG_DSN, keyring, schema=schema)
    try:
        after_restart, balance_after = send(reopened)
        assert after_restart == first and balance_after == balance
    finally:
        reopened.close()
    with MessageLog(PG_DSN, schema=schema) as log:  # the schema's own tables
        assert log.count() == 1 and log.get(DEBTOR, "PG-P8-1") is not None
    made = [str(p) for p in tmp_path.rglob("*") if p.name.endswith(".messages")]
    assert made == []
