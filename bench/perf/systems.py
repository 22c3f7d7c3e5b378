"""The systems under test, each started alone on the SUT core (``taskset -c 0``) in front
of the canned upstream (:mod:`perf.upstream`): direct (no proxy, the floor), the naive
aiohttp + uvloop pass-through, ``bastion serve`` (guards off, or the default guards) and
LiteLLM's proxy. Each speaks to a JSON path and a stream path (a stream alias where the
system routes by model name), so no system has to parse anything to pick the behaviour.

LiteLLM is installed into a throwaway venv OUTSIDE the repo (default ``/tmp/litellm-venv``):
if missing, ``python3 -m venv`` and ``pip install 'litellm[proxy]'`` (PyPI, once); later
runs reuse it offline. It runs fully offline: ``LITELLM_LOCAL_MODEL_COST_MAP=True``
(bundled cost map, no fetch), ``LITELLM_TELEMETRY_DISABLED=true``, no database (the master
key is the only key), ``LITELLM_LOG=ERROR`` (no access log; Bastion logs at warning too).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perf.procs import SUT_CORE, free_port, pinned, stop, wait_port
from perf.upstream import Upstream

HERE = Path(__file__).resolve().parent
LITELLM_KEY = "sk-litellm-bench-master"
# Everything off, so "guards off" measures the gateway without any guard step's work.
GUARDS_OFF = """
guards:
  injection: "off"
  pii: allow
  output: {mode: "off"}
  tools: {mode: "off"}
  canary: false
