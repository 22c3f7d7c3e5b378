"""Report renderers: human table, JSON and SARIF 2.1.0.

Contract: unless ``show_secrets`` is true, no renderer emits anything but the
mask of a secret (the full value never reaches the output).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .model import Finding
from .registry import CONFIDENCE_RANK, DETECTORS

TOOL_NAME = "bastion-scan"
TOOL_URI = "https://github.com/bastion-gateway/bastion/blob/main/docs/scan.md"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {"high": "error", "medium": "error", "low": "warning"}


def render_table(findings: Sequence[Finding], *, show_secrets: bool = False) -> str:
    """Fixed-width table, one finding per row, followed by a summary line."""
    if not findings:
        return "No secrets found.\n"
    rows = [("CONFIDENCE", "DETECTOR", "LOCATION", "COMMIT", "SECRET")]
    for f in findings:
        where = f.location + (f" ({f.note})" if f.note else "")
        commit = ""
        if f.commit:
            commit = f.commit[:12] + ("" if f.present_at_head else " (removed)")
        rows.append((f.confidence.value, f.detector, where, commit,
                     f.secret if show_secrets else f.masked))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(r))
             for r in rows]
    n = len(findings)
    lines.append(f"\n{n} finding{'s' if n != 1 else ''}.")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def render_json(findings: Sequence[Finding], *, show_secrets: bool = False) -> str:
    """``{"version": 1, "findings": [...], "summary": {...}}`` as indented JSON."""
    by_conf: dict[str, int] = {}
    for f in findings:
        by_conf[f.confidence.value] = by_conf.get(f.confidence.value, 0) + 1
    doc = {
        "version": 1,
        "tool": TOOL_NAME,
        "findings": [f.to_dict(show_secret=show_secrets) for f in findings],
        "summary": {"total": len(findings), "by_confidence": by_conf},
    }
    return json.dumps(doc, indent=2) + "\n"


def _uri(path: str) -> str:
    outer = path.split("!", 1)[0].replace("\\", "/")
    return outer[2:] if outer.startswith("./") else outer


def _rules(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    ids = sorted({f.detector for f in findings},
                 key=lambda d: (CONFIDENCE_RANK[DETECTORS[d].confidence], d))
    rules: list[dict[str, Any]] = []
    for rule_id in ids:
        info = DETECTORS[rule_id]
        rules.append({
            "id": rule_id,
            "name": "".join(p.capitalize() for p in rule_id.split("-")),
            "shortDescription": {"text": info.title},
            "fullDescription": {"text": f"{info.title} committed to the repository."},
            "help": {"text": "Revoke the credential at the provider, remove it from the code "
                             "(and history) and load it from the environment or a secret store."},
            "defaultConfiguration": {"level": _LEVELS[info.confidence.value]},
            "properties": {"confidence": info.confidence.value, "tags": ["security", "secret"]},
        })
    return rules


def render_sarif(findings: Sequence[Finding], *, show_secrets: bool = False) -> str:
    """SARIF 2.1.0 log with one run; fingerprints go to ``partialFingerprints``."""
    rules = _rules(findings)
    index = {r["id"]: i for i, r in enumerate(rules)}
    results: list[dict[str, Any]] = []
    for f in findings:
        shown = f.secret if show_secrets else f.masked
        text = f"{f.title} found" + (f": {shown}" if shown else "")
        if "!" in f.path:
            text += f" (inside {f.path})"
        if f.commit:
            text += f" (introduced in commit {f.commit})"
        result: dict[str, Any] = {
            "ruleId": f.detector,
            "ruleIndex": index[f.detector],
            "level": _LEVELS[f.confidence.value],
            "message": {"text": text},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(f.path)},
                    "region": {"startLine": max(f.line, 1), "startColumn": max(f.column, 1)},
                }
            }],
            "partialFingerprints": {"bastionScan/v1": f.fingerprint},
            "properties": {"confidence": f.confidence.value, "masked": f.masked},
        }
        if f.commit:
            result["properties"]["commit"] = f.commit
            result["properties"]["presentAtHead"] = f.present_at_head
        results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL_NAME, "informationUri": TOOL_URI,
                                "version": "1.0.0", "rules": rules}},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }
    return json.dumps(doc, indent=2) + "\n"
