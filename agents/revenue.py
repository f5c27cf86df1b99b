"""Revenue KPIs: opportunities, wins and losses, deal size, sales cycle, open pipeline and targets."""

from __future__ import annotations

from agents.contributions import ALL, CompactEvent, ContributionBuilder, earliest, latest

OPPORTUNITIES = "op"
WON = "wn"
WON_AMOUNT = "wa"
LOST = "ln"
LOST_AMOUNT = "la"
CYCLES = "yn"
CYCLE_SUM_US = "ys"
PIPELINE_OPEN = "po"
TARGET = "tg"


def add_deal(out: ContributionBuilder, events: list[CompactEvent]) -> None:
    """One deal: every created/won/lost event at its own time, the cycle of each win, open amount."""
    created = earliest(e for e in events if e["y"] == "deal.created")
    closed = False
    for event in events:
        kind, team, rep, at = event["y"], event["T"], event["R"], event["a"]
        if kind == "deal.created":
            out.add(team, rep, at, OPPORTUNITIES)
        elif kind == "deal.won":
            closed = True
            out.add(team, rep, at, WON)
            out.add(team, rep, at, WON_AMOUNT, event["m"])
            if created is not None:
                out.add(team, rep, at, CYCLES)
                out.add(team, rep, at, CYCLE_SUM_US, max(0, at - created["a"]))
        elif kind == "deal.lost":
            closed = True
            out.add(team, rep, at, LOST)
            if event.get("m"):
                out.add(team, rep, at, LOST_AMOUNT, event["m"])
    if created is not None and not closed and created["m"]:
        out.add_live(created["T"], created["R"], PIPELINE_OPEN, created["m"])


def add_target(out: ContributionBuilder, events: list[CompactEvent]) -> None:
    """The latest target for one team or rep and month; set, never summed across levels."""
    target = latest(e for e in events if e["y"] == "target.set")
    if target is not None:
        out.set_exact(target["T"], target["R"] or ALL, "p" + target["P"], TARGET, target["v"])

