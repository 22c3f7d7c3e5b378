"""Gemini REST wire format ↔ canonical types, without any I/O.

:func:`to_gemini` turns a canonical :class:`ChatRequest` into the body of
``models/{model}:generateContent``; :func:`to_response` and :class:`StreamState`
turn ``GenerateContentResponse`` bodies back into canonical responses and
chunks. The vendor's answers are decoded into typed :mod:`msgspec` structs
(camelCase on the wire), so unknown vendor fields cost nothing.

Translation rules (OpenAI shape → Gemini):

* ``system``/``developer`` messages → ``systemInstruction``; ``user`` → role
  ``user``; ``assistant`` → role ``model`` (its ``tool_calls`` → ``functionCall``
  parts); ``tool`` (and legacy ``function``) results → ``functionResponse`` parts
  in a ``user`` turn, named after the earlier call with the same id. Consecutive
  turns of one role are merged, as Gemini wants parallel call results together.
* ``image_url``/``input_audio``/``file`` parts with ``data:`` URLs → ``inlineData``;
  ``http(s)``/``gs://`` URLs → ``fileData``.
* ``tools`` → ``functionDeclarations`` whose JSON schemas keep only the keys
  Gemini's ``Schema`` accepts (``$ref`` into ``$defs`` is inlined, ``["x", "null"]``
  types become ``nullable``); ``tool_choice`` → ``toolConfig``.
* sampling options → ``generationConfig``; ``response_format`` json_object →
  ``responseMimeType: application/json``, json_schema → ``responseSchema`` too.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import msgspec

from bastion.core.errors import ProviderBadRequest
from bastion.core.ids import new_id
from bastion.core.types import (
    JSON,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    Message,
    ToolCall,
    Usage,
)

# Keys of Gemini's OpenAPI-subset ``Schema``; everything else is dropped.
_SCHEMA_KEYS = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
    "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
    "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum",
})
_MAX_SCHEMA_DEPTH = 24
_FINISH = {
    "STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter",
    "RECITATION": "content_filter", "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
_TOOL_CHOICE = {"auto": "AUTO", "none": "NONE", "required": "ANY", "any": "ANY"}
_THINKING_BUDGET = {"none": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": 24576}


# --- request ---------------------------------------------------------------------------


def _resolve_ref(ref: str, defs: JSON) -> JSON:
    name = ref.rsplit("/", 1)[-1]
    target = defs.get(name)
    if not isinstance(target, dict):
        raise ProviderBadRequest(f"A tool schema refers to {ref!r}, which it does not define.")
    return target


def clean_schema(schema: Any, defs: JSON | None = None, depth: int = 0) -> Any:
    """A JSON schema reduced to what Gemini's ``Schema`` accepts (best effort)."""
    if not isinstance(schema, dict):
        return schema
    if depth > _MAX_SCHEMA_DEPTH:
        raise ProviderBadRequest("A tool schema nests too deeply (or refers to itself).")
    if defs is None:
        defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    if isinstance(schema.get("$ref"), str):
        return clean_schema(_resolve_ref(schema["$ref"], defs), defs, depth + 1)
    out: JSON = {}
    for key, value in schema.items():
        if key in _SCHEMA_KEYS:
            _clean_key(out, key, value, defs, depth + 1)
    if "const" in schema and "enum" not in out:
        out["enum"] = [schema["const"]]
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def _clean_key(out: JSON, key: str, value: Any, defs: JSON, depth: int) -> None:
    if key == "properties" and isinstance(value, dict):
        out[key] = {k: clean_schema(v, defs, depth) for k, v in value.items()}
    elif key == "items":
        out[key] = clean_schema(value, defs, depth)
    elif key == "anyOf" and isinstance(value, list):
        # Optional[X] arrives as anyOf [X, {type: null}]: Gemini says nullable instead.
        kinds = [clean_schema(v, defs, depth) for v in value
                 if not (isinstance(v, dict) and v.get("type") == "null")]
        if len(kinds) < len(value):
            out["nullable"] = True
        if len(kinds) == 1 and isinstance(kinds[0], dict):
            out.update(kinds[0])
        elif kinds:
            out[key] = kinds
    elif key == "type" and isinstance(value, list):
        kinds = [t for t in value if t != "null"]
        out["type"] = kinds[0] if kinds else "string"
        if "null" in value:
            out["nullable"] = True
    else:
        out[key] = value


