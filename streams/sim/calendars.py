"""The floor's business calendars (`calendar.set`, SPEC §2 and §4 "Business time"), apart from the activity
they clock: which teams publish hours, in which zone, and the public holidays of that zone's region. The
reps' own working day (`clock.WorkingDay`) stays the floor's; a calendar only sets the teams' SLA clocks."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from streams.sim.clock import DAY
from streams.sim.config import FloorConfig
from streams.sim.engine import FloorEngine, uuid_from

Hours = dict[str, list[list[str]]]

OTHER_ZONES: Final = ("America/New_York", "Europe/Warsaw")  # the one team abroad: the first not the floor's
PUBLISHED_BEFORE: Final = DAY  # before the start: in force for every lead of the floor
HOLIDAY_DAYS: Final = 730  # a calendar lists the public holidays of the two years from its publication
_WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri")


def _clock(hour: int) -> str:
    return f"{hour:02d}:00"


def _weekdays(*ranges: tuple[str, str]) -> Hours:
    return {day: [list(pair) for pair in ranges] for day in _WEEKDAYS}


def team_calendar(cfg: FloorConfig, index: int) -> tuple[str, Hours]:
    """The zone and weekly hours of the `index`-th team with a calendar: the first keeps the floor's business
    hours and opens on Saturday mornings; the second, abroad, has a late shift that overlaps the day shift's
    end and runs past midnight; the others alternate 09-17 and 08-18 on weekdays, in the floor's zone."""
    if index == 0:
        opens, closes = cfg.business_hours
        return cfg.tz, {**_weekdays((_clock(opens), _clock(closes))), "sat": [["09:00", "13:00"]]}
    if index == 1:
        zone = next(z for z in OTHER_ZONES if z != cfg.tz)
        return zone, _weekdays(("09:00", "17:00"), ("16:30", "01:00"))
    return cfg.tz, _weekdays(("09:00", "17:00") if index % 2 == 0 else ("08:00", "18:00"))


def easter(year: int) -> date:
    """Western Easter Sunday (the anonymous Gregorian computus)."""
    a, (b, c) = year % 19, divmod(year, 100)
    d, e = divmod(b, 4)
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday) // 451
    month, day = divmod(h + weekday - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th (n > 0) or last (n = -1) given weekday (Monday 0) of a month."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    """A US holiday on a Saturday is observed on the Friday before, on a Sunday on the Monday after."""
    return day + timedelta(days={5: -1, 6: 1}.get(day.weekday(), 0))


def _us_holidays(year: int) -> list[date]:
    """The days most US employers close: New Year, Memorial Day, Independence Day, Labor Day, Thanksgiving and
    the day after, Christmas."""
    thanksgiving = _nth_weekday(year, 11, 3, 4)
    fixed = [date(year, 1, 1), date(year, 7, 4), date(year, 12, 25)]
    return [*map(_observed, fixed), _nth_weekday(year, 5, 0, -1), _nth_weekday(year, 9, 0, 1), thanksgiving,
            thanksgiving + timedelta(days=1)]  # fmt: skip


def _polish_holidays(year: int) -> list[date]:
    """Poland's statutory days off (Christmas Eve since 2025)."""
    sunday = easter(year)
    fixed = [(1, 1), (1, 6), (5, 1), (5, 3), (8, 15), (11, 1), (11, 11), (12, 25), (12, 26)]
    fixed += [(12, 24)] if year >= 2025 else []
    moving = [sunday + timedelta(days=n) for n in (0, 1, 49, 60)]  # Easter, its Monday, Pentecost, Corpus Christi
    return [date(year, m, d) for m, d in fixed] + moving


def _common_holidays(year: int) -> list[date]:
    """The days most of Europe and the Commonwealth close: New Year, Good Friday, Easter Monday, Christmas."""
    sunday = easter(year)
    return [date(year, 1, 1), sunday - timedelta(days=2), sunday + timedelta(days=1), date(year, 12, 25),
            date(year, 12, 26)]  # fmt: skip


_HOLIDAYS_OF_ZONE: Final[dict[str, Callable[[int], list[date]]]] = {
    "America/New_York": _us_holidays,
    "Europe/Warsaw": _polish_holidays,
}


def holidays(zone: str, first: date, last: date) -> list[str]:
    """The public holidays from `first` to `last` (inclusive) of the zone's region, as `YYYY-MM-DD`, sorted:
    the US's and Poland's for their zones, else the common European ones."""
    rule = _HOLIDAYS_OF_ZONE.get(zone, _common_holidays)
    days = {day for year in range(first.year - 1, last.year + 2) for day in rule(year) if first <= day <= last}
    return [day.isoformat() for day in sorted(days)]


class Calendars(FloorEngine):
    """Every team but the last publishes its calendar a day before the start (so one team keeps the wall
    clock). Their event ids come from a stream of their own, so a floor with calendars is the same floor as
    one without (`FloorConfig.calendars`), plus the calendars."""

    def _publish_calendars(self) -> None:
        cfg = self.cfg
        at = self.start - PUBLISHED_BEFORE
        ids = random.Random(f"salesfloor:{cfg.seed}:{self.start}:calendars")  # noqa: S311 - simulation
        for index, team in enumerate(self.teams[:-1]):
            zone, hours = team_calendar(cfg, index)
            first = datetime.fromtimestamp(at / 1000, ZoneInfo(zone)).date()
            last = first + timedelta(days=HOLIDAY_DAYS - 1)
            event: dict[str, Any] = {
                "event_id": uuid_from(ids),
                "type": "calendar.set",
                "occurred_at": "",
                "team_id": team.id,
                "timezone": zone,
                "hours": hours,
                "holidays": holidays(zone, first, last),
            }
            self._push(at, event)
