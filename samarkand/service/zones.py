"""Time zones by their IANA names, from the tz database (the system's, else the `tzdata`
package's): the business calendar's wall clock."""

from __future__ import annotations

import functools
import zoneinfo


@functools.cache
def zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone(name: str) -> zoneinfo.ZoneInfo:
    """The zone named `name` (a `ValueError` naming it if the tz database has no such zone)."""
    if name not in zone_names():
        raise ValueError(f"{name!r} is not a time zone of the tz database (e.g. Asia/Tashkent)")
    return zoneinfo.ZoneInfo(name)