def _media(url: str, mime: str | None = None) -> JSON:
    if url.startswith("data:"):
        head, sep, data = url[5:].partition(",")
        if not sep or ";base64" not in head:
            raise ProviderBadRequest("Gemini needs inline media as base64 data URLs.")
        return {"inlineData": {"mimeType": head.split(";", 1)[0] or mime or
                               "application/octet-stream", "data": data}}
    part: JSON = {"fileUri": url}
    if mime:
        part["mimeType"] = mime
    return {"fileData": part}


def _part(p: JSON) -> JSON:
    kind = p.get("type")
    if kind == "text":
        return {"text": p.get("text", "")}
    if kind == "image_url":
        img = p.get("image_url")
        url = img.get("url", "") if isinstance(img, dict) else str(img or "")
        return _media(url)
    if kind == "input_audio":
        audio = p.get("input_audio") or {}
        return {"inlineData": {"mimeType": f"audio/{audio.get('format', 'wav')}",
                               "data": audio.get("data", "")}}
    if kind == "file":
        f = p.get("file") or {}
        return _media(f.get("file_data") or f.get("file_id") or "")
    raise ProviderBadRequest(f"Gemini does not accept message parts of type {kind!r}.")


def _parts(content: str | list[JSON] | None) -> list[JSON]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    return [_part(p) for p in content]


def _args(arguments: str | None) -> JSON:
    if not arguments:
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        raise ProviderBadRequest("A tool call's arguments are not valid JSON.") from None
    return value if isinstance(value, dict) else {"value": value}


def _tool_result(m: Message, names: dict[str, str]) -> JSON:
    text = m.text()
    try:
        value = msgspec.json.decode(text) if text else {}
    except msgspec.DecodeError:
        value = text
    name = names.get(m.tool_call_id or "") or m.name or "tool"
    return {"functionResponse": {"name": name,
                                 "response": value if isinstance(value, dict) else
                                 {"result": value}}}


def _turn(m: Message, names: dict[str, str]) -> tuple[str, list[JSON]]:
    if m.role in ("tool", "function"):
        return "user", [_tool_result(m, names)]
    if m.role == "assistant":
        parts = _parts(m.content)
        for tc in m.tool_calls or []:
            fn = tc.function
            if tc.id and fn.name:
                names[tc.id] = fn.name
            parts.append({"functionCall": {"name": fn.name or "", "args": _args(fn.arguments)}})
        if m.function_call is not None and m.function_call.name:
            parts.append({"functionCall": {"name": m.function_call.name,
                                           "args": _args(m.function_call.arguments)}})
        return "model", parts
    if m.role == "user":
        return "user", _parts(m.content)
    raise ProviderBadRequest(f"Gemini does not accept messages with the role {m.role!r}.")


def _contents(req: ChatRequest) -> tuple[list[JSON], list[JSON]]:
    system: list[JSON] = []
    contents: list[JSON] = []
    names: dict[str, str] = {}  # tool call id -> function name, for the results
    for m in req.messages:
        if m.role in ("system", "developer"):
            system.extend(_parts(m.content))
            continue
        role, parts = _turn(m, names)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return system, contents


def _tools(req: ChatRequest) -> list[JSON]:
    decls: list[JSON] = []
    for t in req.tools or []:
        if t.get("type", "function") != "function":
            raise ProviderBadRequest(f"Gemini does not accept tools of type {t.get('type')!r}.")
        decls.append(_declaration(t.get("function") or {}))
    decls.extend(_declaration(f) for f in req.functions or [])
    return [{"functionDeclarations": decls}] if decls else []


def _declaration(fn: JSON) -> JSON:
    d: JSON = {"name": fn.get("name", "")}
    if fn.get("description"):
        d["description"] = fn["description"]
    params = fn.get("parameters")
    if isinstance(params, dict) and params.get("properties"):
        d["parameters"] = clean_schema(params)
    return d


