#!/usr/bin/env python3
"""Vulnerability audit of the locked dependencies: pip-audit against PyPI's advisories.

* exit 1 when a locked package has a published vulnerability (each one is listed);
* exit 0 and say plainly that NOTHING was checked when the advisory database cannot
  be reached, or knows none of the locked versions (a registry mirror without the
  advisory data): an outage elsewhere must not fail a build, nor pass for an audit;
* exit 0 after a complete audit; packages it could not look up are listed.

Environment: ``PIP_AUDIT`` (the pip-audit to run, default ``.venv-tools/bin/pip-audit``),
``BASTION_AUDIT_INDEX`` (the advisory JSON API, default ``https://pypi.org/pypi``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("requirements.lock", "requirements-dev.lock", "requirements-model.lock",
         "requirements-tools.lock")
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", re.MULTILINE)


def skipped(why: str) -> int:
    print(f"vulnerability audit SKIPPED: {why}; the locked dependencies were NOT checked.",
          file=sys.stderr)
    return 0


def probe(index: str) -> str | None:
    """Why the advisory data cannot be used, or ``None`` when it can: it must answer
    for a version this project actually locks."""
    m = _PIN.search((ROOT / LOCKS[0]).read_text())
    if m is None:
        return f"no pinned package in {LOCKS[0]}"
    url = f"{index.rstrip('/')}/{m.group(1)}/{m.group(2)}/json"
    try:
        with urllib.request.urlopen(url, timeout=15) as r:  # noqa: S310 - an https URL we build
            data = json.load(r)
    except (urllib.error.URLError, OSError, ValueError) as e:
        return f"the advisory database at {index} is not reachable ({url}: {e})"
    if "vulnerabilities" not in data:
        return f"{url} answers without advisory data"
    return None


def main() -> int:
    index = os.environ.get("BASTION_AUDIT_INDEX", "https://pypi.org/pypi")
    why = probe(index)
    if why is not None:
        return skipped(why)
    tool = os.environ.get("PIP_AUDIT", str(ROOT / ".venv-tools/bin/pip-audit"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        args = [tool, "--require-hashes", "--disable-pip", "--progress-spinner", "off",
                "-f", "json", "-o", str(out)]
        for lock in LOCKS:
            args += ["-r", str(ROOT / lock)]
        run = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603
        if not out.exists():
            print(run.stdout + run.stderr, file=sys.stderr)
            return skipped("pip-audit could not run against the advisory database")
        deps = json.loads(out.read_text()).get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    unchecked = [d for d in deps if d.get("skip_reason")]
    if deps and len(unchecked) == len(deps):
        return skipped(f"the advisory database at {index} knows none of the "
                       f"{len(deps)} locked versions")
    for d in vulnerable:
        for v in d["vulns"]:
            fixes = ", ".join(v.get("fix_versions") or []) or "no fixed version yet"
            print(f"VULNERABLE {d['name']} {d['version']}: {v['id']} (fixed in {fixes})")
    if unchecked:
        names = ", ".join(f"{d['name']} {d['version']}" for d in unchecked)
        print(f"not found in the advisory database, so not checked: {names}")
    if vulnerable:
        print(f"vulnerability audit FAILED: {len(vulnerable)} of {len(deps)} locked "
              "packages have known vulnerabilities (upgrade them, then `make lock`).")
        return 1
    print(f"vulnerability audit passed: {len(deps) - len(unchecked)} locked packages, "
          "no known vulnerabilities.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
