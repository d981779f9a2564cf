"""The monitoring half of the kit against a real gateway's `/metrics` (SPEC R17.2, R17.11):
the exposition passes `promtool check metrics`, and every metric the Grafana dashboard and the
alert rules query is one the gateway exports (prometheus_client adds `_total` to counters and
`_bucket`/`_sum`/`_count` to histograms, so names are compared sample by sample)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.kit import DEPLOY, REPO, load_yaml, run, tool
from tests.deploy.promql import grafana_to_promql, metric_names
from tests.deploy.traffic import ADMIN_PASSWORD, CONFIG, START_TIMEOUT, exercise
from tests.e2e.harness import GatewayProcess

DASHBOARD = DEPLOY / "grafana/dashboards/torouter.json"
ALERTS = DEPLOY / "prometheus/alerts.yml"

# The families SPEC R17.2 names (counters without prometheus_client's `_total`).
R17_2 = (
    "torouter_requests",
    "torouter_request_duration_seconds",
    "torouter_gateway_overhead_seconds",
    "torouter_ttft_seconds",
    "torouter_tokens",
    "torouter_cost_nanousd",
    "torouter_upstream_requests",
    "torouter_channel_state",
    "torouter_channel_cooldowns",
    "torouter_inflight_requests",
    "torouter_usage_queue_depth",
)
# Series Prometheus itself writes for every target (not exported by the gateway).
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})


@pytest.fixture(scope="module")
def scrape(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    gw = GatewayProcess(
        tmp_path_factory.mktemp("metrics"),
        CONFIG,
        env={"DEPLOY_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    gw.start(timeout=START_TIMEOUT)
    try:
        exercise(gw)
        with gw.client() as c:
            r = c.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        yield r.text
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def exported(scrape: str) -> set[str]:
    """Every sample name of the scrape."""
    return {s.name for fam in text_string_to_metric_families(scrape) for s in fam.samples}


def dashboard_queries() -> list[str]:
    queries: list[str] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for p in panels:
            queries.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
            walk(p.get("panels", []))

    dash = json.loads(DASHBOARD.read_text())
    walk(dash["panels"])
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            # `label_values(METRIC, LABEL)`: Grafana asks Prometheus for METRIC's series.
            query = var["query"]["query"]
            m = re.fullmatch(r"label_values\((.+),\s*\w+\)", query)
            queries.append(m.group(1) if m else query)
    return queries


def alert_queries() -> list[str]:
    return [r["expr"] for g in load_yaml(ALERTS)["groups"] for r in g["rules"]]


def test_metrics_pass_promtool(scrape: str) -> None:
    rc, out = run(tool("promtool"), "check", "metrics", input=scrape)
    assert rc == 0, out
    assert out.strip() == "", out  # no lint remark either


def test_promtool_metrics_check_is_not_vacuous() -> None:
    rc, out = run(
        tool("promtool"),
        "check",
        "metrics",
        input='# TYPE torouter_x counter\ntorouter_x{a="1" 1\n',
    )
    assert rc != 0, out


def test_every_r17_2_family_is_exported(exported: set[str]) -> None:
    for family in R17_2:
        assert {family, f"{family}_total", f"{family}_bucket"} & exported, family


@pytest.mark.parametrize(
    ("name", "queries"), [("dashboard", dashboard_queries), ("alerts", alert_queries)]
)
def test_queried_metrics_are_exported(name: str, queries: Any, exported: set[str]) -> None:
    used = set().union(*(metric_names(grafana_to_promql(q)) for q in queries()))
    assert used, name
    missing = used - exported - SCRAPE_SERIES
    assert not missing, f"{name} queries metrics the gateway does not export: {sorted(missing)}"


def test_dashboard_shows_every_r17_2_metric() -> None:
    used = set().union(*(metric_names(grafana_to_promql(q)) for q in dashboard_queries()))
    for family in R17_2:
        assert {family, f"{family}_total", f"{family}_bucket"} & used, family


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (as a recording rule, the one way it checks bare PromQL)."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": grafana_to_promql(q)}
                    for i, q in enumerate(dashboard_queries())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(json.dumps(rules))
    rc, out = run(tool("promtool"), "check", "rules", str(path))
    assert rc == 0, out
    path.write_text(json.dumps(rules).replace("sum by (status)", "sum by status"))
    assert run(tool("promtool"), "check", "rules", str(path))[0] != 0


def test_dashboard_is_provisioned_against_the_provisioned_datasource() -> None:
    dash = json.loads(DASHBOARD.read_text())
    (source,) = load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yaml")[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    ids: list[int] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for p in panels:
            ids.append(p["id"])
            if p["type"] != "row":
                assert p["datasource"]["uid"] == source["uid"], p["title"]
                assert p["targets"], p["title"]
                for t in p["targets"]:
                    assert t["datasource"]["uid"] == source["uid"], p["title"]
            walk(p.get("panels", []))

    walk(dash["panels"])
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert dash["uid"] and dash["title"] == "ToRouter"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (status) (rate(torouter_requests_total{code!="",x=~"a|b"}[$__rate_interval]))',
         {"torouter_requests_total"}),
        ("histogram_quantile(0.99, sum by (le) (rate(torouter_ttft_seconds_bucket[5m])))",
         {"torouter_ttft_seconds_bucket"}),
        ("sum(rate(torouter_cost_nanousd_total[1h])) * 3600 / 1e9 > 100",
         {"torouter_cost_nanousd_total"}),
        ('sum(up{job="torouter"}) == 0 or absent(up{job="torouter"})', {"up"}),
        ("a / on (instance) group_left (x) b unless c offset 5m", {"a", "b", "c"}),
    ],
)  # fmt: skip
def test_metric_name_extraction(expr: str, names: set[str]) -> None:
    assert metric_names(grafana_to_promql(expr)) == names


def test_operations_doc_explains_every_exported_family(scrape: str) -> None:
    doc = (REPO / "docs/operations.md").read_text()
    for fam in text_string_to_metric_families(scrape):
        if fam.name.endswith("_created"):
            continue  # prometheus_client's start time of each counter, documented as a whole
        name = fam.name + ("_total" if fam.type == "counter" else "")
        assert f"`{name}" in doc, name
