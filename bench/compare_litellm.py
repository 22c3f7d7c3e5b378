"""Bastion against LiteLLM's proxy: requests/s and CPU per request on the same core.

Same setup as ``bench/hotpath.py`` (whose functions this imports from its path): the
canned OpenAI upstream and ``wrk`` share core 1; each system under test runs alone on
core 0 (``taskset -c 0``), one after the other, never together:

  * a plain aiohttp+uvloop pass-through (reference floor),
  * ``bastion serve`` (1 process, auth + meter + route + OpenAI adapter),
  * ``litellm --config cfg.yaml --num_workers 1`` (uvicorn in-process: one process).

Each is warmed up (2 s of wrk), left to finish what the warm-up abandoned, then
measured with ``hotpath.measure`` (same body, same connections, same wrk), non-stream
and stream. LiteLLM gets a longer window (``--litellm-seconds``, 60): it serves tens
of requests/s, so with 128 connections a request takes seconds and a short window
would be dominated by the pipeline filling and the requests left in flight. CPU is read from
/proc: for LiteLLM (and, uniformly, for the others) the sum over the whole process
tree rooted at the started PID, so a worker fork would be counted. The table gives
LiteLLM's CPU/request divided by each system's (on one saturated core that is the
throughput ratio).

LiteLLM runs fully offline: ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (bundled cost
map, no fetch), ``LITELLM_TELEMETRY_DISABLED=true``, no ``DATABASE_URL`` (no
database; the master key is the only key), ``LITELLM_LOG=ERROR`` (which also sets
uvicorn's log level, so no access log: Bastion logs at warning too). Its config has
one model ``chat`` -> ``openai/gpt-4o-mini`` with ``api_base`` = the canned upstream
and a dummy api_key.

LiteLLM is installed into a throwaway venv OUTSIDE the repo (default
``/tmp/litellm-venv``): if missing, the script runs ``python3 -m venv`` and
``pip install 'litellm[proxy]'`` there, which needs network access to PyPI ONCE;
later runs reuse it offline. Nothing goes into .venv or the lock files. ``--extra
httptools`` adds packages to that venv (uvicorn then uses httptools instead of h11);
use a separate ``--venv`` for such a variant.

    .venv/bin/python bench/compare_litellm.py [--seconds 10] [--connections 128]
        [--litellm-seconds 60] [--rounds 1] [--venv /tmp/litellm-venv] [--extra PKG ...]
        [--skip-passthrough] [--guards]

``--guards`` measures the guarded path instead (issue 10's target: at least 10x
LiteLLM): Bastion with ``guards.injection: block``, ``guards.output: block`` and the
tool firewall on, and every system (LiteLLM and the pass-through included) sent the
same 1 KB prompt under a system prompt, so both sides carry the same bytes.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
HOTPATH = HERE / "hotpath.py"
MASTER_KEY = "sk-litellm-bench-master"
GUARDS_YAML = """
guards:
  injection: block
  output: block
  tools: block
"""
GUARD_BODY = {"model": "chat", "messages": [
    {"role": "system", "content": "You are the support assistant of Example Inc. Answer "
                                  "briefly, politely and only about Example's products."},
    {"role": "user", "content": ("Could you please summarise our refund policy for annual "
                                 "plans and tell me how long a refund takes? ") * 10}]}


def load_hotpath() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_hotpath", HOTPATH)
    if spec is None or spec.loader is None:
        raise SystemExit("cannot load bench/hotpath.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hp = load_hotpath()


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user+sys, own and reaped children) of ``root`` and all its live descendants."""
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we listed /proc
            continue
        pid = int(stat.parent.name)
        parent[pid] = int(fields[1])
        ticks[pid] = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return sum(ticks.get(p, 0) for p in tree(root, parent)) / os.sysconf("SC_CLK_TCK")


def tree(root: int, parent: dict[int, int]) -> list[int]:
    """PIDs of ``root`` and its descendants, given a pid -> ppid map."""
    found = [root]
    for pid in found:
        found.extend(child for child, ppid in parent.items() if ppid == pid)
    return found


def process_count(root: int) -> int:
    parent = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
    return len(tree(root, parent))


