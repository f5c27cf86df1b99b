"""The generic half of every KPI: an entity's contribution from the families that read its kind,
and a team/rep's series from the fields its buckets add up to."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date

from agents.kpis.model import (
    LIVE,
    BucketClock,
    Clocks,
    CompactEvent,
    Contribution,
    ContributionBuilder,
    Entity,
    Family,
    Fields,
    Labels,
    PeriodContext,
    Series,
)
from agents.kpis.windows import WINDOWS, sum_fields, window_buckets

NO_CLOCKS: Clocks = {}


class Kpis:
    """The registered families, indexed by the entity kinds they read."""

    def __init__(self, families: tuple[Family, ...], clock: BucketClock) -> None:
        self.families = families
        self.clock = clock
        self.clocks: Callable[[], Clocks] = dict  # the teams' SLA clocks now (the pipeline's entity stage)
        self._by_kind: dict[str, tuple[Family, ...]] = {}
        for family in families:
            for kind in family.kinds:
                self._by_kind[kind] = (*self._by_kind.get(kind, ()), family)
        self.help: dict[str, str] = {}
        for family in families:
            self.help.update(family.help or {})
        self.paced = frozenset(field for family in families for field in family.paced)

    def windowed_metrics(self) -> set[str]:
        """Every metric with a `window` label (what a history can be asked for)."""
        return {m for f in self.families for m in (*(c[0] for c in f.counts), *(r[0] for r in f.ratios), *f.extra)}

    def contribution(
        self, key: str, events: list[CompactEvent], clocks: Clocks = NO_CLOCKS, into: Contribution | None = None
    ) -> Contribution:
        """What the entity `key` with these events adds to the aggregates, with the teams' SLA clocks; added
        to `into` if given (a batch's sum: no dict of its own to make and then add up)."""
        out = ContributionBuilder(self.clock, clocks, self.paced, into)
        entity = Entity(key, events)
        for family in self._by_kind.get(entity.kind, ()):
            family.contribute(entity, out)
        return out.out

    def windowed(self, acc: Fields, labels: Labels) -> Iterator[Series]:
        """Every windowed KPI of one team/rep/window from its summed fields."""
        for family in self.families:
            for metric, name, scale in family.counts:
                yield metric, labels, acc.get(name, 0) / scale
            for metric, num, dens, scale in family.ratios:
                denominator = sum(acc.get(d, 0) for d in dens)
                if denominator > 0:
                    yield metric, labels, acc.get(num, 0) / scale / denominator
            if family.windowed is not None:
                yield from family.windowed(acc, labels)

    def periodic(self, context: PeriodContext) -> Iterator[Series]:
        for family in self.families:
            if family.periodic is not None:
                yield from family.periodic(context)

    def series_for(
        self,
        team: str,
        rep: str,
        buckets: Mapping[str, Fields],
        *,
        now_us: int,
        day: date | None = None,
        windows: tuple[str, ...] | None = None,
    ) -> Iterator[Series]:
        """All series of one team/rep: every window (or those of `windows`) and the live gauges; for a
        past `day`, its `today` and `month` windows only."""
        clock = self.clock
        if windows is None:
            windows = ("today", "month") if day is not None else WINDOWS
        elif day is not None:
            windows = tuple(w for w in windows if w != "last_60m")
        for window in windows:
            labels = {"team": team, "rep": rep, "window": window}
            acc = sum_fields(buckets, window_buckets(window, now_us, clock, day))
            yield from self.windowed(acc, labels)
            if window != "last_60m":
                today = day.isoformat() if day else clock.day(now_us)[1:]
                period = today if window == "today" else today[:7]
                yield from self.periodic(PeriodContext(window, period, acc, buckets, labels, now_us, clock))
        if day is not None:
            return
        live, clocks = buckets.get(LIVE, {}), self.clocks()
        for family in self.families:
            if family.live is not None:
                yield from family.live(live, team, rep, now_us, clocks)
