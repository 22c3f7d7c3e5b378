"""Bedrock Converse wire format ↔ canonical types, without any I/O.

:func:`to_converse` turns a canonical :class:`ChatRequest` into the body of
``POST /model/{modelId}/converse`` (and ``converse-stream``); :func:`to_response`
and :class:`StreamState` turn Converse answers and ConverseStream events back into
canonical responses and chunks; :func:`stream_exception` and
:data:`ERROR_TYPES` classify Bedrock's errors.

Translation rules (OpenAI shape → Converse):

* ``system``/``developer`` messages → ``system`` text blocks; ``response_format``
  json_object / json_schema → an instruction appended to them (Converse has no
  JSON mode).
* ``user`` → role ``user``; ``assistant`` → role ``assistant`` (its ``tool_calls`` →
  ``toolUse`` blocks; ``reasoning_content`` is dropped, since a reasoning block
  without its signature is refused); ``tool`` results → ``toolResult`` blocks in a
  user turn, first in it. Consecutive turns of one role are merged.
* ``image_url`` parts with ``data:`` URLs → ``image`` blocks (bytes); PDF ``file``
  parts → ``document`` blocks; remote URLs are refused (Bedrock takes bytes).
* ``tools`` → ``toolConfig.tools[].toolSpec``; ``tool_choice`` auto / required /
  a named function → ``auto`` / ``any`` / ``tool``; ``none`` drops the tools (or,
  when the history holds tool calls, which Bedrock requires ``toolConfig`` for,
  leaves the choice to the model).
* ``max_tokens``/``max_completion_tokens``, ``temperature``, ``top_p``, ``stop`` →
  ``inferenceConfig``; ``n`` > 1 and audio are refused.

Answers: ``stopReason`` → finish reason (``end_turn``/``stop_sequence`` → stop,
``tool_use`` → tool_calls, ``max_tokens`` → length, guardrail and content filters →
content_filter); usage as OpenAI counts it (prompt tokens include cache reads and
writes, ``prompt_tokens_details`` keeps them apart).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec

from bastion.api.anthropic_wire import AUsage, canonical_usage
from bastion.core.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
)
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
from bastion.providers.anthropic_wire import format_note, function_tools
from bastion.providers.http import scrub

FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
          "tool_use": "tool_calls", "guardrail_intervened": "content_filter",
          "content_filtered": "content_filter", "model_context_window_exceeded": "length"}
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg",
                  "image/gif": "gif", "image/webp": "webp"}
_enc = msgspec.json.Encoder()


def _refuse(what: str) -> ProviderBadRequest:
    return ProviderBadRequest(f"Bedrock cannot take this request: {what}")


# --- request ---------------------------------------------------------------------------


def _data_url(url: str) -> tuple[str, str]:
    """``(media type, base64 data)`` of a ``data:`` URL."""
    head, sep, data = url[5:].partition(",")
    if not url.startswith("data:") or not sep or ";base64" not in head:
        raise _refuse("images and files must be inline base64 data: URLs.")
    return head.split(";", 1)[0], data


def _block(part: JSON, n_docs: list[int]) -> JSON | None:
    kind = part.get("type")
    if kind == "text":
        text = part.get("text") or ""
        return {"text": text} if text else None
    if kind == "image_url":
        ref = part.get("image_url")
        url = ref.get("url", "") if isinstance(ref, dict) else str(ref or "")
        media, data = _data_url(url)
        fmt = _IMAGE_FORMATS.get(media)
        if fmt is None:
            raise _refuse(f"images of type {media!r} are not supported.")
        return {"image": {"format": fmt, "source": {"bytes": data}}}
    if kind == "file":
        f = part.get("file") or {}
        media, data = _data_url(f.get("file_data") or "")
        if media != "application/pdf":
            raise _refuse("files must be inline PDFs.")
        n_docs[0] += 1
        return {"document": {"format": "pdf", "name": f"document-{n_docs[0]}",
                             "source": {"bytes": data}}}
    raise _refuse(f"content parts of type {kind!r} are not supported.")


def _blocks(content: str | list[JSON] | None, n_docs: list[int]) -> list[JSON]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"text": content}]
    return [b for p in content if (b := _block(p, n_docs)) is not None]


def _args(arguments: str | None) -> Any:
    try:
        return msgspec.json.decode(arguments or "{}")
    except msgspec.DecodeError:
        raise _refuse("an earlier tool call's arguments are not valid JSON.") from None


def _tool_result(m: Message) -> JSON:
    text = m.text()
    return {"toolResult": {"toolUseId": m.tool_call_id or "", "content": [{"text": text or " "}]}}


def _turns(req: ChatRequest) -> tuple[list[JSON], list[JSON], bool]:
    """System blocks, the turns, and whether the history holds tool calls or results."""
    system: list[JSON] = []
    turns: list[JSON] = []
    has_tools = False
    n_docs = [0]
    for m in req.messages:
        if m.role in ("system", "developer"):
            system.extend(b for b in _blocks(m.content, n_docs) if "text" in b)
            continue
        if m.role in ("tool", "function"):
            role, blocks = "user", [_tool_result(m)]
            has_tools = True
        elif m.role == "user":
            role, blocks = "user", _blocks(m.content, n_docs)
        elif m.role == "assistant":
            role, blocks = "assistant", _blocks(m.content, n_docs)
            for i, tc in enumerate(m.tool_calls or ()):
                blocks.append({"toolUse": {"toolUseId": tc.id or f"call_{i}",
                                           "name": tc.function.name or "",
                                           "input": _args(tc.function.arguments)}})
                has_tools = True
        else:
            raise _refuse(f"messages with the role {m.role!r} have no Bedrock equivalent.")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for t in turns:
        if t["role"] == "user" and len(t["content"]) > 1:
            t["content"].sort(key=lambda b: "toolResult" not in b)  # stable: results first
    return system, turns, has_tools


def _tool_config(req: ChatRequest, has_tools: bool) -> JSON | None:
    specs = function_tools(req, _refuse)
    if not specs:
        return None
    choice = req.tool_choice if req.tool_choice is not None else req.function_call
    if choice == "none" and not has_tools:
        return None
    tools = []
    for t in specs:
        spec: JSON = {k: v for k, v in t.items() if k != "input_schema"}
        spec["inputSchema"] = {"json": t["input_schema"]}
        tools.append({"toolSpec": spec})
    config: JSON = {"tools": tools}
    if choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        if not name:
            raise _refuse("tool_choice names no function.")
        config["toolChoice"] = {"tool": {"name": name}}
    return config


def to_converse(req: ChatRequest) -> JSON:
    """The Converse body for ``req`` (see the module docstring)."""
    if req.n is not None and req.n > 1:
        raise _refuse("`n` must be 1 (one answer per request).")
    if req.audio is not None or (req.modalities and "audio" in req.modalities):
        raise _refuse("audio output is not supported.")
    system, turns, has_tools = _turns(req)
    note = format_note(req.response_format)
    if note:
        system.append({"text": note})
    body: JSON = {"messages": turns}
    if system:
        body["system"] = system
    inference: JSON = {}
    for key, value in (("maxTokens", req.output_limit()), ("temperature", req.temperature),
                       ("topP", req.top_p)):
        if value is not None:
            inference[key] = value
    if req.stop is not None:
        inference["stopSequences"] = [req.stop] if isinstance(req.stop, str) else req.stop
    if inference:
        body["inferenceConfig"] = inference
    tools = _tool_config(req, has_tools)
    if tools is not None:
        body["toolConfig"] = tools
    return body


# --- answers ---------------------------------------------------------------------------


class _ToolUse(msgspec.Struct, rename="camel"):
    tool_use_id: str = ""
    name: str = ""
    input: Any = None


class _ReasoningText(msgspec.Struct):
    text: str = ""


class _Reasoning(msgspec.Struct, rename="camel"):
    reasoning_text: _ReasoningText | None = None


class _Block(msgspec.Struct, rename="camel"):
    text: str | None = None
    tool_use: _ToolUse | None = None
    reasoning_content: _Reasoning | None = None


class _Message(msgspec.Struct):
    role: str = "assistant"
    content: list[_Block] = []


class _Output(msgspec.Struct):
    message: _Message | None = None


class ConverseUsage(msgspec.Struct, rename="camel"):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0


class ConverseResponse(msgspec.Struct, rename="camel"):
    output: _Output | None = None
    stop_reason: str | None = None
    usage: ConverseUsage | None = None


response_decoder = msgspec.json.Decoder(ConverseResponse)


def usage_of(u: ConverseUsage | None) -> Usage | None:
    """As OpenAI counts it; Converse counts input tokens without cache reads and writes,
    as Anthropic does."""
    if u is None:
        return None
    return canonical_usage(AUsage(
        input_tokens=u.input_tokens, output_tokens=u.output_tokens,
        cache_read_input_tokens=u.cache_read_input_tokens or None,
        cache_creation_input_tokens=u.cache_write_input_tokens or None))


def finish_reason(stop: str | None) -> str:
    return FINISH.get(stop or "", "stop")


def _call_id(tool_use_id: str) -> str:
    return tool_use_id or "call_" + new_id()[8:]


def to_response(r: ConverseResponse, model: str) -> ChatResponse:
    blocks = r.output.message.content if r.output and r.output.message else []
    text = [b.text for b in blocks if b.text is not None]
    reasoning = [b.reasoning_content.reasoning_text.text for b in blocks
                 if b.reasoning_content and b.reasoning_content.reasoning_text]
    calls = [ToolCall(id=_call_id(b.tool_use.tool_use_id), type="function",
                      function=FunctionCall(name=b.tool_use.name,
                                            arguments=_enc.encode(b.tool_use.input or {}).decode()))
             for b in blocks if b.tool_use is not None]
    joined = "".join(text)
    msg = Message(role="assistant", content=joined if joined or not calls else None,
                  tool_calls=calls or None, reasoning_content="".join(reasoning) or None)
    return ChatResponse(id="chatcmpl-" + new_id()[8:], model=model, created=int(time.time()),
                        choices=[Choice(message=msg, finish_reason=finish_reason(r.stop_reason))],
                        usage=usage_of(r.usage))


# --- streams ---------------------------------------------------------------------------


class _StartToolUse(msgspec.Struct, rename="camel"):
    tool_use_id: str = ""
    name: str = ""


class _Start(msgspec.Struct, rename="camel"):
    tool_use: _StartToolUse | None = None


class _DeltaToolUse(msgspec.Struct):
    input: str = ""


class _DeltaReasoning(msgspec.Struct):
    text: str | None = None


class _BlockDelta(msgspec.Struct, rename="camel"):
    text: str | None = None
    tool_use: _DeltaToolUse | None = None
    reasoning_content: _DeltaReasoning | None = None


class StreamEvent(msgspec.Struct, rename="camel"):
    """Any ConverseStream event's payload (each kind uses some of the fields)."""

    role: str | None = None
    content_block_index: int = 0
    start: _Start | None = None
    delta: _BlockDelta | None = None
    stop_reason: str | None = None
    usage: ConverseUsage | None = None


