"""The engine's payments by status (`stats.by_status`, what `GET /v1/operator/status`
reports) are kept as statuses change: they must be those of counting every payment, through
a whole day of queues, offsetting, DNS windows, cross-currency payments, cancellations and
reorders, and again after a reopen (a replay of the log). The batch path's share is checked
by test_gross_batch.py, whose stats must equal one payment at a time's."""

from __future__ import annotations

from collections import Counter

from samarkand.hub.durable import DurableHub
from samarkand.settlement.payments import Status
from samarkand.sim.day import DayConfig, simulate_day
from samarkand.sim.run import run_day

DAY = DayConfig(
    cross_currency_pct=10, payments=2_500, seed=7, dns_pct=10, urgent_pct=10, timed_pct=5
)


def _every_payment(durable: DurableHub) -> dict[Status, int]:
    counted = Counter(e.status for e in durable.hub.engine.entries.values())
    return {status: counted.get(status, 0) for status in Status}


def test_the_counts_by_status_are_those_of_counting_every_payment(tmp_path) -> None:
    path = tmp_path / "hub.db"
    durable = DurableHub.open(path)
    seen: list[dict[Status, int]] = []
    moved = {"cancelled": 0, "reordered": 0}

    def step(_submitted: int) -> None:
        hub = durable.hub
        queued = [e for e in hub.engine.entries.values() if e.status is Status.QUEUED]
        now = max(hub.clock, durable.durable_ledger.state.timestamp)
        if len(queued) >= 2 and len(seen) % 3 == 0:
            first, last = queued[0], queued[-1]
            if durable.reorder(first.payment.uetr, first.payment.debtor_agent, to_front=False,
                               now=now) is None:  # fmt: skip
                moved["reordered"] += 1
            if durable.cancel(last.payment.uetr, last.payment.debtor_agent, now) is None:
                moved["cancelled"] += 1
        counted = _every_payment(durable)
        assert hub.engine.stats.by_status == counted
        seen.append(counted)

    try:
        run_day(simulate_day(DAY), durable, progress=step)
        assert durable.hub.engine.stats.by_status == _every_payment(durable)
        final = dict(durable.hub.engine.stats.by_status)
    finally:
        durable.close()
    # The checks saw payments waiting, settled, refused and cancelled, and moved some.
    for status in (Status.QUEUED, Status.SETTLED, Status.REJECTED, Status.CANCELLED):
        assert any(counted[status] for counted in seen), status
    assert moved["cancelled"] and moved["reordered"]
    reopened = DurableHub.open(path)  # replayed from the log: the same counts
    try:
        assert reopened.hub.engine.stats.by_status == _every_payment(reopened) == final
    finally:
        reopened.close()
