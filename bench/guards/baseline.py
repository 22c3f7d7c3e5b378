"""The public offline baseline for the side-by-side figures.

``prompt-shield`` from the PyPI package ``ai-injection-guard==0.3.0`` (pure Python, 75
regex patterns, MIT): a prompt counts as flagged when its scanner does not call it
SAFE at its default threshold. Not a Bastion dependency; install it to compare:

    .venv/bin/pip install --no-deps ai-injection-guard==0.3.0
"""

from __future__ import annotations

from collections.abc import Callable


def baseline_scorer() -> Callable[[str, bool], float]:
    from prompt_shield.core.scanner import PromptScanner

    scanner = PromptScanner()

    def score(text: str, _document: bool) -> float:
        return 0.0 if scanner.scan(text).is_safe else 1.0

    return score
