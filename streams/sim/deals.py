"""A deal's life on the simulated floor, apart from the leads that open it: its stages (some skipped, a few
moved back, amounts revised), its outcome after a sales cycle, and the pipeline open before the period."""

from __future__ import annotations

from typing import Any, Final

from streams.sim.catalog import LOST_REASONS
from streams.sim.clock import DAY
from streams.sim.engine import FloorEngine, Rep, Team

SKIP_SHARE: Final = 0.12  # a stage is skipped (a deal that needs no proposal, a quick yes)
BACK_SHARE: Final = 0.06  # a deal moves back one stage once (the buyer reopens the proposal), then on again
REVISE_SHARE: Final = 0.2  # a stage change past the first stage revises the amount


class Deals(FloorEngine):
    """Opportunities: created, moved through `cfg.deal_stages`, won or lost."""

    def _backlog(self, team: Team) -> None:
        """Deals opened in the month before `start` and still open then: they win or lose in the period."""
        cfg, rng = self.cfg, self.rng
        rate = cfg.lead_rate * cfg.answered_share * cfg.conversion * self.per_ms
        if rate <= 0 or cfg.backlog_days <= 0:
            return
        at = self.start - int(cfg.backlog_days * DAY)
        while True:
            at += int(rng.expovariate(rate)) + 1
            if at >= self.start:
                return
            if rng.random() >= self.day.lead_profile(at):
                continue
            closes = at + self._lognormal_ms(cfg.cycle_median_days * DAY, 0.9)
            if closes < self.start:
                continue
            rep = self._any_rep(team)
            lead = None
            if rng.random() < 0.8:
                self.counters["past"] += 1
                lead = f"lead-{self.run}-p{self.counters['past']:06d}"
            self._deal(team, rep, at, lead, closes=max(self.start, self.day.work_time(closes)))

    def _deal(self, team: Team, rep: Rep, at: int, lead: str | None, *, closes: int | None = None) -> None:
        """An opportunity, its stages and its outcome after a sales cycle of days to weeks."""
        cfg, rng = self.cfg, self.rng
        amount = self._amount()
        extra: dict[str, Any] = {}
        if lead is not None:
            extra["lead_id"] = lead
        if rng.random() < 0.5:
            extra["currency"] = cfg.currency
        deal = self._next_id("deal")
        self._emit(at, "deal.created", team.id, rep.id, deal_id=deal, amount=amount, **extra)
        if closes is None:
            closes = self.day.work_time(at + self._lognormal_ms(cfg.cycle_median_days * DAY, 0.9))
        won = rng.random() < min(0.9, cfg.win_rate * rep.skill)
        amount = self._stages(team, rep, deal, at, closes, won, amount, extra)
        if won:
            final = amount if rng.random() < 0.7 else round(amount * rng.uniform(0.8, 1.15), 2)
            self._emit(closes, "deal.won", team.id, rep.id, deal_id=deal, amount=final, **extra)
            return
        if rng.random() < 0.6:
            extra["amount"] = amount
        if rng.random() < 0.8:
            extra["reason"] = rng.choice(LOST_REASONS)
        self._emit(closes, "deal.lost", team.id, rep.id, deal_id=deal, **extra)

    def _stages(
        self, team: Team, rep: Rep, deal: str, at: int, closes: int, won: bool, amount: float, extra: dict[str, Any]
    ) -> float:
        """The deal's `deal.stage_changed` events between creation and close; returns the latest amount.

        Won deals mostly reach the last stage; lost ones stall anywhere (a quarter before the first)."""
        rng, stages = self.rng, self.cfg.deal_stages
        n = len(stages)
        if won:
            depth = n if rng.random() < 0.85 else max(1, n - 1)
        else:
            depth = 0 if rng.random() < 0.25 else rng.randint(1, n)
        path = [i for i in range(depth) if i == depth - 1 or rng.random() >= SKIP_SHARE]
        if len(path) >= 2 and rng.random() < BACK_SHARE:
            turn = rng.randrange(1, len(path))  # back from path[turn] to the stage before, then on again
            path[turn + 1 : turn + 1] = [path[turn] - 1, path[turn]]
        span = closes - at
        if not path or span < 2 * (len(path) + 1):
            return amount
        times = sorted(at + int(span * rng.uniform(0.03, 0.92)) for _ in path)
        last, count = at, len(path)
        changes: list[tuple[int, dict[str, Any]]] = []
        for k, (index, when) in enumerate(zip(path, times, strict=True)):
            when = last = max(min(self.day.work_time(when), closes - (count - k)), last + 1)  # ordered, before close
            fields = dict(extra, deal_id=deal, stage=stages[index])
            if index > 0 and rng.random() < REVISE_SHARE:
                amount = round(min(max(amount * rng.uniform(0.75, 1.25), 100.0), 5e7), 2)
                fields["amount"] = amount
            changes.append((when, fields))
        before = [i for i, (when, _) in enumerate(changes) if when < self.start]
        for when, fields in changes[before[-1] if before else 0 :]:  # a backlog deal: its stage at `start` on
            self._emit(when, "deal.stage_changed", team.id, rep.id, **fields)
        return amount
