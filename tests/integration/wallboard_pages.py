"""What the wallboard tests read back from the page and work out on their own: numbers in each language's
format, the page's clipped text, the labels each language must show, and today against the same time
yesterday and today by hour computed straight from the events produced (SPEC §4's rules, written here
without the engine or the reference)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

DASH = "\u2013"
LANGS = ("en", "pl", "bg")

# every text element in a tile, the header, the leaderboard, the chart or a banner that is shown: its text
# is not cut by its own box (overflow hidden or an ellipsis) and lies inside its tile
CLIPPED = """() => {
  const problems = [];
  const boxes = [...document.querySelectorAll('.tile, header.top, .leaderboard, .hourly, .banner')];
  const name = (el) => `${el.tagName.toLowerCase()}${el.dataset.kpi ? `[${el.dataset.kpi}]` : ''}`
    + ` "${el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 70)}"`;
  const hides = (overflow) => overflow === 'hidden' || overflow === 'clip';
  for (const box of boxes) {
    if (box.hidden) continue;
    const outer = box.getBoundingClientRect();
    for (const el of [box, ...box.querySelectorAll('*')]) {
      if (!el.getClientRects().length || !el.textContent.trim()) continue;
      const style = getComputedStyle(el);
      if (!(el instanceof SVGElement)) {
        if ((hides(style.overflowX) || style.textOverflow === 'ellipsis') && el.scrollWidth > el.clientWidth + 1) {
          problems.push(`${name(el)}: ${el.scrollWidth}px wide in ${el.clientWidth}px`);
        }
        if (hides(style.overflowY) && el.scrollHeight > el.clientHeight + 1) {
          problems.push(`${name(el)}: ${el.scrollHeight}px high in ${el.clientHeight}px`);
        }
      }
      for (const node of el.childNodes) {
        if (node.nodeType !== Node.TEXT_NODE || !node.textContent.trim()) continue;
        const range = document.createRange();
        range.selectNodeContents(node);
        for (const r of range.getClientRects()) {
          if (r.left < outer.left - 1 || r.right > outer.right + 1
              || r.top < outer.top - 1 || r.bottom > outer.bottom + 1) {
            problems.push(`${name(el)}: text outside its ${box.className || box.tagName} box`);
          }
        }
      }
    }
  }
  return problems;
}"""

CHART = """() => [...document.querySelectorAll('[data-kpi="hourly"] g[data-hour]')].map((g) => ({
    hour: g.dataset.hour, won_amount: Number(g.dataset.won_amount), calls_outbound: Number(g.dataset.calls_outbound),
    y: Number(g.querySelector('rect').getAttribute('y')),
    height: Number(g.querySelector('rect').getAttribute('height')),
    cy: Number(g.querySelector('circle').getAttribute('cy')),
    axis: Number(document.querySelector('[data-kpi="hourly"] line.axis').getAttribute('y1')) - 0.5,
}))"""

# ---- numbers as each language writes them --------------------------------------------------------------


def parse_local(text: str, lang: str) -> float | None:
    """`1,234` / `€12,345` / `63%` (en), `1 234` / `12 345 €` / `4,3×` (pl, bg) → the number; the dash → None."""
    text = text.strip()
    if text in (DASH, ""):
        return None
    if lang == "en":
        return float(re.sub(r"[^0-9.\-]", "", text))
    return float(re.sub(r"[^0-9,\-]", "", text).replace(",", "."))


def parse_against(text: str, lang: str) -> float:
    """A chip `▲ 12` / `▼ €3,000` / `= 0` → the signed difference."""
    text = text.strip()
    arrow, _, size = text.partition(" ")
    value = parse_local(size, lang) or 0.0
    assert arrow in ("\u25b2", "\u25bc", "="), text
    assert (arrow == "=") == (value == 0), text
    return -value if arrow == "\u25bc" else value


def parse_duration_local(text: str, lang: str) -> tuple[float, float] | None:
    """`m:ss`, or `h:mm h` (en, pl) / `h:mm ч` (bg) → (seconds, display resolution in seconds)."""
    text = text.strip()
    if text == DASH:
        return None
    unit = " ч" if lang == "bg" else " h"
    hours = text.endswith(unit)
    first, second = text.removesuffix(unit).split(":")
    if hours:
        return int(first) * 3600 + int(second) * 60, 60.0
    return int(first) * 60 + int(second), 1.0


# ---- what each language shows (a selection: every kind of text on the page) --------------------------

LABELS: dict[str, dict[str, str]] = {  # data-kpi or data-t of an element -> its text
    "en": {
        "calls": "Calls",
        "emails": "Emails",
        "wonToday": "Won today",
        "leadsWaiting": "Leads waiting",
        "leaderboard": "Leaderboard",
        "rep": "Rep",
        "lb_head_value": "Won",
        "lb_head_other": "Calls",
        "byHour": "Today by hour",
        "status": "LIVE",
        "eyebrow": "Sales floor · today",
    },
    "pl": {
        "calls": "Połączenia",
        "emails": "E-maile",
        "wonToday": "Wygrane dziś",
        "leadsWaiting": "Leady czekające",
        "leaderboard": "Ranking",
        "rep": "Handlowiec",
        "lb_head_value": "Wygrane",
        "lb_head_other": "Połącz.",
        "byHour": "Dziś wg godzin",
        "status": "NA ŻYWO",
        "eyebrow": "Dział sprzedaży · dziś",
    },
    "bg": {
        "calls": "Обаждания",
        "emails": "Имейли",
        "wonToday": "Спечелени днес",
        "leadsWaiting": "Чакащи лийдове",
        "leaderboard": "Класация",
        "rep": "Търговец",
        "lb_head_value": "Спечелени",
        "lb_head_other": "Обажд.",
        "byHour": "Днес по часове",
        "status": "НА ЖИВО",
        "eyebrow": "Търговски отдел · днес",
    },
}
STALE = {"en": ("STALE", "no data for"), "pl": ("NIEAKTUALNE", "brak danych od"), "bg": ("ОСТАРЯЛО", "няма данни от")}
CONNECTING = {"en": ("CONNECTING", "connecting"), "pl": ("ŁĄCZENIE", "łączenie"), "bg": ("СВЪРЗВАНЕ", "свързване")}
SPEED_MORE = {
    "en": "answered within 5 min convert 4.3× more",
    "pl": "odpowiedź w 5 min: konwersja 4,3× wyższa",
    "bg": "отговор до 5 мин: 4,3× по-висока конверсия",
}
MONTHS = {  # the month of the date line, as each language writes it in a full date
    "en": "January February March April May June July August September October November December".split(),
    "pl": "stycznia lutego marca kwietnia maja czerwca lipca sierpnia września października listopada grudnia".split(),
    "bg": "януари февруари март април май юни юли август септември октомври ноември декември".split(),
}
GOAL = {  # a goal of today's calls, 40, reached in full by Ann
    "en": "Ann — 100% of today's calls target (40)",
    "pl": "Ann — 100% dziennego celu połączeń (40)",
    "bg": "Ann — 100% от дневната цел за обаждания (40)",
}
RECORD = {  # Ann's 14 calls in a day, against a best of 12
    "en": "Ann — new record: 14 calls in a day (best 12)",
    "pl": "Ann — nowy rekord: 14 połączeń w ciągu dnia (poprzedni: 12)",
    "bg": "Ann — нов рекорд: 14 обаждания за един ден (досега: 12)",
}

# ---- today against yesterday, from the events ---------------------------------------------------------

PACED = ("won_amount", "deals_won", "calls_outbound", "emails_sent", "leads_responded", "meetings_held")


def local_time(event: dict[str, Any], zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")).astimezone(zone)


def facts(events: Iterable[dict[str, Any]], zone: ZoneInfo) -> list[tuple[str, datetime, str, float]]:
    """(team, local time, metric, value) of every paced KPI: wins and their amounts, outbound calls, emails
    sent (each email once), held meetings (by a meeting's latest outcome), and each lead's first contact
    (an outbound or connected inbound call, an email sent or a held meeting naming it; the lead's team)."""
    out: list[tuple[str, datetime, str, float]] = []
    emails: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, dict[str, Any]] = {}
    created: dict[str, dict[str, Any]] = {}
    contacts: dict[str, list[datetime]] = defaultdict(list)
    for event in events:
        kind, at = event["type"], local_time(event, zone)
        if kind == "deal.won":
            out += [(event["team_id"], at, "deals_won", 1.0), (event["team_id"], at, "won_amount", event["amount"])]
        elif kind == "call.completed":
            if event["direction"] == "outbound":
                out.append((event["team_id"], at, "calls_outbound", 1.0))
            if event.get("lead_id") and (event["direction"] == "outbound" or event["outcome"] == "connected"):
                contacts[event["lead_id"]].append(at)
        elif kind == "email.sent":
            first = emails.get(event["email_id"])
            if first is None or local_time(first, zone) > at:
                emails[event["email_id"]] = event
        elif kind == "meeting.completed":
            latest = outcomes.get(event["meeting_id"])
            if latest is None or local_time(latest, zone) <= at:
                outcomes[event["meeting_id"]] = event
        elif kind == "lead.created":
            created.setdefault(event["lead_id"], event)
    for email in emails.values():
        out.append((email["team_id"], local_time(email, zone), "emails_sent", 1.0))
        if email.get("lead_id"):
            contacts[email["lead_id"]].append(local_time(email, zone))
    for meeting in outcomes.values():
        if meeting["outcome"] == "held":
            out.append((meeting["team_id"], local_time(meeting, zone), "meetings_held", 1.0))
            if meeting.get("lead_id"):
                contacts[meeting["lead_id"]].append(local_time(meeting, zone))
    for lead, times in contacts.items():
        if lead in created:
            out.append((created[lead]["team_id"], min(times), "leads_responded", 1.0))
    return out


def day_until(
    events: Iterable[dict[str, Any]], zone: ZoneInfo, team: str, day: date, last: time | None = None
) -> dict[str, float]:
    """Each paced metric of a team (`_all`: the floor) on a local day, up to the end of minute `last`."""
    total = dict.fromkeys(PACED, 0.0)
    for fact_team, at, metric, value in facts(events, zone):
        if (team in ("_all", fact_team)) and at.date() == day and (last is None or at.time() < _end_of(last)):
            total[metric] += value
    return total


def by_hour(events: Iterable[dict[str, Any]], zone: ZoneInfo, team: str, day: date) -> dict[str, dict[str, float]]:
    """A day's won amount and outbound calls by local hour ("HH:00"), hours with either only."""
    hours: dict[str, dict[str, float]] = {}
    for fact_team, at, metric, value in facts(events, zone):
        if team in ("_all", fact_team) and at.date() == day and metric in ("won_amount", "calls_outbound"):
            hour = hours.setdefault(f"{at.hour:02d}:00", {"won_amount": 0.0, "calls_outbound": 0.0})
            hour[metric] += value
    return hours


def _end_of(minute: time) -> time:
    return time(minute.hour, minute.minute, 59, 999_999)
