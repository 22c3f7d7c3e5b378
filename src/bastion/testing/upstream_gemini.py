"""Gemini routes for :class:`~bastion.testing.upstream.FakeUpstream`.

``FakeUpstream(routes=GEMINI_ROUTES)`` speaks the Generative Language REST API:
``POST /v1beta/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``,
``:batchEmbedContents`` and ``:embedContent``. Answers are those of the fake
provider (echo of the last user turn, or a call of the first declared function),
in Gemini's shapes. Like the real service it refuses a call without a key
(``x-goog-api-key`` header or ``key`` query parameter) and bodies it would not
accept: unknown top-level fields, roles other than ``user``/``model``, and
function schemas with keys outside Gemini's ``Schema``; errors come as
``{"error": {"code", "message", "status"}}`` (see :func:`gemini_error_body`, also
handy for ``Behavior(kind="status", body=...)``).

Faults: ``malformed`` (broken JSON / a broken event), ``cut_stream`` (half the
events, then the connection drops; no finished candidate), and
``slow_first_byte`` (applied by FakeUpstream before the response head, for
streams too, since Gemini streams are chosen by URL, not body). ``status``,
``hang`` and ``reset`` are handled by FakeUpstream itself.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from aiohttp import web

from bastion.core.types import (
    JSON,
    ChatRequest,
    FunctionCall,
    Message,
    ToolCall,
    json_encoder,
)
from bastion.providers.fake import fake_answer, fake_embedding, fake_usage
from bastion.testing.upstream import Behavior, FakeUpstream, Handler, sse

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
           404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
           504: "DEADLINE_EXCEEDED"}
_TOP_LEVEL = frozenset({"contents", "systemInstruction", "tools", "toolConfig",
                        "generationConfig", "safetySettings", "cachedContent"})
_PART_KEYS = frozenset({"text", "inlineData", "fileData", "functionCall", "functionResponse",
                        "thought", "thoughtSignature"})
_SCHEMA_KEYS = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
    "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
    "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum",
})


def gemini_error_body(status: int, message: str, reason: str | None = None) -> bytes:
    """A Gemini error body; ``reason`` adds an ``ErrorInfo`` detail (e.g. API_KEY_INVALID)."""
    err: JSON = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
    if reason:
        err["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                           "reason": reason, "domain": "googleapis.com"}]
    return json_encoder.encode({"error": err})


def _reject(status: int, message: str, reason: str | None = None) -> web.Response:
    return web.Response(status=status, body=gemini_error_body(status, message, reason),
                        content_type="application/json")


class _Invalid(Exception):
    """The body is one the real service answers with 400 INVALID_ARGUMENT."""


def _check_schema(schema: Any, where: str) -> None:
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key not in _SCHEMA_KEYS:
            raise _Invalid(f'Invalid JSON payload received. Unknown name "{key}" at {where}')
        if key == "properties" and isinstance(value, dict):
            for name, sub in value.items():
                _check_schema(sub, f"{where}.properties[{name}]")
        elif key == "items":
            _check_schema(value, f"{where}.items")
        elif key == "anyOf" and isinstance(value, list):
            for i, sub in enumerate(value):
                _check_schema(sub, f"{where}.anyOf[{i}]")


def _check(body: Any) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("contents"), list):
        raise _Invalid("* GenerateContentRequest.contents: contents is not specified")
    unknown = set(body) - _TOP_LEVEL
    if unknown:
        raise _Invalid(f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}"')
    for i, c in enumerate(body["contents"]):
        if c.get("role") not in ("user", "model"):
            raise _Invalid(f"Please use a valid role: user, model. (contents[{i}])")
        for p in c.get("parts") or []:
            if not set(p) <= _PART_KEYS:
                raise _Invalid(f"contents[{i}].parts: unknown part field")
    for t in body.get("tools") or []:
        for j, d in enumerate(t.get("functionDeclarations") or []):
            _check_schema(d.get("parameters"), f"tools.function_declarations[{j}].parameters")


def _text(parts: list[JSON]) -> str:
    return "\n".join(p["text"] for p in parts if isinstance(p.get("text"), str))


def to_canonical(model: str, body: JSON) -> ChatRequest:
    """The canonical request the fake provider answers (the inverse of the adapter)."""
    messages = []
    system = body.get("systemInstruction")
    if system:
        messages.append(Message(role="system", content=_text(system.get("parts", []))))
    for c in body["contents"]:
        parts = c.get("parts", [])
        calls = [ToolCall(id="x", function=FunctionCall(
            name=p["functionCall"]["name"],
            arguments=msgspec.json.encode(p["functionCall"].get("args", {})).decode()))
                 for p in parts if "functionCall" in p]
        results = [p["functionResponse"].get("response") for p in parts
                   if "functionResponse" in p]
        if results:  # the tool's own words: {"result": text} as the adapter wraps text
            text = "\n".join(r["result"] if isinstance(r, dict) and set(r) == {"result"}
                             else msgspec.json.encode(r).decode() for r in results)
            messages.append(Message(role="tool", tool_call_id="x", content=text))
        else:
            role = "assistant" if c["role"] == "model" else "user"
            messages.append(Message(role=role, content=_text(parts), tool_calls=calls or None))
    tools = [{"type": "function", "function": {"name": d["name"]}}
             for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
    gen = body.get("generationConfig") or {}
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    return ChatRequest(model=model, messages=messages, tools=tools or None,
                       tool_choice="none" if mode == "NONE" else None,
                       max_tokens=gen.get("maxOutputTokens"), n=gen.get("candidateCount"))


def _parts_of(msg: Message) -> list[JSON]:
    if msg.tool_calls:
        return [{"functionCall": {"name": t.function.name,
                                  "args": msgspec.json.decode(t.function.arguments or "{}")}}
                for t in msg.tool_calls]
    return [{"text": msg.text()}]


def _usage(req: ChatRequest, msg: Message) -> JSON:
    u = fake_usage(req, msg)
    return {"promptTokenCount": u.prompt_tokens, "candidatesTokenCount": u.completion_tokens,
            "totalTokenCount": u.total_tokens}


def _response_id(req: ChatRequest) -> str:
    return hashlib.sha256(json_encoder.encode(req)).hexdigest()[:20]


async def _generate(up: FakeUpstream, request: web.Request, model: str, body: JSON,
                    b: Behavior) -> web.StreamResponse:
    req = to_canonical(model, body)
    msg = fake_answer(req, up.fake.settings.reply)
    if b.kind == "malformed":
        return web.Response(body=b'{"candidates": [{"content": ', content_type="application/json")
    candidates = [{"content": {"role": "model", "parts": _parts_of(msg)}, "finishReason": "STOP",
                   "index": i} for i in range(req.n or 1)]
    answer = {"candidates": candidates, "usageMetadata": _usage(req, msg),
              "modelVersion": model, "responseId": _response_id(req)}
    return web.Response(body=json_encoder.encode(answer), content_type="application/json")


async def _stream(up: FakeUpstream, request: web.Request, model: str, body: JSON,
                  b: Behavior) -> web.StreamResponse:
    if request.query.get("alt") != "sse":
        return _reject(400, "this fake speaks only alt=sse streams")
    req = to_canonical(model, body)
    msg = fake_answer(req, up.fake.settings.reply)
    usage = _usage(req, msg)
    rid = _response_id(req)

    def event(parts: list[JSON], final: bool = False) -> bytes:
        cand: JSON = {"content": {"role": "model", "parts": parts}, "index": 0}
        if final:
            cand["finishReason"] = "STOP"
        meta = usage if final else {"promptTokenCount": usage["promptTokenCount"]}
        data = {"candidates": [cand], "usageMetadata": meta, "modelVersion": model,
                "responseId": rid}
        return b"data: " + json_encoder.encode(data) + b"\r\n\r\n"

    if msg.tool_calls:
        frames = [event(_parts_of(msg), final=True)]
    else:
        text = msg.text()
        step = up.fake.settings.chunk_chars
        pieces = [text[i:i + step] for i in range(0, len(text), step)] or [""]
        frames = [event([{"text": p}], final=i == len(pieces) - 1)
                  for i, p in enumerate(pieces)]
    if b.kind == "malformed":
        frames.insert(1, b"data: {not json\r\n\r\n")
    return await sse(request, frames, cut=b.kind == "cut_stream")


async def _embed(up: FakeUpstream, request: web.Request, model: str, body: JSON,
                 b: Behavior) -> web.StreamResponse:
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        return _reject(400, "* BatchEmbedContentsRequest.requests: requests is not specified")
    out = []
    for r in requests:
        if r.get("model") != f"models/{model}":
            return _reject(400, "requests[].model must match the URL's model")
        text = _text(r.get("content", {}).get("parts", []))
        out.append({"values": fake_embedding(text, r.get("outputDimensionality") or 64)})
    if b.kind == "malformed":
        return web.Response(body=b'{"embeddings": [', content_type="application/json")
    return web.Response(body=json_encoder.encode({"embeddings": out}),
                        content_type="application/json")


async def _embed_one(up: FakeUpstream, request: web.Request, model: str, body: JSON,
                     b: Behavior) -> web.StreamResponse:
    text = _text((body.get("content") or {}).get("parts", []))
    values = fake_embedding(text, body.get("outputDimensionality") or 64)
    return web.Response(body=json_encoder.encode({"embedding": {"values": values}}),
                        content_type="application/json")


_METHODS = {"generateContent": _generate, "streamGenerateContent": _stream,
            "batchEmbedContents": _embed, "embedContent": _embed_one}


async def gemini_models(up: FakeUpstream, request: web.Request, body: Any,
                        b: Behavior) -> web.StreamResponse:
    """``POST /{version}/models/{model}:{method}``."""
    if not request.headers.get("x-goog-api-key") and not request.query.get("key"):
        return _reject(403, "Method doesn't allow unregistered callers (callers without "
                       "established identity). Please use API Key or other form of API "
                       "consumer identity to call this API.")
    return await gemini_call(up, request, request.match_info["call"], body, b)


async def gemini_call(up: FakeUpstream, request: web.Request, call: str, body: Any,
                      b: Behavior) -> web.StreamResponse:
    """``{model}:{method}`` answered as Gemini does, once the caller is authenticated
    (also used by the Vertex stand-in)."""
    model, _, method = call.rpartition(":")
    handler = _METHODS.get(method)
    if not model or handler is None:
        return _reject(404, f"Method {method!r} is not found for this model.")
    if method in ("generateContent", "streamGenerateContent"):
        try:
            _check(body)
        except _Invalid as e:
            return _reject(400, str(e))
    return await handler(up, request, model, body, b)


GEMINI_ROUTES: dict[str, Handler] = {
    "/v1beta/models/{call}": gemini_models,
    "/v1/models/{call}": gemini_models,
}
