"""The engine thread: group commit, answers for every request, mailboxes that survive."""

from __future__ import annotations

import json
import threading
import time
import uuid

from samarkand.service.server import open_service
from samarkand.settlement.payments import Payment, Reason, Status
from tests.service.conftest import CREDITOR, DEBTOR, OTHER


def _payment(number: int, amount: int = 100, debtor: str = DEBTOR) -> Payment:
    return Payment(uuid.UUID(int=number).int, debtor, CREDITOR, amount, "CNY")


def _read(service, participant: str, after: int = 0):
    """(messages, last, acked) of a mailbox, read on the hub's thread."""
    return service.engine.call(lambda e, _now: e.mailbox.read(participant, after, 100)).result(10)


def test_concurrent_submits_share_one_command_and_each_gets_its_answer(service):
    engine = service.engine
    gate, holding = threading.Event(), threading.Event()

    def hold(_engine, _now) -> bool:
        holding.set()
        return gate.wait(5)

    blocker = engine.call(hold)  # hold the thread, so that what follows waits as one round
    assert holding.wait(5)
    before = engine.durable.commands
    futures = [engine.submit([_payment(n)]) for n in range(1, 201)]
    duplicate = engine.submit([_payment(7)])  # the same UETR as a request in the round
    unknown = engine.submit([_payment(999, debtor="SMZZCN22")])
    gate.set()
    assert blocker.result(5) is True
    answers = [f.result(10) for f in futures]
    assert all(a == [(None, Status.SETTLED)] for a in answers)
    assert duplicate.result(10) == [(Reason.DUPLICATE_UETR, None)]
    assert unknown.result(10) == [(Reason.DEBTOR_AGENT_UNKNOWN, None)]
    # 202 payment requests, one durable submit command.
    assert engine.durable.commands == before + 1


