"""The text of a request, as pieces that can be read and written back.

Message text (strings and text parts), tool-call arguments (every string inside the
JSON), tool results and embedding inputs. Images, audio and other parts are not
text and are left alone. Rewriting changes only the pieces that hold findings; a
tool call's arguments are re-encoded only when one of their strings changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bastion.core.types import ChatRequest, EmbeddingRequest, Message, ToolCall

SEPARATOR = "\n\n"


@dataclass(slots=True)
class Piece:
    text: str
    write: Callable[[str], None]


def _content_pieces(msg: Message) -> list[Piece]:
    c = msg.content
    if isinstance(c, str):
        def write(v: str, m: Message = msg) -> None:
            m.content = v
        return [Piece(c, write)] if c else []
    out = []
    for part in c or []:
        if part.get("type") == "text" and isinstance(part.get("text"), str) and part["text"]:
            def write_part(v: str, p: dict[str, Any] = part) -> None:
                p["text"] = v
            out.append(Piece(part["text"], write_part))
    return out


def _json_strings(node: Any, changed: Callable[[], None]) -> list[Piece]:
    out: list[Piece] = []
    items: Any = (node.items() if isinstance(node, dict) else
                  enumerate(node) if isinstance(node, list) else ())
    for k, v in items:
        if isinstance(v, str) and v:
            def write(val: str, n: Any = node, key: Any = k) -> None:
                n[key] = val
                changed()
            out.append(Piece(v, write))
        elif isinstance(v, dict | list):
            out.extend(_json_strings(v, changed))
    return out


def _tool_pieces(tc: ToolCall) -> list[Piece]:
    raw = tc.function.arguments
    if not raw:
        return []
    try:
        tree = json.loads(raw)
    except ValueError:
        def write_raw(v: str, t: ToolCall = tc) -> None:
            t.function.arguments = v
        return [Piece(raw, write_raw)]
    if isinstance(tree, str):
        tree = [tree]

    def changed(t: ToolCall = tc, tr: Any = tree) -> None:
        t.function.arguments = json.dumps(tr, ensure_ascii=False)

    return _json_strings(tree, changed)


def chat_pieces(req: ChatRequest) -> list[Piece]:
    out: list[Piece] = []
    for msg in req.messages:
        out.extend(_content_pieces(msg))
        for tc in msg.tool_calls or []:
            out.extend(_tool_pieces(tc))
    return out


def embedding_pieces(req: EmbeddingRequest) -> list[Piece]:
    if isinstance(req.input, str):
        def write(v: str, r: EmbeddingRequest = req) -> None:
            r.input = v
        return [Piece(req.input, write)]
    items = req.input
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str) and item:
            def write_item(v: str, idx: int = i, lst: list[Any] = items) -> None:
                lst[idx] = v
            out.append(Piece(item, write_item))
    return out


def joined(pieces: list[Piece]) -> tuple[str, list[int]]:
    """All pieces in one text (so names are seen across messages) and each one's start."""
    starts, pos = [], 0
    for p in pieces:
        starts.append(pos)
        pos += len(p.text) + len(SEPARATOR)
    return SEPARATOR.join(p.text for p in pieces), starts
