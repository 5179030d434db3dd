"""The hub's business calendar: when a business day opens and when it cuts off, on the wall
clock of a time zone, on the weekdays the hub works and not on its holidays.

A day whose opening time is not before its cut-off opens on the evening before (as
TARGET2's day opens at 19:30 the evening before its 18:00 cut-off). The time zone comes as a
`tzinfo` from the caller: looking a zone up in the tz database is the caller's business, so
this module reads nothing and no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

MINUTES_PER_DAY = 24 * 60
HOLIDAYS_MAX = 400  # a year and more of holidays, set at once
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
# How far `next_opening` looks: past every holiday the calendar may hold, and a week more.
_LOOK_AHEAD_DAYS = HOLIDAYS_MAX + 8


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    opens: int  # minutes after midnight a day opens (the evening before if not before cut_off)
    cut_off: int  # minutes after midnight it cuts off
    zone: str  # the time zone of both (an IANA name, looked up by the caller)
    weekdays: tuple[int, ...]  # the days the hub works, ISO numbered (1 Monday to 7 Sunday)
    holidays: tuple[str, ...] = ()  # dates (ISO 8601) the hub does not work, sorted

    def problem(self) -> tuple[str, str] | None:
        """(field, problem) when the calendar cannot run; None when it can. (The zone's name
        is the caller's to check against the tz database.)"""
        for name, minutes in (("opens", self.opens), ("cut_off", self.cut_off)):
            if type(minutes) is not int or not 0 <= minutes < MINUTES_PER_DAY:
                return name, "a time of day is 00:00 to 23:59"
        if self.opens == self.cut_off:
            return "opens", "a day cannot open at its cut-off"
        days = self.weekdays
        if not days or any(type(d) is not int or not 1 <= d <= 7 for d in days):
            return "weekdays", "the hub works on at least one weekday, numbered 1 to 7"
        if len(set(days)) != len(days):
            return "weekdays", "a weekday is named twice"
        if len(self.holidays) > HOLIDAYS_MAX:
            return "holidays", f"at most {HOLIDAYS_MAX} holidays at once"
        for text in self.holidays:
            try:
                date.fromisoformat(text)
            except (TypeError, ValueError):
                return "holidays", f"{text!r} is not a date (YYYY-MM-DD)"
        return None

    @property
    def overnight(self) -> bool:
        """Whether a day opens on the evening before its cut-off's date."""
        return self.opens >= self.cut_off

    def works_on(self, day: date) -> bool:
        return day.isoweekday() in self.weekdays and day.isoformat() not in self.holidays

    def day(self, business_date: date, zone: tzinfo) -> tuple[int, int]:
        """The opening and the cut-off (ns) of the business day of `business_date`."""
        opening_date = business_date - timedelta(days=1) if self.overnight else business_date
        return (
            _instant(opening_date, self.opens, zone),
            _instant(business_date, self.cut_off, zone),
        )

    def next_day(
        self, now: int, zone: tzinfo, *, opened: int | None = None
    ) -> tuple[int, int] | None:
        """The first business day whose cut-off is after `now` (ns) and, when given, whose
        opening is after `opened` (a day opened already is not opened again), as (opening,
        cut-off); it is open at `now` if its opening is not after it. None if no day comes
        in the look-ahead (every weekday a holiday)."""
        today = _local_date(now, zone)
        for ahead in range(_LOOK_AHEAD_DAYS):
            business_date = today + timedelta(days=ahead)
            if self.works_on(business_date):
                opening, cut_off = self.day(business_date, zone)
                if cut_off > now and (opened is None or opening > opened):
                    return opening, cut_off
        return None


def minutes_of(text: str) -> int:
    """Minutes after midnight of a time of day "HH:MM" (a `ValueError` otherwise)."""
    moment = time.fromisoformat(text)
    if len(text) != 5 or moment.tzinfo is not None:
        raise ValueError(f"{text!r} is not a time of day HH:MM")
    return moment.hour * 60 + moment.minute


def time_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _local_date(now: int, zone: tzinfo) -> date:
    return datetime.fromtimestamp(now // 10**9, zone).date()


def _instant(day: date, minutes: int, zone: tzinfo) -> int:
    """ns since the epoch of `minutes` after midnight of `day` on `zone`'s wall clock (a
    time that a clock change skips or repeats: the first reading, as `zoneinfo` takes it)."""
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
    return (local - _EPOCH) // _SECOND * 10**9
