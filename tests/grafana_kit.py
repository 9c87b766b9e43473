"""The Grafana dashboard's queries, taken apart: every PromQL expression of
``config/monitoring/grafana/dashboards/mmbot.json`` (panel targets and template variables),
the metric names it selects, its label matchers, its ``by (...)`` labels and the labels its
legend shows. A small PromQL tokenizer, enough for selectors: it tells metric names from
function names, aggregation keywords and the label lists of ``by``/``without``/``on``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GRAFANA = REPO / "config" / "monitoring" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "mmbot.json"

# keywords whose parenthesised argument is a list of label names, not an expression
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
OPERATOR_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
# aggregation operators: may be followed by `by (...)` before their parenthesis
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

TOKEN = re.compile(
    r'(?P<string>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')'
    r"|(?P<range>\[[^\]]*\])"
    r"|(?P<brace>\{[^}]*\})"
    r"|(?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])*)"  # 0.99, 1e3, durations (5m, 1h30m)
    r"|(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)"
    r"|(?P<paren>[()])"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)"
)
MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


@dataclass
class Selector:
    metric: str
    matchers: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class Query:
    where: str
    expr: str
    legend: str = ""
    selectors: list[Selector] = field(default_factory=list)
    by_labels: set[str] = field(default_factory=set)

    def legend_labels(self) -> set[str]:
        return set(re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", self.legend))


def load_dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def parse_matchers(brace: str) -> list[tuple[str, str, str]]:
    body = brace[1:-1].strip()
    matchers = []
    position = 0
    while position < len(body):
        found = MATCHER.match(body, position)
        if found is None:
            raise ValueError(f"cannot parse label matchers {brace!r} at {body[position:]!r}")
        matchers.append((found.group(1), found.group(2), found.group(3)))
        position = found.end()
    return matchers


def parse(expr: str) -> tuple[list[Selector], set[str]]:
    """(selectors, labels of every by/without/on/... list) of a PromQL expression."""
    tokens = [
        (kind, value)
        for found in TOKEN.finditer(expr)
        for kind, value in found.groupdict().items()
        if value is not None and kind != "space"
    ]
    selectors: list[Selector] = []
    by_labels: set[str] = set()
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
        if kind == "brace":  # a selector with no metric name ({__name__=...}): not used here
            raise ValueError(f"selector without a metric name in {expr!r}")
        if kind == "ident":
            if value in LABEL_LIST_KEYWORDS:
                if following == ("paren", "("):
                    j = i + 2
                    while tokens[j] != ("paren", ")"):
                        if tokens[j][0] == "ident":
                            by_labels.add(tokens[j][1])
                        j += 1
                    i = j + 1
                    continue
            elif value in OPERATOR_KEYWORDS or value in AGGREGATIONS or following == ("paren", "("):
                pass  # an operator, or a function / aggregation name
            else:
                selector = Selector(value)
                if following[0] == "brace":
                    selector.matchers = parse_matchers(following[1])
                    i += 1
                selectors.append(selector)
        i += 1
    return selectors, by_labels


def queries(dashboard: dict[str, Any]) -> list[Query]:
    """Every query of the dashboard: panel targets, then template variables."""
    out = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            expr = target["expr"]
            selectors, by_labels = parse(expr)
            where = f"panel {panel['id']} {panel['title']!r} target {target['refId']}"
            out.append(Query(where, expr, target.get("legendFormat", ""), selectors, by_labels))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query["query"] if isinstance(query, dict) else str(query)
        found = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", text)
        assert found, f"variable {variable['name']}: unsupported query {text!r}"
        selectors, _ = parse(found.group(1))
        out.append(Query(f"variable {variable['name']}", text, "", selectors, {found.group(2)}))
    return out
