"""Request bodies that stress the gateway, for tests and benchmarks."""

from __future__ import annotations

import random
import string
from typing import Any


def random_words(size: int) -> str:
    """``size`` characters of lowercase words: text that costs what real text costs to
    tokenise (one repeated phrase would be far cheaper)."""
    rnd = random.Random(size)  # noqa: S311 - test data, not secrets
    words = ["".join(rnd.choices(string.ascii_lowercase, k=rnd.randint(2, 11)))
             for _ in range(size // 6)]
    return " ".join(words)[:size]


def tool_call_request(arguments_chars: int, model: str = "chat") -> dict[str, Any]:
    """A chat request whose bulk sits in ``tool_calls[].function.arguments``."""
    args = '{"q": "' + random_words(arguments_chars) + '"}'
    return {"model": model, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                               "function": {"name": "f", "arguments": args}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}]}
