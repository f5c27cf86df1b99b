"""The discrete-event core of the simulated floor, apart from what it simulates (leads, deals, meetings,
targets): the heap, the teams and reps, ids and the seeded random draws every model shares."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, Final
from zoneinfo import ZoneInfo

from streams.sim.catalog import TEAM_NAMES
from streams.sim.clock import EPOCH, HOUR, WorkingDay, iso_ms, to_ms
from streams.sim.config import FloorConfig
from streams.sim.malformed import EventDict
from streams.sim.response import SPEED_SIGMA, response_sigma, talk_seconds

_UUID_CLEAR: Final = ~((0xF << 76) | (0x3 << 62))
_UUID_SET: Final = (0x4 << 76) | (0x2 << 62)


def uuid_from(rng: random.Random) -> str:
    """A version-4 UUID from a seeded stream: the form of every event id."""
    h = f"{(rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(slots=True)
class Rep:
    id: str
    speed: float  # multiplies response delays
    skill: float  # multiplies conversion and win probability
    ramp: float  # share of a full target: below 1 for a rep still ramping up


@dataclass(slots=True)
class Team:
    id: str
    reps: list[Rep]


class FloorEngine:
    """A heap of future events and processes, popped in time order; every draw comes from one seeded
    stream, in time order, so a shorter period is a prefix of a longer one."""

    def __init__(self, cfg: FloorConfig) -> None:
        self.cfg = cfg
        self.start = -(-(cfg.start - EPOCH) // timedelta(milliseconds=1))  # first whole ms >= start
        self.end = to_ms(cfg.end)
        self.rng = random.Random(f"salesfloor:{cfg.seed}:{self.start}")  # noqa: S311 - simulation
        self.zone = ZoneInfo(cfg.tz)
        self.heap: list[tuple[int, int, Any]] = []
        self.seq = 0
        self.run = f"{self.rng.getrandbits(24):06x}"
        self.counters = {"lead": 0, "deal": 0, "call": 0, "email": 0, "meeting": 0, "past": 0}
        self.day = WorkingDay(cfg, self.zone, self.rng)
        self.response_sigma = response_sigma(cfg)  # reps' speeds add spread
        self.teams = [self._make_team(i) for i in range(cfg.teams)]
        self.per_ms = cfg.intensity / HOUR

    def _make_team(self, i: int) -> Team:
        name = TEAM_NAMES[i] if i < len(TEAM_NAMES) else f"t{i + 1:02d}"
        rng = self.rng
        reps = [
            Rep(
                f"rep-{name}-{j + 1:02d}",
                speed=math.exp(rng.gauss(0, SPEED_SIGMA)),
                skill=math.exp(rng.gauss(0, 0.25)),
                ramp=rng.uniform(0.5, 0.8) if rng.random() < 0.12 else 1.0,
            )
            for j in range(self.cfg.reps_per_team)
        ]
        return Team(f"team-{name}", reps)

    # --- engine -------------------------------------------------------------------------------------

    def _push(self, at: int, item: Any) -> None:
        if at <= self.end:
            heapq.heappush(self.heap, (at, self.seq, item))
            self.seq += 1

    def _emit(self, at: int, kind: str, team: str, rep: str | None, **fields: Any) -> None:
        """Schedule an event; its event_id and occurred_at are filled in when it is popped. A rep of None
        leaves `rep_id` out (a team target) unless the event carries it as null (an unassigned lead)."""
        if at <= self.end:
            event: EventDict = {"event_id": "", "type": kind, "occurred_at": "", "team_id": team}
            if rep is not None or kind != "target.set":
                event["rep_id"] = rep
            event.update(fields)
            self._push(at, event)

    def _process(self, team: Team, step: Callable[[Team, float, int], None], rate: float, after: int) -> None:
        """Schedule the next step of a Poisson process (thinned by the time-of-day profile when it runs)."""
        if rate > 0:
            self._push(after + int(self.rng.expovariate(rate)) + 1, partial(step, team, rate))

    def __iter__(self) -> Iterator[EventDict]:
        heap, rng, limit = self.heap, self.rng, self.cfg.max_events
        count = 0
        if limit == 0:
            return
        while heap:
            at, _, item = heapq.heappop(heap)
            if type(item) is dict:
                if not item["event_id"]:  # preset: an event drawn from a stream of its own (calendars)
                    bits = (rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET
                    h = f"{bits:032x}"
                    item["event_id"] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
                item["occurred_at"] = iso_ms(at)
                yield item
                count += 1
                if count == limit:
                    return
            else:
                item(at)

    # --- randomness helpers ---------------------------------------------------------------------------

    def _lognormal_ms(self, median_ms: float, sigma: float) -> int:
        return max(1, int(median_ms * math.exp(self.rng.gauss(0.0, sigma))))

    def _amount(self) -> float:
        value = self.cfg.deal_median * math.exp(self.rng.gauss(0.0, self.cfg.deal_sigma))
        return round(min(max(value, 100.0), 5e7), 2)

    def _next_id(self, kind: str) -> str:
        self.counters[kind] += 1
        return f"{kind}-{self.run}-{self.counters[kind]:07d}"

    def _talk_seconds(self) -> int:
        return talk_seconds(self.rng)

    def _any_rep(self, team: Team) -> Rep:
        return team.reps[self.rng.randrange(len(team.reps))]
