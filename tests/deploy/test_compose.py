"""The Compose file (``deploy/compose/compose.yaml``): Docker cannot run here, so it is
read as Compose would read it, and each part is checked against what it must agree with:
three gateways (a healthcheck on ``/readyz``, state from the environment, a stop grace
longer than Bastion's drain), nginx in front of exactly those three, Redis and
PostgreSQL with healthchecks the gateways wait for, and a Bastion config that loads.
The nginx config itself runs in ``test_replicas.py``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bastion.config.loader import load_settings

DIR = Path(__file__).resolve().parents[2] / "deploy" / "compose"
GATEWAYS = ["gateway-1", "gateway-2", "gateway-3"]
_VAR = re.compile(r"\$\{(\w+)(?::\?[^}]*)?\}")
ENV = {"BASTION_MASTER_KEY": "m" * 40, "BASTION_KEY_HASH_SECRET": "h" * 40,
       "POSTGRES_PASSWORD": "pw", "OPENAI_API_KEY": "sk-test"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DIR / "compose.yaml").read_text()))


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}`` / ``${VAR:?message}`` with ``env``; a missing one is an error."""
    def one(m: re.Match[str]) -> str:
        assert m.group(1) in env, f"{m.group(1)} is not in env.example"
        return env[m.group(1)]
    return _VAR.sub(one, value)


def seconds(text: str) -> float:
    assert text.endswith("s"), text
    return float(text[:-1])


def test_services_and_their_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {*GATEWAYS, "nginx", "redis", "postgres"}
    for name in GATEWAYS:
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"}}
    assert services["nginx"]["depends_on"] == {
        g: {"condition": "service_healthy"} for g in GATEWAYS}
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
        assert service["restart"] == "unless-stopped", name


def test_every_gateway_is_the_same_replica(compose: dict[str, Any]) -> None:
    services = compose["services"]
    first = services["gateway-1"]
    assert all(services[g] == first for g in GATEWAYS)
    assert "/readyz" in " ".join(first["healthcheck"]["test"])
    assert first["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DIR / first["build"]["context"] / first["build"]["dockerfile"]).is_file()
    env = {k: interpolate(v, ENV) for k, v in first["environment"].items()}
    assert env["BASTION__STATE__DATABASE"] == "postgresql://bastion:pw@postgres:5432/bastion"
    assert env["BASTION__STATE__REDIS"] == "redis://redis:6379/0"
    pg = services["postgres"]["environment"]
    assert (pg["POSTGRES_USER"], pg["POSTGRES_DB"]) == ("bastion", "bastion")
    mounted = [v.split(":") for v in first["volumes"]]
    assert mounted == [["./bastion.yaml", "/etc/bastion/bastion.yaml", "ro"]]
    assert first["command"][first["command"].index("--config") + 1] == mounted[0][1]


def test_the_config_loads_and_the_grace_outlasts_the_drain(compose: dict[str, Any]) -> None:
    gw = compose["services"]["gateway-1"]
    env = {k: interpolate(v, ENV) for k, v in gw["environment"].items()}
    settings = load_settings(DIR / "bastion.yaml", env=env)
    assert settings.state.replicas == len(GATEWAYS)
    assert settings.state.database.startswith("postgresql://")
    assert settings.state.redis == "redis://redis:6379/0"
    assert settings.security.auth_throttle.client_address_header == "X-Real-IP"
    assert seconds(gw["stop_grace_period"]) > settings.server.shutdown_timeout_s


def test_nginx_balances_exactly_the_three_gateways(compose: dict[str, Any]) -> None:
    nginx = compose["services"]["nginx"]
    assert nginx["volumes"] == ["./nginx.conf:/etc/nginx/conf.d/default.conf:ro"]
    conf = (DIR / "nginx.conf").read_text()
    servers = re.findall(r"^\s*server\s+([\w-]+):(\d+)", conf, re.MULTILINE)
    assert servers == [(g, "8787") for g in GATEWAYS]
    port = re.search(r"^\s*listen\s+(\d+);", conf, re.MULTILINE)
    assert port is not None
    assert nginx["ports"] == [f"{port.group(1)}:{port.group(1)}"]
    assert "X-Real-IP $remote_addr" in conf  # what the gateways count failures by


def test_env_example_names_every_variable(compose: dict[str, Any]) -> None:
    text = (DIR / "compose.yaml").read_text()
    used = set(_VAR.findall(text))
    example = {line.split("=", 1)[0] for line in (DIR / "env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert used == example == set(ENV)
