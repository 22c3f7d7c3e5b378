"""How often the semantic cache serves a wrong answer, and how often it serves a right one.

Every pair goes through the cache's own lookup (:class:`SemanticLookup`: the
conversation reading, the local embedder, the in-memory index and the verifier
at the default error budget): the first conversation or question is stored, the
second is looked up. A *trap* (``same_answer: false``) that hits is a wrong
answer; a should-hit pair that hits is served.

Data: the public ``fow-cache`` set (CC BY 4.0, © 2026 Mabon ap Gwyn) from
``--data``; by default its **test half** (each category sorted by id, odd
positions; the verifier was trained on the even positions), ``--half train`` for
the other. ``--holdout`` scores ``bench/data/verifier_holdout.jsonl`` (pairs
written after the first classifier was frozen), ``--holdout check``
``bench/data/verifier_check.jsonl`` (written after the word-alignment classifier
was frozen), or any such file; none was trained or tuned on.

    python bench/semantic_cache_eval.py [--data DIR] [--half test|train]
        [--max-wrong-rate 0.01] [--holdout [check|FILE]] [--show-errors]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from cache_eval_data import (
    CHECK_PAIRS,
    DEFAULT_DATA,
    HOLDOUT_PAIRS,
    conversations,
    is_trap,
    pairs,
    read_jsonl,
)

from bastion.cache.semantic.embedder import LocalEmbedder
from bastion.cache.semantic.lookup import SemanticLookup
from bastion.cache.semantic.store import MemoryVectorStore
from bastion.cache.semantic.verifier import Verifier
from bastion.core.context import Context
from bastion.core.types import ChatRequest, Message


def context(messages: list[dict[str, str]]) -> Context:
    req = ChatRequest(model="chat", temperature=0,
                      messages=[Message(role=m["role"], content=m["content"]) for m in messages])
    return Context(request=req, request_id="eval")


def as_conversation(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def served(lookup: SemanticLookup, scope: str, a: list[dict[str, str]],
                 b: list[dict[str, str]]) -> bool:
    first = await lookup.probe(context(a), scope, lookup=False)
    if first is None:
        return False
    await lookup.remember(first, "entry-" + scope, 3600)
    second = await lookup.probe(context(b), scope)
    return second is not None and second.match is not None


class Score:
    def __init__(self) -> None:
        # (group, trap?) → [pairs, hits]
        self.rows: dict[tuple[str, bool], list[int]] = defaultdict(lambda: [0, 0])
        self.errors: list[str] = []

    def add(self, group: str, hit: bool, trap: bool, label: str) -> None:
        self.rows[group, trap][0] += 1
        self.rows[group, trap][1] += hit
        if hit == trap:
            self.errors.append(("WRONG " if trap else "MISSED ") + group + ": " + label)

    def report(self, title: str) -> None:
        print(f"\n{title}")
        print(f"  {'group':32} {'pairs':>6} {'served':>8}")
        t_n = t_h = h_n = h_h = 0
        for (group, trap), (n, hits) in sorted(self.rows.items()):
            kind = "trap: served = wrong" if trap else "should hit"
            print(f"  {group:32} {n:6d} {hits / n:8.1%}  ({kind})")
            if trap:
                t_n, t_h = t_n + n, t_h + hits
            else:
                h_n, h_h = h_n + n, h_h + hits
        if t_n:
            print(f"  traps given a wrong answer: {t_h}/{t_n} = {t_h / t_n:.1%}")
        if h_n:
            print(f"  should-hit pairs served:    {h_h}/{h_n} = {h_h / h_n:.1%}")


async def run(args: argparse.Namespace) -> int:
    embedder = LocalEmbedder()
    await embedder.start()
    store = MemoryVectorStore(1_000_000)
    verifier = Verifier()
    threshold = verifier.threshold_for(args.max_wrong_rate)
    lookup = SemanticLookup(embedder, "local", store, b"eval", floor=args.floor,
                            verifier=verifier, threshold=threshold, max_chars=2000)
    print(f"verifier threshold {threshold:.2f} for max_wrong_rate {args.max_wrong_rate}")
    sets: list[tuple[str, list[dict[str, Any]], bool]] = []
    if args.holdout:
        path = {"first": HOLDOUT_PAIRS, "check": CHECK_PAIRS}.get(args.holdout,
                                                                   Path(args.holdout))
        sets.append((f"own pairs never trained or tuned on ({path.name})", read_jsonl(path),
                     False))
    else:
        train, test = pairs(args.data)
        sets.append((f"pairs.jsonl, {args.half} half", test if args.half == "test" else train,
                     False))
        for kind in ("conv-parts", "conv-long"):
            tr, te = conversations(args.data, kind)
            sets.append((f"{kind}, {args.half} half", te if args.half == "test" else tr, True))
    for title, rows, conv in sets:
        score = Score()
        for i, r in enumerate(rows):
            group = r.get("subtype") if conv else r["category"]
            assert isinstance(group, str)
            a = r["a"] if conv else as_conversation(r["a"])
            b = r["b"] if conv else as_conversation(r["b"])
            hit = await served(lookup, f"{title}:{i}", a, b)
            label = r.get("id", "") + " " + (r["a"][-1]["content"] if conv else r["a"]) + " || " + (
                r["b"][-1]["content"] if conv else r["b"])
            score.add(group, hit, is_trap(r), label)
        score.report(title)
        if args.show_errors:
            for e in score.errors:
                print("   ", e)
    await embedder.aclose()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--half", choices=("test", "train"), default="test")
    ap.add_argument("--max-wrong-rate", type=float, default=0.01)
    ap.add_argument("--floor", type=float, default=0.5, help="the alias's `threshold`")
    ap.add_argument("--holdout", nargs="?", const="first", default=None,
                    help="own pairs: first (default), check, or a .jsonl file")
    ap.add_argument("--show-errors", action="store_true")
    args = ap.parse_args(argv)
    if not args.holdout and not (args.data / "pairs.jsonl").exists():
        print(f"no pairs.jsonl under {args.data} (use --data)", file=sys.stderr)
        return 2
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
