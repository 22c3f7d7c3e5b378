"""Adapter-side translation: canonical ChatRequest → Anthropic Messages request, and
Anthropic answers (JSON and stream events) → canonical responses and chunks.

Mapping (canonical → Anthropic):

* ``system``/``developer`` messages → ``system`` (wherever they stand);
  ``response_format`` (json_object / json_schema) → an instruction appended to it,
  a best effort since the Messages API has no JSON mode outside a beta.
* ``tool`` messages → ``tool_result`` blocks in a user turn; consecutive user-side
  messages merge into one turn with tool results first, as Anthropic requires.
* assistant ``tool_calls`` → ``tool_use`` blocks; ``reasoning_content`` is dropped
  (a thinking block without its signature is refused) unless the Anthropic front
  door kept the client's signed thinking blocks for that turn (see the channel in
  :mod:`bastion.api.anthropic_wire`); likewise ``is_error`` on tool results and
  documents with citations come back from the channel.
* ``image_url`` parts → ``image`` blocks (``data:`` URLs → base64, others → url);
  PDF ``file`` parts → ``document`` blocks.
* ``max_tokens`` defaults to :data:`DEFAULT_MAX_TOKENS`; ``temperature`` is capped
  at 1 (Anthropic's range); ``stop`` → ``stop_sequences``; ``user`` →
  ``metadata.user_id``; ``n`` > 1, audio and non-function tools are refused.
* the request's :class:`~bastion.api.anthropic_wire.AnthropicChannel` adds the
  Anthropic-only parameters the client gave (``top_k``, ``thinking``,
  ``output_config``, …) unchanged; with ``output_config`` no JSON note is added.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec

from bastion.api.anthropic_wire import (
    EVENT_DECODERS,
    FINISH_REASON,
    AMessage,
    AnthropicChannel,
    AUsage,
    Block,
    ContentBlockDelta,
    ContentBlockStart,
    InMessage,
    MessageDelta,
    MessagesRequest,
    MessageStart,
    canonical_usage,
)
from bastion.core.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
)
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
from bastion.providers.http import vendor_message

DEFAULT_MAX_TOKENS = 4096
_enc = msgspec.json.Encoder()


def _refuse(what: str) -> ProviderBadRequest:
    return ProviderBadRequest(f"Anthropic models cannot take this request: {what}")


# ---- canonical request -> Anthropic ------------------------------------------------------


def build_request(req: ChatRequest, model: str, stream: bool,
                  ch: AnthropicChannel | None) -> MessagesRequest:
    """The Messages API body for ``req`` (see the module docstring for the mapping)."""
    if req.n is not None and req.n > 1:
        raise _refuse("`n` must be 1 (one answer per request).")
    system, turns = _turns(req.messages, ch)
    params = ch.params if ch is not None else {}
    note = None if "output_config" in params else format_note(req.response_format)
    if note:
        system.append(Block(type="text", text=note))
    tools, choice = _tools(req)
    user = req.user or req.safety_identifier
    stop = [req.stop] if isinstance(req.stop, str) else req.stop
    return MessagesRequest(  # params holds PASSTHROUGH field names only
        **params, model=model, messages=turns, max_tokens=req.output_limit() or DEFAULT_MAX_TOKENS,
        system=_system(system), stop_sequences=stop or None, stream=True if stream else None,
        temperature=None if req.temperature is None else min(req.temperature, 1.0),
        top_p=req.top_p, metadata={"user_id": user} if user else None, tools=tools,
        tool_choice=choice,
    )


def _turns(messages: list[Message],
           ch: AnthropicChannel | None = None) -> tuple[list[Block], list[InMessage]]:
    """System blocks, and the conversation as alternating user/assistant turns. Blocks the
    Anthropic front door kept in ``ch`` (thinking with signatures, ``is_error``, documents)
    are restored where the canonical text they became is unchanged."""
    ch = ch or AnthropicChannel()
    system: list[Block] = []
    turns: list[InMessage] = []
    assistants = 0
    for m in messages:
        if m.role in ("system", "developer"):
            system.extend(_blocks(m.content))
            continue
        if m.role == "tool":
            tid = m.tool_call_id or ""
            role, blocks = "user", [Block(type="tool_result", tool_use_id=tid,
                                          content=_blocks(m.content) or None,
                                          is_error=True if tid in ch.tool_errors else None)]
        elif m.role == "user":
            role, blocks = "user", [ch.documents.get(b.text or "", b) if b.type == "text"
                                    else b for b in _blocks(m.content)]
        elif m.role == "assistant":
            role, blocks = "assistant", _assistant_blocks(m)
            kept = ch.thinking_in.get(assistants, [])
            if kept and (m.reasoning_content or "") == "".join(b.thinking or "" for b in kept):
                blocks = [*kept, *blocks]  # thinking first, as Anthropic requires
            assistants += 1
        else:
            raise _refuse(f"messages with the role {m.role!r} have no Anthropic equivalent.")
        if not blocks:
            continue
        last = turns[-1] if turns else None
        if last is not None and last.role == role and isinstance(last.content, list):
            last.content.extend(blocks)
        else:
            turns.append(InMessage(role=role, content=blocks))
    for t in turns:
        if t.role == "user" and isinstance(t.content, list) and len(t.content) > 1:
            t.content.sort(key=lambda b: b.type != "tool_result")  # stable: results first
    return system, turns


def _system(blocks: list[Block]) -> str | list[Block] | None:
    if not blocks:
        return None
    if len(blocks) == 1 and blocks[0].cache_control is None:
        return blocks[0].text
    return blocks


def _blocks(content: str | list[JSON] | None) -> list[Block]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [Block(type="text", text=content)]
    return [b for p in content if (b := _block(p)) is not None]


def _block(part: JSON) -> Block | None:
    kind = part.get("type")
    if kind == "text":
        text = part.get("text") or ""
        return Block(type="text", text=text) if text else None
    if kind == "image_url":
        ref = part.get("image_url")
        url = ref.get("url", "") if isinstance(ref, dict) else str(ref or "")
        return Block(type="image", source=_source(url))
    if kind == "file":
        data = (part.get("file") or {}).get("file_data") or ""
        if data.startswith("data:application/pdf;base64,"):
            return Block(type="document", source=_source(data))
        raise _refuse("files must be inline PDFs (file_data as a data: URL).")
    raise _refuse(f"content parts of type {kind!r} are not supported.")


def _source(url: str) -> JSON:
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        media_type = head[5:].split(";", 1)[0]
        return {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "url", "url": url}


def _assistant_blocks(m: Message) -> list[Block]:
    blocks = _blocks(m.content)
    for i, tc in enumerate(m.tool_calls or ()):
        args = tc.function.arguments or "{}"
        try:
            value = msgspec.json.decode(args)
        except msgspec.DecodeError:
            raise _refuse("an earlier tool call's arguments are not valid JSON.") from None
        blocks.append(Block(type="tool_use", id=tc.id or f"call_{i}",
                            name=tc.function.name or "", input=value))
    return blocks


def function_tools(req: ChatRequest,
                   refuse: Callable[[str], Exception] = _refuse) -> list[JSON]:
    """The request's function tools (and legacy ``functions``) as Anthropic tool specs:
    ``name``, ``description`` when given, ``input_schema``; other tool types are refused.
    Bedrock's Converse takes the same three, under other names."""
    specs = list(req.tools or ()) + [{"type": "function", "function": f}
                                     for f in req.functions or ()]
    tools: list[JSON] = []
    for t in specs:
        fn = t.get("function")
        if t.get("type") != "function" or not isinstance(fn, dict):
            raise refuse(f"tools of type {t.get('type')!r} are not supported.")
        tool: JSON = {"name": fn.get("name", "")}
        if fn.get("description"):
            tool["description"] = fn["description"]
        tool["input_schema"] = fn.get("parameters") or {"type": "object", "properties": {}}
        tools.append(tool)
    return tools


