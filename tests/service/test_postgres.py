"""The service on PostgreSQL: ledger, command log, mailbox and message log in one schema."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from samarkand.hub.durable import DurableHub
from samarkand.service.server import open_service
from samarkand.settlement.payments import Payment, Reason, Status
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
        assert durable.restored_from >= commands  # from the snapshot its close wrote
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


def test_the_service_carries_on_after_its_database_connections_are_cut(tmp_path, schema):
    """Every connection of the service to PostgreSQL is terminated (as a database restart or
    a failover does): the requests in flight are answered (200, or 503 saying whether what
    they did is kept), nothing answered is lost, and the service carries on without a
    restart: it reconnects, and a hub whose command was cut off is opened again from its
    log, which completes that command."""
    import psycopg

    from samarkand.hub.durable import CommandInterrupted
    from samarkand.store import StoreError
    from samarkand.store.lock import HubInUse, WriterLock

    application = f"samarkand_cut_{uuid.uuid4().hex[:8]}"  # only this service's connections
    dsn = f"{PG_DSN}{'&' if '?' in PG_DSN else '?'}application_name={application}"
    service = open_service(dsn, tmp_path / "keys.json", schema=schema)
    engine = service.engine
    outcomes: dict[int, object] = {}

    def pay(number: int) -> None:
        payment = Payment(uuid.UUID(int=number).int, DEBTOR, CREDITOR, 100, "CNY")
        try:
            outcomes[number] = engine.submit([payment]).result(60)
        except StoreError as error:
            outcomes[number] = error

    try:
        for number in range(1, 4):
            pay(number)
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            cut = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (application,),
            ).fetchone()
        assert cut is not None and cut[0] >= 3  # ledger store, command log, mailbox, log
        engine._guard_after = 0  # the next round checks the writer lock (else within 5 s)
        for number in range(4, 12):
            pay(number)
        with pytest.raises(HubInUse):  # the service took its writer lock again
            WriterLock(PG_DSN, schema=schema)
        read = engine.call(lambda e, _now: e.mailbox.read(CREDITOR, 0, 1_000)).result(60)
        entries = engine.call(lambda e, _now: dict(e.durable.hub.engine.entries)).result(60)
        reopened = engine.reopened
        status = engine.call(lambda e, _now: (e.durable.broken, e.reopened)).result(60)
    finally:
        service.close()
    settled = [(None, Status.SETTLED)]
    assert [outcomes[n] for n in (1, 2, 3)] == [settled] * 3
    refused = {n: o for n, o in outcomes.items() if not isinstance(o, list)}
    assert len(refused) <= 2, outcomes
    assert all(outcomes[n] == settled for n in range(8, 12)), outcomes  # carried on
    assert reopened >= 1 and status == (False, reopened)
    for number, outcome in outcomes.items():
        entry = entries.get(uuid.UUID(int=number).int)
        if outcome == settled or isinstance(outcome, CommandInterrupted):
            # Answered, or cut off after it was logged: settled (the reopen completed it).
            assert entry is not None and entry.status is Status.SETTLED, (number, outcome)
        else:
            assert entry is None, (number, outcome)  # "not done": it was not
    told = {n["uetr"] for m in read[0] for n in json.loads(m.body)["notices"]}
    for number, outcome in outcomes.items():
        if outcome == settled:
            assert str(uuid.UUID(int=number)) in told
    # A fresh process finds the same: nothing answered was lost.
    again = open_service(PG_DSN, tmp_path / "keys.json", schema=schema)
    try:
        stored = again.engine.call(lambda e, _now: dict(e.durable.hub.engine.entries)).result(60)
        assert {u: e.status for u, e in stored.items()} == {u: e.status for u, e in entries.items()}
    finally:
        again.close()


def test_after_a_database_restart_no_command_is_logged_before_the_writer_lock_is_checked(
    tmp_path, schema
):
    """The database restarted and another process took the hub's lock at once, well within
    the service's periodic check: the service's next command, on a new command log
    connection, checks the lock first and is refused; nothing of it is logged or run, and
    every request after it is refused until the lock is the service's again."""
    import psycopg
    from psycopg import sql

    from samarkand.store.lock import HubInUse, WriterLock

    application = f"samarkand_window_{uuid.uuid4().hex[:8]}"
    dsn = f"{PG_DSN}{'&' if '?' in PG_DSN else '?'}application_name={application}"
    service = open_service(dsn, tmp_path / "keys.json", schema=schema)
    engine = service.engine

    def logged() -> int:
        with psycopg.connect(PG_DSN, autocommit=True) as connection:
            table = sql.Identifier(schema, "hub_commands")
            row = connection.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
            return int(row.fetchone()[0])  # type: ignore[index]

    try:
        payment = Payment(uuid.UUID(int=1).int, DEBTOR, CREDITOR, 100, "CNY")
        assert engine.submit([payment]).result(30) == [(None, Status.SETTLED)]
        engine._guard_after = engine._monotonic() + 600 * 10**9  # no periodic check now
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (application,),
            )
        other = WriterLock(PG_DSN, schema=schema)
        try:
            before = logged()
            second = Payment(uuid.UUID(int=2).int, DEBTOR, CREDITOR, 100, "CNY")
            assert isinstance(engine.submit([second]).exception(30), HubInUse)
            assert logged() == before  # refused before it was written
            entries = engine.call(lambda e, _now: set(e.durable.hub.engine.entries))
            assert isinstance(entries.exception(30), HubInUse)  # and so is what follows
        finally:
            other.release()
        third = Payment(uuid.UUID(int=3).int, DEBTOR, CREDITOR, 100, "CNY")
        outcome = engine.submit([third]).exception(30)  # the store's connection was cut too
        fourth = Payment(uuid.UUID(int=4).int, DEBTOR, CREDITOR, 100, "CNY")
        assert engine.submit([fourth]).result(30) == [(None, Status.SETTLED)], outcome
        entries = engine.call(lambda e, _now: dict(e.durable.hub.engine.entries)).result(30)
        assert second.uetr not in entries and entries[fourth.uetr].status is Status.SETTLED
        with pytest.raises(HubInUse):  # the lock is the service's again
            WriterLock(PG_DSN, schema=schema)
    finally:
        service.close()


