"""``bastion pia`` and ``bastion users export|delete``: the report names every provider
and every data class seen, flags gaps, and is self-contained; the CLI reaches the same
data-subject service as the admin API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import yaml
from typer.testing import CliRunner

from bastion.cli import app
from bastion.testing import FakeUpstream, GatewayServer

HEALTH = "I, jane.roe@example-mail.com, was diagnosed with asthma."


def _config(tmp_path: Path, up: FakeUpstream) -> tuple[Path, dict[str, Any]]:
    cfg: dict[str, Any] = {
        "state": {"database": f"sqlite:///{tmp_path / 'b.db'}"},
        "providers": {
            "careco": {"type": "openai_compatible", "base_url": up.base_url,
                       "compliance": {"dpa": True, "baa": True, "retention_days": 0,
                                      "regions": ["us"]}},
            "cheapco": {"type": "openai_compatible", "base_url": up.base_url,
                        "compliance": {"trains_on_data": True}}},
        "models": {
            "care": {"targets": ["careco/m"], "privacy": {
                "legal_basis": "consent, GDPR Art. 9(2)(a)", "purpose": "triage answers"}},
            "cheap": {"targets": ["cheapco/m"]}},
        "privacy": {"entities": ["EMAIL", "HEALTH", "PHONE"]},
    }
    path = tmp_path / "bastion.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, cfg


def test_pia_names_every_provider_and_data_class_seen(tmp_path: Path) -> None:
    with FakeUpstream() as up:
        path, cfg = _config(tmp_path, up)
        with GatewayServer(cfg) as gw:
            c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(),
                              max_retries=0)
            for _ in range(3):
                c.chat.completions.create(model="care", messages=[
                    {"role": "user", "content": HEALTH}])
            c.chat.completions.create(model="cheap", messages=[
                {"role": "user", "content": "no personal data here"}])
        out = tmp_path / "pia.md"
        res = CliRunner().invoke(app, ["pia", "--config", str(path), "--out", str(out)])
        assert res.exit_code == 0, res.output
    md = out.read_text()
    page = out.with_suffix(".html").read_text()
    for text in (md, page):
        assert "careco" in text
        assert "cheapco" in text
        assert "phi: 3" in text
        assert "pii: 3" in text
        assert "EMAIL" in text
        assert "consent, GDPR Art. 9(2)(a)" in text
        assert "jane.roe" not in text  # counts, never values
    assert "GAP" in md
    assert "cheapco/m, whose provider has no DPA" in md
    assert "'cheap' declares no legal basis" in md
    assert "Provider 'cheapco' declares no retention period" in md
    assert "<svg" in page
    assert "class='gap'" in page
    assert "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_users_export_and_delete_from_the_command_line(tmp_path: Path) -> None:
    with FakeUpstream() as up:
        path, cfg = _config(tmp_path, up)
        with GatewayServer(cfg) as gw:
            key = gw.create_key(user="carol")
            c = openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0)
            c.chat.completions.create(model="cheap", messages=[{"role": "user", "content": "hi"}])
            gw.run(gw.gateway.recorder.flush())
    runner = CliRunner()
    res = runner.invoke(app, ["users", "export", "carol", "--config", str(path)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert len(data["usage"]) == 1
    res = runner.invoke(app, ["users", "delete", "carol", "--yes", "--config", str(path)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["deleted"]["usage_rows"] == 1
    res = runner.invoke(app, ["users", "export", "carol", "--config", str(path)])
    assert json.loads(res.stdout)["usage"] == []