def ensure_litellm(venv: Path, extras: list[str]) -> tuple[Path, str]:
    """Create the throwaway venv with ``litellm[proxy]`` (and extras) if needed.

    Returns the ``litellm`` executable and a one-line description of the setup.
    """
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
        v = lambda d: m.version(d)
        http = "httptools" if u.find_spec("httptools") else "h11"
        loop = "uvloop" if u.find_spec("uvloop") else "asyncio"
        print(f"litellm {v('litellm')}, uvicorn {v('uvicorn')} ({http}, {loop}),"
              f" python {sys.version.split()[0]}")
    """)
    desc = subprocess.run([py, "-c", probe], capture_output=True, text=True,  # noqa: S603
                          check=True).stdout.strip()
    return exe, desc


def start_litellm(exe: Path, tmp: Path, up_port: int, port: int) -> subprocess.Popen[bytes]:
    """Start LiteLLM's proxy, offline, one worker, on core 0; wait until it listens."""
    cfg = tmp / "litellm.yaml"
    cfg.write_text(textwrap.dedent(f"""
        model_list:
          - model_name: chat
            litellm_params:
              model: openai/gpt-4o-mini
              api_base: http://127.0.0.1:{up_port}/v1
              api_key: sk-bench-dummy
        general_settings:
          master_key: {MASTER_KEY}
    """))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DIRECT_URL")}
    env |= {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY_DISABLED": "true",
            "LITELLM_LOG": "ERROR", "NO_DOCKER": "1"}
    log = (tmp / "litellm.log").open("wb")
    proc = subprocess.Popen([hp.TASKSET, "-c", "0", str(exe), "--config", str(cfg),  # noqa: S603
                             "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
                            env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    try:
        hp.wait_port(port, timeout=180.0)
    except SystemExit:
        proc.terminate()
        proc.wait()
        tail = (tmp / "litellm.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"LiteLLM did not start:\n{tail}") from None
    return proc


Row = tuple[str, float, float]


def rounds(name: str, pid: int, port: int, key: str, args: argparse.Namespace,
           seconds: int) -> list[Row]:
    """Median over ``args.rounds`` measurements, non-stream then stream."""
    out: list[Row] = []
    base = GUARD_BODY if args.guards else hp.BODY
    for label, body in ((name, base), (f"{name}, stream", {**base, "stream": True})):
        runs = [hp.measure(pid, port, key, body, seconds, args.connections,
                           cpu=tree_cpu_seconds) for _ in range(args.rounds)]
        if args.rounds > 1:
            print(f"   {label}: " + ", ".join(f"{r:.0f} req/s {c:.3f} ms" for r, c in runs))
        out.append((label, statistics.median(r for r, _ in runs),
                    statistics.median(c for _, c in runs)))
    print(f"   {name}: {process_count(pid)} process(es) on core 0")
    return out


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def report(results: list[Row]) -> None:
    ref = {label.endswith("stream"): cpu for label, _, cpu in results
           if label.startswith("litellm")}
    head = "LiteLLM CPU/req ÷ this"
    print(f"\n{'system (core 0)':32} {'req/s':>9} {'CPU ms/req':>11} {head:>23}")
    for name, rps, cpu in results:
        ratio = ref.get(name.endswith("stream"))
        shown = f"{ratio / cpu:22.1f}x" if ratio and cpu else f"{'-':>23}"
        print(f"{name:32} {rps:9.0f} {cpu:11.3f} {shown}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=128)
    ap.add_argument("--litellm-seconds", type=int, default=60,
                    help="LiteLLM's window: long, so the requests in flight at its end "
                         "(~connections) are a small part of those completed")
    ap.add_argument("--rounds", type=int, default=1, help="measurements per case (median)")
    ap.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir(), "litellm-venv"))
    ap.add_argument("--extra", action="append", default=[], help="more pip packages for it")
    ap.add_argument("--skip-passthrough", action="store_true")
    ap.add_argument("--guards", action="store_true",
                    help="Bastion with injection/output guards and the firewall on; 1 KB prompt")
    args = ap.parse_args()
    if not shutil.which("wrk") or not shutil.which("taskset"):
        raise SystemExit("wrk and taskset are needed: apt-get install wrk util-linux")
    if HERE.parent in args.venv.resolve().parents:
        raise SystemExit("keep the LiteLLM venv outside the repository")
    exe, desc = ensure_litellm(args.venv, args.extra)
    print(f"LiteLLM: {desc}; venv {args.venv}; 1 worker, offline (local cost map, "
          "telemetry off, no database, master key)")
    up_port, pt_port, gw_port, ll_port = (hp.free_port() for _ in range(4))
    upstream = hp.start_upstream(up_port)
    tmp = Path(tempfile.mkdtemp())
    results: list[Row] = []
    try:
        if not args.skip_passthrough:
            pt = hp.listening(subprocess.Popen(  # noqa: S603
                [hp.TASKSET, "-c", "0", sys.executable, str(HOTPATH), "--passthrough",
                 str(pt_port), str(up_port)], stderr=subprocess.DEVNULL), pt_port)
            try:
                results += rounds("aiohttp pass-through", pt.pid, pt_port, "x", args,
                                  args.seconds)
            finally:
                stop(pt)
        gw, key = hp.start_bastion(tmp, up_port, gw_port, GUARDS_YAML if args.guards else "")
        name = "bastion (guards block)" if args.guards else "bastion"
        try:
            results += rounds(name, gw.pid, gw_port, key, args, args.seconds)
        finally:
            stop(gw)
        ll = start_litellm(exe, tmp, up_port, ll_port)
        try:
            results += rounds("litellm", ll.pid, ll_port, MASTER_KEY, args,
                              args.litellm_seconds)
        finally:
            stop(ll)
    finally:
        stop(upstream)
        shutil.rmtree(tmp, ignore_errors=True)
    report(results)


if __name__ == "__main__":
    main()
