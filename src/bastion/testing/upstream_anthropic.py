"""The Anthropic dialect for :class:`~bastion.testing.upstream.FakeUpstream`.

``FakeUpstream(routes=ANTHROPIC_ROUTES)`` answers ``POST /v1/messages`` in the
real Messages API wire format: a ``message`` object, or the SSE event sequence
(``message_start``, ``ping``, per block ``content_block_start``/``_delta``/``_stop``,
``message_delta``, ``message_stop``), and Anthropic error bodies for requests the
real API would refuse (missing ``max_tokens``, unknown fields, roles other than
user/assistant, empty text blocks, ``temperature`` above 1, tool results that
answer no earlier tool use or do not come first in their turn).

Answers come from the fake provider's logic (echo, or a tool call when tools are
offered and a user turn is last; ``"The tool said: …"`` after tool results); with
``thinking`` enabled it thinks first (a ``thinking`` block with a signature it checks
when the block comes back, and it refuses a tool-use turn sent back without its
thinking block, as the real API does); a document with citations enabled is cited in
the answer (``citations``, or ``citations_delta`` events); when several tools are
offered it says
``"Let me check."`` and calls each of them, so streams carry several blocks. A
stop sequence found in the answer ends it there (``stop_reason: stop_sequence``),
and a ``max_tokens`` too small for it cuts it (``stop_reason: max_tokens``).

Behaviours: ``status``, ``hang`` and ``reset`` are handled by ``FakeUpstream``;
here ``malformed`` sends broken JSON (a broken event on streams),
``slow_first_byte`` delays the first event, ``stall_stream`` sends half the
events and goes quiet, and ``cut_stream`` drops the
connection half-way or, when the behaviour has a ``body``, sends that body as an
``error`` event half-way and ends the stream cleanly (how Anthropic reports a
mid-stream overload).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import msgspec
from aiohttp import web

from bastion.core.types import ChatRequest, Message
from bastion.providers.fake import fake_answer, fake_usage
from bastion.testing.upstream import Behavior, FakeUpstream, Handler, sse

_FIELDS = {"model", "messages", "max_tokens", "system", "stop_sequences", "stream",
           "temperature", "top_p", "top_k", "metadata", "tools", "tool_choice", "thinking",
           "service_tier", "output_config", "cache_control", "container", "context_management",
           "diagnostics", "inference_geo", "mcp_servers", "speed", "user_profile_id",
           "workspace_id"}  # what the real API accepts
_enc = msgspec.json.Encoder()


def error_body(kind: str, message: str) -> bytes:
    return _enc.encode({"type": "error", "error": {"type": kind, "message": message}})


def _bad(message: str) -> web.Response:
    return web.Response(status=400, body=error_body("invalid_request_error", message),
                        content_type="application/json")


def _turn_problems(i: int, m: Any, prev_tool_ids: set[str]) -> Iterator[str]:
    if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
        yield f"messages.{i}.role: Input should be 'user' or 'assistant'"
        return
    content = m.get("content")
    if isinstance(content, str):
        if not content:
            yield f"messages.{i}: text content blocks must be non-empty"
        return
    if not isinstance(content, list) or not content:
        yield f"messages.{i}.content: Input should be a valid list"
        return
    seen_other = False
    for j, b in enumerate(content):
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "text" and not b.get("text"):
            yield f"messages.{i}.content.{j}: text content blocks must be non-empty"
        if kind == "tool_use" and not isinstance(b.get("input"), dict):
            yield f"messages.{i}.content.{j}.input: Input should be a valid dictionary"
        if kind == "thinking" and b.get("signature") != signature(b.get("thinking", "")):
            yield f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
        if kind != "tool_result":
            seen_other = True
        elif seen_other:
            yield f"messages.{i}: tool_result blocks must come first in the content"
        elif b.get("tool_use_id") not in prev_tool_ids:
            yield f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result`"


def _problems(body: Any) -> Iterator[str]:
    if not isinstance(body, dict):
        yield "The request body is not valid JSON."
        return
    for extra in sorted(set(body) - _FIELDS):
        yield f"{extra}: Extra inputs are not permitted"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        yield "max_tokens: Field required"
    if not isinstance(body.get("model"), str):
        yield "model: Field required"
    temperature = body.get("temperature", 0)
    if not isinstance(temperature, (int, float)) or temperature > 1:
        yield "temperature: Input should be less than or equal to 1"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        yield "messages: Field required"
        return
    thinking = (body.get("thinking") or {}).get("type") == "enabled"
    tool_ids: set[str] = set()
    for i, m in enumerate(messages):
        yield from _turn_problems(i, m, tool_ids)
        if thinking and m.get("role") == "assistant" and isinstance(m.get("content"), list):
            blocks = m["content"]
            if any(b.get("type") == "tool_use" for b in blocks) and blocks[0].get("type") not in (
                    "thinking", "redacted_thinking"):
                yield (f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`"
                       ", but found `tool_use`. When `thinking` is enabled, a final "
                       "`assistant` message must start with a thinking block")
        content = m.get("content") if isinstance(m, dict) else None
        tool_ids = {str(b.get("id")) for b in content if isinstance(b, dict)
                    and b.get("type") == "tool_use"} if isinstance(content, list) else set()


def signature(thinking: str) -> str:
    """The fake's signature of a thinking text (the real one is opaque; this one checks)."""
    return "sig_" + hashlib.sha256(thinking.encode()).hexdigest()[:16]


