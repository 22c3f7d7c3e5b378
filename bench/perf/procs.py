"""Processes of the benchmarks: free ports, core pinning, CPU and RSS of a whole process
tree (read from /proc, so a forked worker is counted), waiting and stopping."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

TASKSET = shutil.which("taskset") or "/usr/bin/taskset"
# The system under test runs alone on this core; nginx and the load generators on the other.
SUT_CORE, LOAD_CORE = "0", "1"


def pinned(core: str, argv: list[str]) -> list[str]:
    return [TASKSET, "-c", core, *argv]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
              ) -> float:
    """Wait until something listens on ``port``; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the process for port {port} exited ({proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return time.monotonic() - start
        except OSError:
            time.sleep(0.01)
    raise SystemExit(f"nothing listens on {port} after {timeout} s")


def _table() -> tuple[dict[int, int], dict[int, list[str]]]:
    parent: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we listed /proc
            continue
        pid = int(stat.parent.name)
        parent[pid] = int(fields[1])
        stats[pid] = fields
    return parent, stats


def tree(root: int, parent: dict[int, int]) -> list[int]:
    """PIDs of ``root`` and its descendants, given a pid -> ppid map."""
    found = [root]
    for pid in found:
        found.extend(child for child, ppid in parent.items() if ppid == pid)
    return found


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user+sys, own and reaped children) of ``root`` and its live descendants."""
    parent, stats = _table()
    ticks = sum(sum(int(f) for f in stats[p][11:15]) for p in tree(root, parent) if p in stats)
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and its descendants, MB (shared pages counted per process)."""
    parent, _ = _table()
    total = 0
    for pid in tree(root, parent):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def process_count(root: int) -> int:
    return len(tree(root, _table()[0]))


def settle(pid: int, cpu: Callable[[int], float] = tree_cpu_seconds,
           timeout: float = 120.0) -> None:
    """Wait until ``pid`` is idle (under 5 % of a core for 0.5 s): a slow server is still
    working on what the last load abandoned, and that CPU must not count for the next."""
    end = time.time() + timeout
    last = cpu(pid)
    while time.time() < end:
        time.sleep(0.5)
        now = cpu(pid)
        if now - last < 0.025:
            return
        last = now


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
