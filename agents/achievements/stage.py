"""The achievement stage: looks at the team/rep aggregates this worker owns and announces each
achievement (agents/achievements/detect.py) once on the achievements topic (SPEC §5b).

The discipline of the SLA alerts: what was announced is read back from the topic itself after every
rebalance (whoever sent it), and nothing is announced until that read is done, while partitions are
moving, or while the worker is catching up on a backlog (a day of the history not read yet would make
a false record). A key is looked at again only when its aggregates changed or the day turned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from datetime import datetime, timezone
from typing import Any

from agents.achievements.detect import Achievement, Identity, achieved, identity_of_message
from agents.aggregates.view import AggregateView
from agents.kpis.model import ALL, BucketClock
from agents.kpis.windows import now_us
from streams.kafka.read_to_end import read_back
from streams.settings import Settings

log = logging.getLogger(__name__)

READ_BACK_TIMEOUT_S = 60
CAUGHT_UP_GRACE_S = 5.0  # announce while the worker was caught up at some moment of this long a period
SLICE_S = 0.005  # the event loop runs at least this often while keys are looked at


class AchievementStage:
    def __init__(
        self,
        settings: Settings,
        view: AggregateView,
        clock: BucketClock,
        topic: str,
        send: Callable[[bytes, dict[str, Any]], Awaitable[None]],
        lag: Callable[[], Mapping[Any, int]],
        owned: Callable[[], set[int] | None],
    ) -> None:
        self.settings = settings
        self.view = view  # the aggregates this worker owns
        self.clock = clock
        self.topic = topic
        self.send = send  # returns once the broker has the message
        self.lag = lag  # messages behind per partition this worker reads (-1: not known)
        # the aggregate partitions this worker owns; None while a rebalance moves them, and until the view
        # holds what this worker rebuilt of the entity partitions it took over (entities/shipping.py: Takeover)
        self.owned = owned
        self.announced: set[Identity] | None = None  # read back from the topic
        self.checked: dict[tuple[str, str], Hashable] = {}  # key -> (aggregates version, day) last looked at
        self.caught_up_at = float("-inf")
        self._loading: asyncio.Future[None] | None = None
        self._generation = 0  # forgets so far: a read begun before the last one is not used

    def forget(self) -> None:
        """After a rebalance: keys may have come from another worker, which may have announced for them."""
        self.announced = None
        self.checked = {}
        self.caught_up_at = float("-inf")  # caught up on what the rebalance moved here, not before it
        self._generation += 1

    async def announce(self) -> None:
        """Announce what the keys of the owned aggregate partitions achieved since they were last looked at."""
        announced = self.announced
        if announced is None:
            if self._loading is None or self._loading.done():
                self._loading = asyncio.ensure_future(self._load_announced())
            return
        assigned = self.owned()
        if assigned is None or not self._caught_up():
            return
        found = await self._detect(assigned, announced)
        if not found or self.announced is not announced:
            return
        detected_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        results = await asyncio.gather(
            *(self.send(a.key, a.message(detected_at)) for a in found), return_exceptions=True
        )
        for achievement, result in zip(found, results, strict=True):
            if isinstance(result, BaseException):  # the broker is away: looked at again next round
                log.warning("could not announce %s: %r; retrying", achievement.identity, result)
                self.checked.pop((achievement.team, achievement.rep or ALL), None)
                continue
            announced.add(achievement.identity)
            log.info("announced %s", "/".join(achievement.identity))

    async def _detect(self, assigned: set[int], announced: set[Identity]) -> list[Achievement]:
        view, s, found = self.view, self.settings, []
        now = now_us()
        day = self.clock.day(now)
        started = time.perf_counter()
        for key, partition in list(view.partition_of.items()):
            if partition not in assigned:
                continue
            stamp = (view.version(key), day)
            if self.checked.get(key) == stamp:
                continue
            if time.perf_counter() - started > SLICE_S:
                await asyncio.sleep(0)
                started = time.perf_counter()
                if self.announced is not announced:
                    return []
            self.checked[key] = stamp
            team, rep = key
            for achievement in achieved(
                team,
                rep,
                view.buckets.get(key, {}),
                now_us=now,
                clock=self.clock,
                milestones=s.milestones,
                history_days=s.history_days,
            ):
                if achievement.identity not in announced:
                    found.append(achievement)
        return found

    def _caught_up(self) -> bool:
        lag = self.lag()
        now = time.monotonic()
        if lag and all(v == 0 for v in lag.values()):
            self.caught_up_at = now
        return now - self.caught_up_at <= CAUGHT_UP_GRACE_S

    async def _load_announced(self) -> None:
        generation = self._generation
        try:
            read = read_back(self.settings.aiokafka_kwargs(), self.topic, identity_of_message, log)
            announced = await asyncio.wait_for(read, timeout=READ_BACK_TIMEOUT_S)
        except Exception:  # retried by the next round; nothing is announced meanwhile
            log.exception("could not read back the achievements topic; retrying")
            return
        if generation == self._generation:
            self.announced = announced
            log.info("%d achievements already announced", len(announced))
