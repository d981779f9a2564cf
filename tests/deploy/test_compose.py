"""deploy/compose.yaml (SPEC R17.11): valid against the Compose Specification's JSON schema (the
copy check-jsonschema ships, so no network), and the topology the kit promises."""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.dockerfile import image_env
from tests.deploy.kit import DEPLOY, env_setting, interpolation_default, load_yaml, run
from torouter.config import load_settings

COMPOSE = DEPLOY / "compose.yaml"


def check_compose_schema(path: Path) -> tuple[int, str]:
    return run(
        sys.executable,
        "-m",
        "check_jsonschema",
        "--builtin-schema",
        "vendor.compose-spec",
        str(path),
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


def test_compose_file_matches_the_compose_specification() -> None:
    rc, out = check_compose_schema(COMPOSE)
    assert rc == 0, out


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("condition: service_completed_successfully", "condition: service_finished"),
        ("replicas: ${TOROUTER_REPLICAS:-3}", "replica: 3"),
        ("stop_grace_period: 45s", "stop_grace_period: [45]"),
    ],
)
def test_schema_check_rejects_a_broken_file(tmp_path: Path, old: str, new: str) -> None:
    """The schema check is not vacuous: one wrong key or value fails it."""
    text = COMPOSE.read_text()
    assert old in text
    broken = tmp_path / "compose.yaml"
    broken.write_text(text.replace(old, new))
    rc, out = check_compose_schema(broken)
    assert rc != 0, out


def test_services_of_the_scale_out_topology(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "gateway", "lb", "prometheus", "grafana"} <= set(
        services
    )
    migrate, gateway = services["migrate"], services["gateway"]
    assert migrate["command"] == ["migrate", "up"]
    assert migrate["restart"] == "no"
    assert gateway["command"] == ["serve"]
    # The same image runs the migration and serves.
    assert migrate["image"] == gateway["image"]
    assert gateway["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (COMPOSE.parent / gateway["build"]["context"] / "deploy" / "Dockerfile").is_file()
    # Gateways start only after the one-shot migration exited 0, with their backends healthy.
    assert gateway["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]
    # N replicas by default, reachable only through the load balancer.
    assert int(interpolation_default(str(gateway["deploy"]["replicas"]))) >= 2
    assert "ports" not in gateway
    assert services["lb"]["ports"]


def test_gateways_are_locked_down(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    assert gateway["read_only"] is True
    assert gateway["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in gateway["security_opt"]
    # Each replica keeps its own usage journal (R11.2): an anonymous volume, never a shared one.
    (data,) = gateway["volumes"]
    assert data["type"] == "volume" and "source" not in data
    assert data["target"] == image_env()["TOROUTER_DATA_DIR"]
    # Longer than the drain (R17.4) so SIGTERM finishes in-flight requests.
    assert int(gateway["stop_grace_period"].rstrip("s")) > 30


def test_redis_never_evicts_counters(compose: dict[str, Any]) -> None:
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_environment_names_are_real_settings(compose: dict[str, Any]) -> None:
    """A misspelt TOROUTER_ variable would be ignored silently: each must name a setting."""
    for name in ("migrate", "gateway"):
        env = compose["services"][name]["environment"]
        unknown = [k for k in env if env_setting(k) is None]
        assert not unknown, f"{name}: {unknown}"


def test_secrets_are_required_from_the_environment(compose: dict[str, Any]) -> None:
    env = compose["services"]["gateway"]["environment"]
    for name in ("TOROUTER_ENCRYPTION_KEY", "TOROUTER_SECRET_KEY"):
        assert env[name].startswith("${" + name + ":?"), name
    assert ":?" in env["TOROUTER_DATABASE__URL"]
    assert ":?" in compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert ":?" in compose["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]


def test_settings_resolve_to_scale_out(compose: dict[str, Any], monkeypatch: Any) -> None:
    """The mounted TOML plus the service's environment load as the gateway would load them."""
    gateway = compose["services"]["gateway"]
    (config,) = gateway["configs"]
    source = compose["configs"][config["source"]]["file"]
    env = {k: interpolation_default(str(v)) for k, v in gateway["environment"].items()}
    assert env["TOROUTER_CONFIG"] == config["target"]
    for k, v in env.items():
        if k != "TOROUTER_CONFIG":
            monkeypatch.setenv(k, v)
    monkeypatch.setenv("TOROUTER_ENCRYPTION_KEY", "A" * 43 + "=")
    s = load_settings(COMPOSE.parent / source)
    assert s.database_url.startswith("postgresql+asyncpg://torouter:")
    assert s.redis.url == "redis://redis:6379/0"
    assert not s.embedded
    assert s.server.workers == 1
    assert s.shutdown.drain_s < int(gateway["stop_grace_period"].rstrip("s"))
    # haproxy's address, whichever Docker gives it, is one the gateways trust.
    assert "app" in compose["services"]["lb"]["networks"]
    subnet = compose["networks"]["app"]["ipam"]["config"][0]["subnet"]
    assert s.trusted_proxies == [subnet]
    assert ipaddress.ip_network(subnet).is_private


def test_monitoring_mounts_match_their_provisioning(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "./prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"])
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = load_yaml(DEPLOY / "grafana/provisioning/dashboards/torouter.yaml")["providers"][0]
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    for host in mounts:
        if host.startswith("./"):
            assert (DEPLOY / host).is_dir(), host
    haproxy = services["lb"]["volumes"][0].split(":")
    assert (DEPLOY / haproxy[0]).is_file()
    assert haproxy[1] == "/usr/local/etc/haproxy/haproxy.cfg"
    for path in DEPLOY.glob("grafana/**/*.json"):
        json.loads(path.read_text())


def test_env_example_lists_every_required_variable(compose: dict[str, Any]) -> None:
    """Every `${NAME:?…}` of compose.yaml appears in env.example, the file users copy to .env."""
    text = COMPOSE.read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    example = (DEPLOY / "env.example").read_text()
    listed = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    assert required and required <= listed, required - listed
    # KEY=VALUE lines with every value left for the operator: no secret ships in the example.
    for line in example.splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            assert value == "", f"{key} must be left empty in the example"
