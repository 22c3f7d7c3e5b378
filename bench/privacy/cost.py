"""Cost of the privacy scan on one core, the name model's start-up cost, and the
pseudonym round trip.

    .venv/bin/python -m bench.privacy.cost [--data DIR] [--rounds N]

* **scan cost**: CPU time per KB of ``Detector.analyze`` on documents of about 1 KB
  built from (a) the presidio-research sentences (dense with personal data) and
  (b) NotInject's benign prompts (ordinary chat text), p50 / p99 over the documents,
  pattern recognisers only and with names (spaCy). Each document is scanned once
  untimed first (warm caches), then timed.
* **ready time**: ``bastion serve`` started as a process until ``/readyz`` answers,
  with no alias asking for names, and with one that does (the model loads in the
  background, so readiness should not wait for it).
* **round trip**: every presidio-research sentence is scanned (names on), its values
  replaced by stand-ins; the "provider" echoes the stand-in text back as a stream cut
  into random chunks (1-12 characters) and the restored text is compared with the
  original: the share restored exactly, and the share of values restored.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import yaml

DEFAULT_DATA = "../shared/data/guard-eval"


def docs(texts: list[str], size: int = 1024) -> list[str]:
    out, cur = [], ""
    for t in texts:
        cur = f"{cur}\n{t}" if cur else t
        if len(cur) >= size:
            out.append(cur)
            cur = ""
    return out


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def scan_cost(corpus: list[str], analyze: Callable[[str], object]) -> tuple[float, float]:
    per_kb = []
    for d in corpus:
        analyze(d)
        t = time.process_time_ns()
        analyze(d)
        per_kb.append((time.process_time_ns() - t) / 1e6 / (len(d.encode()) / 1024))
    return percentile(per_kb, 0.5), percentile(per_kb, 0.99)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ready_time(entities: list[str]) -> float:
    cfg = {"state": {"database": "memory://"}, "providers": {"f": {"type": "fake"}},
           "models": {"chat": {"targets": ["f/m"], "privacy": {"entities": entities}}},
           "logging": {"level": "warning"}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bastion.yaml"
        path.write_text(yaml.safe_dump(cfg))
        port = free_port()
        started = time.monotonic()
        proc = subprocess.Popen(  # noqa: S603 - this interpreter and our own module
            [sys.executable, "-m", "bastion.cli", "serve", "--config", str(path), "--port",
             str(port)], env={**os.environ, "BASTION_MASTER_KEY": "bench"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                if time.monotonic() - started > 60:
                    raise TimeoutError("not ready in 60 s")
                time.sleep(0.01)
        finally:
            proc.terminate()
            proc.wait(10)


def round_trip(texts: list[str], seed: int = 7) -> tuple[float, float, int]:
    import asyncio

    from bastion.core.holdback import hold_back
    from bastion.core.types import ChatChunk, ChunkChoice, Delta
    from bastion.privacy.analyzer import Detector
    from bastion.privacy.entities import ALL_ENTITIES
    from bastion.privacy.ner import NameRecogniser
    from bastion.privacy.pseudonyms import Pseudonyms, RestoreFilter, Restorer

    det = Detector(frozenset(ALL_ENTITIES), names=NameRecogniser())
    rng = random.Random(seed)
    exact = values_ok = values = 0

    async def stream(pieces: list[str]) -> AsyncIterator[ChatChunk]:
        for p in pieces:
            yield ChatChunk(id="x", model="m", choices=[ChunkChoice(delta=Delta(content=p))])
        yield ChatChunk(id="x", model="m", choices=[ChunkChoice(finish_reason="stop")])

    async def restore(text: str, restorer: Restorer) -> str:
        pieces, i = [], 0
        while i < len(text):
            n = rng.randint(1, 12)
            pieces.append(text[i:i + n])
            i += n
        out = []
        async for c in hold_back(stream(pieces), lambda: RestoreFilter(restorer)):
            out.extend(ch.delta.content or "" for ch in c.choices)
        return "".join(out)

    for text in texts:
        found = det.analyze(text)
        names = Pseudonyms(b"bench-key-0123456789abcdef012345", "bench", text)
        out, pos = [], 0
        for f in sorted(found, key=lambda f: -len(f.value.split())):
            names.get(f.entity, f.value)
        for f in found:
            out += [text[pos:f.start], names.get(f.entity, f.value)]
            pos = f.end
        out.append(text[pos:])
        back = asyncio.run(restore("".join(out), Restorer(names.originals)))
        exact += back == text
        for f in found:
            values += 1
            values_ok += f.value in back
    return exact / len(texts), values_ok / max(1, values), len(texts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="the guard-eval folder")
    ap.add_argument("--skip-ready", action="store_true")
    args = ap.parse_args()
    data = Path(args.data)
    presidio = [r["full_text"] for r in json.loads(
        (data / "presidio_research/synth_dataset_v2.json").read_text())]
    benign = [r["prompt"] for name in ("NotInject_one.json", "NotInject_two.json",
                                       "NotInject_three.json")
              for r in json.loads((data / "piguard_notinject" / name).read_text())]

    from bastion.privacy.analyzer import Detector
    from bastion.privacy.entities import ALL_ENTITIES, PATTERN_ENTITIES
    from bastion.privacy.ner import NameRecogniser

    patterns = Detector(frozenset(PATTERN_ENTITIES))
    names = Detector(frozenset(ALL_ENTITIES), names=NameRecogniser())
    names.analyze("warm up Jane Roe")
    print("| corpus | documents | patterns p50 | patterns p99 | with names p50 | "
          "with names p99 |\n|---|---:|---:|---:|---:|---:|")
    for label, corpus in (("presidio-research (dense)", docs(presidio)),
                          ("NotInject benign prompts", docs(benign))):
        p50, p99 = scan_cost(corpus, patterns.analyze)
        n50, n99 = scan_cost(corpus, names.analyze)
        print(f"| {label} | {len(corpus)} | {p50:.3f} ms/KB | {p99:.3f} ms/KB | "
              f"{n50:.2f} ms/KB | {n99:.2f} ms/KB |")
    if not args.skip_ready:
        print(f"\nready without names: {ready_time(['EMAIL', 'PHONE']):.2f} s; "
              f"with names: {ready_time(['EMAIL', 'PERSON']):.2f} s")
    exact, per_value, n = round_trip(presidio)
    print(f"\nround trip over {n} texts, streamed in random 1-12 character chunks: "
          f"{exact:.4f} restored exactly, {per_value:.4f} of values restored")


if __name__ == "__main__":
    main()