def test_many_threads_submitting_get_fewer_commands_than_requests(service):
    engine = service.engine
    before = engine.durable.commands
    results: dict[int, object] = {}

    def client(start: int) -> None:
        for n in range(start, start + 50):
            results[n] = engine.submit([_payment(n)]).result(10)

    threads = [threading.Thread(target=client, args=(k * 1000 + 1,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 400
    assert all(r == [(None, Status.SETTLED)] for r in results.values())
    assert engine.durable.commands - before <= 400
    assert engine.stats.payment_requests >= 400


def test_mailbox_redelivers_until_acknowledged_across_a_restart(tmp_path):
    db = str(tmp_path / "hub.db")
    service = open_service(db)
    for n in range(1, 4):  # three rounds: three status messages to the creditor
        service.engine.submit([_payment(n)]).result(10)
    messages, last, acked = _read(service, CREDITOR)
    assert [m.sequence for m in messages] == [1, 2, 3] and (last, acked) == (3, 0)
    notices = [json.loads(m.body)["notices"][0] for m in messages]
    assert [n["status"] for n in notices] == ["settled"] * 3
    assert notices[0]["amount"] == "1.00" and notices[0]["currency"] == "CNY"  # 100 fen
    assert service.engine.call(lambda e, _now: e.mailbox.ack(CREDITOR, 2)).result(10) == 2
    service.close()

    reopened = open_service(db)
    try:
        messages, last, acked = _read(reopened, CREDITOR)
        assert [m.sequence for m in messages] == [3]  # 1 and 2 never come back, 3 does
        assert (last, acked) == (3, 2)
        # The same message again on the next read: delivered until acknowledged.
        again, _, _ = _read(reopened, CREDITOR, after=2)
        assert [m.body for m in again] == [m.body for m in messages]
        # New messages carry on the sequence; none is sent twice.
        reopened.engine.submit([_payment(4)]).result(10)
        messages, last, _ = _read(reopened, CREDITOR)
        assert [m.sequence for m in messages] == [3, 4] and last == 4
        other, _, _ = _read(reopened, OTHER)
        assert other == []
    finally:
        reopened.close()


def test_events_not_yet_published_are_published_after_a_crash(tmp_path):
    """The hub's events are rebuilt by replay: notices lost with a crash are made again."""
    db = str(tmp_path / "hub.db")
    service = open_service(db)
    service.engine.submit([_payment(1)]).result(10)
    # Simulate a crash between the hub command and the mailbox write: run a command on the
    # hub directly (no publish), then stop.
    service.engine.call(lambda e, now: e.durable.submit([_payment(2)], now)).result(10)
    # The call's round published it already; roll the published count back as a crash would.
    service.engine.call(
        lambda e, now: e.mailbox._db.connection.execute("UPDATE published SET events = 2")
    ).result(10)
    service.close()
    reopened = open_service(db)
    try:
        messages, _, _ = _read(reopened, CREDITOR)
        uetrs = [json.loads(m.body)["notices"][0]["uetr"] for m in messages]
        assert str(uuid.UUID(int=2)) in uetrs
    finally:
        reopened.close()


def test_status_notices_are_the_json_of_their_fields(service):
    """Notices are written from a template: each body is exactly what `json.dumps` makes of
    the same fields, for settled, queued and refused payments alike."""
    engine = service.engine
    rich = 10**15  # more than the debtor holds: queued
    engine.submit([_payment(n) for n in range(1, 40)]).result(10)  # a batch, settled at once
    engine.submit([_payment(101, amount=12_345), _payment(100, amount=rich)]).result(10)
    engine.submit([_payment(200, debtor="SMZZCN22")]).result(10)  # unknown debtor: no notice
    mixed = [(300, 1, "RUB"), (301, 250, "INR"), (302, 7, "RUB"), (303, 123_456, "KZT")]
    engine.submit([Payment(n, DEBTOR, CREDITOR, a, c) for n, a, c in mixed]).result(10)
    messages, _, _ = _read(service, DEBTOR)
    seen = []
    for message in messages:
        decoded = json.loads(message.body)
        assert json.dumps(decoded, separators=(",", ":")).encode() == message.body
        seen += decoded["notices"]
    by_uetr = {n["uetr"]: n for n in seen}
    assert len([n for n in seen if n["status"] == "settled"]) == 40 + len(mixed)
    queued = by_uetr[str(uuid.UUID(int=100))]
    assert (queued["status"], queued["reason"]) == ("queued", None)
    assert queued["amount"] == "10000000000000.00"
    settled = by_uetr[str(uuid.UUID(int=101))]
    assert (settled["amount"], settled["currency"]) == ("123.45", "CNY")
    # Currencies mixed in one round: each amount with its own payment and currency.
    assert [(by_uetr[str(uuid.UUID(int=n))]["amount"], by_uetr[str(uuid.UUID(int=n))]["currency"])
            for n, _, _ in mixed] == [("0.01", "RUB"), ("2.50", "INR"), ("0.07", "RUB"),
                                      ("1234.56", "KZT")]  # fmt: skip
    assert (settled["debtor_agent"], settled["creditor_agent"]) == (DEBTOR, CREDITOR)
    assert type(settled["at_ns"]) is int
    engine.call(lambda e, now: e.durable.end_of_day(now)).result(10)  # the queued one: AB03
    later, _, _ = _read(service, DEBTOR, messages[-1].sequence)
    (body,) = [json.loads(m.body) for m in later]
    assert json.dumps(body, separators=(",", ":")).encode() == later[0].body
    assert [(n["uetr"], n["status"], n["reason"]) for n in body["notices"]] == [
        (str(uuid.UUID(int=100)), "rejected", "AB03")
    ]


def test_a_failed_mailbox_write_fails_only_what_waits_for_it(service):
    """A payment is answered once its command is durable, whatever becomes of the mailbox
    transaction that carries its notices; work answered by the writer (here a mailbox read,
    as any call) gets the error of a failed transaction. The failed notices go out with the
    next transaction, in order."""
    from samarkand.store import StoreError

    engine = service.engine
    mailbox = engine.mailbox
    real = type(mailbox).publish
    calls = []
    failed = threading.Event()

    def failing_once(self, messages, *, events_published):
        calls.append(len(messages))
        if len(calls) == 1:
            failed.set()
            raise StoreError("disk full")
        return real(self, messages, events_published=events_published)

    type(mailbox).publish = failing_once
    try:
        gate = threading.Event()
        engine.call(lambda _e, _now: gate.wait(5))  # holds the hub: the next two share a round
        paid = engine.submit([_payment(1)])
        waiting = engine.call(lambda _e, _now: "answered after the write")
        gate.set()
        assert paid.result(10) == [(None, Status.SETTLED)]  # durable: answered, not failed
        assert isinstance(waiting.exception(10), StoreError)
        assert failed.wait(10)
        assert engine.submit([_payment(2)]).result(10) == [(None, Status.SETTLED)]
        messages, _, _ = _read(service, CREDITOR)  # a read waits for the mailbox's writes
    finally:
        type(mailbox).publish = real
    uetrs = [n["uetr"] for m in messages for n in json.loads(m.body)["notices"]]
    assert uetrs == [str(uuid.UUID(int=1)), str(uuid.UUID(int=2))]
    assert calls == [2, 4]  # debtor and creditor notices: the first round's again with the next


def test_a_request_whose_waiter_went_away_stops_nothing(service):
    """A client that goes away cancels its future (as `asyncio.wrap_future` does): its
    payment is still decided, durable and told in the mailbox, and the thread answers every
    other request of the round, and of the rounds after."""
    engine = service.engine
    gate = threading.Event()
    held = engine.call(lambda _e, _now: gate.wait(5))
    gone = engine.submit([_payment(31)])
    kept = engine.submit([_payment(32)])
    call_gone = engine.call(lambda _e, _now: "gone")
    call_kept = engine.call(lambda _e, _now: "kept")
    assert gone.cancel() and call_gone.cancel()
    gate.set()
    assert held.result(10) is True
    assert kept.result(10) == [(None, Status.SETTLED)]
    assert call_kept.result(10) == "kept"
    assert engine.submit([_payment(33)]).result(10) == [(None, Status.SETTLED)]
    entries = engine.call(lambda e, _now: e.durable.hub.engine.entries).result(10)
    assert entries[31].status is Status.SETTLED  # decided all the same
    messages, _, _ = _read(service, CREDITOR)
    told = [n["uetr"] for m in messages for n in json.loads(m.body)["notices"]]
    assert str(uuid.UUID(int=31)) in told


def test_a_message_stopped_before_its_mailbox_write_posts_its_camt054_when_resent(tmp_path):
    """The process stops after a message was decided but before its responses were in the
    mailboxes (here: their transaction fails, then the service is closed): the message was
    not answered, and it is not recorded as answered either. Sent again after the restart,
    it is answered from the hub's state, and the creditor gets its camt.054; sent once more,
    it gets that answer again, byte for byte, and nothing is posted twice."""
    from samarkand.bench.iso import bulk_pacs008
    from samarkand.service.mailbox import Mailbox
    from samarkand.service.messages import submit_message
    from samarkand.store import StoreError

    db = str(tmp_path / "hub.db")
    data = bulk_pacs008(2, debtor=DEBTOR + "XXX", creditors=(CREDITOR + "XXX",),
                        first_uetr=70_000, msg_id="LOST-054", settlement_date=None)  # fmt: skip

    def send(service):
        return service.engine.call(lambda e, now: submit_message(e, data, now, caller=DEBTOR))

    def camt054s(service) -> list[bytes]:
        messages, _, _ = _read(service, CREDITOR)
        return [m.body for m in messages if m.kind == "camt.054"]

    service = open_service(db)
    real = Mailbox.publish

    def failing(self, messages, *, events_published):
        raise StoreError("disk full")

    Mailbox.publish = failing
    try:
        assert isinstance(send(service).exception(10), StoreError)  # not answered
    finally:
        Mailbox.publish = real
        service.close()  # what the writer still held is gone, as with a crash

    reopened = open_service(db)
    try:
        assert camt054s(reopened) == []
        answer = send(reopened).result(10).answer
        assert answer is not None and answer.data.count(b"<TxSts>ACSC</TxSts>") == 2
        [notice] = camt054s(reopened)
        assert notice.count(b"<Ntry>") == 2 and b"DBIT" not in notice  # two credits
        again = send(reopened).result(10)
        assert again.processed.replayed and again.answer.data == answer.data
        assert len(camt054s(reopened)) == 1
    finally:
        reopened.close()


def test_a_command_cut_off_by_its_store_is_completed_by_reopening_the_hub(service, monkeypatch):
    """The ledger store fails while a logged command runs (disk I/O error): its request is
    told that what it did is kept; the next round opens the store again, whose replay
    completes the command, and the service carries on without a restart."""
    import sqlite3

    from samarkand.hub.durable import CommandInterrupted
    from samarkand.store.sqlite import SqliteStore

    engine = service.engine
    real = SqliteStore._write_batch
    failures = []

    def failing_once(self, transaction, summary):
        if not failures:
            failures.append(summary.sequence)
            raise sqlite3.OperationalError("disk I/O error")
        return real(self, transaction, summary)

    monkeypatch.setattr(SqliteStore, "_write_batch", failing_once)
    cut = engine.submit([_payment(61)])
    assert isinstance(cut.exception(10), CommandInterrupted)
    assert engine.submit([_payment(62)]).result(10) == [(None, Status.SETTLED)]
    assert engine.reopened == 1 and failures
    entries = engine.call(lambda e, _now: e.durable.hub.engine.entries).result(10)
    assert entries[61].status is Status.SETTLED  # completed by the replay
    assert engine.submit([_payment(61)]).result(10) == [(Reason.DUPLICATE_UETR, None)]
    messages, _, _ = _read(service, CREDITOR)
    told = [n["uetr"] for m in messages for n in json.loads(m.body)["notices"]]
    assert told.count(str(uuid.UUID(int=61))) == 1 and str(uuid.UUID(int=62)) in told


def test_a_failing_reopen_is_tried_again_less_and_less_often(tmp_path, monkeypatch):
    """While the store cannot be opened again, each failed reopen doubles the wait before
    the next (a long log is not replayed over and over); requests meanwhile get the broken
    hub's 503, and the first reopen that succeeds brings the service back."""
    import sqlite3

    from samarkand.hub.durable import HubBroken
    from samarkand.service.engine import REOPEN_INTERVAL_NS
    from samarkand.store import StoreError
    from samarkand.store.sqlite import SqliteStore

    moments = [2_000_000_000_000_000_000]
    service = open_service(str(tmp_path / "hub.db"), clock=lambda: moments[0])
    engine = service.engine
    engine._monotonic = lambda: moments[0]  # the waits between reopens, in the test's time
    try:
        real_write, real_open = SqliteStore._write_batch, engine._open_hub
        attempts = []

        def failing_write(self, transaction, summary):
            raise sqlite3.OperationalError("disk I/O error")

        def failing_open():
            attempts.append(moments[0])
            raise StoreError("disk I/O error")

        monkeypatch.setattr(SqliteStore, "_write_batch", failing_write)
        assert isinstance(engine.submit([_payment(71)]).exception(10), StoreError)
        monkeypatch.setattr(SqliteStore, "_write_batch", real_write)
        engine._open_hub = failing_open
        second = REOPEN_INTERVAL_NS
        for step in range(8):  # a request every half interval, for four intervals
            assert isinstance(engine.submit([_payment(80 + step)]).exception(10), HubBroken)
            moments[0] += second // 2
        start = attempts[0]
        # Tried at once, then 1 and 2 intervals later (the next would be 4 later).
        assert [a - start for a in attempts] == [0, second, 3 * second]
        engine._open_hub = real_open
        moments[0] = start + 7 * second
        assert engine.submit([_payment(90)]).result(10) == [(None, Status.SETTLED)]
        assert engine.reopened == 1
    finally:
        service.close()


def test_health_says_whether_the_hub_takes_requests(tmp_path, monkeypatch):
    """`/health`: 200 while the hub takes requests, 503 `reopening` while its store failed
    and cannot be opened again yet, 503 `stopped` once its thread is gone."""
    import sqlite3

    from samarkand.store import StoreError
    from samarkand.store.sqlite import SqliteStore
    from tests.service.conftest import TestClient

    service = open_service(str(tmp_path / "hub.db"))
    engine = service.engine
    client = TestClient(service.app)
    try:
        assert (client.get("/health").status_code, client.get("/health").json()) == (
            200, {"status": "ok"},
        )  # fmt: skip
        head = client.head("/health")  # as a load balancer's check sends it
        assert (head.status_code, head.content) == (200, b"")
        real_open = engine._open_hub

        def failing_write(self, transaction, summary):
            raise sqlite3.OperationalError("disk I/O error")

        def failing_open():
            raise StoreError("disk I/O error")

        monkeypatch.setattr(SqliteStore, "_write_batch", failing_write)
        engine._open_hub = failing_open
        assert isinstance(engine.submit([_payment(101)]).exception(10), StoreError)
        monkeypatch.undo()
        answer = client.get("/health")
        assert (answer.status_code, answer.json()) == (503, {"status": "reopening"})
        assert client.head("/health").status_code == 503
        engine._open_hub = real_open
        engine._reopen_after = 0  # as when the wait is over
        assert engine.submit([_payment(102)]).result(10) == [(None, Status.SETTLED)]
        assert client.get("/health").status_code == 200
    finally:
        service.close()
    answer = client.get("/health")
    assert (answer.status_code, answer.json()) == (503, {"status": "stopped"})


def test_a_running_hub_can_be_looked_at_from_another_process(service, tmp_path):
    """`samarkand track` and `statement` open the hub read-only beside the running service:
    never a store "ahead of its log" while payments go on, and nothing written."""
    from samarkand.hub.durable import DurableHub

    engine = service.engine
    db = engine.durable.durable_ledger.store.path
    stop = threading.Event()
    submitted: list[int] = []

    def traffic() -> None:
        number = 10_000
        while not stop.is_set():
            number += 1
            engine.submit([_payment(number)]).result(10)
            submitted.append(number)

    engine.submit([_payment(10_000)]).result(10)
    thread = threading.Thread(target=traffic)
    thread.start()
    looks = 0
    try:
        deadline = time.monotonic() + 30
        while (looks < 3 or len(submitted) < 50) and time.monotonic() < deadline:
            looked = DurableHub.open(db, read_only=True)
            try:
                assert looked.hub.engine.entries  # the payments logged when it looked
            finally:
                looked.close()
            looks += 1
    finally:
        stop.set()
        thread.join()
    assert looks >= 3 and len(submitted) >= 50  # looked again and again while it wrote


def test_a_read_only_open_writes_nothing_when_the_store_is_behind_its_log(tmp_path, monkeypatch):
    """A command logged and not yet in the store (a writer under way, or a stop in between):
    a read-only open shows it from the replay and leaves the store as it is; a writer's open
    completes the store."""
    import sqlite3

    from samarkand.hub.durable import CommandInterrupted, DurableHub
    from samarkand.store import open_store
    from samarkand.store.sqlite import SqliteStore

    db = str(tmp_path / "hub.db")
    service = open_service(db)
    try:
        service.engine.submit([_payment(1)]).result(10)

        def failing_write(self, transaction, summary):
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(SqliteStore, "_write_batch", failing_write)
        assert isinstance(service.engine.submit([_payment(2)]).exception(10), CommandInterrupted)
        monkeypatch.undo()
    finally:
        service.close()  # before any reopen: the second payment is logged, not stored
    stored = open_store(db).load().batch_count
    looked = DurableHub.open(db, read_only=True)
    try:
        assert looked.hub.engine.entries[2].status is Status.SETTLED
    finally:
        looked.close()
    assert open_store(db).load().batch_count == stored  # nothing written
    with DurableHub.open(db) as writer:
        assert writer.hub.engine.entries[2].status is Status.SETTLED
    assert open_store(db).load().batch_count == stored + 1  # the writer caught it up


def test_the_hub_is_frozen_out_of_the_collectors_passes_once_its_garbage_is_collected(
    tmp_path,
):
    """`freeze_heap` (what `serve` asks): the opened hub, and then what each stretch of
    events added, is frozen out of the garbage collector's passes, which otherwise walk
    every payment the hub holds with every thread stopped; garbage made in between is
    collected first, never frozen."""
    import gc
    import weakref

    class Node:
        cycle: object = None

    enabled = gc.isenabled()
    gc.disable()  # only the engine's own collections run
    try:
        service = open_service(str(tmp_path / "hub.db"), tmp_path / "keys.json", freeze_heap=True)
        try:
            engine = service.engine
            opened = gc.get_freeze_count()
            assert opened > 0  # the hub, once opened
            engine.freeze_heap = 4  # events between two freezes
            node = Node()
            node.cycle = node  # cyclic garbage: only a collection frees it
            gone = weakref.ref(node)
            del node
            payments = [Payment(uuid.UUID(int=n).int, DEBTOR, CREDITOR, 100, "CNY")
                        for n in range(1, 4)]  # fmt: skip
            assert engine.submit(payments).result(30) == [(None, Status.SETTLED)] * 3
            engine.call(lambda _engine, _now: None).result(30)  # after that round's freeze
            assert gone() is None  # collected, not frozen with the rest
            assert gc.get_freeze_count() > opened  # what the round made is frozen too
            quiet = gc.get_freeze_count()
            engine.call(lambda _engine, _now: None).result(30)
            engine.call(lambda _engine, _now: None).result(30)
            assert gc.get_freeze_count() <= quiet  # no new events: nothing more frozen
        finally:
            service.close()
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()
