"""Start-up time (issue target: ready to serve in at most 1 s with the default config).

``bastion serve`` with no config file and no provider key (the built-in defaults: the
fake provider, SQLite in the working folder), pinned to one core, started ``--runs``
times in a fresh folder each: seconds until the port listens, until ``/readyz`` answers
200, and until a first chat completion is answered; RSS once ready; and, for the
diagnosis, the seconds ``import bastion.app`` alone takes in a fresh interpreter.

    .venv/bin/python bench/startup.py [--runs 5] [--config FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from perf.procs import SUT_CORE, free_port, pinned, stop, tree_rss_mb

MASTER = "m" * 40


def once(config: Path | None) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="bench-start-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BASTION") and not k.endswith("_API_KEY")}
    env["BASTION_MASTER_KEY"] = MASTER
    argv = [sys.executable, "-m", "bastion.cli", "serve", "--port", str(port)]
    if config:
        argv += ["--config", str(config)]
    t0 = time.monotonic()
    proc = subprocess.Popen(pinned(SUT_CORE, argv), cwd=work, env=env,  # noqa: S603
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict[str, float] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:
            while "ready" not in out:
                if proc.poll() is not None:
                    raise SystemExit(f"bastion serve exited ({proc.returncode})")
                try:
                    r = c.get("/readyz")
                except httpx.TransportError:
                    time.sleep(0.005)
                    continue
                out.setdefault("listening", time.monotonic() - t0)
                if r.status_code == 200:
                    out["ready"] = time.monotonic() - t0
                else:
                    time.sleep(0.005)
            key = c.post("/admin/keys", json={"name": "b"},
                         headers={"Authorization": f"Bearer {MASTER}"}).json()["key"]
            t1 = time.monotonic()
            r = c.post("/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                       json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 200, r.text
            out["first_answer_after_ready"] = time.monotonic() - t1
        out["rss_mb"] = tree_rss_mb(proc.pid)
    finally:
        stop(proc)
        shutil.rmtree(work, ignore_errors=True)
    return out


def import_seconds() -> float:
    code = ("import time; t = time.perf_counter(); import bastion.app; "
            "print(time.perf_counter() - t)")
    return float(subprocess.run(pinned(SUT_CORE, [sys.executable, "-c", code]),  # noqa: S603
                                capture_output=True, text=True, check=True).stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--config", type=Path, default=None)
    args = ap.parse_args()
    runs = [once(args.config) for _ in range(args.runs)]
    imports = [import_seconds() for _ in range(args.runs)]
    print(f"bastion serve, {'default config' if not args.config else args.config}, "
          f"pinned to core {SUT_CORE}; {args.runs} runs (median, min, max)")
    for field, unit in (("listening", "s"), ("ready", "s"), ("first_answer_after_ready", "s"),
                        ("rss_mb", "MB")):
        vals = [r[field] for r in runs]
        print(f"  {field:26} {statistics.median(vals):8.3f} {min(vals):8.3f} "
              f"{max(vals):8.3f} {unit}")
    print(f"  {'import bastion.app':26} {statistics.median(imports):8.3f} {min(imports):8.3f} "
          f"{max(imports):8.3f} s")


if __name__ == "__main__":
    main()
