"""Config reload without restart, in one process: under load, an alias's target and the
default key limit change through ``POST /admin/reload``; no request fails, requests under
way finish on the config they started with, new ones use the new one; a broken config is
refused with check-config's messages (and logged, and audited) and the running one stays."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from bastion.reload import ConfigSource
from bastion.stores.audit import AuditLog
from bastion.testing import Behavior, FakeUpstream, GatewayServer

MASTER = "reload-test-master-key-0123456789"
LOAD_THREADS = 6
LOAD_S = 2.0


def config(target: str, key_rpm: int, a: FakeUpstream, b: FakeUpstream) -> dict[str, Any]:
    return {
        "state": {"database": "memory://"},
        "providers": {"a": {"type": "openai_compatible", "base_url": a.base_url},
                      "b": {"type": "openai_compatible", "base_url": b.base_url}},
        "models": {"chat": {"targets": [target],
                            "timeout_ms": {"connect": 3000, "first_byte": 15000, "total": 20000}}},
        "traffic": {"defaults": {"key": {"rpm": key_rpm}}},
    }


@dataclass
class Done:
    started: float
    ended: float
    status: int
    text: str


@pytest.fixture
def pair() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with FakeUpstream(reply="from A") as a, FakeUpstream(reply="from B") as b:
        a.default = Behavior("ok", delay_s=1.0)  # every answer of A is under way a while,
        # longer than a reload takes, so some are in flight across it
        yield a, b


def _load(base: str, key: str, until: float, out: list[Done], n: int) -> None:
    msgs: Any = [{"role": "user", "content": "hi"}]
    i = 0
    with openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=30) as client:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                if (i + n) % 2:
                    text = "".join(c.choices[0].delta.content or "" for c in
                                   client.chat.completions.create(model="chat", messages=msgs,
                                                                  stream=True) if c.choices)
                else:
                    text = client.chat.completions.create(
                        model="chat", messages=msgs).choices[0].message.content or ""
                out.append(Done(started, time.monotonic(), 200, text))
            except openai.APIError as e:
                out.append(Done(started, time.monotonic(), getattr(e, "status_code", 0),
                                str(e)))
            i += 1


def _reload(gw: GatewayServer) -> httpx.Response:
    return httpx.post(gw.base_url + "/admin/reload", timeout=30,
                      headers={"Authorization": f"Bearer {gw.master_key}"})


def test_reload_under_load_changes_target_and_limit(
        pair: tuple[FakeUpstream, FakeUpstream], tmp_path: Path, captured: io.StringIO) -> None:
    a, b = pair
    path = tmp_path / "bastion.yaml"
    path.write_text(yaml.safe_dump(config("a/model", 100, a, b)))
    with GatewayServer(config("a/model", 100, a, b)) as gw:
        gw.gateway.config_source = ConfigSource(path, env={})
        loader = gw.create_key("load", rpm=1_000_000)
        limited = gw.create_key("limited")  # no limits of its own: traffic.defaults.key
        client = openai.OpenAI(base_url=gw.openai_base_url, api_key=limited, max_retries=0)
        for _ in range(3):
            client.chat.completions.create(model="chat", messages=[{"role": "user",
                                                                    "content": "x"}])
        done: list[Done] = []
        until = time.monotonic() + LOAD_S
        threads = [threading.Thread(target=_load, args=(gw.openai_base_url, loader, until,
                                                        done, n)) for n in range(LOAD_THREADS)]
        for t in threads:
            t.start()
        time.sleep(0.3)  # the first answers of A are under way (until about 1 s)
        path.write_text(yaml.safe_dump(config("b/model", 2, a, b)))
        asked = time.monotonic()
        r = _reload(gw)
        swapped = time.monotonic()
        for t in threads:
            t.join()
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "reloaded", "generation": 2, "restart_needed": []}
        a_calls = a.calls
        # The limit: 3 requests in this window already; the new default allows 2.
        with pytest.raises(openai.RateLimitError) as limited_err:
            client.chat.completions.create(model="chat", messages=[{"role": "user",
                                                                    "content": "y"}])
        assert limited_err.value.body["code"] == "rate_limit_exceeded"  # type: ignore[index]
        assert a.calls == a_calls  # nothing more reached the old target
        assert _reload(gw).json()["status"] == "unchanged"
    assert len(done) > LOAD_THREADS  # each thread made several requests
    assert [d for d in done if d.status != 200] == []  # no request failed
    assert {d.text for d in done} <= {"from A", "from B"}
    assert all(d.text == "from B" for d in done if d.started > swapped)
    assert all(d.text == "from A" for d in done if d.ended < asked)
    finished_on_old = [d for d in done if d.started < asked and d.ended > swapped]
    assert finished_on_old, "no request was under way across the reload"
    assert all(d.text == "from A" for d in finished_on_old)
    assert any(d.text == "from B" for d in done)
    lines = [json.loads(x) for x in captured.getvalue().splitlines() if x.startswith("{")]
    assert any(x.get("event") == "config_reloaded" and x.get("generation") == 2 for x in lines)


def test_a_broken_config_is_refused_and_the_running_one_stays(
        pair: tuple[FakeUpstream, FakeUpstream], tmp_path: Path, captured: io.StringIO) -> None:
    a, b = pair
    a.default = Behavior()
    path = tmp_path / "bastion.yaml"
    good = config("b/model", 100, a, b)
    path.write_text(yaml.safe_dump(good))
    with GatewayServer(config("a/model", 100, a, b)) as gw:
        gw.gateway.config_source = ConfigSource(path, env={})
        assert _reload(gw).status_code == 200
        broken = config("c/model", 100, a, b)  # names a provider that does not exist
        path.write_text(yaml.safe_dump(broken, sort_keys=False))
        r = _reload(gw)
        assert r.status_code == 422
        err = r.json()["error"]
        assert err["code"] == "invalid_config"
        assert "the running one stays" in err["message"]
        assert "models.chat.targets.0: target 'c/model' names provider 'c'" in err["message"]
        assert "line " in err["message"]
        key = gw.create_key()
        c = openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0)
        answer = c.chat.completions.create(model="chat", messages=[{"role": "user",
                                                                    "content": "still?"}])
        assert answer.choices[0].message.content == "from B"
        path.write_text("models: [unclosed\n")
        assert _reload(gw).json()["error"]["message"].count("not valid YAML") == 1
        audit = gw.run(AuditLog(gw.gateway.db).list(action="config.reload"))
        assert [e.detail["result"] for e in audit] == ["reloaded", "refused", "refused"]
        assert audit[0].actor == "master-key"
        assert audit[0].target == str(path)
        unauthorised = httpx.post(gw.base_url + "/admin/reload", timeout=10)
        assert unauthorised.status_code == 401
    lines = [json.loads(x) for x in captured.getvalue().splitlines() if x.startswith("{")]
    refused = [x for x in lines if x.get("event") == "config_reload_refused"]
    assert len(refused) == 2
    assert any("names provider 'c'" in p for p in refused[0]["problems"])


def test_what_needs_a_restart_is_kept_and_named(
        pair: tuple[FakeUpstream, FakeUpstream], tmp_path: Path) -> None:
    a, b = pair
    path = tmp_path / "bastion.yaml"
    changed = config("a/model", 100, a, b)
    changed["server"] = {"max_body_bytes": 2048}
    changed["logging"] = {"level": "debug"}
    path.write_text(yaml.safe_dump(changed))
    with GatewayServer(config("a/model", 100, a, b)) as gw:
        gw.gateway.config_source = ConfigSource(path, env={})
        r = _reload(gw)
        assert r.json() == {"status": "unchanged", "generation": 1,
                            "restart_needed": ["server", "logging"]}
        assert gw.gateway.settings.server.max_body_bytes == 4 * 1024 * 1024


def test_without_a_config_file_there_is_nothing_to_reload(gateway: GatewayServer) -> None:
    r = _reload(gateway)
    assert r.status_code == 501
    assert r.json()["error"]["code"] == "not_configured"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(base: str, key: str, n: int) -> list[str]:
    """``n`` answers, each over a new connection (so the workers share them)."""
    out = []
    for _ in range(n):
        try:
            r = httpx.post(base + "/v1/chat/completions", timeout=10,
                           headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                           json={"model": "chat",
                                 "messages": [{"role": "user", "content": "hi"}]})
        except httpx.TransportError:
            out.append("unreachable")  # not listening yet
            continue
        out.append(r.json()["choices"][0]["message"]["content"] if r.status_code == 200
                   else f"HTTP {r.status_code}")
    return out


def _until_all(base: str, key: str, text: str, logs: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _answers(base, key, 16) == [text] * 16:
            return
        time.sleep(0.2)
    pytest.fail(f"the workers did not all answer {text!r}: {logs.read_text()[-3000:]}")


def test_reload_reaches_every_worker(pair: tuple[FakeUpstream, FakeUpstream],
                                     tmp_path: Path) -> None:
    """``bastion serve --workers 2``: SIGHUP to the server, and POST /admin/reload to any
    one worker, reload both workers; a broken file is refused by each and changes nothing."""
    a, b = pair
    a.default = Behavior()
    port = _free_port()
    cfg = tmp_path / "bastion.yaml"

    def write(target: str) -> None:
        c = config(target, 1000, a, b)
        c["state"] = {"database": f"sqlite:///{tmp_path / 'state.db'}"}
        c["admin"] = {"master_key": "env:BASTION_MASTER_KEY"}
        cfg.write_text(yaml.safe_dump(c))

    write("a/model")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION")}
    env["BASTION_MASTER_KEY"] = MASTER
    made = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "bastion.cli", "keys", "create", "--name", "w", "--config",
         str(cfg)], env=env, capture_output=True, text=True, timeout=60, check=True)
    key = made.stdout.strip().splitlines()[-1]
    logs = tmp_path / "gateway.log"
    base = f"http://127.0.0.1:{port}"
    with logs.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            [sys.executable, "-m", "bastion.cli", "serve", "--config", str(cfg), "--port",
             str(port), "--workers", "2"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _until_all(base, key, "from A", logs)
        write("b/model")
        proc.send_signal(signal.SIGHUP)
        _until_all(base, key, "from B", logs)
        write("a/model")
        r = httpx.post(base + "/admin/reload", headers={"Authorization": f"Bearer {MASTER}"},
                       timeout=10)
        assert r.status_code == 200, r.text
        _until_all(base, key, "from A", logs)
        cfg.write_text("models: {chat: {targets: [nowhere/model]}}\n")
        r = httpx.post(base + "/admin/reload", headers={"Authorization": f"Bearer {MASTER}"},
                       timeout=10)
        assert r.status_code == 422
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while logs.read_text().count("config_reload_refused") < 3 and (
                time.monotonic() < deadline):
            time.sleep(0.1)
        assert _answers(base, key, 8) == ["from A"] * 8
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    text = logs.read_text()
    assert text.count("config_reload_refused") == 3  # once by the admin call, then each worker
    reloaded = [json.loads(x) for x in text.splitlines()
                if '"config_reloaded"' in x and '"status":"reloaded"' in x]
    assert len(reloaded) == 4  # two reloads, two workers each
    assert len({x["pid"] for x in reloaded}) == 2
