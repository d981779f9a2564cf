"""haproxy's and Prometheus' files of the kit (SPEC R17.11), checked by the tools themselves:
`haproxy -c` (warnings are errors), `promtool check config|rules`, and `promtool test rules`
with alert unit tests (tests/deploy/alerts_test.yml) that fire each important alert."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.kit import DEPLOY, load_yaml, run, tool
from torouter.config import load_settings

HAPROXY = DEPLOY / "haproxy/haproxy.cfg"
PROMETHEUS = DEPLOY / "prometheus/prometheus.yml"
ALERTS = DEPLOY / "prometheus/alerts.yml"
ALERT_TESTS = Path(__file__).with_name("alerts_test.yml")


def haproxy_check(path: Path) -> tuple[int, str]:
    # -dW: zero-warning mode, a warning fails the check.
    return run(tool("haproxy"), "-dW", "-c", "-f", str(path))


def test_haproxy_config_is_valid() -> None:
    rc, out = haproxy_check(HAPROXY)
    assert rc == 0, out


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("balance leastconn", "balance fewestconn"),
        ("retry-on conn-failure empty-response", "retry-on conn-failures"),
        ("option dontlognull", "option httplog\n    option dontlognull"),  # only a warning
    ],
)
def test_haproxy_check_rejects_a_broken_config(tmp_path: Path, old: str, new: str) -> None:
    text = HAPROXY.read_text()
    assert old in text
    broken = tmp_path / "haproxy.cfg"
    broken.write_text(text.replace(old, new))
    assert haproxy_check(broken)[0] != 0


def test_haproxy_balances_every_replica_on_readyz() -> None:
    text = HAPROXY.read_text()
    compose = load_yaml(DEPLOY / "compose.yaml")
    settings = load_settings(DEPLOY / "config/torouter.toml")
    m = re.search(r"server-template \w+ 1-(\d+) (\w+):(\d+)", text)
    assert m is not None
    slots, host, port = int(m.group(1)), m.group(2), int(m.group(3))
    assert host == "gateway" and host in compose["services"]
    assert port == settings.server.port
    assert slots >= 3
    assert "http-check send meth GET uri /readyz" in text
    assert "http-check expect status 200" in text
    assert "option forwardfor" in text
    # A replica that is shutting down refuses connections; those requests go to another one.
    assert "retry-on conn-failure" in text and "option redispatch" in text
    # haproxy is published where compose says, on the port the frontend binds.
    (published,) = compose["services"]["lb"]["ports"]
    assert published.endswith(":8080") and "bind :8080" in text


def test_prometheus_config_is_valid() -> None:
    rc, out = run(tool("promtool"), "check", "config", str(PROMETHEUS))
    assert rc == 0, out


def test_prometheus_scrapes_every_replica() -> None:
    config = load_yaml(PROMETHEUS)
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    gateway = jobs["torouter"]
    assert gateway["metrics_path"] == "/metrics"
    (sd,) = gateway["dns_sd_configs"]
    # Docker's DNS answers the service name with one address per replica.
    assert sd["names"] == ["gateway"] and sd["type"] == "A" and sd["port"] == 8080
    assert jobs["haproxy"]["static_configs"][0]["targets"] == ["lb:8404"]
    assert "bind :8404" in HAPROXY.read_text()
    assert config["rule_files"] == ["alerts.yml"]


def test_alert_rules_are_valid() -> None:
    rc, out = run(tool("promtool"), "check", "rules", str(ALERTS))
    assert rc == 0, out


def test_alert_rules_fire_as_documented() -> None:
    rc, out = run(tool("promtool"), "test", "rules", str(ALERT_TESTS))
    assert rc == 0, out
    assert "SUCCESS" in out


def test_alert_unit_tests_can_fail(tmp_path: Path) -> None:
    """A rule that no longer fires fails the unit tests (they are not vacuous)."""
    alerts = tmp_path / "deploy/prometheus/alerts.yml"
    alerts.parent.mkdir(parents=True)
    alerts.write_text(ALERTS.read_text().replace("> 10000", "> 10000000"))
    tests = tmp_path / "tests/deploy/alerts_test.yml"
    tests.parent.mkdir(parents=True)
    tests.write_text(ALERT_TESTS.read_text())
    rc, out = run(tool("promtool"), "test", "rules", str(tests))
    assert rc != 0 and "ToRouterUsageQueueBacklog" in out, out


def test_every_alert_has_a_runbook_entry() -> None:
    doc = (DEPLOY.parent / "docs/operations.md").read_text()
    for group in load_yaml(ALERTS)["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("info", "warning", "critical")
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            assert f"`{rule['alert']}`" in doc, rule["alert"]
