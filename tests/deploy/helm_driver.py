"""``helm lint`` and ``helm template`` for the tests, by whichever Helm is installed.

Run by the tests as a separate process: ``python helm_driver.py lint|template CHART
VALUES.json [RELEASE]``; prints JSON (the lint report, or ``{template path: manifest}``).
With ``HELM`` set, that binary runs; otherwise Helm's own Go code through the PyPI package
``helm-python-sdk`` (``make helm-tools`` installs it into ``.venv-helm``), since no helm
binary is packaged on PyPI, npm or Debian 12.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def by_binary(helm: str, what: str, chart: str, values: str, release: str) -> Any:
    if what == "lint":
        run = subprocess.run([helm, "lint", "--strict", chart, "-f", values],  # noqa: S603
                             capture_output=True, text=True, check=False)
        errors = [] if run.returncode == 0 else [run.stdout + run.stderr]
        return {"messages": [], "errors": errors, "output": run.stdout}
    run = subprocess.run([helm, "template", release, chart, "-f", values,  # noqa: S603
                          "--namespace", "bastion"], capture_output=True, text=True,
                         check=False)
    if run.returncode != 0:
        return {"error": run.stderr}
    out: dict[str, str] = {}
    for doc in ("\n" + run.stdout).split("\n---\n"):
        head = doc.strip().splitlines()
        if head and head[0].startswith("# Source: "):
            path = head[0].removeprefix("# Source: ")
            out[path] = out.get(path, "") + "\n---\n" + doc
    return out


def by_library(what: str, chart: str, values: str, release: str) -> Any:
    from helm_python import chart as helm_chart  # only in .venv-helm

    with open(values) as f:
        vals = json.load(f)
    if what == "lint":
        return helm_chart.lint(chart, vals, strict=True)
    try:
        return helm_chart.Chart.load(chart).render(vals, name=release, namespace="bastion",
                                                   is_install=True)
    except Exception as e:  # noqa: BLE001 - a render error is the answer
        return {"error": str(e)}


def main() -> None:
    what, chart, values = sys.argv[1:4]
    release = sys.argv[4] if len(sys.argv) > 4 else "gw"
    helm = os.environ.get("HELM")
    result = by_binary(helm, what, chart, values, release) if helm else by_library(
        what, chart, values, release)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