def _tools(req: ChatRequest) -> tuple[list[JSON] | None, JSON | None]:
    tools = function_tools(req)
    if not tools:
        return None, None
    tc = req.tool_choice if req.tool_choice is not None else req.function_call
    choice: JSON | None = None
    if tc in ("auto", "none"):
        choice = {"type": tc}
    elif tc == "required":
        choice = {"type": "any"}
    elif isinstance(tc, dict):
        name = (tc.get("function") or {}).get("name") or tc.get("name")
        choice = {"type": "tool", "name": name}
    if req.parallel_tool_calls is False and (choice is None or choice["type"] != "none"):
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    return tools, choice


def format_note(fmt: JSON | None) -> str | None:
    kind = (fmt or {}).get("type")
    if kind == "json_object":
        return "Answer with one valid JSON object and nothing else."
    if kind == "json_schema":
        schema = (fmt or {}).get("json_schema", {}).get("schema", {})
        return ("Answer with one JSON object and nothing else. It must match this JSON "
                "Schema: " + _enc.encode(schema).decode())
    return None


# ---- Anthropic answers -> canonical ------------------------------------------------------


def to_chat_response(msg: AMessage, ch: AnthropicChannel | None) -> ChatResponse:
    """The canonical response for an Anthropic ``message``."""
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    if ch is not None:  # what the canonical answer flattens, for the Anthropic front door
        ch.thinking_out = [b for b in msg.content
                           if b.type in ("thinking", "redacted_thinking")]
        texts = [b for b in msg.content if b.type == "text"]
        ch.text_out = texts if any(b.citations for b in texts) else []
    for b in msg.content:
        if b.type == "text":
            text.append(b.text or "")
        elif b.type == "tool_use":
            calls.append(ToolCall(id=b.id, type="function", function=FunctionCall(
                name=b.name, arguments=_enc.encode(b.input or {}).decode())))
        elif b.type == "thinking":
            reasoning.append(b.thinking or "")
    if ch is not None and msg.stop_reason == "stop_sequence":
        ch.stop_sequence = msg.stop_sequence
    joined = "".join(text)
    message = Message(role="assistant", content=joined if joined or not calls else None,
                      tool_calls=calls or None,
                      reasoning_content="".join(reasoning) if reasoning else None)
    return ChatResponse(id=msg.id, model=msg.model, created=int(time.time()), choices=[
        Choice(message=message, finish_reason=FINISH_REASON.get(msg.stop_reason or "", "stop"))],
        usage=canonical_usage(msg.usage))


