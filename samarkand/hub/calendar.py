"""The hub's business calendar: when a business day opens and when it cuts off, on the wall
clock of a time zone, on the weekdays the hub works and not on its holidays.

A day whose opening time is not before its cut-off opens on the evening before (as
TARGET2's day opens at 19:30 the evening before its 18:00 cut-off). The time zone comes as a
`tzinfo` from the caller: looking a zone up in the tz database is the caller's business, so
this module reads nothing and no clock.

Every currency's day runs on the one clock, as CLS's settlement day runs on one zone for all
its currencies; but a currency may rest on days of its own: its central bank's holidays, or
a working week of its country that differs from the hub's. On such a day the hub opens for
the others, and the resting currency takes no payment (`BusinessDay.resting`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import NamedTuple

MINUTES_PER_DAY = 24 * 60
HOLIDAYS_MAX = 400  # a year and more of holidays, set at once
KEEP_DAYS_MAX = 3_660  # past business days kept whole in memory, at most (ten years)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_NS_PER_DAY = 86_400 * 10**9
# How far `next_day` looks: past every holiday the calendar may hold, and a week more.
_LOOK_AHEAD_DAYS = HOLIDAYS_MAX + 8


class BusinessDay(NamedTuple):
    """One business day of a calendar, in ns: when it opens, every currency's cut-off (but
    those of `cut_offs`, each a currency's own) and when its last currency cuts off; and
    its date (ISO 8601: the date of its cut-off, on the calendar's clock), which a payment's
    settlement date must be."""

    opening: int
    cut_off: int
    cut_offs: dict[str, int]
    end: int
    date: str
    resting: tuple[str, ...] = ()  # currencies that do not settle on this day, sorted

    def cut_off_of(self, currency: str) -> int:
        """`currency`'s cut-off; a resting currency's is the day's opening (closed all day)."""
        if currency in self.resting:
            return self.opening
        return self.cut_offs.get(currency, self.cut_off)


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    opens: int  # minutes after midnight a day opens (the evening before if not before cut_off)
    cut_off: int  # minutes after midnight it cuts off
    zone: str  # the time zone of both (an IANA name, looked up by the caller)
    weekdays: tuple[int, ...]  # the days the hub works, ISO numbered (1 Monday to 7 Sunday)
    holidays: tuple[str, ...] = ()  # dates (ISO 8601) the hub does not work, sorted
    # Currencies with a cut-off of their own, (code, minutes after midnight), sorted: on the
    # same date as `cut_off`, after the day's opening.
    currency_cut_offs: tuple[tuple[str, int], ...] = ()
    # Currencies that settle on other weekdays than the hub's, (code, weekdays), sorted: a
    # subset of `weekdays` (on a day the hub does not open, no currency settles).
    currency_weekdays: tuple[tuple[str, tuple[int, ...]], ...] = ()
    # Currencies with holidays of their own, (code, dates), sorted: on those dates the hub
    # opens for the other currencies only.
    currency_holidays: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # How many past business days the hub keeps whole in memory; the payments finished
    # before them are archived (None: none are).
    keep_days: int | None = None

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
        problem = _dates_problem(self.holidays)
        if problem is not None:
            return "holidays", problem
        for name in ("currency_cut_offs", "currency_weekdays", "currency_holidays"):
            codes = [code for code, _ in getattr(self, name)]
            if len(set(codes)) != len(codes):
                return name, "a currency is named twice"
        for code, minutes in self.currency_cut_offs:
            if type(minutes) is not int or not 0 <= minutes < MINUTES_PER_DAY:
                return "currency_cut_offs", f"{code}: a time of day is 00:00 to 23:59"
            if (minutes <= self.opens) is not self.overnight or minutes == self.opens:
                return "currency_cut_offs", f"{code}: its cut-off comes before the day opens"
        for code, own in self.currency_weekdays:
            if not own or any(type(d) is not int or not 1 <= d <= 7 for d in own):
                return "currency_weekdays", f"{code}: at least one weekday, numbered 1 to 7"
            if len(set(own)) != len(own):
                return "currency_weekdays", f"{code}: a weekday is named twice"
            if not set(own) <= set(days):
                return "currency_weekdays", f"{code}: a weekday the hub does not work on"
        for code, dates in self.currency_holidays:
            problem = _dates_problem(dates)
            if problem is not None:
                return "currency_holidays", f"{code}: {problem}"
        keep = self.keep_days
        if keep is not None and (type(keep) is not int or not 0 <= keep <= KEEP_DAYS_MAX):
            return "keep_days", f"0 to {KEEP_DAYS_MAX} business days, or none"
        return None

    @property
    def overnight(self) -> bool:
        """Whether a day opens on the evening before its cut-off's date."""
        return self.opens >= self.cut_off

    def works_on(self, day: date, holidays: frozenset[str] | None = None) -> bool:
        """Whether the hub works on `day` (`holidays`: the calendar's, as a set, when the
        caller asks about many days)."""
        off = self.holidays if holidays is None else holidays
        return day.isoweekday() in self.weekdays and day.isoformat() not in off

    def resting_on(
        self, day: date, holidays: dict[str, frozenset[str]] | None = None
    ) -> tuple[str, ...]:
        """The currencies with days of their own that do not settle on `day`, sorted
        (`holidays`: each currency's, as sets, when the caller asks about many days)."""
        text, weekday = day.isoformat(), day.isoweekday()
        off = {code for code, own in self.currency_weekdays if weekday not in own}
        if holidays is None:
            holidays = {code: frozenset(dates) for code, dates in self.currency_holidays}
        off.update(code for code, dates in holidays.items() if text in dates)
        return tuple(sorted(off))

    def day(
        self,
        business_date: date,
        zone: tzinfo,
        holidays: dict[str, frozenset[str]] | None = None,
    ) -> BusinessDay:
        """The business day of `business_date`: it opens on that date (or on the evening
        before) and cuts off on it; the currencies resting on it are closed all day."""
        opening_date = business_date - timedelta(days=1) if self.overnight else business_date
        cut_off = _instant(business_date, self.cut_off, zone)
        own = {code: _instant(business_date, m, zone) for code, m in self.currency_cut_offs}
        resting = self.resting_on(business_date, holidays)
        return BusinessDay(
            _instant(opening_date, self.opens, zone),
            cut_off,
            own,
            max([cut_off, *(at for code, at in own.items() if code not in resting)]),
            business_date.isoformat(),
            resting,
        )

    def next_day(
        self,
        now: int,
        zone: tzinfo,
        *,
        opened: int | None = None,
        currencies: frozenset[str] | None = None,
    ) -> BusinessDay | None:
        """The first business day that has not ended at `now` (ns: a currency's cut-off is
        after it) and, when given, whose opening is after `opened` (a day opened already is
        not opened again); it is open at `now` if its opening is not after it. With
        `currencies` (those the hub settles), a day on which every one of them rests is
        passed over. None if no day comes in the look-ahead (every weekday a holiday)."""
        today = _local_date(now, zone)
        holidays = frozenset(self.holidays)
        own = {code: frozenset(dates) for code, dates in self.currency_holidays}
        for ahead in range(_LOOK_AHEAD_DAYS):
            business_date = today + timedelta(days=ahead)
            if not self.works_on(business_date, holidays):
                continue
            day = self.day(business_date, zone, own)
            if currencies and currencies <= set(day.resting):
                continue
            if day.end > now and (opened is None or day.opening > opened):
                return day
        return None


def statement_window(days: Sequence[tuple[int, str | None]], business_date: str) -> tuple[int, int]:
    """The span [start, end) in ns of the statements of `business_date` (ISO 8601), made
    from `days`: where each business day opened and the date its calendar gave it (None: a
    day opened by hand), in the order they opened, their times never going back.

    Every instant has one statement date, and the dates never go back as time goes on, so
    the spans of consecutive dates meet: no posting is on two statements nor on none, and
    each statement opens with the balance the one before closed with. A day the calendar
    dated has its date from its opening to the next day's opening. Time in a day opened by
    hand (or before any day opened) has the UTC date of the moment, the date the hub checks
    payments' settlement dates against then (`hub.messages.business_day`), but never one
    before the date of the day before it nor after the date of the next dated day: a day
    opened by hand late in a dated day's UTC date belongs to it. A date that no instant
    has (a weekend between two calendar days) has an empty span, where the date after it
    starts; so has a date past the last day opened when that day was dated. ValueError if
    `business_date` is not a date."""
    wanted = date.fromisoformat(business_date)
    starts = [0, *(at for at, _ in days)]  # the time before the first day is undated
    ends = [*starts[1:], NEVER]
    dated = [None, *(_date_or_none(text) for _, text in days)]
    # The date of the next dated day that has an instant, after each day (None: none).
    ceilings: list[date | None] = [None] * len(starts)
    for index in range(len(starts) - 1, 0, -1):
        own = dated[index]
        has_instant = starts[index] < ends[index]
        ceilings[index - 1] = own if own is not None and has_instant else ceilings[index]
    periods = list(zip(starts, ends, dated, ceilings, strict=True))
    start = _first_instant(periods, wanted)
    end = NEVER if wanted == date.max else _first_instant(periods, wanted + timedelta(days=1))
    return start, end


NEVER = 2**63 - 1  # ns: the end of the last day's span (still open), after every instant


def _first_instant(periods: list[tuple[int, int, date | None, date | None]], wanted: date) -> int:
    """The first instant whose statement date (`statement_window`) is `wanted` or later;
    `NEVER` if none is. `periods`: each day's span, date and the next dated day's date."""
    floor = date.min  # the statement date of the last instant before the day
    for start, end, own, ceiling in periods:
        if start >= end:
            continue  # opened again at once: no instant has its date
        if own is not None:
            floor = max(own, floor)
            if floor >= wanted:
                return start
            continue
        # An undated instant t has the date max(min(its UTC date, ceiling), floor).
        if floor >= wanted:
            return start
        if ceiling is None or ceiling >= wanted:
            at = max(start, _midnight(wanted))
            if at < end:
                return at
        if end == NEVER:
            break
        last = _utc_date(end - 1)
        floor = max(last if ceiling is None else min(last, ceiling), floor)
    return NEVER


def _date_or_none(text: str | None) -> date | None:
    """A day's calendar date; None for a day opened by hand (or a date that cannot be read,
    which a calendar never gives: such a day is taken as opened by hand)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def _midnight(day: date) -> int:
    """ns since the epoch of midnight UTC starting `day`."""
    return (day - _EPOCH.date()).days * _NS_PER_DAY


def _utc_date(at_ns: int) -> date:
    return _EPOCH.date() + timedelta(days=at_ns // _NS_PER_DAY)


def _dates_problem(dates: tuple[str, ...]) -> str | None:
    """Why `dates` is not a list of holidays (in words), or None."""
    if len(dates) > HOLIDAYS_MAX:
        return f"at most {HOLIDAYS_MAX} holidays at once"
    for text in dates:
        try:
            date.fromisoformat(text)
        except (TypeError, ValueError):
            return f"{text!r} is not a date (YYYY-MM-DD)"
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