THINKING = "Let me think."


def _citations(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A citation of each document with citations enabled in the last user turn."""
    content = body["messages"][-1].get("content")
    docs = [b for b in content if b.get("type") == "document"] if isinstance(content, list) else []
    return [{"type": "char_location", "cited_text": str(d["source"].get("data", ""))[:20],
             "document_index": n, "document_title": d.get("title"), "start_char_index": 0,
             "end_char_index": min(20, len(str(d["source"].get("data", ""))))}
            for n, d in enumerate(docs) if (d.get("citations") or {}).get("enabled")]


def check(body: Any) -> str | None:
    """What the real API would say is wrong with ``body`` first, or ``None``."""
    return next(_problems(body), None)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content or () if b.get("type") == "text")


def to_fake_request(body: dict[str, Any], with_limit: bool = True) -> ChatRequest:
    """Just enough of a canonical request for the fake provider's answer logic."""
    system = _text(body.get("system"))
    msgs = [Message(role="system", content=system)] if system else []
    for m in body["messages"]:
        c = m["content"]
        only_results = isinstance(c, list) and all(b.get("type") == "tool_result" for b in c)
        text = "\n".join(_text(b.get("content")) for b in c) if only_results else _text(c)
        msgs.append(Message(role="tool" if only_results else m["role"], content=text))
    tools = [{"type": "function", "function": {"name": t.get("name")}}
             for t in body.get("tools") or ()]
    choice = "none" if (body.get("tool_choice") or {}).get("type") == "none" else None
    return ChatRequest(model=body["model"], messages=msgs, tools=tools or None,
                       tool_choice=choice,
                       max_tokens=body["max_tokens"] if with_limit else None)


def answer(up: FakeUpstream, body: dict[str, Any]) -> dict[str, Any]:
    """The ``message`` object the fake answers ``body`` with."""
    req = to_fake_request(body)
    msg = fake_answer(req, up.fake.settings.reply)
    usage = fake_usage(req, msg)
    digest = hashlib.sha256(_enc.encode(body)).hexdigest()[:24]
    content: list[dict[str, Any]] = []
    if (body.get("thinking") or {}).get("type") == "enabled":
        content.append({"type": "thinking", "thinking": THINKING,
                        "signature": signature(THINKING)})
    stop, stop_seq = "end_turn", None
    if msg.tool_calls:
        stop = "tool_use"
        args = msgspec.json.decode(msg.tool_calls[0].function.arguments or "{}")
        tools = body["tools"]
        if len(tools) > 1:
            content.append({"type": "text", "text": "Let me check."})
        content.extend({"type": "tool_use", "id": f"toolu_{digest}_{n}", "name": t["name"],
                        "input": args} for n, t in enumerate(tools))
    else:
        text = msg.text()
        full = fake_answer(to_fake_request(body, with_limit=False), up.fake.settings.reply)
        if text != full.text():
            stop = "max_tokens"
        for s in body.get("stop_sequences") or ():
            if s in text:
                text, stop, stop_seq = text[: text.index(s)], "stop_sequence", s
        cites = _citations(body)
        content.append({"type": "text", "text": text, **({"citations": cites} if cites else {})})
    return {"id": f"msg_{digest}", "type": "message", "role": "assistant", "content": content,
            "model": body["model"], "stop_reason": stop, "stop_sequence": stop_seq,
            "usage": {"input_tokens": usage.prompt_tokens,
                      "output_tokens": usage.completion_tokens}}


def _frame(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _enc.encode(data) + b"\n\n"


def events(message: dict[str, Any], piece: int) -> list[bytes]:
    """The SSE frames Anthropic would stream for ``message``."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**message["usage"], "output_tokens": 1}}
    frames = [_frame("message_start", {"type": "message_start", "message": start}),
              _frame("ping", {"type": "ping"})]
    for i, block in enumerate(message["content"]):
        first: dict[str, Any]
        if block["type"] == "text":
            cites = block.get("citations") or []
            first = {"type": "text", "text": "", **({"citations": []} if cites else {})}
            deltas = [{"type": "citations_delta", "citation": c} for c in cites] + [
                {"type": "text_delta", "text": block["text"][k:k + piece]}
                for k in range(0, len(block["text"]), piece)]
        elif block["type"] == "thinking":
            first = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": block["thinking"]},
                      {"type": "signature_delta", "signature": block["signature"]}]
        else:
            raw = _enc.encode(block["input"]).decode()
            half = len(raw) // 2
            first = {**block, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in ("", raw[:half],
                                                                                 raw[half:])]
        frames.append(_frame("content_block_start", {"type": "content_block_start", "index": i,
                                                     "content_block": first}))
        frames.extend(_frame("content_block_delta", {"type": "content_block_delta",
                                                     "index": i, "delta": d}) for d in deltas)
        frames.append(_frame("content_block_stop", {"type": "content_block_stop", "index": i}))
    frames.append(_frame("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"],
                  "stop_sequence": message["stop_sequence"]},
        "usage": {"output_tokens": message["usage"]["output_tokens"]}}))
    frames.append(_frame("message_stop", {"type": "message_stop"}))
    return frames


async def anthropic_messages(up: FakeUpstream, request: web.Request, body: Any,
                             b: Behavior) -> web.StreamResponse:
    problem = check(body)
    if problem:
        return _bad(problem)
    message = answer(up, body)
    if not body.get("stream"):
        if b.kind == "malformed":
            return web.Response(body=b'{"id": "msg_x", "content": [',
                                content_type="application/json")
        return web.Response(body=_enc.encode(message), content_type="application/json")
    frames = events(message, up.fake.settings.chunk_chars)
    if b.kind == "malformed":
        frames.insert(1, b"event: content_block_delta\ndata: {not json\n\n")
    delay = b.delay_s if b.kind == "slow_first_byte" else 0.0
    if b.kind == "cut_stream" and b.body is not None:
        frames = [*frames[: len(frames) // 2], b"event: error\ndata: " + b.body + b"\n\n"]
        return await sse(request, frames, delay_s=delay)
    return await sse(request, frames, cut=b.kind == "cut_stream", delay_s=delay,
                     stall_s=(b.delay_s or 3600) if b.kind == "stall_stream" else 0.0)


ANTHROPIC_ROUTES: dict[str, Handler] = {"/v1/messages": anthropic_messages}