"""


@dataclass
class System:
    name: str
    base: str
    paths: tuple[str, str]  # JSON, stream
    models: tuple[str, str]
    key: str
    proc: subprocess.Popen[bytes] | None = None
    ready_s: float | None = None

    def url(self, stream: bool) -> str:
        return self.base + self.paths[stream]

    def body(self, base: dict[str, Any], stream: bool) -> dict[str, Any]:
        out = {**base, "model": self.models[stream]}
        if stream:
            out["stream"] = True
        return out

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


UPSTREAM_PATHS = ("/json/v1/chat/completions", "/sse/v1/chat/completions")


def direct(up: Upstream) -> System:
    return System("direct (nginx)", f"http://127.0.0.1:{up.port}", UPSTREAM_PATHS,
                  ("m", "m"), "x")


def passthrough(up: Upstream) -> System:
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen(pinned(SUT_CORE, [  # noqa: S603
        sys.executable, str(HERE / "passthrough.py"), str(port), str(up.port)]),
        stderr=subprocess.DEVNULL)
    wait_port(port, 30, proc)
    return System("aiohttp pass-through", f"http://127.0.0.1:{port}", UPSTREAM_PATHS,
                  ("m", "m"), "x", proc, time.monotonic() - started)


def bastion_config(up: Upstream, tmp: Path, extra: str = "",
                   aliases: str = "") -> Path:
    """A config with a provider per behaviour of the canned upstream, aliases ``chat`` and
    ``chat-stream`` (``aliases``: more lines under ``models:``), SQLite in ``tmp``;
    ``extra`` is more top-level YAML."""
    cfg = tmp / "bastion.yaml"
    providers = "".join(
        f"  {b}: {{type: openai, base_url: \"{up.url(b)}\", api_key: \"env:UP_KEY\"}}\n"
        for b in ("json", "sse", "slow", "flaky", "drop"))
    cfg.write_text(textwrap.dedent(f"""
        state: {{database: "sqlite:///{tmp}/b.db"}}
        logging: {{level: warning}}
        models:
          chat: {{targets: [json/gpt-4o-mini]}}
          chat-stream: {{targets: [sse/gpt-4o-mini]}}
    """) + aliases + "providers:\n" + providers + extra)
    return cfg


def bastion_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION")}
    return env | {"UP_KEY": "sk-bench", "BASTION_KEY_HASH_SECRET": "bench-secret"}


def create_key(cfg: Path) -> str:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bastion.cli", "keys", "create", "--name", "bench",
         "--config", str(cfg)], env=bastion_env(), capture_output=True, text=True,
        check=True).stdout.strip()


def start_bastion(cfg: Path, name: str, workers: int = 1, core: str | None = SUT_CORE,
                  log: Path | None = None) -> System:
    port = free_port()
    key = create_key(cfg)
    argv = [sys.executable, "-m", "bastion.cli", "serve", "--config", str(cfg),
            "--port", str(port), "--workers", str(workers)]
    started = time.monotonic()
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(pinned(core, argv) if core else argv,  # noqa: S603
                            env=bastion_env(), stdout=out, stderr=out, cwd=cfg.parent)
    wait_port(port, 60, proc)
    return System(name, f"http://127.0.0.1:{port}", ("/v1/chat/completions",) * 2,
                  ("chat", "chat-stream"), key, proc, time.monotonic() - started)


def bastion(up: Upstream, tmp: Path, guards: str | None) -> System:
    """``guards=None``: every guard off; else that YAML (``""``: the default guards)."""
    sub = tmp / ("guards" if guards is not None else "plain")
    sub.mkdir(exist_ok=True)
    name = "bastion, guards off" if guards is None else "bastion, default guards"
    return start_bastion(bastion_config(up, sub, GUARDS_OFF if guards is None else guards), name)


def ensure_litellm(venv: Path, extras: list[str]) -> tuple[Path, str]:
    """Create the throwaway venv with ``litellm[proxy]`` (and extras) if needed; return its
    ``litellm`` executable and a one-line description of the setup."""
    py, exe = venv / "bin" / "python", venv / "bin" / "litellm"
    if not exe.exists():
        base = shutil.which("python3") or sys.executable
        print(f"creating {venv} with {base} -m venv; pip install 'litellm[proxy]' (PyPI)")
        subprocess.run([base, "-m", "venv", str(venv)], check=True)  # noqa: S603
        subprocess.run([py, "-m", "pip", "install", "-q", "litellm[proxy]"],  # noqa: S603
                       check=True)
    for pkg in extras:
        subprocess.run([py, "-m", "pip", "install", "-q", pkg], check=True)  # noqa: S603
    probe = textwrap.dedent("""
        import importlib.metadata as m, importlib.util as u, sys
        http = "httptools" if u.find_spec("httptools") else "h11"
        loop = "uvloop" if u.find_spec("uvloop") else "asyncio"
        print(f"litellm {m.version('litellm')}, uvicorn {m.version('uvicorn')} ({http}, {loop}),"
              f" python {sys.version.split()[0]}")
    """)
    desc = subprocess.run([py, "-c", probe], capture_output=True, text=True,  # noqa: S603
                          check=True).stdout.strip()
    return exe, desc


def litellm(up: Upstream, tmp: Path, exe: Path) -> System:
    """LiteLLM's proxy, offline, one worker, on the SUT core."""
    port = free_port()
    cfg = tmp / "litellm.yaml"
    cfg.write_text(textwrap.dedent(f"""
        model_list:
          - model_name: chat
            litellm_params: {{model: openai/gpt-4o-mini, api_base: "{up.url('json')}",
                              api_key: sk-bench-dummy}}
          - model_name: chat-stream
            litellm_params: {{model: openai/gpt-4o-mini, api_base: "{up.url('sse')}",
                              api_key: sk-bench-dummy}}
        general_settings:
          master_key: {LITELLM_KEY}
    """))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DIRECT_URL")}
    env |= {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY_DISABLED": "true",
            "LITELLM_LOG": "ERROR", "NO_DOCKER": "1"}
    log = (tmp / "litellm.log").open("wb")
    started = time.monotonic()
    proc = subprocess.Popen(pinned(SUT_CORE, [  # noqa: S603
        str(exe), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port),
        "--num_workers", "1"]), env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port, 240, proc)
    except SystemExit:
        stop(proc)
        tail = (tmp / "litellm.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"LiteLLM did not start:\n{tail}") from None
    return System("litellm proxy", f"http://127.0.0.1:{port}", ("/v1/chat/completions",) * 2,
                  ("chat", "chat-stream"), LITELLM_KEY, proc, time.monotonic() - started)
