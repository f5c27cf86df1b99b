"""Meetings: scheduled, held and no-shows (a meeting counts by its latest outcome), the show ratio,
and the meeting-to-deal cohort of leads by their first held meeting."""

from __future__ import annotations

from agents.kpis.model import ContributionBuilder, Entity, Family, latest
from agents.kpis.terms import lead_facts

SCHEDULED = "ms"
HELD = "mh"
NO_SHOW = "mn"
FIRST_HELD = "mf"  # leads whose first held meeting is in the bucket
FIRST_HELD_CONVERTED = "mc"


def contribute(entity: Entity, out: ContributionBuilder) -> None:
    if entity.kind == "L":
        facts = lead_facts(entity)
        if facts is not None and facts.meetings:
            first = facts.meetings[0]
            team, rep, at = first["T"], first["R"] or facts.owner, first["a"]
            out.add(team, rep, at, FIRST_HELD)
            if facts.conversion is not None:
                out.add(team, rep, at, FIRST_HELD_CONVERTED)
        return
    for scheduled in entity.of("meeting.scheduled"):
        out.add(scheduled["T"], scheduled["R"] or "", scheduled["a"], SCHEDULED)
    outcome = latest(entity.of("meeting.completed"))
    if outcome is not None and outcome["o"] in ("held", "no_show"):
        out.add(outcome["T"], outcome["R"] or "", outcome["a"], HELD if outcome["o"] == "held" else NO_SHOW)


FAMILY = Family(
    name="meetings",
    kinds="LM",
    contribute=contribute,
    fields=(SCHEDULED, HELD, NO_SHOW, FIRST_HELD, FIRST_HELD_CONVERTED),
    paced=(HELD,),
    counts=(
        ("salesfloor_meetings_scheduled", SCHEDULED, 1),
        ("salesfloor_meetings_held", HELD, 1),
        ("salesfloor_meetings_no_show", NO_SHOW, 1),
    ),
    ratios=(
        ("salesfloor_meeting_show_ratio", HELD, (HELD, NO_SHOW), 1),
        ("salesfloor_meeting_to_deal_ratio", FIRST_HELD_CONVERTED, (FIRST_HELD,), 1),
    ),
)
