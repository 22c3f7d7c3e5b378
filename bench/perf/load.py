"""wrk (Debian's 4.1, LuaJIT inside) as the load generator, in two modes.

**Closed loop** (``rate=0``): each connection sends its next request as soon as the last
answer arrived; the figure is throughput. Latency is from the actual send.

**Fixed rate** (``rate>0``), measured without coordinated omission. wrk2 is not packaged,
so a Lua script paces wrk: one connection per wrk thread (``-tN -cN``, so each Lua state
serves exactly one connection and every ``request()`` is followed by its ``response()``),
each connection with its own schedule of intended send times, ``t0 + k * N / rate``, the
N connections offset by ``1/rate`` from each other. ``delay()`` (called by wrk before a
request, after the previous answer) waits until the next intended time. The latency
recorded is measured from the **intended** send time whenever the connection was still
busy with the previous answer at that time, so a server that stalls pays for every
request it held back (as wrk2 does; a plain closed-loop tool would send those requests
late and time them from then). When the connection was idle in time, the request went
out on wrk's own millisecond timer, up to a millisecond early or late, and the latency
is timed from the real send, so the generator's timer is not counted against the server.
Time comes from ``clock_gettime(CLOCK_MONOTONIC)`` through LuaJIT's FFI. Each thread keeps
its latencies in microseconds; ``done()`` gathers them and prints one JSON line. The first
request of each connection (it includes connecting) is not counted.

A run that did not reach 95 % of the asked rate is **overloaded**: its percentiles
then describe a queue that grows for as long as the run lasts.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perf.procs import LOAD_CORE, pinned

WRK = shutil.which("wrk") or "/usr/bin/wrk"

LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local RATE = __RATE__
local THREADS = __THREADS__
local body = __BODY__
local headers = __HEADERS__
local req = nil  -- built in init(): wrk.host is only known there

local counter, threads, first_epoch = 0, {}, nil
function setup(thread)
  first_epoch = first_epoch or now_us() + 200000
  thread:set("id", counter)
  thread:set("epoch", first_epoch)
  counter = counter + 1
  table.insert(threads, thread)
end

lats, statuses = {}, {}  -- globals: done() reads them with thread:get()
local n, k = 0, 0
local start_us, prev_done, interval, t0 = 0, 0, 0, 0
function init(args)
  req = wrk.format("POST", nil, headers, body)
  if RATE > 0 then
    interval = 1e6 * THREADS / RATE
    t0 = epoch + id * 1e6 / RATE
  end
end

if RATE > 0 then
  function delay()
    k = k + 1
    local wait = (t0 + k * interval - now_us()) / 1000
    if wait < 0 then return 0 end
    return math.floor(wait)
  end
end

function request()
  local now = now_us()
  start_us = now
  if RATE > 0 and k > 0 then
    local intended = t0 + k * interval
    if prev_done > intended then start_us = intended end
  end
  return req
end

function response(status, hdrs, b)
  local now = now_us()
  n = n + 1
  if n > 1 then
    lats[#lats + 1] = math.floor(now - start_us)
    statuses[status] = (statuses[status] or 0) + 1
  end
  prev_done = now
end

function done(summary, latency, requests)
  local all, codes = {}, {}
  for _, t in ipairs(threads) do
    for _, v in ipairs(t:get("lats")) do all[#all + 1] = v end
    for s, c in pairs(t:get("statuses")) do codes[tostring(s)] = (codes[tostring(s)] or 0) + c end
  end
  local parts = {}
  for s, c in pairs(codes) do parts[#parts + 1] = string.format('"%s":%d', s, c) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"lat_us":[%s],"status":{%s},"errors":%d,"duration_us":%d}\n',
    table.concat(all, ","), table.concat(parts, ","),
    e.connect + e.read + e.write + e.timeout, summary.duration))
end
"""


@dataclass
class Result:
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    count: int
    bad: int  # non-2xx answers and socket errors
    rate: float = 0.0  # asked for (fixed-rate mode)

    @property
    def overloaded(self) -> bool:
        return self.rate > 0 and self.rps < 0.95 * self.rate


def percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] / 1000


def run(url: str, body: dict[str, Any], key: str, seconds: float, connections: int,
        rate: float = 0.0, timeout_s: int = 30, core: str | None = LOAD_CORE,
        threads: int | None = None) -> Result:
    """One wrk run against ``url`` (POST ``body`` as JSON with ``key``), pinned to
    ``core`` (None: anywhere)."""
    threads = connections if rate > 0 else (threads or 1)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    lua_headers = "{" + ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}"
                                  for k, v in headers.items()) + "}"
    script = (LUA.replace("__RATE__", repr(float(rate))).replace("__THREADS__", str(threads))
              .replace("__BODY__", json.dumps(json.dumps(body)))
              .replace("__HEADERS__", lua_headers))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        argv = [WRK, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                f"--timeout={timeout_s}s", "-s", f.name, url]
        out = subprocess.run(pinned(core, argv) if core else argv,  # noqa: S603
                             capture_output=True, text=True, check=True).stdout
    finally:
        Path(f.name).unlink()
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result:\n{out[-2000:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    lats = sorted(data["lat_us"])
    ok = sum(c for s, c in data["status"].items() if s.startswith("2"))
    # at a fixed rate the schedule starts 0.2 s after wrk does (the Lua script's epoch)
    duration = data["duration_us"] / 1e6 - (0.2 if rate > 0 else 0.0)
    return Result(rps=ok / duration, p50_ms=percentile(lats, 0.5),
                  p90_ms=percentile(lats, 0.9), p99_ms=percentile(lats, 0.99),
                  max_ms=lats[-1] / 1000 if lats else float("nan"), count=len(lats),
                  bad=len(lats) - ok + data["errors"], rate=rate)


def median_result(results: list[Result]) -> Result:
    """The round with the median throughput (its own percentiles, not a mix of rounds)."""
    return sorted(results, key=lambda r: r.rps)[len(results) // 2]


def mean_ms(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")