def _tool_config(choice: str | JSON | None) -> JSON | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        mode = _TOOL_CHOICE.get(choice)
        if mode is None:
            raise ProviderBadRequest(f"Gemini does not understand tool_choice {choice!r}.")
        return {"functionCallingConfig": {"mode": mode}}
    name = (choice.get("function") or {}).get("name") or choice.get("name")
    if not name:
        raise ProviderBadRequest("tool_choice names no function.")
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}


def _generation_config(req: ChatRequest) -> JSON:
    g: JSON = {}
    pairs = (("temperature", req.temperature), ("topP", req.top_p), ("seed", req.seed),
             ("candidateCount", req.n), ("maxOutputTokens", req.output_limit()),
             ("presencePenalty", req.presence_penalty),
             ("frequencyPenalty", req.frequency_penalty), ("responseLogprobs", req.logprobs),
             ("logprobs", req.top_logprobs))
    for key, value in pairs:
        if value is not None:
            g[key] = value
    if req.stop is not None:
        g["stopSequences"] = [req.stop] if isinstance(req.stop, str) else req.stop
    rf = req.response_format or {}
    if rf.get("type") in ("json_object", "json_schema"):
        g["responseMimeType"] = "application/json"
        schema = (rf.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            g["responseSchema"] = clean_schema(schema)
    if req.reasoning_effort in _THINKING_BUDGET:
        g["thinkingConfig"] = {"thinkingBudget": _THINKING_BUDGET[req.reasoning_effort]}
    return g


def to_gemini(req: ChatRequest) -> JSON:
    """The ``generateContent`` body for ``req`` (see the module docstring)."""
    system, contents = _contents(req)
    body: JSON = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    tools = _tools(req)
    if tools:
        body["tools"] = tools
        config = _tool_config(req.tool_choice if req.tool_choice is not None
                              else req.function_call)
        if config is not None:
            body["toolConfig"] = config
    gen = _generation_config(req)
    if gen:
        body["generationConfig"] = gen
    return body


def embed_body(model: str, texts: list[str], dims: int | None) -> JSON:
    """The ``batchEmbedContents`` body: one request per text."""
    def one(text: str) -> JSON:
        r: JSON = {"model": f"models/{model}", "content": {"parts": [{"text": text}]}}
        if dims is not None:
            r["outputDimensionality"] = dims
        return r

    return {"requests": [one(t) for t in texts]}


def float32_base64(values: list[float]) -> str:
    """``encoding_format: base64`` as OpenAI sends it: little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


# --- response --------------------------------------------------------------------------


class _Call(msgspec.Struct):
    name: str = ""
    args: JSON | None = None
    id: str | None = None


class _Part(msgspec.Struct, rename="camel"):
    text: str | None = None
    thought: bool | None = None
    function_call: _Call | None = None


class _Content(msgspec.Struct):
    parts: list[_Part] = []
    role: str | None = None


class _Candidate(msgspec.Struct, rename="camel"):
    content: _Content | None = None
    finish_reason: str | None = None
    index: int = 0


class _UsageMeta(msgspec.Struct, rename="camel"):
    prompt_token_count: int = 0
    candidates_token_count: int = 0
    thoughts_token_count: int = 0
    cached_content_token_count: int = 0
    total_token_count: int = 0


class _Feedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None


class GenerateContentResponse(msgspec.Struct, rename="camel"):
    candidates: list[_Candidate] = []
    usage_metadata: _UsageMeta | None = None
    model_version: str | None = None
    response_id: str | None = None
    prompt_feedback: _Feedback | None = None


class _Values(msgspec.Struct):
    values: list[float] = []


class BatchEmbedResponse(msgspec.Struct):
    embeddings: list[_Values] = []


response_decoder = msgspec.json.Decoder(GenerateContentResponse)
embed_decoder = msgspec.json.Decoder(BatchEmbedResponse)


def usage_of(meta: _UsageMeta | None) -> Usage | None:
    if meta is None:
        return None
    completion = meta.candidates_token_count + meta.thoughts_token_count
    return Usage(
        prompt_tokens=meta.prompt_token_count, completion_tokens=completion,
        total_tokens=meta.total_token_count or meta.prompt_token_count + completion,
        prompt_tokens_details=({"cached_tokens": meta.cached_content_token_count}
                               if meta.cached_content_token_count else None),
        completion_tokens_details=({"reasoning_tokens": meta.thoughts_token_count}
                                   if meta.thoughts_token_count else None),
    )


def new_call_id() -> str:
    return "call_" + new_id()[8:]


def _split(parts: list[_Part]) -> tuple[str | None, str | None, list[ToolCall]]:
    """(text, thought text, tool calls) of a candidate's parts."""
    text: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    for p in parts:
        if p.function_call is not None:
            fc = p.function_call
            args = msgspec.json.encode(fc.args or {}).decode()
            calls.append(ToolCall(id=fc.id or new_call_id(), type="function",
                                  function=FunctionCall(name=fc.name, arguments=args)))
        elif p.text is not None:
            (thoughts if p.thought else text).append(p.text)
    return ("".join(text) if text else None, "".join(thoughts) if thoughts else None, calls)


def finish_reason(reason: str | None, has_calls: bool) -> str | None:
    if reason is None:
        return None
    if has_calls and reason == "STOP":
        return "tool_calls"
    return _FINISH.get(reason, "stop")


def to_response(g: GenerateContentResponse, model: str) -> ChatResponse:
    choices = []
    for c in g.candidates:
        text, thoughts, calls = _split(c.content.parts if c.content else [])
        msg = Message(role="assistant", content=text, tool_calls=calls or None,
                      reasoning_content=thoughts)
        choices.append(Choice(index=c.index, message=msg,
                              finish_reason=finish_reason(c.finish_reason or "STOP",
                                                          bool(calls))))
    if not choices:  # the prompt itself was blocked
        choices.append(Choice(message=Message(role="assistant"), finish_reason="content_filter"))
    return ChatResponse(id="chatcmpl-" + (g.response_id or new_id()[8:]),
                        model=g.model_version or model, choices=choices,
                        usage=usage_of(g.usage_metadata))


class StreamState:
    """Turns a stream of ``GenerateContentResponse`` events into canonical chunks.

    One instance per stream. The first chunk of each candidate carries the role;
    finish reasons are held back and sent, with the usage, by :meth:`finish`.
    """

    __slots__ = ("created", "finishes", "id", "model", "started", "tool_index", "usage")

    def __init__(self, model: str, created: int) -> None:
        self.id = "chatcmpl-" + new_id()[8:]
        self.model = model
        self.created = created
        self.started: set[int] = set()
        self.tool_index: dict[int, int] = {}
        self.finishes: dict[int, str] = {}
        self.usage: Usage | None = None

    def chunk(self, choices: list[ChunkChoice], usage: Usage | None = None) -> ChatChunk:
        return ChatChunk(id=self.id, model=self.model, created=self.created, choices=choices,
                         usage=usage)

    def feed(self, g: GenerateContentResponse) -> ChatChunk | None:
        """The chunk for one event, or ``None`` when it carries no new output."""
        if g.usage_metadata is not None:
            self.usage = usage_of(g.usage_metadata)
        if g.prompt_feedback is not None and g.prompt_feedback.block_reason and not g.candidates:
            self.finishes[0] = "content_filter"
            return None
        choices = []
        for c in g.candidates:
            text, thoughts, calls = _split(c.content.parts if c.content else [])
            first = c.index not in self.started
            self.started.add(c.index)
            if calls:
                base = self.tool_index.get(c.index, 0)
                self.tool_index[c.index] = base + len(calls)
                calls = [ToolCall(index=base + i, id=t.id, type="function", function=t.function)
                         for i, t in enumerate(calls)]
            if c.finish_reason:
                self.finishes[c.index] = finish_reason(
                    c.finish_reason, c.index in self.tool_index) or "stop"
            if first or text or thoughts or calls:
                delta = Delta(role="assistant" if first else None,
                              content=text if text or not first else "",
                              reasoning_content=thoughts, tool_calls=calls or None)
                choices.append(ChunkChoice(index=c.index, delta=delta))
        return self.chunk(choices) if choices else None

    def finish(self) -> list[ChatChunk]:
        """The closing chunks: finish reasons, then usage. Empty if none came."""
        if not self.finishes:
            return []
        out = [self.chunk([ChunkChoice(index=i, finish_reason=r)
                           for i, r in sorted(self.finishes.items())])]
        if self.usage is not None:
            out.append(self.chunk([], self.usage))
        return out
