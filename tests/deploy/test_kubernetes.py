"""deploy/kubernetes (SPEC R17.11): every manifest valid against the Kubernetes OpenAPI schemas
(kubernetes-validate's offline copies, strict: unknown fields fail) for the oldest and newest
versions the kit supports, and the wiring between them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.dockerfile import image_env
from tests.deploy.kit import DEPLOY, env_setting, load_yaml, load_yaml_all
from torouter.config import Settings

K8S = DEPLOY / "kubernetes"
# The oldest and the newest Kubernetes the manifests are checked against.
VERSIONS = ("1.30.0", "1.37.0")
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def validate(doc: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in MANIFESTS:
        for doc in load_yaml_all(path):
            out[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return out


def by_kind(objects: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    (doc,) = [d for d in objects.values() if d["kind"] == kind]
    return doc


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_valid(path: Path, version: str) -> None:
    for doc in load_yaml_all(path):
        validate(doc, version)


@pytest.mark.parametrize(
    ("mutate", "what"),
    [
        (lambda d: d["spec"]["template"]["spec"]["containers"][0].update(readinesProbe={}), "typo"),
        (lambda d: d["spec"].update(replicas="three"), "type"),
        (lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"), "required"),
    ],
)
def test_validation_rejects_a_broken_manifest(mutate: Any, what: str) -> None:
    doc = yaml.safe_load((K8S / "deployment.yaml").read_text())
    mutate(doc)
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(doc, VERSIONS[-1])


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kust = load_yaml(K8S / "kustomization.yaml")
    assert sorted(kust["resources"]) == sorted(
        p.name for p in MANIFESTS if p.name != "secret.example.yaml"
    )


def gateway_pod(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return by_kind(objects, "Deployment")["spec"]["template"]


def test_probes_and_shutdown(objects: dict[str, dict[str, Any]]) -> None:
    pod = gateway_pod(objects)["spec"]
    (gw,) = pod["containers"]
    assert gw["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gw["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gw["startupProbe"]["httpGet"]["path"] == "/healthz"
    (port,) = gw["ports"]
    assert port["containerPort"] == int(image_env()["TOROUTER_SERVER__PORT"])
    assert gw["readinessProbe"]["httpGet"]["port"] == port["name"]
    # The grace period covers the preStop pause and the drain (R17.4).
    settings = _configmap_settings(objects)
    pause = int(gw["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod["terminationGracePeriodSeconds"] > pause + settings.shutdown.drain_s


def test_pods_are_non_root_with_a_read_only_root(objects: dict[str, dict[str, Any]]) -> None:
    env = image_env()
    for template in (gateway_pod(objects), by_kind(objects, "Job")["spec"]["template"]):
        spec = template["spec"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] >= 1000
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert "limits" in c["resources"] and "requests" in c["resources"]
            assert c["resources"]["limits"]["memory"]
    # The writable paths are volumes: /tmp, and the data directory for the usage journal.
    (gw,) = gateway_pod(objects)["spec"]["containers"]
    mounts = {m["mountPath"] for m in gw["volumeMounts"]}
    assert {"/tmp", env["TOROUTER_DATA_DIR"], "/etc/torouter"} <= mounts


def test_secrets_come_from_the_secret_and_names_are_settings(
    objects: dict[str, dict[str, Any]],
) -> None:
    secret = by_kind(objects, "Secret")
    pod = gateway_pod(objects)["spec"]
    job = by_kind(objects, "Job")["spec"]["template"]["spec"]
    for c in pod["containers"] + pod["initContainers"] + job["containers"]:
        for var in c["env"]:
            assert env_setting(var["name"]) is not None, var["name"]
            if var["name"] != "TOROUTER_CONFIG":
                ref = var["valueFrom"]["secretKeyRef"]  # never a literal
                assert ref["name"] == secret["metadata"]["name"]
                assert ref["key"] in secret["stringData"]
    (gw,) = pod["containers"]
    names = {v["name"] for v in gw["env"]}
    assert {
        "TOROUTER_DATABASE__URL",
        "TOROUTER_REDIS__URL",
        "TOROUTER_ENCRYPTION_KEY",
        "TOROUTER_SECRET_KEY",
    } <= names


def _configmap_settings(objects: dict[str, dict[str, Any]]) -> Settings:
    toml = by_kind(objects, "ConfigMap")["data"]["torouter.toml"]
    return Settings(**tomllib.loads(toml))


def test_configmap_is_the_gateway_config(objects: dict[str, dict[str, Any]]) -> None:
    settings = _configmap_settings(objects)
    assert settings.server.host == "0.0.0.0" and settings.server.workers == 1
    pod = gateway_pod(objects)["spec"]
    (gw,) = pod["containers"]
    config_env = {v["name"]: v.get("value") for v in gw["env"]}["TOROUTER_CONFIG"]
    mount = next(m for m in gw["volumeMounts"] if m["name"] == "config")
    assert config_env == f"{mount['mountPath']}/torouter.toml"
    volume = next(v for v in pod["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == by_kind(objects, "ConfigMap")["metadata"]["name"]


def test_migration_job_runs_on_every_release(objects: dict[str, dict[str, Any]]) -> None:
    """The Job's name carries the image tag: a new release is a new Job, so it runs again
    (a Job that already completed never reruns, and its template cannot be edited)."""
    job = by_kind(objects, "Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate", "up"]
    tag = container["image"].rsplit(":", 1)[1]
    assert job["metadata"]["name"] == "torouter-migrate-" + re.sub(r"[^a-z0-9]+", "-", tag)
    assert job["metadata"]["labels"]["app.kubernetes.io/version"] == tag
    pod = gateway_pod(objects)["spec"]
    for c in pod["containers"] + pod["initContainers"]:
        assert c["image"] == container["image"], "one image tag per release"
    # The gateway waits for the schema instead of crash-looping (scale-out serve refuses an
    # outdated one, R17.8).
    (wait,) = pod["initContainers"]
    assert "torouter migrate check" in " ".join(wait["command"])


def test_service_pdb_and_hpa_select_the_gateway(objects: dict[str, dict[str, Any]]) -> None:
    deployment = by_kind(objects, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = by_kind(objects, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    pdb = by_kind(objects, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1
    assert deployment["spec"]["replicas"] >= 2
    hpa = by_kind(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= deployment["spec"]["replicas"]
    # Rolling updates never go below the replica count.
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
