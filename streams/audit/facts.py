"""Facts of the reference computation: a value at a time, attributed to a team and rep, collected per
(team, rep), team and floor for every window the time falls in; and the series keys they export to."""

from __future__ import annotations

from collections import defaultdict

from streams.audit.views import ALL, Windows

Labels = tuple[tuple[str, str], ...]
Key = tuple[str, Labels]
Result = dict[Key, float]


def key(name: str, **labels: str) -> Key:
    return name, tuple(sorted(labels.items()))


def rollup(team: str, rep: str) -> tuple[tuple[str, str], ...]:
    """The three series a (team, rep) contribution counts in: rep, team, floor."""
    return ((team, rep), (team, ALL), (ALL, ALL))


def nearest_rank(sorted_values: list[float], percent: int) -> float:
    """Smallest v with at least percent % of the values <= v (exact integer rank arithmetic)."""
    rank = max(1, -(-len(sorted_values) * percent // 100))
    return sorted_values[rank - 1]


def all_scopes(scopes: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Every rep with data, its team, and the floor (always)."""
    return {(ALL, ALL)} | {scope for team, rep in scopes for scope in rollup(team, rep)}


class Facts:
    """Values collected per (fact, team, rep, window); also remembers which (team, rep) have data."""

    def __init__(self, windows: Windows) -> None:
        self.windows = windows
        self.values: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
        self.scopes: set[tuple[str, str]] = set()

    def add(self, fact: str, team: str, rep: str, t_us: int, value: float = 1) -> None:
        self.scopes.add((team, rep))
        for window in self.windows.of(t_us):
            for scope_team, scope_rep in rollup(team, rep):
                self.values[(fact, scope_team, scope_rep, window)].append(value)

    def add_team(self, fact: str, team: str, t_us: int, value: float = 1) -> None:
        """A team-level fact (the breakdowns: team and floor series, no rep): no rep scope is added."""
        for window in self.windows.of(t_us):
            for scope_team in (team, ALL):
                self.values[(fact, scope_team, ALL, window)].append(value)

    def get(self, fact: str, team: str, rep: str, window: str) -> list[float]:
        return self.values.get((fact, team, rep, window), [])
