"""The Grafana dashboard (config/monitoring/grafana) and its provisioning by the compose
``monitoring`` profile: a well-formed dashboard whose every query is PromQL over mmbot's own
metrics, a data source pointing at the compose Prometheus, files mounted where the provider
looks. That every metric and label it queries exists in a running bot's ``/metrics``, and that
a real Prometheus scraping that bot accepts and answers every query, is checked in
``test_dashboard.py``. No Docker engine is used: Grafana's image
cannot be pulled here, so the compose file is checked as data."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.grafana_kit import DASHBOARD, GRAFANA, REPO, load_dashboard, panels, parse, queries


def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def provisioning(kind: str) -> dict[str, Any]:
    (path,) = (GRAFANA / "provisioning" / kind).glob("*.yml")
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict) and data["apiVersion"] == 1
    return data


@pytest.mark.parametrize(
    ("expr", "metrics", "labels"),
    [
        ('mmbot_pnl{engine=~"$engine"}', ["mmbot_pnl"], set()),
        (
            'histogram_quantile(0.99, sum by (le, engine) (rate(mmbot_t_bucket{engine=~"$engine", quoted="yes"}[1m])))',
            ["mmbot_t_bucket"],
            {"le", "engine"},
        ),
        (
            '(max by (engine) (mmbot_regime{regime="calm"} == 1) * 0) or (max by (engine) (mmbot_regime{regime="halted"} == 1) * 4)',
            ["mmbot_regime", "mmbot_regime"],
            {"engine"},
        ),
        (
            "rate(a_total[5m]) / on (instance) group_left (job) b offset 5m",
            ["a_total", "b"],
            {"instance", "job"},
        ),
        ('sum without (kind) (increase(x{kind=~"a|b"}[1h:1m]))', ["x"], {"kind"}),
    ],
)
def test_promql_parser_finds_metrics_not_functions_or_label_lists(
    expr: str, metrics: list[str], labels: set[str]
) -> None:
    selectors, by_labels = parse(expr)
    assert [s.metric for s in selectors] == metrics
    assert by_labels == labels


def test_parser_reads_label_matchers() -> None:
    (selector,) = parse('m{engine=~"$engine", quoted="yes",kind!~"a|b"}')[0]
    assert selector.matchers == [("engine", "=~", "$engine"), ("quoted", "=", "yes"), ("kind", "!~", "a|b")]


def test_dashboard_is_well_formed_and_queries_only_mmbot_metrics() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "mmbot-overview" and dashboard["title"] == "mmbot"
    assert dashboard["schemaVersion"] >= 36
    datasource_uid = provisioning("datasources")["datasources"][0]["uid"]
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    cells: set[tuple[int, int]] = set()
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"panel {panel['title']!r} overlaps another"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == datasource_uid, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        assert all(t["datasource"]["uid"] == datasource_uid for t in panel["targets"])
    found = queries(dashboard)
    metrics = {s.metric for q in found for s in q.selectors}
    assert all(q.selectors for q in found), [q.where for q in found if not q.selectors]
    assert all(m.startswith("mmbot_") for m in metrics), sorted(metrics)
    for family in ("mmbot_pnl", "mmbot_inventory", "mmbot_regime", "mmbot_fills_total", "mmbot_book_valid"):
        assert family in metrics, family
    assert any(m.startswith("mmbot_tick_to_quote_seconds") for m in metrics)
    for query in found:
        if query.by_labels and query.legend:
            assert query.legend_labels() <= query.by_labels, (query.where, query.legend)


def test_grafana_is_provisioned_by_the_compose_monitoring_profile() -> None:
    services = compose()["services"]
    grafana, prometheus = services["grafana"], services["prometheus"]
    assert grafana["profiles"] == ["monitoring"] == prometheus["profiles"]
    depends = grafana["depends_on"]
    assert "prometheus" in (depends if isinstance(depends, list) else list(depends))
    assert all(str(p).startswith("127.0.0.1:") and str(p).endswith(":3000") for p in grafana["ports"])
    mounts = {}
    for volume in grafana["volumes"]:
        source, target, *_ = volume.split(":")
        mounts[target] = source
    assert mounts["/etc/grafana/provisioning"] == "./config/monitoring/grafana/provisioning"
    assert (REPO / mounts["/etc/grafana/provisioning"]).is_dir()
    provider = provisioning("dashboards")["providers"][0]
    dashboards_dir = provider["options"]["path"]
    assert provider["type"] == "file"
    assert (REPO / mounts[dashboards_dir] / DASHBOARD.name).resolve() == DASHBOARD.resolve()
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_dir}/{DASHBOARD.name}"
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    # the data source is the compose Prometheus, on the port it listens on inside the network
    source = provisioning("datasources")["datasources"][0]
    assert source["type"] == "prometheus" and source["access"] == "proxy"
    container_port = str(prometheus["ports"][0]).rsplit(":", 1)[1]
    assert source["url"] == f"http://prometheus:{container_port}"
    scrape = yaml.safe_load((REPO / "config" / "monitoring" / "prometheus.yml").read_text())
    assert [job["job_name"] for job in scrape["scrape_configs"]] == ["mmbot"]
