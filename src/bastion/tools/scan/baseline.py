"""Baselines: accepted findings identified by fingerprint only (never the secret).

File format (JSON)::

    {"version": 1, "tool": "bastion-scan",
     "findings": [{"fingerprint": "<sha256>", "detector": "...", "path": "...", "line": 3}]}

``path``/``line`` are informational; matching uses the fingerprint alone, so a
known key stays accepted when the code around it moves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .errors import BaselineError
from .model import Finding

BASELINE_VERSION = 1


def load_baseline(path: Path) -> set[str]:
    """Return the accepted fingerprints stored in ``path``."""
    try:
        doc = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc}") from exc
    except ValueError as exc:
        raise BaselineError(f"baseline {path} is not valid JSON: {exc}") from exc
    entries = doc.get("findings") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise BaselineError(f"baseline {path} has no 'findings' list")
    out: set[str] = set()
    for entry in entries:
        fp = entry.get("fingerprint") if isinstance(entry, dict) else None
        if not isinstance(fp, str):
            raise BaselineError(f"baseline {path} has an entry without a fingerprint")
        out.add(fp)
    return out


def write_baseline(path: Path, findings: Sequence[Finding]) -> int:
    """Write ``findings`` as a baseline; return the number of distinct entries."""
    entries: dict[str, dict[str, object]] = {}
    for f in findings:
        entries.setdefault(f.fingerprint, {
            "fingerprint": f.fingerprint,
            "detector": f.detector,
            "path": f.path,
            "line": f.line,
        })
    doc = {"version": BASELINE_VERSION, "tool": "bastion-scan", "findings": list(entries.values())}
    try:
        path.write_text(json.dumps(doc, indent=2) + "\n", "utf-8")
    except OSError as exc:
        raise BaselineError(f"cannot write baseline {path}: {exc}") from exc
    return len(entries)


def apply_baseline(findings: Sequence[Finding], accepted: set[str]) -> list[Finding]:
    """Drop findings whose fingerprint is accepted."""
    return [f for f in findings if f.fingerprint not in accepted]
