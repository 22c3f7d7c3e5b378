"""Report numbers from real requests, on SQLite and PostgreSQL: overview, providers,
security, the usage report (JSON and CSV) and ``bastion usage``."""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from typer.testing import CliRunner

from bastion.cli import app
from bastion.testing import GatewayServer
from bastion.testing.server import MASTER_KEY

ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}


def settings(database: str) -> dict[str, Any]:
    return {
        "state": {"database": database},
        "providers": {"fake": {"type": "fake", "limits": {"rpm": 100}},
                      "broken": {"type": "fake", "fake": {"faults": [{"kind": "status",
                                                                      "status": 500}]}}},
        "models": {"chat": {"targets": [{"target": "fake/small", "limits": {"tpm": 10000},
                                         "price": {"input_per_mtok": 1000,
                                                   "output_per_mtok": 2000}}]},
                   "down": {"targets": ["broken/x"]},
                   # pii allow: the secret must reach the (echoing) provider as written,
                   # so the output guard has one to find in the answer
                   "guarded": {"targets": ["fake/small"],
                               "guards": {"output": {"mode": "block"}, "pii": "allow"}},
                   "flagged": {"targets": ["fake/small"],
                               "guards": {"output": {"mode": "flag"}, "pii": "allow"}}},
        "resilience": {"retry": {"max_attempts": 1}},
    }


@pytest.fixture(params=["sqlite", "postgres"])
def gw(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[GatewayServer]:
    if request.param == "sqlite":
        db = f"sqlite:///{tmp_path}/stats.db"
        schema = ""
    else:
        schema = "bastion_stats_" + uuid.uuid4().hex[:12]
        db = request.getfixturevalue("postgres_url") + f"?schema={schema}"
    with GatewayServer(settings(db)) as g:
        g.db_url = db  # type: ignore[attr-defined]
        yield g
    if schema:
        async def drop() -> None:
            conn = await asyncpg.connect(request.getfixturevalue("postgres_url"))
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()
        asyncio.run(drop())


def call(gw: GatewayServer, key: str, model: str, text: str) -> httpx.Response:
    return httpx.post(gw.openai_base_url + "/chat/completions",
                      headers={"authorization": f"Bearer {key}"},
                      json={"model": model, "messages": [{"role": "user", "content": text}]},
                      timeout=10)


def test_numbers_match_the_requests_made(gw: GatewayServer) -> None:
    alice = gw.create_key("alice-app", user="alice", team="red")
    bob = gw.create_key("bob-app", user="bob", team="blue")
    for i in range(3):
        assert call(gw, alice, "chat", f"hello {i}").status_code == 200
    assert call(gw, bob, "chat", "hi").status_code == 200
    assert call(gw, bob, "down", "hi").status_code == 503
    secret = "here is sk-proj-" + "A1b2C3d4E5" * 5
    assert call(gw, bob, "guarded", secret).status_code == 400
    assert call(gw, bob, "flagged", secret).headers["x-bastion-guard"]

    o = httpx.get(gw.base_url + "/admin/stats/overview?range=1h", headers=ADMIN).json()
    assert o["totals"]["requests"] == 7
    assert o["totals"]["errors"] == 2
    assert o["totals"]["p50_ms"] <= o["totals"]["p99_ms"]
    assert sum(b["requests"] for b in o["series"]) == 7
    assert len(o["series"]) == 60
    aliases = {a["name"]: a for a in o["by_alias"]}
    assert aliases["chat"]["requests"] == 4
    assert aliases["chat"]["errors"] == 0
    assert aliases["chat"]["cost_usd"] > 0
    assert {p["name"]: p["requests"] for p in o["by_provider"]}["fake"] == 6
    keys = {k["key_name"]: k for k in o["by_key"]}
    assert keys["alice-app"]["requests"] == 3
    with pytest.raises(httpx.HTTPStatusError):
        httpx.get(gw.base_url + "/admin/stats/overview?range=2y", headers=ADMIN
                  ).raise_for_status()

    p = httpx.get(gw.base_url + "/admin/stats/providers?range=1h", headers=ADMIN).json()
    rows = {r["target"]: r for r in p["data"]}
    assert rows["broken/x"]["failed_attempts"] == 1
    assert rows["broken/x"]["error_rate"] == 1.0
    assert rows["fake/small"]["error_rate"] == 0.0
    room = {(h["scope"], h["limit"]): h for h in rows["fake/small"]["headroom"]}
    assert room[("provider", "rpm")]["used"] == 6  # chat x4, guarded, flagged: one provider
    assert room[("provider", "rpm")]["headroom"] == 94
    assert room[("target", "tpm")]["value"] == 10000

    s = httpx.get(gw.base_url + "/admin/stats/security?range=1h", headers=ADMIN).json()
    codes = {(r["code"], r["alias"]): r["count"] for r in s["refusals"]}
    assert codes[("content_filtered", "guarded")] == 1
    assert ("upstream_unavailable", "down") not in codes  # a provider failure, not a refusal
    found = {(d["decision"], d["label"]) for d in s["decisions"]}
    assert any(d == "guards_output" for d, _ in found)
    assert "sk-proj" not in str(s)

    r = httpx.get(gw.base_url + "/admin/reports/usage?group_by=user,alias&since=1d",
                  headers=ADMIN).json()
    by = {(x["user"], x["alias"]): x for x in r["data"]}
    assert by[("alice", "chat")]["requests"] == 3
    assert by[("bob", "down")]["errors"] == 1
    assert r["totals"]["requests"] == 7
    text = httpx.get(gw.base_url + "/admin/reports/usage?group_by=team,day&format=csv",
                     headers=ADMIN).text
    table = list(csv.DictReader(io.StringIO(text)))
    assert {t["team"] for t in table} == {"red", "blue"}
    assert sum(int(t["requests"]) for t in table) == 7
    assert all(len(t["day"]) == 10 for t in table)

    # The command line gives the same numbers from the same database.
    cfg = {"state": {"database": gw.db_url}}  # type: ignore[attr-defined]
    out = CliRunner().invoke(app, ["usage", "--csv", "--group-by", "user", "--since", "1d",
                                   "-c", _write(cfg)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    rows_cli = {r["user"]: r for r in csv.DictReader(io.StringIO(out.output))}
    assert rows_cli["alice"]["requests"] == "3"
    assert rows_cli["bob"]["requests"] == "4"


def _write(cfg: dict[str, Any]) -> str:
    f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)  # noqa: SIM115
    yaml.safe_dump(cfg, f)
    f.close()
    return f.name
