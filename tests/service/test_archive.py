"""Archived payments over HTTP: the operator (or the calendar's `keep_days`, on the hub's
clock) moves past days' final payments out of memory; the tracker still shows them to their
agents only, their UETRs stay taken, and a restart keeps all of it."""

from __future__ import annotations

import datetime as dt
import time

from tests.service.conftest import CREDITOR, DEBTOR, OTHER, served, wait_until

OPERATOR = "OPERATOR"
HOUR_NS = 3_600 * 10**9


def _status(api) -> dict:
    response = api.request("GET", "/v1/operator/status", OPERATOR)
    assert response.status_code == 200
    return response.json()


def _next_day(api) -> None:
    """End this day; open the next, cutting off tomorrow."""
    assert api.request("POST", "/v1/operator/end-of-day", OPERATOR).status_code == 200
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    opened = api.request("POST", "/v1/operator/open-day", OPERATOR, {"cut_off": tomorrow})
    assert opened.status_code == 200, opened.text


def test_the_operator_archives_past_days_and_the_tracker_still_finds_them(tmp_path, monkeypatch):
    from samarkand.service import operator_routes

    monkeypatch.setattr(operator_routes, "ARCHIVE_SLICE", 1)  # a payment per round
    db = str(tmp_path / "hub.db")
    with served(db) as (_, api):
        refused = api.request("POST", "/v1/operator/archive", OPERATOR, {})
        assert refused.status_code == 409  # no day was opened with its time yet
        assert refused.json()["error"]["field"] == "before"
        settled, answer = api.pay()
        assert answer.json()["status"] == "ACSC"
        queued, answer = api.pay(amount="99999999999999.00")
        assert answer.json()["status"] == "ACSP"
        _next_day(api)  # the queued one is rejected at the end of the day
        before = _status(api)["hub"]
        archived = api.request("POST", "/v1/operator/archive", OPERATOR, {})
        assert archived.status_code == 200, archived.text
        body = archived.json()
        assert body["payments"] >= 2 and body["archived"] == before["archived"] + body["payments"]
        after = _status(api)["hub"]
        assert after["events"] == before["events"]  # positions stay counted
        assert after["events_kept"] == before["events_kept"] - body["events"]
        assert after["archived_before"] == body["before"]
        tracked = api.request("GET", f"/v1/payments/{settled['uetr']}", DEBTOR).json()
        assert (tracked["status"], tracked["archived"]) == ("settled", True)
        assert [e["status"] for e in tracked["events"]] == ["received", "settled"]
        assert (tracked["amount"], tracked["creditor_agent"]) == ("100.00", CREDITOR)
        rejected = api.request("GET", f"/v1/payments/{queued['uetr']}", CREDITOR).json()
        assert (
            rejected["status"] == "rejected" and rejected["events"][-1]["reason"]["code"] == "AB03"
        )
        assert api.request("GET", f"/v1/payments/{settled['uetr']}", OTHER).status_code == 404
        again = api.pay(uetr=settled["uetr"])[1].json()
        assert again["status"] == "RJCT" and again["reason"]["code"] == "DUPL"
        cancel = api.request("POST", f"/v1/payments/{settled['uetr']}/cancel", DEBTOR)
        assert cancel.status_code == 409 and cancel.json()["error"]["code"] == "PTNA"
        fresh, answer = api.pay()  # today's payment stays whole
        assert answer.json()["status"] == "ACSC"
        future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
        later = api.request("POST", "/v1/operator/archive", OPERATOR, {"before": future})
        assert later.status_code == 409 and "past days" in later.json()["error"]["message"]
        naive = api.request(
            "POST", "/v1/operator/archive", OPERATOR, {"before": "2026-01-01T00:00:00"}
        )
        assert naive.status_code == 422 and naive.json()["error"]["field"] == "before"
        for bad in ({"before": "yesterday"}, {"after": "2026-01-01T00:00:00Z"}, []):
            response = api.request("POST", "/v1/operator/archive", OPERATOR, bad)
            assert response.status_code == 422, (bad, response.text)
        assert api.request("POST", "/v1/operator/archive", DEBTOR, {}).status_code == 403
        audit = api.request("GET", "/v1/operator/audit?limit=1000", OPERATOR).json()["entries"]
        slices = [e["by"] for e in audit if e["op"] == "archive"]
        assert slices == [OPERATOR] * (body["payments"] + 1)  # and one that found none left
    with served(db) as (service, api):  # replayed (or from the snapshot): the same
        assert _status(api)["hub"]["archived"] == body["archived"]
        tracked = api.request("GET", f"/v1/payments/{settled['uetr']}", DEBTOR).json()
        assert tracked["archived"] is True and tracked["status"] == "settled"
        today = api.request("GET", f"/v1/payments/{fresh['uetr']}", DEBTOR).json()
        assert today["archived"] is False and len(today["events"]) == 2
        assert api.pay(uetr=queued["uetr"])[1].json()["reason"]["code"] == "DUPL"


def test_the_hubs_clock_archives_what_keep_days_leaves_behind(tmp_path):
    with served(str(tmp_path / "hub.db")) as (service, api):
        first, _ = api.pay()
        _next_day(api)
        second, _ = api.pay()
        _next_day(api)
        assert _status(api)["hub"]["archived"] == 0
        calendar = {"opens": "08:00", "cut_off": "18:00", "time_zone": "UTC", "keep_days": 1}
        answer = api.request("PUT", "/v1/operator/calendar", OPERATOR, calendar)
        assert answer.status_code == 200 and answer.json()["calendar"]["keep_days"] == 1
        # The day before the last opening is kept: only the first day's payment goes.
        wait_until(lambda: _status(api)["hub"]["archived"] == 1, "the clock archived nothing")
        assert _status(api)["engine"]["archives"] == 1
        engine = service.engine.durable.hub.engine
        assert engine.find(int(first["uetr"].replace("-", ""), 16)) is not None
        assert int(first["uetr"].replace("-", ""), 16) not in engine.entries
        assert int(second["uetr"].replace("-", ""), 16) in engine.entries
        time.sleep(0.2)  # further rounds: nothing more is due
        assert _status(api)["engine"]["archives"] == 1
        bad = api.request("PUT", "/v1/operator/calendar", OPERATOR, {**calendar, "keep_days": -1})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "keep_days"


def test_no_archive_while_work_in_turns_is_under_way(service, api):
    """An ISO 20022 message decided in turns holds positions of the hub's events: while one
    is under way the archive is refused, and nothing is logged."""
    import threading

    release = threading.Event()

    def in_turns(_engine, now):
        while not release.is_set():
            now = yield
        return now

    under_way = service.engine.steps(in_turns)
    wait_until(lambda: service.engine.under_way == 1, "the work never started")
    commands = _status(api)["hub"]["commands"]
    refused = api.request("POST", "/v1/operator/archive", OPERATOR, {})
    release.set()
    under_way.result(5)
    assert refused.status_code == 409 and "under way" in refused.json()["error"]["message"]
    assert _status(api)["hub"]["commands"] == commands
