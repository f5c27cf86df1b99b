"""What a PromQL expression reads: metric names with their matcher labels, and the labels it groups by.

A small tokenizer, not a parser: enough to check dashboards and rules against the metrics the worker
exports. It refuses what it does not understand (an unknown function, a bare `{...}` selector), so a
check built on it cannot pass by overlooking part of an expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TOKEN = re.compile(
    r"""(?P<space>\s+|\#[^\n]*)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
      | (?P<range>\[[^\]]*\])
      | (?P<number>0x[0-9a-fA-F]+|\d[\w.]*|\.\d+\w*)
      | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
      | (?P<op>==|!=|=~|!~|<=|>=|[-+*/%^<>=@])
      | (?P<punct>[{}(),])""",
    re.VERBOSE,
)
AGGREGATIONS = {
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
}
FUNCTIONS = AGGREGATIONS | {
    "abs",
    "absent",
    "absent_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_avg",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_sum",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "ln",
    "log10",
    "log2",
    "minute",
    "month",
    "predict_linear",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sort",
    "sort_desc",
    "sqrt",
    "time",
    "timestamp",
    "vector",
    "year",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "quantile_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "present_over_time",
}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
GRAFANA_INTERVAL = re.compile(r"\$(?:__\w+|\{__\w+\})")


@dataclass
class Reads:
    """Metric name -> label names matched on it; labels named in by/without/on/ignoring/group_*."""

    selectors: list[tuple[str, set[str]]] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)

    @property
    def metrics(self) -> set[str]:
        return {name for name, _ in self.selectors}


def tokens(expr: str) -> list[tuple[str, str]]:
    expr = GRAFANA_INTERVAL.sub("5m", expr)  # $__rate_interval and friends stand for a duration
    found, pos = [], 0
    while pos < len(expr):
        match = TOKEN.match(expr, pos)
        if match is None:
            raise ValueError(f"cannot read {expr[pos : pos + 20]!r} in {expr!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            found.append((kind, match.group()))
        pos = match.end()
    return found


def reads(expr: str) -> Reads:
    """Every metric selector and grouping label of one expression."""
    toks = tokens(expr)
    result = Reads()
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        following = toks[i + 1][1] if i + 1 < len(toks) else ""
        if kind == "ident" and text.lower() in LABEL_LISTS:
            if following == "(":
                close = _closing(toks, i + 1, expr)
                result.grouping |= {t for k, t in toks[i + 2 : close] if k == "ident"}
                i = close
        elif kind == "ident" and text in AGGREGATIONS and following.lower() in {"by", "without"}:
            pass  # `sum by (team) (...)`: the label list comes next
        elif kind == "ident" and following == "(":
            if text not in FUNCTIONS:
                raise ValueError(f"unknown function {text!r} in {expr!r}")
        elif kind == "ident" and text.lower() not in KEYWORDS:
            labels: set[str] = set()
            if following == "{":
                close = _closing(toks, i + 1, expr)
                labels = _matcher_labels(toks[i + 2 : close], expr)
                i = close
            result.selectors.append((text, labels))
        elif text == "{":
            raise ValueError(f"selector without a metric name in {expr!r}")
        i += 1
    return result


def _closing(toks: list[tuple[str, str]], opening: int, expr: str) -> int:
    pairs = {"(": ")", "{": "}"}
    want, depth = pairs[toks[opening][1]], 0
    for j in range(opening, len(toks)):
        if toks[j][1] == toks[opening][1]:
            depth += 1
        elif toks[j][1] == want:
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(f"unbalanced {toks[opening][1]!r} in {expr!r}")


def _matcher_labels(inner: list[tuple[str, str]], expr: str) -> set[str]:
    labels = set()
    for start in range(0, len(inner), 4):
        part = inner[start : start + 4]
        kinds = [k for k, _ in part[:3]]
        if kinds != ["ident", "op", "string"] or part[1][1] not in {"=", "!=", "=~", "!~"}:
            raise ValueError(f"cannot read the label matchers of {expr!r}")
        if len(part) == 4 and part[3][1] != ",":
            raise ValueError(f"cannot read the label matchers of {expr!r}")
        labels.add(part[0][1])
    return labels
