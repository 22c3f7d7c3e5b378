"""Jupyter notebooks: scan cell sources and text outputs, report raw-file lines.

Each cell source and text output is scanned as its own buffer (so context
windows do not leak between cells); each detection is then located in the raw
``.ipynb`` text so the reported line is the line an editor shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .detectors import Match
from .engine import Locator, scan_buffer

_TEXT_MIME_PREFIXES = ("text/", "application/json", "application/javascript")


def _join(value: Any) -> str:
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def _pieces(nb: dict[str, Any]) -> Iterator[tuple[str, str]]:
    cells = nb.get("cells")
    if not isinstance(cells, list):
        sheets = nb.get("worksheets") or [{}]
        cells = sheets[0].get("cells", []) if isinstance(sheets[0], dict) else []
    for i, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict):
            continue
        yield f"cell {i} source", _join(cell.get("source", cell.get("input", "")))
        for output in cell.get("outputs") or []:
            if not isinstance(output, dict):
                continue
            yield f"cell {i} output", _join(output.get("text", ""))
            data = output.get("data")
            if isinstance(data, dict):
                for mime, value in data.items():
                    if isinstance(mime, str) and mime.startswith(_TEXT_MIME_PREFIXES):
                        text = value if isinstance(value, str | list) else json.dumps(value)
                        yield f"cell {i} output", _join(text)
            if isinstance(output.get("traceback"), list):
                yield f"cell {i} output", "\n".join(_join(t) for t in output["traceback"])


def scan_notebook(raw: bytes) -> list[tuple[Match, int, int, str]] | None:
    """Scan a notebook; return ``(match, line, column, note)`` items.

    Returns None when ``raw`` is not a JSON notebook (the caller then scans it
    as plain text). Line/column refer to the raw file.
    """
    try:
        nb = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(nb, dict):
        return None
    locator = Locator(raw)
    out: list[tuple[Match, int, int, str]] = []
    cursor = 0
    for note, text in _pieces(nb):
        if not text:
            continue
        for m in scan_buffer(text.encode("utf-8")):
            needle = m.secret.split(":", 1)[0].encode("utf-8")
            pos = raw.find(needle, cursor)
            if pos == -1:
                pos = raw.find(needle)
            if pos == -1:
                line, column = 1, 1
            else:
                cursor = pos + len(needle)
                line, column = locator.locate(pos)
            out.append((m, line, column, note))
    return out
