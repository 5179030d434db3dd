"""The hub's business calendar over HTTP: once every currency's day is closed, the hub's own
clock opens the next working day at the calendar's time with its cut-off, once, across a
restart; every bad calendar is a 422 naming its field, changing nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

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


def _a_day_ahead() -> tuple[list[int], Any, int, int, int]:
    """A clock that a test moves on (its offset), the time now, and the opening and cut-off
    of a calendar's day 25 h and 5 min from now (past the dev hub's cut-offs, a day ahead),
    an hour long."""
    offset = [0]
    clock = lambda: time.time_ns() + offset[0]  # noqa: E731
    start = time.time_ns()
    opening = (start + 25 * HOUR_NS + 5 * MINUTE_NS) // MINUTE_NS * MINUTE_NS
    return offset, clock, start, opening, opening + HOUR_NS


def test_the_hubs_clock_opens_the_next_business_day_once_every_currency_is_closed(tmp_path):
    db = str(tmp_path / "hub.db")
    # Every day of the week, on UTC's clock.
    offset, clock, start, opening, cut_off = _a_day_ahead()
    rub_cut_off = opening + 30 * MINUTE_NS  # RUB's own, half an hour after the opening
    body = {"opens": _hh_mm(opening), "cut_off": _hh_mm(cut_off), "time_zone": "UTC",
            "weekdays": [1, 2, 3, 4, 5, 6, 7],
            "currency_cut_offs": {"RUB": _hh_mm(rub_cut_off)}}  # fmt: skip
    with served(db, clock=clock) as (service, api):
        answer = api.request("PUT", "/v1/operator/calendar", OPERATOR, body)
        assert answer.status_code == 200, answer.text
        shown = answer.json()
        assert shown["calendar"] == {
            **body,
            "holidays": [],
            "currency_weekdays": {},
            "currency_holidays": {},
            "keep_days": None,
        }
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
                         "next_cut_off": None, "next_cut_offs": None,
                         "next_resting": None}  # fmt: skip
    with served(db, clock=clock) as (_, api):
        assert api.request("GET", "/v1/operator/calendar", OPERATOR).json()["calendar"] is None


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%d")


def test_a_currency_rests_on_its_own_holiday_while_the_others_settle(tmp_path):
    """RUB's holiday: the calendar's clock opens the day for every other currency, and RUB
    stays closed all day (a payment in it is refused DT01, its cut-off does not move). A
    day on which every currency rests is not opened at all; the next RUB day is."""
    db = str(tmp_path / "hub.db")
    offset, clock, start, opening, cut_off = _a_day_ahead()
    holiday, next_day = _day(cut_off), _day(cut_off + 24 * HOUR_NS)
    with served(db, clock=clock) as (_, api):
        carried = [c["currency"] for c in _currencies(api)]
        # The day after RUB's holiday, every currency rests: the clock passes over it.
        body = {"opens": _hh_mm(opening), "cut_off": _hh_mm(cut_off), "time_zone": "UTC",
                "weekdays": [1, 2, 3, 4, 5, 6, 7],
                "currency_holidays": {c: [next_day] + [holiday] * (c == "RUB") for c in carried},
                "currency_weekdays": {"INR": [1, 2, 3, 4, 5, 6, 7]}}  # fmt: skip
        answer = api.request("PUT", "/v1/operator/calendar", OPERATOR, body)
        assert answer.status_code == 200, answer.text
        shown = answer.json()["calendar"]
        assert shown["currency_holidays"]["RUB"] == sorted({holiday, next_day})
        assert shown["currency_weekdays"] == {"INR": [1, 2, 3, 4, 5, 6, 7]}
        offset[0] = 25 * HOUR_NS  # every currency's day of today closes
        wait_until(lambda: all(c["day_closed"] for c in _currencies(api)),
                   "the currencies' days never closed at their cut-offs")  # fmt: skip
        shown = api.request("GET", "/v1/operator/calendar", OPERATOR).json()
        assert shown["next_opening"] == _iso(opening)
        assert shown["next_resting"] == ["RUB"]
        assert shown["next_cut_offs"]["RUB"] == _iso(opening)  # closed from its opening
        offset[0] = opening - start + MINUTE_NS
        wait_until(lambda: not all(c["day_closed"] for c in _currencies(api)),
                   "the hub's clock never opened the calendar's day")  # fmt: skip
        currencies = {c["currency"]: c for c in _currencies(api)}
        assert [c for c, row in currencies.items() if row["resting"]] == ["RUB"]
        assert [c for c, row in currencies.items() if row["day_closed"]] == ["RUB"]
        rub = api.pay(currency="RUB", amount="1.00")[1].json()
        assert rub["status"] == "RJCT" and rub["reason"]["code"] == "DT01", rub
        assert api.pay()[1].json()["status"] == "ACSC"  # CNY settles
        later = {"cut_off": _iso(cut_off + HOUR_NS)}
        moved = api.request("PUT", "/v1/operator/cut-offs/RUB", OPERATOR, later)
        assert moved.status_code == 409, moved.text
        assert "does not settle" in moved.json()["error"]["message"]
        assert api.pay(currency="RUB", amount="1.00")[1].json()["reason"]["code"] == "DT01"
        # Past the cut-off, the next day opened is the one after the day every currency
        # rests: two days on, with RUB open again.
        offset[0] = cut_off - start + MINUTE_NS
        wait_until(lambda: all(c["day_closed"] for c in _currencies(api)),
                   "the calendar's day never closed at its cut-off")  # fmt: skip
        shown = api.request("GET", "/v1/operator/calendar", OPERATOR).json()
        assert shown["next_opening"] == _iso(opening + 48 * HOUR_NS)
        assert shown["next_resting"] == []
    with served(db, clock=clock) as (reopened, api):  # replayed: RUB rested that day
        assert reopened.engine.durable.hub.engine.resting == {"RUB"}
        assert api.request("GET", "/v1/operator/calendar", OPERATOR).json()["next_resting"] == []
        assert len(_opened_days(api)) == 1


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
     ({"currency_weekdays": {"RUB": []}}, "currency_weekdays"),
     ({"currency_weekdays": {"RUB": [8]}}, "currency_weekdays"),
     ({"currency_weekdays": {"RUB": [1, 1]}}, "currency_weekdays"),
     ({"currency_weekdays": {"RUB": [6]}}, "currency_weekdays"),  # the hub rests then
     ({"currency_weekdays": {"EUR": [1]}}, "currency_weekdays"),
     ({"currency_weekdays": {"RUB": "1"}}, "currency_weekdays"),
     ({"currency_holidays": {"RUB": ["2027-02-30"]}}, "currency_holidays"),
     ({"currency_holidays": {"RUB": ["2027-1-1"]}}, "currency_holidays"),
     ({"currency_holidays": {"EUR": ["2027-01-01"]}}, "currency_holidays"),
     ({"currency_holidays": {"RUB": ["2027-01-01"] * 401}}, "currency_holidays"),
     ({"currency_holidays": ["2027-01-01"]}, "currency_holidays"),
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