def test_a_service_whose_writer_lock_another_took_refuses_every_request(tmp_path, schema):
    """After a database restart ended the service's lock, another process took it: the
    service refuses every request (it is no longer the hub's writer) until it can take the
    lock again."""
    import psycopg

    from samarkand.hub.durable import CommandInterrupted
    from samarkand.store.lock import HubInUse, WriterLock

    application = f"samarkand_lock_{uuid.uuid4().hex[:8]}"
    dsn = f"{PG_DSN}{'&' if '?' in PG_DSN else '?'}application_name={application}"
    service = open_service(dsn, tmp_path / "keys.json", schema=schema)
    engine = service.engine
    try:
        payment = Payment(uuid.UUID(int=1).int, DEBTOR, CREDITOR, 100, "CNY")
        assert engine.submit([payment]).result(30) == [(None, Status.SETTLED)]
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (application,),
            )
        other = WriterLock(PG_DSN, schema=schema)  # in the meantime, another writer
        try:
            engine._guard_after = 0
            second = Payment(uuid.UUID(int=2).int, DEBTOR, CREDITOR, 100, "CNY")
            assert isinstance(engine.submit([second]).exception(30), HubInUse)
            entries = engine.call(lambda e, _now: set(e.durable.hub.engine.entries))
            assert isinstance(entries.exception(30), HubInUse)
        finally:
            other.release()
        engine._guard_after = 0
        # The lock is its own again. The first command finds the ledger store's connection
        # ended too: it is kept and completed by the reopen (503 "kept"), the next is fine.
        third = Payment(uuid.UUID(int=3).int, DEBTOR, CREDITOR, 100, "CNY")
        outcome = engine.submit([third]).exception(30)
        assert outcome is None or isinstance(outcome, CommandInterrupted)
        fourth = Payment(uuid.UUID(int=4).int, DEBTOR, CREDITOR, 100, "CNY")
        assert engine.submit([fourth]).result(30) == [(None, Status.SETTLED)]
        entries = engine.call(lambda e, _now: dict(e.durable.hub.engine.entries)).result(30)
        assert entries[third.uetr].status is Status.SETTLED
        assert second.uetr not in entries  # refused while another held the lock
    finally:
        service.close()


def test_a_background_snapshot_on_postgres_is_used_by_the_next_open(tmp_path, schema):
    from samarkand.hub.durable import DurableHub
    from tests.service.conftest import wait_until

    service = open_service(PG_DSN, tmp_path / "keys.json", schema=schema)
    try:
        engine = service.engine
        engine.snapshot_rows, engine.snapshot_interval_ns = 1, 0
        payment = Payment(uuid.UUID(int=7).int, DEBTOR, CREDITOR, 100, "CNY")
        assert engine.submit([payment]).result(30) == [(None, Status.SETTLED)]
        wait_until(lambda: engine.stats.snapshots >= 1, "no snapshot was written")
        engine.snapshot_rows = 10**9
        with DurableHub.open(PG_DSN, schema=schema, read_only=True) as looked_at:
            assert looked_at.restored_from > 0
            assert looked_at.hub.engine.entries[payment.uetr].status is Status.SETTLED
    finally:
        service.close()


def test_an_archive_on_postgres_outlives_a_restart(tmp_path, schema):
    """Archived payments are in the snapshot the close writes to the schema, and in the
    log's replay: found again, their UETRs still taken."""
    keyring = tmp_path / "keys.json"
    payments = [Payment(uuid.UUID(int=n).int, DEBTOR, CREDITOR, 100, "CNY") for n in range(1, 4)]

    def next_day_archived(engine, now):
        durable = engine.durable
        durable.end_of_day(now)
        durable.open_day(dict.fromkeys(durable.hub.engine.cut_off_ns, now + 10**13), now)
        return durable.archive(now, now + 1)

    service = open_service(PG_DSN, keyring, schema=schema)
    try:
        assert service.engine.submit(payments).result(30) == [(None, Status.SETTLED)] * 3
        payments_archived, _, finished = service.engine.call(next_day_archived).result(30)
        assert payments_archived == 3 and finished
    finally:
        service.close()
    reopened = open_service(PG_DSN, keyring, schema=schema)
    try:
        assert reopened.engine.durable.restored_from > 0  # from the close's snapshot
        engine = reopened.engine.durable.hub.engine
        assert engine.entries == {} and len(engine.archived) == 3
        assert all(engine.find(p.uetr).status is Status.SETTLED for p in payments)
        again = reopened.engine.submit(payments[:1]).result(30)
        assert again == [(Reason.DUPLICATE_UETR, None)]
    finally:
        reopened.close()
    with DurableHub.open(PG_DSN, schema=schema, snapshots=False) as replayed:
        engine = replayed.hub.engine
        assert replayed.restored_from == 0 and len(engine.archived) == 3
        assert all(engine.find(p.uetr).status is Status.SETTLED for p in payments)
