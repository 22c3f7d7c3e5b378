"""The one table of ``compare_litellm.py``: a section per case, a row per system."""

from __future__ import annotations

import argparse
import math
from typing import Any


def _f(v: float | None, digits: int = 2, width: int = 8) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return f"{'-':>{width}}"
    return f"{v:{width}.{digits}f}"


def _ratio(a: float | None, b: float | None, width: int = 9) -> str:
    if not a or not b:
        return f"{'-':>{width}}"
    return f"{a / b:{width - 1}.1f}x"


def _find(results: list[dict[str, Any]], prefix: str) -> dict[str, Any] | None:
    return next((r for r in results if r["name"].startswith(prefix)), None)


def print_table(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    direct, pt, ll = (_find(results, p) for p in ("direct", "aiohttp", "litellm"))

    def get(row: dict[str, Any] | None, case: str, field: str | None) -> Any:
        if not row:
            return None
        return row[case] if field is None else row[case][field]

    w = 26
    print(f"\nnon-stream, closed loop: {args.connections} connections, 1 KB prompt "
          "(req/s; latency ms from the send)")
    print(f"{'system':{w}} {'req/s':>8} {'p50':>8} {'p90':>8} {'p99':>8} {'CPU ms/req':>10}"
          f" {'xLiteLLM':>9} {'xLiteLLM CPU':>12} {'%pt req/s':>9} {'%pt CPU':>8}")
    for r in results:
        c, cpu = r["json_closed"], r["json_cpu_ms"]
        share = (f"{100 * c['rps'] / pt['json_closed']['rps']:8.0f}%"
                 if pt and r is not direct else f"{'-':>9}")
        by_cpu = (f"{100 * pt['json_cpu_ms'] / cpu:7.0f}%" if pt and cpu else f"{'-':>8}")
        print(f"{r['name']:{w}} {c['rps']:8.0f} {_f(c['p50_ms'])} {_f(c['p90_ms'])} "
              f"{_f(c['p99_ms'])} {_f(cpu, 3, 10)} "
              f"{_ratio(c['rps'], get(ll, 'json_closed', 'rps'))} "
              f"{_ratio(get(ll, 'json_cpu_ms', None) if ll else None, cpu, 12)} {share} {by_cpu}")

    print("\nnon-stream, fixed rate: latency ms from the intended send time; added = minus "
          "direct's")
    print(f"{'system':{w}} {'rate/s':>11} {'p50':>8} {'p90':>8} {'p99':>8} {'+p50':>8}"
          f" {'+p99':>8}")
    for r in results:
        c = r["json_fixed"]
        tag = "!" if c["rate"] and c["rps"] < 0.95 * c["rate"] else " "
        d50, d99 = get(direct, "json_fixed", "p50_ms"), get(direct, "json_fixed", "p99_ms")
        print(f"{r['name']:{w}} {c['rate']:6.0f}{tag}{c['rps']:4.0f} {_f(c['p50_ms'])} "
              f"{_f(c['p90_ms'])} {_f(c['p99_ms'])} "
              f"{_f(c['p50_ms'] - d50 if d50 is not None else None)} "
              f"{_f(c['p99_ms'] - d99 if d99 is not None else None)}")

    print("\nstream (20 tokens, 23 SSE frames), closed loop: total time ms")
    print(f"{'system':{w}} {'streams/s':>9} {'p50':>8} {'p99':>8} {'CPU us/chunk':>12}"
          f" {'xpass-through CPU':>18} {'xLiteLLM':>9}")
    for r in results:
        c = r["sse_closed"]
        print(f"{r['name']:{w}} {c['rps']:9.0f} {_f(c['p50_ms'])} {_f(c['p99_ms'])} "
              f"{_f(r['sse_cpu_us_per_chunk'], 1, 12)} "
              f"{_ratio(r['sse_cpu_us_per_chunk'], pt['sse_cpu_us_per_chunk'] if pt else None, 18)}"
              f" {_ratio(c['rps'], get(ll, 'sse_closed', 'rps'))}")

    print("\nstream, fixed rate: time to first byte (first data: event) and total, ms from "
          "the intended send time")
    print(f"{'system':{w}} {'rate/s':>6} {'TTFB p50':>9} {'TTFB p99':>9} {'+TTFB p50':>9}"
          f" {'total p50':>9} {'total p99':>9} {'failed':>6}")
    for r in results:
        c = r["sse_fixed"]
        d = get(direct, "sse_fixed", "ttfb_p50_ms")
        print(f"{r['name']:{w}} {c['rate']:6.0f} {_f(c['ttfb_p50_ms'], 2, 9)} "
              f"{_f(c['ttfb_p99_ms'], 2, 9)} "
              f"{_f(c['ttfb_p50_ms'] - d if d is not None else None, 2, 9)} "
              f"{_f(c['total_p50_ms'], 2, 9)} {_f(c['total_p99_ms'], 2, 9)} {c['bad']:6d}")

    print("\nprocess: RSS after the load (MB, whole process tree), seconds until it listened")
    print(f"{'system':{w}} {'RSS MB':>8} {'procs':>6} {'listening s':>11}")
    for r in results:
        if "rss_mb" in r:
            print(f"{r['name']:{w}} {r['rss_mb']:8.1f} {r['processes']:6d} "
                  f"{_f(r['ready_s'], 2, 11)}")
    print("\n(! after a rate: it was not held, the system is overloaded at that rate.\n"
          " xLiteLLM CPU, %pt CPU: ratios of CPU per request, what the req/s ratios would be\n"
          " on cores of their own; on a shared, busy machine they are the steadier figure)")