_STREAM_ERRORS: dict[str, tuple[type[ProviderError], int]] = {
    "overloaded_error": (ProviderServerError, 529),
    "api_error": (ProviderServerError, 500),
    "rate_limit_error": (ProviderRateLimited, 429),
    "timeout_error": (ProviderTimeout, 504),
    "authentication_error": (ProviderAuthError, 401),
    "permission_error": (ProviderAuthError, 403),
    "billing_error": (ProviderAuthError, 402),
    "invalid_request_error": (ProviderBadRequest, 400),
    "not_found_error": (ProviderBadRequest, 404),
    "request_too_large": (ProviderBadRequest, 413),
}


def stream_error(data: bytes) -> ProviderError:
    """The provider error for a mid-stream ``error`` event, by its ``error.type``."""
    try:
        body = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return ProviderBadResponse()
    err = body.get("error") if isinstance(body, dict) else None
    kind = err.get("type") if isinstance(err, dict) else None
    cls, status = _STREAM_ERRORS.get(kind or "", (ProviderServerError, 500))
    if cls is ProviderBadRequest:
        msg = vendor_message(data)
        return ProviderBadRequest(
            f"The AI provider could not process this request: {msg}" if msg else None,
            provider_status=status)
    return cls(provider_status=status)


class StreamReader:
    """Anthropic stream events → canonical chunks, for one stream.

    Tool-use blocks become tool calls numbered from 0 in order of appearance;
    usage from ``message_start`` and ``message_delta`` is sent as a final chunk
    without choices when ``message_stop`` arrives (then :attr:`done` is true).
    """

    __slots__ = ("ch", "created", "done", "id", "model", "tools", "usage")

    def __init__(self, ch: AnthropicChannel | None) -> None:
        self.ch = ch
        self.created = int(time.time())
        self.id = ""
        self.model = ""
        self.tools: dict[int, int] = {}  # block index -> tool-call index
        self.usage = Usage()
        self.done = False

    def _chunk(self, delta: Delta | None = None, finish: str | None = None) -> ChatChunk:
        return ChatChunk(id=self.id, model=self.model, created=self.created,
                         choices=[ChunkChoice(delta=delta or Delta(), finish_reason=finish)])

    def feed(self, event: str, data: bytes) -> ChatChunk | None:
        """The canonical chunk for one event, if it has one. Raises the provider error
        for ``error`` events and :class:`ProviderBadResponse` for unreadable ones."""
        if event == "error":
            raise stream_error(data)
        if event == "message_stop":
            self.done = True
            return ChatChunk(id=self.id, model=self.model, created=self.created, choices=[],
                             usage=self.usage)
        entry = _HANDLERS.get(event)
        if entry is None:  # ping, content_block_stop, and event types newer than this adapter
            return None
        decoder, handle = entry
        try:
            ev = decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise ProviderBadResponse() from None
        return handle(self, ev)

    def _start(self, ev: MessageStart) -> ChatChunk:
        m = ev.message
        self.id, self.model = m.id, m.model
        self.usage = canonical_usage(m.usage)
        if self.ch is not None:
            self.ch.input_tokens = m.usage.input_tokens
        return self._chunk(Delta(role="assistant", content=""))

    def _block_start(self, ev: ContentBlockStart) -> ChatChunk | None:
        b = ev.content_block
        if b.type == "tool_use":
            n = self.tools[ev.index] = len(self.tools)
            return self._chunk(Delta(tool_calls=[ToolCall(
                index=n, id=b.id, type="function",
                function=FunctionCall(name=b.name, arguments=""))]))
        if b.type == "text" and b.text:
            return self._chunk(Delta(content=b.text))
        return None

    def _delta(self, ev: ContentBlockDelta) -> ChatChunk | None:
        d = ev.delta
        if d.type == "text_delta":
            return self._chunk(Delta(content=d.text or ""))
        if d.type == "input_json_delta":
            n = self.tools.get(ev.index)
            if n is None or not d.partial_json:
                return None
            return self._chunk(Delta(tool_calls=[ToolCall(
                index=n, function=FunctionCall(arguments=d.partial_json))]))
        if d.type == "thinking_delta":
            return self._chunk(Delta(reasoning_content=d.thinking or ""))
        if self.ch is not None:  # relayed by the Anthropic front door, in order
            if d.type == "signature_delta" and d.signature:
                self.ch.signatures.append(d.signature)
            elif d.type == "citations_delta" and d.citation is not None:
                self.ch.citations.append(d.citation)
        return None

    def _message_delta(self, ev: MessageDelta) -> ChatChunk:
        u = ev.usage
        prompt = self.usage
        if u.input_tokens is not None:  # newer APIs repeat cumulative input counts here
            d = prompt.prompt_tokens_details or {}
            read = u.cache_read_input_tokens
            written = u.cache_creation_input_tokens
            prompt = canonical_usage(AUsage(
                input_tokens=u.input_tokens,
                cache_read_input_tokens=d.get("cached_tokens") if read is None else read,
                cache_creation_input_tokens=(d.get("cache_creation_tokens") if written is None
                                             else written)))
        self.usage = Usage(prompt_tokens=prompt.prompt_tokens, completion_tokens=u.output_tokens,
                           total_tokens=prompt.prompt_tokens + u.output_tokens,
                           prompt_tokens_details=prompt.prompt_tokens_details)
        reason = ev.delta.stop_reason
        if self.ch is not None and reason == "stop_sequence":
            self.ch.stop_sequence = ev.delta.stop_sequence
        return self._chunk(finish=FINISH_REASON.get(reason or "", "stop"))


_HANDLERS: dict[str, tuple[msgspec.json.Decoder[Any],
                           Callable[[StreamReader, Any], ChatChunk | None]]] = {
    "message_start": (EVENT_DECODERS["message_start"], StreamReader._start),
    "content_block_start": (EVENT_DECODERS["content_block_start"], StreamReader._block_start),
    "content_block_delta": (EVENT_DECODERS["content_block_delta"], StreamReader._delta),
    "message_delta": (EVENT_DECODERS["message_delta"], StreamReader._message_delta),
}
