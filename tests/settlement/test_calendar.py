"""The hub's business calendar: which day opens next, and when, on a zone's wall clock."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samarkand.hub.calendar import (
    HOLIDAYS_MAX,
    NEVER,
    BusinessCalendar,
    minutes_of,
    statement_window,
    time_text,
)

TASHKENT = zoneinfo.ZoneInfo("Asia/Tashkent")  # UTC+5, no summer time
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
WORKDAYS = (1, 2, 3, 4, 5)


def ns(text: str, zone=TASHKENT) -> int:
    """ns of a local time on `zone`'s clock."""
    moment = datetime.fromisoformat(text).replace(tzinfo=zone)
    return int(moment.timestamp()) * 10**9


def local(value: int, zone=TASHKENT) -> str:
    return datetime.fromtimestamp(value // 10**9, zone).strftime("%a %Y-%m-%d %H:%M")


def calendar(opens="08:00", cut_off="18:00", zone="Asia/Tashkent", weekdays=WORKDAYS,
             holidays=(), currency_cut_offs=()) -> BusinessCalendar:  # fmt: skip
    return BusinessCalendar(
        minutes_of(opens), minutes_of(cut_off), zone, weekdays, holidays, currency_cut_offs
    )


def days(cal: BusinessCalendar, now: str, opened: str | None = None, zone=TASHKENT):
    found = cal.next_day(ns(now, zone), zone, opened=None if opened is None else ns(opened, zone))
    return None if found is None else (local(found.opening, zone), local(found.cut_off, zone))


def test_the_next_day_by_the_time_of_day_and_the_week():
    cal = calendar()
    # 2026-11-30 is a Monday.
    assert days(cal, "2026-11-30T07:00") == ("Mon 2026-11-30 08:00", "Mon 2026-11-30 18:00")
    assert days(cal, "2026-11-30T12:00") == ("Mon 2026-11-30 08:00", "Mon 2026-11-30 18:00")
    assert days(cal, "2026-11-30T18:00") == ("Tue 2026-12-01 08:00", "Tue 2026-12-01 18:00")
    assert days(cal, "2026-12-04T18:30") == ("Mon 2026-12-07 08:00", "Mon 2026-12-07 18:00")
    assert days(cal, "2026-12-05T10:00") == ("Mon 2026-12-07 08:00", "Mon 2026-12-07 18:00")
    # In UTC: Tashkent is five hours ahead.
    day = cal.next_day(ns("2026-11-30T07:00"), TASHKENT)
    assert datetime.fromtimestamp(day.opening // 10**9, UTC).hour == 3
    assert (day.cut_off - day.opening) == 10 * 3_600 * 10**9
    assert day.end == day.cut_off and day.cut_offs == {}


def test_a_currency_with_a_cut_off_of_its_own():
    cal = calendar(currency_cut_offs=(("CNY", minutes_of("20:00")), ("RUB", minutes_of("16:00"))))
    day = cal.next_day(ns("2026-11-30T07:00"), TASHKENT)
    assert [local(t) for t in (day.cut_off_of("INR"), day.cut_off_of("RUB"), day.end)] == [
        "Mon 2026-11-30 18:00", "Mon 2026-11-30 16:00", "Mon 2026-11-30 20:00"
    ]  # fmt: skip
    # The day lasts until its last currency cuts off: at 19:00 it is still Monday's.
    assert cal.next_day(ns("2026-11-30T19:00"), TASHKENT) == day
    overnight = calendar(opens="19:30", currency_cut_offs=(("RUB", minutes_of("12:00")),))
    found = overnight.next_day(ns("2026-11-29T20:00"), TASHKENT)
    assert local(found.cut_off_of("RUB")) == "Mon 2026-11-30 12:00"


def test_a_day_opened_already_is_not_opened_again():
    cal = calendar()
    opened_at_eight = days(cal, "2026-11-30T12:00", opened="2026-11-30T08:00")
    assert opened_at_eight == ("Tue 2026-12-01 08:00", "Tue 2026-12-01 18:00")
    # Opened by hand before the calendar's opening: the calendar's day is still to come.
    early = days(cal, "2026-11-30T07:30", opened="2026-11-30T07:00")
    assert early == ("Mon 2026-11-30 08:00", "Mon 2026-11-30 18:00")


def test_holidays_and_weekdays_are_skipped():
    cal = calendar(holidays=("2026-12-31", "2027-01-01"), weekdays=(1, 2, 3, 4, 5, 6))
    assert days(cal, "2026-12-30T19:00") == ("Sat 2027-01-02 08:00", "Sat 2027-01-02 18:00")
    assert days(cal, "2027-01-02T18:00") == ("Mon 2027-01-04 08:00", "Mon 2027-01-04 18:00")


def test_a_day_that_opens_the_evening_before_its_cut_off():
    cal = calendar(opens="19:30", cut_off="18:00")
    assert cal.overnight
    # Monday's day opens on Sunday evening; Friday's cut-off is followed by Monday's day.
    assert days(cal, "2026-11-29T20:00") == ("Sun 2026-11-29 19:30", "Mon 2026-11-30 18:00")
    assert days(cal, "2026-11-30T18:10") == ("Mon 2026-11-30 19:30", "Tue 2026-12-01 18:00")
    assert days(cal, "2026-12-04T18:10") == ("Sun 2026-12-06 19:30", "Mon 2026-12-07 18:00")


def test_the_wall_clock_keeps_its_times_across_a_change_of_summer_time():
    cal = calendar(zone="Europe/Berlin")
    # Summer time ends on Sunday 2026-10-25: 08:00 is 06:00 UTC before and 07:00 UTC after.
    before = cal.next_day(ns("2026-10-23T07:00", BERLIN), BERLIN)
    after = cal.next_day(ns("2026-10-26T07:00", BERLIN), BERLIN)
    hours = [datetime.fromtimestamp(t // 10**9, UTC).hour for t in (*before[:2], *after[:2])]
    assert hours == [6, 16, 7, 17]


def test_no_day_when_every_working_day_in_reach_is_a_holiday():
    mondays = tuple(
        (date(2026, 11, 30) + timedelta(weeks=w)).isoformat() for w in range(HOLIDAYS_MAX)
    )
    cal = calendar(weekdays=(1,), holidays=mondays)
    assert cal.problem() is None
    assert days(cal, "2026-11-29T12:00") is None


def test_a_currency_rests_on_its_own_holidays_and_weekdays():
    # The hub works Monday to Saturday; IRR not on Mondays, RUB not on its holiday.
    cal = BusinessCalendar(
        minutes_of("08:00"), minutes_of("18:00"), "Asia/Tashkent", (1, 2, 3, 4, 5, 6), (),
        (("RUB", minutes_of("20:00")),), (("IRR", (2, 3, 4, 5, 6)),),
        (("RUB", ("2026-12-01", "2026-12-02")),),
    )  # fmt: skip
    assert cal.problem() is None
    monday = cal.next_day(ns("2026-11-30T07:00"), TASHKENT)
    assert (monday.date, monday.resting) == ("2026-11-30", ("IRR",))
    assert monday.cut_off_of("IRR") == monday.opening  # closed from the opening on
    assert monday.cut_off_of("RUB") == ns("2026-11-30T20:00") == monday.end
    tuesday = cal.next_day(ns("2026-12-01T07:00"), TASHKENT)
    assert (tuesday.date, tuesday.resting) == ("2026-12-01", ("RUB",))
    assert tuesday.cut_off_of("RUB") == tuesday.opening and tuesday.cut_off_of("IRR") == ns(
        "2026-12-01T18:00"
    )
    assert tuesday.end == tuesday.cut_off  # RUB's later cut-off does not count: it rests
    assert cal.resting_on(date(2026, 12, 5)) == ()  # Saturday: both settle
    # A day on which every currency the hub settles rests is passed over.
    only_rub = cal.next_day(ns("2026-12-01T07:00"), TASHKENT, currencies=frozenset({"RUB"}))
    assert only_rub.date == "2026-12-03"
    both = frozenset({"RUB", "IRR"})
    assert cal.next_day(ns("2026-12-01T07:00"), TASHKENT, currencies=both).date == "2026-12-01"


@pytest.mark.parametrize(
    "changes, field",
    [({"opens": 24 * 60}, "opens"), ({"cut_off": -1}, "cut_off"),
     ({"opens": 600, "cut_off": 600}, "opens"), ({"weekdays": ()}, "weekdays"),
     ({"weekdays": (0,)}, "weekdays"), ({"weekdays": (8,)}, "weekdays"),
     ({"weekdays": (1, 1)}, "weekdays"), ({"holidays": ("2026-02-30",)}, "holidays"),
     ({"holidays": ("tomorrow",)}, "holidays"),
     ({"holidays": ("2026-01-01",) * (HOLIDAYS_MAX + 1)}, "holidays"),
     ({"weekdays": (True,)}, "weekdays"),
     ({"currency_cut_offs": (("RUB", 400),)}, "currency_cut_offs"),  # before 08:00 opens
     ({"currency_cut_offs": (("RUB", 480),)}, "currency_cut_offs"),  # at the opening
     ({"currency_cut_offs": (("RUB", 1440),)}, "currency_cut_offs"),
     ({"currency_cut_offs": (("RUB", 900), ("RUB", 960))}, "currency_cut_offs"),
     ({"opens": 1170, "currency_cut_offs": (("RUB", 1200),)}, "currency_cut_offs"),
     ({"currency_weekdays": (("RUB", ()),)}, "currency_weekdays"),
     ({"currency_weekdays": (("RUB", (0,)),)}, "currency_weekdays"),
     ({"currency_weekdays": (("RUB", (1, 1)),)}, "currency_weekdays"),
     ({"currency_weekdays": (("RUB", (6,)),)}, "currency_weekdays"),  # the hub rests then
     ({"currency_weekdays": (("RUB", (1,)), ("RUB", (2,)))}, "currency_weekdays"),
     ({"currency_holidays": (("RUB", ("2026-02-30",)),)}, "currency_holidays"),
     ({"currency_holidays": (("RUB", ("2026-01-01",) * (HOLIDAYS_MAX + 1)),)},
      "currency_holidays"),
     ({"currency_holidays": (("RUB", ()), ("RUB", ()))}, "currency_holidays")],
)  # fmt: skip
def test_a_calendar_that_cannot_run_names_its_field(changes, field):
    fields = {"opens": 480, "cut_off": 1080, "zone": "UTC", "weekdays": WORKDAYS, "holidays": ()}
    found = BusinessCalendar(**{**fields, **changes}).problem()
    assert found is not None and found[0] == field


def test_times_of_day_are_read_and_written_as_hh_mm():
    assert minutes_of("08:05") == 485 and time_text(485) == "08:05"
    for bad in ("8:05", "08:05:00", "24:00", "08:05+05:00", "noon"):
        with pytest.raises(ValueError):
            minutes_of(bad)


@settings(max_examples=300, deadline=None)
@given(
    now=st.integers(ns("2026-01-01T00:00"), ns("2028-12-31T00:00")),
    opens=st.integers(0, 24 * 60 - 1),
    cut_off=st.integers(0, 24 * 60 - 1),
    weekdays=st.sets(st.integers(1, 7), min_size=1),
    zone=st.sampled_from(["Asia/Tashkent", "Europe/Berlin", "Asia/Kolkata", "UTC"]),
)
def test_the_next_day_is_the_first_working_day_not_over(now, opens, cut_off, weekdays, zone):
    if opens == cut_off:
        return
    tz = zoneinfo.ZoneInfo(zone)
    cal = BusinessCalendar(opens, cut_off, zone, tuple(sorted(weekdays)))
    day = cal.next_day(now, tz)
    opening, end = day.opening, day.cut_off
    assert opening < end and now < end
    assert end - opening <= 25 * 3_600 * 10**9  # a day, and an hour of a clock change
    end_local = datetime.fromtimestamp(end // 10**9, tz)
    assert end_local.isoweekday() in weekdays
    assert end_local.hour * 60 + end_local.minute == cut_off or zone == "Europe/Berlin"
    # No working day between: the one before it was over by `now`.
    earlier = end_local.date() - timedelta(days=1)
    while earlier.isoweekday() not in weekdays:
        earlier -= timedelta(days=1)
    assert cal.day(earlier, tz).cut_off <= now


@settings(max_examples=200, deadline=None)
@given(
    now=st.integers(ns("2026-01-01T00:00"), ns("2027-12-31T00:00")),
    weekdays=st.sets(st.integers(1, 7), min_size=1),
    own=st.dictionaries(
        st.sampled_from(["CNY", "RUB", "INR"]),
        st.tuples(st.sets(st.integers(1, 7)), st.sets(st.integers(0, 20), max_size=8)),
    ),
)
def test_the_next_day_is_the_first_on_which_some_currency_settles(now, weekdays, own):
    """With currencies resting on weekdays and holidays of their own, the day opened next is
    the first working day not over on which one of the hub's currencies settles; each
    currency rests on it exactly when its own calendar says."""
    today = datetime.fromtimestamp(now // 10**9, TASHKENT).date()
    currency_weekdays = tuple(
        (code, tuple(sorted(days & weekdays)))
        for code, (days, _) in sorted(own.items())
        if days & weekdays
    )
    currency_holidays = tuple(
        (code, tuple(sorted((today + timedelta(days=d)).isoformat() for d in ahead)))
        for code, (_, ahead) in sorted(own.items())
    )
    cal = BusinessCalendar(480, 1080, "Asia/Tashkent", tuple(sorted(weekdays)), (), (),
                           currency_weekdays, currency_holidays)  # fmt: skip
    assert cal.problem() is None
    currencies = frozenset({"CNY", "RUB", "INR"})

    def rests(code: str, day: date) -> bool:
        days = dict(currency_weekdays).get(code)
        return (days is not None and day.isoweekday() not in days) or day.isoformat() in dict(
            currency_holidays
        ).get(code, ())

    found = cal.next_day(now, TASHKENT, currencies=currencies)
    assert found is not None  # a currency without its own days settles on every working day
    day = date.fromisoformat(found.date)
    assert found.resting == tuple(sorted(c for c in currencies if rests(c, day)))
    assert set(found.resting) < currencies and found.end > now
    earlier = day - timedelta(days=1)
    while earlier >= today - timedelta(days=1):
        if earlier.isoweekday() in weekdays and not all(rests(c, earlier) for c in currencies):
            assert cal.day(earlier, TASHKENT).end <= now
        earlier -= timedelta(days=1)


# ---------------------------------------------------------------------- statement windows

HOUR_NS = 3_600 * 10**9
DAY_NS = 24 * HOUR_NS


def utc_ns(text: str) -> int:
    return ns(text, UTC)


def window(days_opened: list[tuple[str, str | None]], business_date: str) -> tuple[str, str]:
    start, end = statement_window([(utc_ns(at), dated) for at, dated in days_opened],
                                  business_date)  # fmt: skip
    return tuple(  # type: ignore[return-value]
        "never" if value == NEVER else local(value, UTC) for value in (start, end)
    )


def test_a_statement_spans_a_utc_day_when_no_day_was_dated():
    assert window([], "2026-11-30") == ("Mon 2026-11-30 00:00", "Tue 2026-12-01 00:00")
    hand = [("2026-11-30T06:00", None), ("2026-12-01T06:00", None)]
    assert window(hand, "2026-11-30") == ("Mon 2026-11-30 00:00", "Tue 2026-12-01 00:00")


def test_a_dated_day_spans_from_its_opening_to_the_next_days():
    opened = [("2026-11-29T19:00", "2026-11-30"), ("2026-11-30T19:00", "2026-12-01"),
              ("2026-12-01T20:00", None)]  # fmt: skip
    assert window(opened, "2026-11-29") == ("Sun 2026-11-29 00:00", "Sun 2026-11-29 19:00")
    assert window(opened, "2026-11-30") == ("Sun 2026-11-29 19:00", "Mon 2026-11-30 19:00")
    # A hand day opened on a dated day's date belongs to that date up to midnight UTC.
    assert window(opened, "2026-12-01") == ("Mon 2026-11-30 19:00", "Wed 2026-12-02 00:00")
    assert window(opened, "2026-12-02") == ("Wed 2026-12-02 00:00", "Thu 2026-12-03 00:00")


def test_dates_no_instant_has_get_an_empty_span_where_the_next_begins():
    weekend = [("2026-12-03T19:00", "2026-12-04"), ("2026-12-06T19:00", "2026-12-07")]
    assert window(weekend, "2026-12-05") == ("Sun 2026-12-06 19:00", "Sun 2026-12-06 19:00")
    # After the last day opened, a dated one: nothing has a later date yet.
    assert window(weekend, "2026-12-08") == ("never", "never")
    assert window(weekend, "2026-12-07") == ("Sun 2026-12-06 19:00", "never")


def test_a_hand_day_before_a_dated_day_of_an_earlier_utc_date_takes_that_date():
    """A calendar west of UTC opens its day on the UTC date after the day's date: the hand
    day before it has that date from midnight UTC on, not one the dated day goes back to."""
    opened = [("2026-12-01T20:00", None), ("2026-12-03T01:00", "2026-12-02")]
    assert window(opened, "2026-12-01") == ("Tue 2026-12-01 00:00", "Wed 2026-12-02 00:00")
    assert window(opened, "2026-12-02") == ("Wed 2026-12-02 00:00", "never")
    assert window(opened, "2026-12-03") == ("never", "never")


def test_a_date_that_is_no_date_is_refused():
    with pytest.raises(ValueError):
        statement_window([], "2026-02-30")


@settings(max_examples=300, deadline=None)
@given(
    openings=st.lists(
        st.tuples(st.integers(0, 9 * DAY_NS), st.booleans(), st.integers(-12, 14)), max_size=10
    )
)
def test_the_spans_of_consecutive_dates_meet_and_dated_days_keep_their_date(openings):
    """Days opened at random, by hand or by a calendar of any zone (its date that of its
    opening on that zone's clock, a day later when it opens the evening before): the spans
    of consecutive dates meet, every instant is in one span, and a dated day's opening is in
    the span of its own date."""
    days: list[tuple[int, str | None]] = []
    last_dated = date.min
    for at, is_dated, hours in sorted(openings):
        dated = (datetime.fromtimestamp(at // 10**9, UTC) + timedelta(hours=hours)).date()
        if is_dated and dated > last_dated:  # a calendar's dates only go forward
            days.append((at, dated.isoformat()))
            last_dated = dated
        else:
            days.append((at, None))
    first, last = date(1969, 12, 30), date(1970, 1, 13)
    spans = []
    for offset in range((last - first).days + 1):
        spans.append(statement_window(days, (first + timedelta(days=offset)).isoformat()))
    assert spans[0] == (0, 0)
    for (start, end), (next_start, _) in zip(spans, spans[1:], strict=False):
        assert start <= end == next_start
    assert spans[-1][1] == NEVER or spans[-1][1] > 9 * DAY_NS
    starts = [at for at, _ in days]
    for index, (at, dated) in enumerate(days):
        following = starts[index + 1] if index + 1 < len(days) else NEVER
        if dated is None or at == following:
            continue
        offset = (date.fromisoformat(dated) - first).days
        assert spans[offset][0] <= at < spans[offset][1]
