"""The hub's business calendar over HTTP: once every currency's day is closed, the hub's own
clock opens the next working day at the calendar's time with its cut-off, once, across a
restart; every bad calendar is a 422 naming its field, changing nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tests.service.conftest import served, wait_until

OPERATOR = "OPERATOR"
HOUR_NS = 3_600 * 10**9
MINUTE_NS = 60 * 10**9


def _hh_mm(ns: int) -> str:
    return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%H:%M")


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _currencies(api) -> list[dict]:
    response = api.request("GET", "/v1/operator/configuration", OPERATOR)
    assert response.status_code == 200
    return response.json()["currencies"]


def _opened_days(api) -> list[dict]:
    audit = api.request("GET", "/v1/operator/audit?limit=1000", OPERATOR).json()["entries"]
    return [entry for entry in audit if entry["op"] == "open_day"]


def test_the_hubs_clock_opens_the_next_business_day_once_every_currency_is_closed(tmp_path):
    offset = [0]
    db = str(tmp_path / "hub.db")
    clock = lambda: time.time_ns() + offset[0]  # noqa: E731
    start = time.time_ns()
    # The calendar's day opens 25 h and 5 min from now (past the dev hub's cut-offs, a day
    # ahead) and cuts off an hour later, every day of the week, on UTC's clock.
    opening = (start + 25 * HOUR_NS + 5 * MINUTE_NS) // MINUTE_NS * MINUTE_NS
    cut_off = opening + HOUR_NS
    rub_cut_off = opening + 30 * MINUTE_NS  # RUB's own, half an hour after the opening
    body = {"opens": _hh_mm(opening), "cut_off": _hh_mm(cut_off), "time_zone": "UTC",
            "weekdays": [1, 2, 3, 4, 5, 6, 7],
            "currency_cut_offs": {"RUB": _hh_mm(rub_cut_off)}}  # fmt: skip
    with served(db, clock=clock) as (service, api):
        answer = api.request("PUT", "/v1/operator/calendar", OPERATOR, body)
        assert answer.status_code == 200, answer.text
        shown = answer.json()
        assert shown["calendar"] == {**body, "holidays": []}
        assert shown["day_closed"] is False and shown["next_opening"] is None  # a day is open
        offset[0] = 25 * HOUR_NS  # past every currency's cut-off: the clock closes them all
        wait_until(lambda: all(c["day_closed"] for c in _currencies(api)),
                   "the currencies' days never closed at their cut-offs")  # fmt: skip
        shown = api.request("GET", "/v1/operator/calendar", OPERATOR).json()
        assert shown["day_closed"] is True
        assert (shown["next_opening"], shown["next_cut_off"]) == (_iso(opening), _iso(cut_off))
        assert shown["next_cut_offs"]["RUB"] == _iso(rub_cut_off)
        assert shown["next_cut_offs"]["CNY"] == _iso(cut_off)
        late = api.pay()[1].json()
        assert late["status"] == "RJCT" and late["reason"]["code"] == "TM01"
        assert _opened_days(api) == []  # its opening has not come
        offset[0] = opening - start + MINUTE_NS
        wait_until(lambda: not any(c["day_closed"] for c in _currencies(api)),
                   "the hub's clock never opened the calendar's day")  # fmt: skip
        cut_offs = {c["currency"]: c["cut_off"] for c in _currencies(api)}
        assert cut_offs.pop("RUB") == _iso(rub_cut_off)
        assert set(cut_offs.values()) == {_iso(cut_off)}
        status = api.request("GET", "/v1/operator/status", OPERATOR).json()
        assert status["engine"]["day_opens"] == 1
        wait_until(lambda: service.engine.durable.snapshot_covers >= status["hub"]["commands"],
                   "the opened day's snapshot was never written")  # fmt: skip
        opened = _opened_days(api)
        assert [entry["by"] for entry in opened] == [None]  # the hub's clock, not a key
        assert api.pay()[1].json()["status"] == "ACSC"
        shown = api.request("GET", "/v1/operator/calendar", OPERATOR).json()
        assert shown["day_closed"] is False and shown["next_opening"] is None
    with served(db, clock=clock) as (reopened, api):
        assert reopened.engine.stats.day_opens == 0  # replayed, not opened again
        assert len(_opened_days(api)) == 1
        assert not any(c["day_closed"] for c in _currencies(api))
        assert api.request("DELETE", "/v1/operator/calendar", OPERATOR).json()["calendar"] is None
        offset[0] = cut_off - start + MINUTE_NS  # the day closes; no calendar opens the next
        wait_until(lambda: all(c["day_closed"] for c in _currencies(api)),
                   "the calendar's day never closed at its cut-off")  # fmt: skip
        shown = api.request("GET", "/v1/operator/calendar", OPERATOR).json()
        assert shown == {"calendar": None, "day_closed": True, "next_opening": None,
                         "next_cut_off": None, "next_cut_offs": None}  # fmt: skip
    with served(db, clock=clock) as (_, api):
        assert api.request("GET", "/v1/operator/calendar", OPERATOR).json()["calendar"] is None


GOOD = {"opens": "08:00", "cut_off": "18:00", "time_zone": "Asia/Tashkent"}


@pytest.mark.parametrize(
    "changes, field",
    [({"opens": "8:00"}, "opens"), ({"opens": "24:00"}, "opens"),
     ({"cut_off": "18:00:00"}, "cut_off"), ({"opens": "18:00"}, "opens"),
     ({"time_zone": "Mars/Olympus"}, "time_zone"),
     ({"time_zone": "../../etc/passwd"}, "time_zone"), ({"time_zone": ""}, "time_zone"),
     ({"time_zone": "Asia"}, "time_zone"), ({"weekdays": []}, "weekdays"),
     ({"weekdays": [0]}, "weekdays"), ({"weekdays": [1, 1]}, "weekdays"),
     ({"weekdays": ["1"]}, "weekdays"), ({"weekdays": [1.0]}, "weekdays"),
     ({"holidays": ["2027-02-30"]}, "holidays"),
     ({"holidays": ["2027-01-01T00:00:00Z"]}, "holidays"),
     ({"holidays": "2027-01-01"}, "holidays"), ({"opens": 800}, "opens"),
     ({"currency_cut_offs": {"EUR": "09:00"}}, "currency_cut_offs"),
     ({"currency_cut_offs": {"RUB": "07:00"}}, "currency_cut_offs"),
     ({"currency_cut_offs": {"rub": "09:00"}}, "currency_cut_offs"),
     ({"currency_cut_offs": {"RUB": "9:00"}}, "currency_cut_offs"),
     ({"weekday": [1]}, "weekday")],
)  # fmt: skip
def test_a_bad_calendar_is_refused_naming_its_field_and_changes_nothing(api, changes, field):
    before = api.request("GET", "/v1/operator/calendar", OPERATOR).json()
    response = api.request("PUT", "/v1/operator/calendar", OPERATOR, {**GOOD, **changes})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"].split(".")[0] == field  # weekdays.0: the item
    assert api.request("GET", "/v1/operator/calendar", OPERATOR).json() == before


def test_holidays_are_kept_once_each_in_order(api):
    body = {**GOOD, "holidays": ["2027-01-07", "2027-01-01", "2027-01-07"], "weekdays": [6, 1]}
    shown = api.request("PUT", "/v1/operator/calendar", OPERATOR, body).json()
    assert shown["calendar"]["holidays"] == ["2027-01-01", "2027-01-07"]
    assert shown["calendar"]["weekdays"] == [6, 1]