event_decoder = msgspec.json.Decoder(StreamEvent)


class StreamState:
    """ConverseStream events → canonical chunks, for one stream.

    ``messageStart`` gives the role chunk; a ``toolUse`` block start opens a tool call
    (numbered from 0 in order of appearance) whose ``input`` deltas are its arguments;
    ``messageStop`` gives the finish reason; ``metadata`` (the last event) the usage,
    after which :attr:`done` is true.
    """

    __slots__ = ("created", "done", "id", "model", "tools")

    def __init__(self, model: str) -> None:
        self.id = "chatcmpl-" + new_id()[8:]
        self.model = model
        self.created = int(time.time())
        self.tools: dict[int, int] = {}  # content block index -> tool call index
        self.done = False

    def _chunk(self, delta: Delta | None = None, finish: str | None = None) -> ChatChunk:
        return ChatChunk(id=self.id, model=self.model, created=self.created,
                         choices=[ChunkChoice(delta=delta or Delta(), finish_reason=finish)])

    def feed(self, event_type: str, payload: bytes) -> ChatChunk | None:
        handle = _HANDLERS.get(event_type)
        if handle is None:
            return None  # contentBlockStop, and event types newer than this adapter
        try:
            ev = event_decoder.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise ProviderBadResponse() from None
        return handle(self, ev)

    def _start(self, ev: StreamEvent) -> ChatChunk:
        return self._chunk(Delta(role="assistant", content=""))

    def _block_start(self, ev: StreamEvent) -> ChatChunk | None:
        tool = ev.start.tool_use if ev.start else None
        if tool is None:
            return None
        n = self.tools[ev.content_block_index] = len(self.tools)
        return self._chunk(Delta(tool_calls=[ToolCall(
            index=n, id=_call_id(tool.tool_use_id), type="function",
            function=FunctionCall(name=tool.name, arguments=""))]))

    def _stop(self, ev: StreamEvent) -> ChatChunk:
        return self._chunk(finish=finish_reason(ev.stop_reason))

    def _metadata(self, ev: StreamEvent) -> ChatChunk:
        self.done = True
        return ChatChunk(id=self.id, model=self.model, created=self.created, choices=[],
                         usage=usage_of(ev.usage) or Usage())

    def _delta(self, ev: StreamEvent) -> ChatChunk | None:
        d = ev.delta
        if d is None:
            return None
        if d.text is not None:
            return self._chunk(Delta(content=d.text))
        if d.tool_use is not None:
            n = self.tools.get(ev.content_block_index)
            if n is None or not d.tool_use.input:
                return None
            return self._chunk(Delta(tool_calls=[ToolCall(
                index=n, function=FunctionCall(arguments=d.tool_use.input))]))
        if d.reasoning_content is not None and d.reasoning_content.text:
            return self._chunk(Delta(reasoning_content=d.reasoning_content.text))
        return None


