"""Shared by the semantic-cache benchmark and the verifier's training script: the
public pair data, split in halves, and an embedding cache.

The public data (``fow-cache``, CC BY 4.0) is read from ``--data``; each category is
sorted by ``id`` and split alternately, so the train half (even positions) and the
test half (odd positions) are stratified by category. Conversations are split the
same way per (file, subtype).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parents[1]
# ../shared beside the main checkout (worktrees sit one level deeper).
DEFAULT_DATA = next((p / "shared/data/cache-eval/pypi_fow_cache" for p in _REPO.parents[:2]
                     if (p / "shared/data/cache-eval/pypi_fow_cache").is_dir()),
                    _REPO.parent / "shared/data/cache-eval/pypi_fow_cache")
OWN_PAIRS = Path(__file__).resolve().parent / "data" / "verifier_pairs.jsonl"
HOLDOUT_PAIRS = Path(__file__).resolve().parent / "data" / "verifier_holdout.jsonl"
# Written after the word-alignment classifier was frozen; never trained or tuned on.
CHECK_PAIRS = Path(__file__).resolve().parent / "data" / "verifier_check.jsonl"
TRAPS = ("negation", "entity_swap", "number_date", "scope")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def halves(rows: Iterable[dict[str, Any]], group: Callable[[dict[str, Any]], str]
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(group(r), []).append(r)
    train: list[dict[str, Any]] = []
    test: list[dict[str, Any]] = []
    for _, rs in sorted(by.items()):
        rs.sort(key=lambda r: r["id"])
        train += rs[0::2]
        test += rs[1::2]
    return train, test


def pairs(data: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(train, test)`` halves of ``pairs.jsonl``."""
    return halves(read_jsonl(data / "pairs.jsonl"), lambda r: r["category"])


def conversations(data: Path, kind: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(train, test)`` halves of ``conv-long`` or ``conv-parts`` (all files)."""
    rows: list[dict[str, Any]] = []
    for f in sorted((data / kind).glob("*.jsonl")):
        for r in read_jsonl(f):
            r["file"] = f.stem
            rows.append(r)
    return halves(rows, lambda r: r["file"] + "/" + r["subtype"])


def is_trap(row: dict[str, Any]) -> bool:
    return not row["same_answer"]
