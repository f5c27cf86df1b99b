"""The fields of `calendar.set` (SPEC §2) — zone, weekly open ranges, holidays — checked as strictly as the
rest of an event and kept in an immutable, hashable form; `records.py` builds the `CalendarSet` from them."""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

from streams.errors import InvalidEvent

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # position = `date.weekday()`
DAY_MINUTES = 1440
MAX_RANGES_PER_DAY = 48
MAX_HOLIDAYS = 1000
MAX_ZONE_NAME = 64

# hours[weekday] = that day's open ranges as (start, end) minutes after its local midnight, end > start: a range
# that runs past midnight ends after 1440 (`["22:00", "06:00"]` is (1320, 1800)); sorted, without repeats.
WeekHours = tuple[tuple[tuple[int, int], ...], ...]

_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)\Z", re.ASCII)  # ASCII: "0٩:00" is not 09:00
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z", re.ASCII)


@lru_cache(maxsize=1)
def iana_zones() -> frozenset[str]:
    """The zone names of the IANA database as the `tzdata` package (a dependency) ships them: validation must
    not depend on the host, whose zoneinfo directory also answers to `localtime` (its own zone) or `posix/…`."""
    return frozenset(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())


def parse_timezone(value: object) -> str:
    """An IANA zone name that `zoneinfo` can load."""
    if value is None:
        raise InvalidEvent("missing_field", "missing required field 'timezone'")
    if not isinstance(value, str):
        raise InvalidEvent("wrong_type", f"timezone must be a string, got {type(value).__name__}")
    if len(value) > MAX_ZONE_NAME or value not in iana_zones():
        raise InvalidEvent(
            "bad_value", f"timezone must be an IANA time zone such as 'Europe/Warsaw', got {value[:64]!r}"
        )
    try:
        ZoneInfo(value)
    except (LookupError, ValueError, OSError) as exc:  # listed by tzdata, yet this host cannot load it
        raise InvalidEvent("bad_value", f"timezone {value!r} cannot be loaded: {exc}") from None
    return value


def parse_hours(value: object) -> WeekHours:
    """`{"mon": [["09:00", "17:00"], ...], ...}` as `WeekHours`; a day absent (or null) is closed."""
    if value is None:
        raise InvalidEvent("missing_field", "missing required field 'hours'")
    if not isinstance(value, dict):
        raise InvalidEvent(
            "wrong_type", f"hours must be an object of days (mon…sun) to lists of ranges, got {type(value).__name__}"
        )
    unknown = sorted(str(key) for key in value if key not in DAYS)
    if unknown:
        raise InvalidEvent("bad_value", f"hours has an unknown day {unknown[0][:16]!r}; days are {', '.join(DAYS)}")
    return tuple(_day_ranges(day, value.get(day)) for day in DAYS)


def _day_ranges(day: str, ranges: object) -> tuple[tuple[int, int], ...]:
    if ranges is None:
        return ()
    if not isinstance(ranges, list):
        raise InvalidEvent(
            "wrong_type", f"hours.{day} must be a list of ['HH:MM', 'HH:MM'] ranges, got {type(ranges).__name__}"
        )
    if len(ranges) > MAX_RANGES_PER_DAY:
        raise InvalidEvent("out_of_range", f"hours.{day} has {len(ranges)} ranges, at most {MAX_RANGES_PER_DAY}")
    out: set[tuple[int, int]] = set()
    for n, pair in enumerate(ranges):
        where = f"hours.{day}[{n}]"
        if not isinstance(pair, list):
            raise InvalidEvent("wrong_type", f"{where} must be a list ['HH:MM', 'HH:MM'], got {type(pair).__name__}")
        if len(pair) != 2:
            raise InvalidEvent("bad_value", f"{where} must be a pair ['HH:MM', 'HH:MM'], got {len(pair)} items")
        start, end = _minute(f"{where}[0]", pair[0], end=False), _minute(f"{where}[1]", pair[1], end=True)
        out.add((start, end if end > start else end + DAY_MINUTES))  # not after its start: runs past midnight
    return tuple(sorted(out))


def _minute(where: str, value: object, *, end: bool) -> int:
    if not isinstance(value, str):
        raise InvalidEvent("wrong_type", f"{where} must be a string 'HH:MM', got {type(value).__name__}")
    if value == "24:00":
        if end:
            return DAY_MINUTES
        raise InvalidEvent("bad_value", f"{where}: '24:00' is allowed only as the end of a range")
    match = _CLOCK.match(value)
    if match is None:
        raise InvalidEvent("bad_value", f"{where} must be a local time 'HH:MM' (00:00-23:59), got {value[:16]!r}")
    return int(match[1]) * 60 + int(match[2])


def parse_holidays(value: object) -> frozenset[date]:
    """`["2026-12-25", ...]` as dates; absent or null: none."""
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise InvalidEvent("wrong_type", f"holidays must be a list of 'YYYY-MM-DD' dates, got {type(value).__name__}")
    if len(value) > MAX_HOLIDAYS:
        raise InvalidEvent("out_of_range", f"holidays lists {len(value)} dates, at most {MAX_HOLIDAYS}")
    out: set[date] = set()
    for n, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidEvent("wrong_type", f"holidays[{n}] must be a string 'YYYY-MM-DD', got {type(item).__name__}")
        if not _DATE.match(item):
            raise InvalidEvent("bad_value", f"holidays[{n}] must be a date 'YYYY-MM-DD', got {item[:16]!r}")
        try:
            out.add(date.fromisoformat(item))
        except ValueError:
            raise InvalidEvent("bad_value", f"holidays[{n}] {item!r} is not a real date") from None
    return frozenset(out)