_HANDLERS: dict[str, Callable[[StreamState, StreamEvent], ChatChunk | None]] = {
    "messageStart": StreamState._start, "contentBlockStart": StreamState._block_start,
    "contentBlockDelta": StreamState._delta, "messageStop": StreamState._stop,
    "metadata": StreamState._metadata,
}

# --- errors ----------------------------------------------------------------------------

# Bedrock's error names (``x-amzn-ErrorType`` on HTTP answers, ``:exception-type`` in
# streams, where they start lower-case) → the gateway's errors and the HTTP status.
ERROR_TYPES: dict[str, tuple[type[ProviderError], int]] = {
    "throttlingexception": (ProviderRateLimited, 429),
    "servicequotaexceededexception": (ProviderRateLimited, 429),
    "modelnotreadyexception": (ProviderRateLimited, 429),
    "toomanyrequestsexception": (ProviderRateLimited, 429),
    "validationexception": (ProviderBadRequest, 400),
    "resourcenotfoundexception": (ProviderBadRequest, 404),
    "accessdeniedexception": (ProviderAuthError, 403),
    "unrecognizedclientexception": (ProviderAuthError, 403),
    "invalidsignatureexception": (ProviderAuthError, 403),
    "incompletesignatureexception": (ProviderAuthError, 403),
    "missingauthenticationtokenexception": (ProviderAuthError, 403),
    "expiredtokenexception": (ProviderAuthError, 403),
    "modeltimeoutexception": (ProviderTimeout, 408),
    "modelerrorexception": (ProviderServerError, 424),
    "modelstreamerrorexception": (ProviderServerError, 424),
    "internalserverexception": (ProviderServerError, 500),
    "serviceunavailableexception": (ProviderServerError, 503),
}


def aws_message(body: bytes) -> str | None:
    """The ``message`` (or ``Message``) of a Bedrock error body, scrubbed."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if not isinstance(data, dict):
        return None
    msg = data.get("message", data.get("Message"))
    return scrub(msg) if isinstance(msg, str) else None


def error_of(kind: str, body: bytes, retry_after_s: float | None = None) -> ProviderError | None:
    """The gateway's error for a Bedrock error name, or ``None`` for an unknown name."""
    entry = ERROR_TYPES.get(kind.split(":", 1)[0].strip().lower())
    if entry is None:
        return None
    cls, status = entry
    if cls is ProviderBadRequest:
        msg = aws_message(body)
        return ProviderBadRequest(
            f"The AI provider could not process this request: {msg}" if msg else None,
            provider_status=status)
    if cls in (ProviderRateLimited, ProviderServerError):
        return cls(provider_status=status, retry_after_s=retry_after_s)
    return cls(provider_status=status)


def stream_exception(kind: str, payload: bytes) -> ProviderError:
    """The gateway's error for an ``exception`` message in a ConverseStream."""
    return error_of(kind, payload) or ProviderServerError(provider_status=500)
