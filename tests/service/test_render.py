"""The camt.054s of the service's messages made in a process of their own: the same bytes
as made on any thread, in the mailboxes of the participants told; made where they are taken
when the process ends, and by a new process for what follows."""

from __future__ import annotations

import os
import signal
import uuid

import pytest

from samarkand.bench.iso import bulk_pacs008
from samarkand.hub.messages import HUB_BIC
from samarkand.hub.notifications import Envelope, Settlements, render
from samarkand.service import render as render_module
from samarkand.service.messages import submit_message_steps
from samarkand.service.render import Renderer
from samarkand.service.server import open_service
from samarkand.settlement.participants import account_id
from tests.service.conftest import CREDITOR, DEBTOR

CNY = 156


def _job(payments: int, seed: int = 0) -> Settlements:
    """`payments` plain CNY payments from participant 1 to participants 2 and 3 in turn."""
    debtor, creditors = account_id(CNY, 1, 1), [account_id(CNY, 2, 1), account_id(CNY, 3, 1)]
    accounts, amounts, credits, parties, rows = [], [], [], [], []
    for row in range(payments):
        creditor = creditors[row % 2]
        accounts += [debtor, creditor]
        amounts += [100 + row + seed] * 2
        credits += [False, True]
        parties += ["SMBBCNSH" if creditor == creditors[0] else "SMCCCNSH", "SMAACNSH"]
        rows += [row, row]
    owners = {debtor: "SMAACNSH", creditors[0]: "SMBBCNSH", creditors[1]: "SMCCCNSH"}
    return Settlements(
        Envelope(f"SMKTEST{seed:04d}", "2026-11-29T06:00:00Z", None, HUB_BIC),
        [1_795_900_000_000_000_000 + row for row in range(payments)],
        [uuid.UUID(int=seed * 1_000_000 + row + 1, version=4).int for row in range(payments)],
        accounts, amounts, credits, parties, rows, owners, {CNY: "CNY"},
        {bic: bic for bic in owners.values()},
    )  # fmt: skip


def _bytes(responses) -> list[tuple[str, str, bytes]]:
    return [(r.name, r.receiver, r.data) for r in responses]


@pytest.fixture
def renderer():
    made = Renderer(process=True, least=8)
    made.start()
    yield made
    made.close()


def test_the_process_makes_the_bytes_made_on_any_thread_in_the_order_handed_over(renderer):
    jobs = [_job(size, seed) for seed, size in enumerate((40, 3, 200, 9))]
    handed = [renderer.begin(job) for job in jobs]
    assert [h.number for h in handed] == [0, None, 1, 2]  # the small one is not sent
    for job, one in zip(jobs, handed, strict=True):
        made = renderer.take(one)
        assert _bytes(made) == _bytes(render(job))
        assert [r.receiver for r in made] == ["SMAACNSH", "SMBBCNSH", "SMCCCNSH"]
        assert made[0].data.count(b"<Ntry>") == len(job)
    assert renderer.made_here == 0


def test_a_process_that_ends_leaves_its_work_to_the_writer_and_a_new_one_follows(
    renderer, monkeypatch
):
    monkeypatch.setattr(render_module, "TAKE_WAIT_S", 0.05)
    first = renderer.begin(_job(50, 1))
    assert _bytes(renderer.take(first)) == _bytes(render(_job(50, 1)))
    worker = renderer._worker
    os.kill(worker.pid, signal.SIGSTOP)  # it takes no more work, then it ends
    lost = [renderer.begin(_job(30 + n, n)) for n in range(3)]
    assert [h.number for h in lost] == [1, 2, 3]
    worker.kill()
    worker.join()
    assert [_bytes(renderer.take(h)) for h in lost] == [
        _bytes(render(_job(30 + n, n))) for n in range(3)
    ]
    assert renderer.made_here == 3 and not renderer.running
    # Too soon for another process: made where taken.
    soon = renderer.begin(_job(20, 7))
    assert soon.number is None and _bytes(renderer.take(soon)) == _bytes(render(_job(20, 7)))
    monkeypatch.setattr(render_module, "RESTART_AFTER_S", 0.0)
    later = renderer.begin(_job(20, 8))
    assert later.number == 0 and renderer.running  # the new process's first job
    assert _bytes(renderer.take(later)) == _bytes(render(_job(20, 8)))
    assert renderer.made_here == 3


def test_a_job_the_process_cannot_make_is_made_where_taken_and_fails_there(renderer):
    broken = _job(20)
    broken.currencies.clear()  # no currency for the accounts' ledger: a fault of the caller
    handed = renderer.begin(broken)
    with pytest.raises(KeyError):
        renderer.take(handed)
    good = renderer.begin(_job(20, 2))  # the process goes on
    assert _bytes(renderer.take(good)) == _bytes(render(_job(20, 2)))
    assert renderer.running


def test_a_service_with_the_process_posts_each_bulk_message_s_camt054s(tmp_path):
    service = open_service(str(tmp_path / "hub.db"), render_process=True)
    try:
        engine = service.engine
        data = bulk_pacs008(
            300, debtor=DEBTOR + "XXX", creditors=(CREDITOR + "XXX",), first_uetr=7_000,
            msg_id="RENDER-1", settlement_date=None,
        )  # fmt: skip
        outcome = engine.steps(
            lambda e, now: submit_message_steps(e, data, now, caller=DEBTOR)
        ).result(30)
        assert outcome.answer.data.count(b"<TxSts>ACSC</TxSts>") == 300
        expected = {r.receiver: r.data for r in render(outcome.processed.notifications)}

        def camt054(participant: str) -> list[bytes]:
            read = engine.call(lambda e, _now: e.mailbox.read(participant, 0, 1000))
            found, _, _ = read.result(10)
            return [m.body for m in found if m.kind == "camt.054"]

        assert camt054(DEBTOR) == [expected[DEBTOR]]
        assert camt054(CREDITOR) == [expected[CREDITOR]]
        assert expected[CREDITOR].count(b"<Ntry>") == 300
        assert engine.renderer.running and engine.renderer.made_here == 0
    finally:
        service.close()
    assert not service.engine.renderer.running  # stopped with the service


def test_the_process_ends_when_the_service_s_process_is_killed(tmp_path):
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = (
        "import sys, time\n"
        "from samarkand.service.render import Renderer\n"
        "renderer = Renderer(process=True)\n"
        "renderer.start()\n"
        "print(renderer.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        child = int(parent.stdout.readline())
        time.sleep(1.0)  # the child reads its modules and waits for work
        parent.kill()
        parent.wait()

        def running() -> bool:
            try:
                state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                return False
            return state != "Z"

        deadline = time.monotonic() + 10
        while running() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running()
    finally:
        if parent.poll() is None:
            parent.kill()


def test_without_a_process_to_be_had_the_camt054s_are_made_where_taken(monkeypatch):
    import multiprocessing

    real = multiprocessing.get_context("spawn")

    class NoProcesses:
        Queue = real.Queue

        def Process(self, **_kwargs):  # noqa: N802 - the context's name
            class Refused:
                def start(self):
                    raise OSError(11, "Resource temporarily unavailable")

            return Refused()

    monkeypatch.setattr(render_module.multiprocessing, "get_context", lambda _: NoProcesses())
    renderer = Renderer(process=True, least=8)
    renderer.start()  # logged, not raised
    assert not renderer.running
    handed = renderer.begin(_job(30, 3))
    assert handed.number is None
    assert [r.data for r in renderer.take(handed)] == [r.data for r in render(_job(30, 3))]
    renderer.close()
