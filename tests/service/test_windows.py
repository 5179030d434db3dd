"""DNS windows closed on the hub's own clock, as the operator scheduled them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from tests.service.conftest import DEBTOR, served, wait_until

OPERATOR = "OPERATOR"
NS = 10**9


def _currency(api, code: str) -> dict:
    found = api.request("GET", "/v1/operator/configuration", OPERATOR).json()["currencies"]
    return next(c for c in found if c["currency"] == code)


def _status(api, uetr: str) -> str:
    return api.request("GET", f"/v1/payments/{uetr}", DEBTOR).json()["status"]


def test_a_scheduled_window_closes_on_the_hubs_clock_and_outlives_a_restart(tmp_path):
    offset = [0]
    db = str(tmp_path / "hub.db")
    clock = lambda: time.time_ns() + offset[0]  # noqa: E731
    with served(db, clock=clock) as (_, api):
        payment, answer = api.pay(method="dns")
        assert answer.json()["status"] == "ACSP"  # waits for the CNY window
        path = "/v1/operator/windows/CNY"
        scheduled = api.request("PUT", path, OPERATOR, {"every_seconds": 60}).json()
        assert scheduled["every_seconds"] == 60 and scheduled["next_close"].endswith("Z")
        assert _currency(api, "CNY")["window_every_seconds"] == 60
        assert _status(api, payment["uetr"]) == "queued"
        offset[0] = 61 * NS  # past the first close on the hub's clock; nothing is asked
        wait_until(lambda: _status(api, payment["uetr"]) != "queued", "the window never closed")
        track = api.request("GET", f"/v1/payments/{payment['uetr']}", DEBTOR).json()
        assert track["status"] == "settled"
        assert track["events"][-1]["detail"] == "deferred net settlement"
        audit = api.request("GET", "/v1/operator/audit", OPERATOR).json()["entries"]
        assert ("window_schedule", OPERATOR) in {(e["op"], e["by"]) for e in audit}
        later, _ = api.pay(method="dns")  # for the next window, after the restart
    with served(db, clock=clock) as (reopened, api):
        schedule = reopened.engine.durable.hub.engine.window_schedule  # replayed
        every, next_close = schedule["CNY"]
        assert every == 60 * NS and next_close > clock() - 60 * NS
        assert _status(api, later["uetr"]) == "queued"
        offset[0] += 120 * NS  # two periods on: one close settles what waits
        wait_until(lambda: _status(api, later["uetr"]) != "queued",
                   "the window never closed after a restart")  # fmt: skip
        assert schedule["CNY"][1] > clock()  # the next close is ahead, not behind
        stopped = api.request("PUT", "/v1/operator/windows/CNY", OPERATOR, {"every_seconds": 0})
        assert stopped.json()["next_close"] is None
        assert _currency(api, "CNY")["window_every_seconds"] is None


def test_a_window_beat_is_set_on_a_time_of_day_by_its_first_close(api):
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    body = {"every_seconds": 86_400, "first": first.isoformat()}
    scheduled = api.request("PUT", "/v1/operator/windows/CNY", OPERATOR, body)
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["next_close"] == first.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _currency(api, "CNY")["next_window"] == scheduled.json()["next_close"]
    for first, every in ((datetime.now(UTC) - timedelta(minutes=1), 86_400),
                         (datetime.now(UTC) + timedelta(hours=25), 86_400)):  # fmt: skip
        refused = api.request("PUT", "/v1/operator/windows/CNY", OPERATOR,
                              {"every_seconds": every, "first": first.isoformat()})  # fmt: skip
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "first"
    no_zone = {"every_seconds": 600, "first": "2030-01-01T10:00:00"}
    refused = api.request("PUT", "/v1/operator/windows/CNY", OPERATOR, no_zone)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "first"
    no_beat = {"every_seconds": 0, "first": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    refused = api.request("PUT", "/v1/operator/windows/CNY", OPERATOR, no_beat)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "every_seconds"
    assert _currency(api, "CNY")["next_window"] == scheduled.json()["next_close"]  # unchanged


def test_a_window_schedule_out_of_bounds_or_for_no_currency_is_refused(api):
    too_often = api.request("PUT", "/v1/operator/windows/CNY", OPERATOR, {"every_seconds": 30})
    assert too_often.status_code == 422
    assert too_often.json()["error"]["field"] == "every_seconds"
    too_long = api.request("PUT", "/v1/operator/windows/CNY", OPERATOR, {"every_seconds": 90_000})
    assert too_long.status_code == 422
    unknown = api.request("PUT", "/v1/operator/windows/XXX", OPERATOR, {"every_seconds": 60})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "currency"
    by_a_bank = api.request("PUT", "/v1/operator/windows/CNY", DEBTOR, {"every_seconds": 60})
    assert by_a_bank.status_code == 403
    assert _currency(api, "CNY")["window_every_seconds"] is None  # nothing was scheduled
