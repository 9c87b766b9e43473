"""The Grafana dashboard's queries, taken apart: every PromQL expression of
``config/monitoring/grafana/dashboards/mmbot.json`` (panel targets and template variables),
the metric names it selects, its label matchers, its ``by (...)`` labels and the labels its
legend shows. A small PromQL tokenizer, enough for selectors: it tells metric names from
function names, aggregation keywords and the label lists of ``by``/``without``/``on``. And a
real Prometheus (Debian's package) to run those queries against a scraped bot."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
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


# ---- a real Prometheus (Debian's `prometheus` package) scraping a bot ----------------------------

ALL_VALUES = {"$engine": ".*", "$venue": ".*"}
"""What Grafana puts for a template variable set to All (the variables' ``allValue``)."""


def prometheus_path() -> tuple[str | None, str]:
    """(the prometheus executable, or None and why not)."""
    configured = os.environ.get("TESTS_PROMETHEUS")
    if configured:
        if os.access(configured, os.X_OK):
            return configured, ""
        return None, f"TESTS_PROMETHEUS={configured} is not an executable"
    found = shutil.which("prometheus")
    if found:
        return found, ""
    return None, "no prometheus: apt-get install -y prometheus (Debian), or set TESTS_PROMETHEUS=/path"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Prometheus:
    """``prometheus`` scraping ``target`` (HOST:PORT) every second, its TSDB in ``tmp``."""

    def __init__(self, executable: str, tmp: Path, target: str) -> None:
        config = tmp / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n  - job_name: mmbot\n    static_configs:\n      - targets: ['{target}']\n"
        )
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api/v1"
        self.log_path = tmp / "prometheus.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [
                executable,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def get(self, path: str, **params: str | list[str]) -> Any:
        url = f"{self.api}/{path}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:  # 400/422: the error document says why
            return json.loads(exc.read())

    def wait_scrapes(self, count: int, timeout: float = 60) -> None:
        """Until the target has been scraped (up == 1) at least ``count`` times."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_path.read_text()[-2000:]
            with contextlib.suppress(OSError):
                reply = self.get("query", query="count_over_time(up[5m])")
                result = reply.get("data", {}).get("result", [])
                up = self.get("query", query="up").get("data", {}).get("result", [])
                if result and up and up[0]["value"][1] == "1" and int(result[0]["value"][1]) >= count:
                    return
            time.sleep(0.5)
        raise AssertionError("Prometheus did not scrape the bot: " + self.log_path.read_text()[-2000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
