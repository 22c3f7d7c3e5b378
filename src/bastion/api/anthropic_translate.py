"""Front-door translation: an Anthropic Messages request → the canonical ChatRequest,
and the canonical answer → an Anthropic ``message``.

Mapping (Anthropic → canonical):

* ``system`` (string or text blocks) → a leading ``system`` message.
* user blocks: ``text`` → text part; ``image`` (base64 / url) → ``image_url`` part
  (a ``data:`` URL for base64); ``document`` (text, content, or base64 PDF) → text
  parts or a ``file`` part; ``tool_result`` → a ``tool`` message (placed before the
  rest of that turn, as Anthropic orders them), images inside it → the user turn.
* assistant blocks: ``text`` → content, ``tool_use`` → ``tool_calls`` (input as JSON
  text), ``thinking`` → ``reasoning_content``; ``redacted_thinking`` is dropped.
* ``tools`` → function tools; ``tool_choice`` auto/any/tool/none → auto/required/
  function/none, ``disable_parallel_tool_use`` → ``parallel_tool_calls: false``.
* ``max_tokens`` → ``max_completion_tokens``; ``stop_sequences`` → ``stop``;
  ``metadata.user_id`` → ``user``; ``output_config.format`` (json_schema) →
  ``response_format``; the Anthropic-only parameters (``top_k``, ``thinking``,
  ``output_config``, … see :data:`~bastion.api.anthropic_wire.PASSTHROUGH`) → the
  :class:`~bastion.api.anthropic_wire.AnthropicChannel`, unchanged.
"""

from __future__ import annotations

from typing import Any

import msgspec

from bastion.api.anthropic_wire import (
    PASSTHROUGH,
    AMessage,
    AnthropicChannel,
    Block,
    InMessage,
    MessagesRequest,
    anthropic_usage,
    stop_reason,
)
from bastion.api.common import check_model
from bastion.core.errors import InvalidRequest
from bastion.core.types import JSON, ChatRequest, ChatResponse, FunctionCall, Message, ToolCall

_enc = msgspec.json.Encoder()
MAX_OUTPUT_TOKENS = 10_000_000  # as the OpenAI door: far above any model, catches nonsense


def validate(req: MessagesRequest) -> None:
    """What Anthropic checks before answering (the rest is the provider's business)."""
    if req.max_tokens is None:
        raise InvalidRequest("max_tokens: Field required. Give `max_tokens`, the most "
                             "tokens the answer may use.", param="max_tokens")
    if not 1 <= req.max_tokens <= MAX_OUTPUT_TOKENS:
        raise InvalidRequest(f"`max_tokens` must be at least 1 (and at most "
                             f"{MAX_OUTPUT_TOKENS:,}).", param="max_tokens")
    check_model(req.model)
    if not req.messages:
        raise InvalidRequest("Give at least one message in `messages`.", param="messages")
    if req.temperature is not None and not 0.0 <= req.temperature <= 1.0:
        raise InvalidRequest("`temperature` must be between 0 and 1.", param="temperature")
    if req.top_p is not None and not 0.0 <= req.top_p <= 1.0:
        raise InvalidRequest("`top_p` must be between 0 and 1.", param="top_p")
    if req.top_k is not None and req.top_k < 0:
        raise InvalidRequest("`top_k` must not be negative.", param="top_k")
    user = (req.metadata or {}).get("user_id")
    if user is not None and not isinstance(user, str):
        raise InvalidRequest("`metadata.user_id` must be a string.", param="metadata.user_id")


def to_canonical(req: MessagesRequest) -> tuple[ChatRequest, AnthropicChannel]:
    """The canonical request for ``req`` and its channel of Anthropic-only parameters."""
    msgs: list[Message] = []
    ch = AnthropicChannel()
    if req.system:
        msgs.append(Message(role="system", content=_system(req.system)))
    assistants = 0
    for i, m in enumerate(req.messages):
        if m.role == "user":
            _user_turn(m, i, msgs, ch)
        elif m.role == "assistant":
            msgs.append(_assistant_turn(m, i, assistants, ch))
            assistants += 1
        else:
            raise InvalidRequest(f"messages[{i}].role must be 'user' or 'assistant'; put "
                                 "system instructions in the top-level `system` field.",
                                 param=f"messages[{i}].role")
    tools = [_tool(t, i) for i, t in enumerate(req.tools)] if req.tools else None
    tool_choice, parallel = _tool_choice(req.tool_choice, tools)
    fmt = (req.output_config or {}).get("format")
    response_format = ({"type": "json_schema", "json_schema": {
        "name": "output", "schema": fmt.get("schema") or {}}}
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None)
    user = (req.metadata or {}).get("user_id")
    out = ChatRequest(
        model=req.model, messages=msgs, stream=req.stream or None,
        max_completion_tokens=req.max_tokens, temperature=req.temperature, top_p=req.top_p,
        stop=req.stop_sequences or None, tools=tools, tool_choice=tool_choice,
        parallel_tool_calls=parallel, user=user if isinstance(user, str) else None,
        response_format=response_format, documents=req.documents,
    )
    for name in PASSTHROUGH:
        value = getattr(req, name)
        if value is not None:
            ch.params[name] = value
    return out, ch


def _system(system: str | list[Block]) -> str | list[JSON]:
    if isinstance(system, str):
        return system
    parts: list[JSON] = [{"type": "text", "text": b.text or ""} for b in system
                         if b.type == "text"]
    if len(parts) == 1:
        return str(parts[0]["text"])
    return parts


def _user_turn(m: InMessage, i: int, out: list[Message], ch: AnthropicChannel) -> None:
    if isinstance(m.content, str):
        out.append(Message(role="user", content=m.content))
        return
    parts: list[JSON] = []
    for j, b in enumerate(m.content):
        if b.type == "tool_result":
            if b.is_error and b.tool_use_id:
                ch.tool_errors.add(b.tool_use_id)
            out.append(_tool_result(b, parts, f"messages[{i}].content[{j}]"))
        else:
            new = _parts(b, f"messages[{i}].content[{j}]")
            if b.type == "document" and len(new) == 1 and new[0]["type"] == "text":
                ch.documents[new[0]["text"]] = b  # keeps title, context, citations
            parts.extend(new)
    if len(parts) == 1 and parts[0]["type"] == "text":
        out.append(Message(role="user", content=parts[0]["text"]))
    elif parts:
        out.append(Message(role="user", content=parts))


def _tool_result(b: Block, user_parts: list[JSON], where: str) -> Message:
    if not b.tool_use_id:
        raise InvalidRequest(f"{where}.tool_use_id: Field required.", param=where)
    c = b.content
    if c is None or isinstance(c, str):
        text = c or ""
    else:
        texts: list[str] = []
        for k, inner in enumerate(c):
            for p in _parts(inner, f"{where}.content[{k}]"):
                if p["type"] == "text":
                    texts.append(p["text"])
                else:  # OpenAI tool messages carry text only: images go to the user turn
                    user_parts.append(p)
        text = "\n".join(texts)
    return Message(role="tool", tool_call_id=b.tool_use_id, content=text)


def _parts(b: Block, where: str) -> list[JSON]:
    """Canonical content parts for one user-side block."""
    if b.type == "text":
        if b.text is None:
            raise InvalidRequest(f"{where}.text: Field required.", param=f"{where}.text")
        return [{"type": "text", "text": b.text}]
    src = b.source or {}
    parts = None
    if b.type == "image":
        parts = _image(src, where)
    elif b.type == "document":
        parts = _document(b, src, where)
    else:
        raise InvalidRequest(f"{where}: content blocks of type {b.type!r} are not supported "
                             "in user messages by this gateway.", param=where)
    if parts is None:
        raise InvalidRequest(f"{where}: {b.type} sources of type {src.get('type')!r} are not "
                             "supported by this gateway; send it inline (base64 or text).",
                             param=where)
    return parts


def _text_field(src: JSON, name: str, where: str, default: str | None = None) -> str:
    """``src[name]`` as a string (``default`` when absent and allowed), else a 400."""
    value = src.get(name, default)
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}.source.{name} must be a string.",
                             param=f"{where}.source.{name}")
    return value


def _image(src: JSON, where: str) -> list[JSON] | None:
    if src.get("type") == "base64":
        media = _text_field(src, "media_type", where, "image/png")
        url = f"data:{media};base64,{_text_field(src, 'data', where)}"
    elif src.get("type") == "url":
        url = _text_field(src, "url", where)
    else:
        return None
    return [{"type": "image_url", "image_url": {"url": url}}]


def _document(b: Block, src: JSON, where: str) -> list[JSON] | None:
    kind = src.get("type")
    if kind == "text":
        return [{"type": "text", "text": _text_field(src, "data", where)}]
    if kind == "content":
        inner = src.get("content")
        if isinstance(inner, str):
            return [{"type": "text", "text": inner}]
        try:
            blocks = msgspec.convert(inner or [], list[Block])
        except msgspec.ValidationError:
            raise InvalidRequest(f"{where}.source.content must be a string or a list of "
                                 "content blocks.", param=f"{where}.source.content") from None
        return [p for k, x in enumerate(blocks) for p in _parts(x, f"{where}.source[{k}]")]
    if kind == "base64" and src.get("media_type") == "application/pdf":
        return [{"type": "file", "file": {
            "filename": b.title or "document.pdf",
            "file_data": f"data:application/pdf;base64,{_text_field(src, 'data', where)}"}}]
    return None


def _assistant_turn(m: InMessage, i: int, n: int, ch: AnthropicChannel) -> Message:
    """The ``n``-th assistant turn; its thinking blocks (with signatures) are kept in
    ``ch`` so an Anthropic provider gets them back verbatim."""
    if isinstance(m.content, str):
        return Message(role="assistant", content=m.content)
    text: list[str] = []
    calls: list[ToolCall] = []
    reasoning: list[str] = []
    kept = [b for b in m.content if b.type in ("thinking", "redacted_thinking")]
    if kept:
        ch.thinking_in[n] = kept
    for j, b in enumerate(m.content):
        if b.type == "text":
            text.append(b.text or "")
        elif b.type == "tool_use":
            if not b.id or not b.name:
                where = f"messages[{i}].content[{j}]"
                raise InvalidRequest(f"{where}: a tool_use block needs an `id` and a `name`.",
                                     param=where)
            args = _enc.encode(b.input if b.input is not None else {}).decode()
            calls.append(ToolCall(id=b.id, type="function",
                                  function=FunctionCall(name=b.name, arguments=args)))
        elif b.type == "thinking":
            reasoning.append(b.thinking or "")
        elif b.type != "redacted_thinking":
            where = f"messages[{i}].content[{j}]"
            raise InvalidRequest(f"{where}: content blocks of type {b.type!r} are not "
                                 "supported in assistant messages by this gateway.", param=where)
    joined = "".join(text)
    return Message(role="assistant", content=joined if joined or not calls else None,
                   tool_calls=calls or None,
                   reasoning_content="".join(reasoning) if reasoning else None)


def _tool(t: JSON, i: int) -> JSON:
    kind = t.get("type")
    if kind not in (None, "custom"):
        raise InvalidRequest(f"tools[{i}]: Anthropic server tools ({kind!r}) are not supported "
                             "by this gateway; define a custom tool instead.",
                             param=f"tools[{i}].type")
    name = t.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"tools[{i}].name: Field required.", param=f"tools[{i}].name")
    fn: JSON = {"name": name}
    desc = t.get("description")
    if desc is not None and not isinstance(desc, str):
        raise InvalidRequest(f"tools[{i}].description must be a string.",
                             param=f"tools[{i}].description")
    if desc:
        fn["description"] = desc
    schema = t.get("input_schema")
    if schema is not None and not isinstance(schema, dict):
        raise InvalidRequest(f"tools[{i}].input_schema must be a JSON Schema object.",
                             param=f"tools[{i}].input_schema")
    fn["parameters"] = schema or {"type": "object", "properties": {}}
    return {"type": "function", "function": fn}


def _tool_choice(tc: JSON | None,
                 tools: list[JSON] | None) -> tuple[str | JSON | None, bool | None]:
    if tc is None or not tools:
        return None, None
    parallel = False if tc.get("disable_parallel_tool_use") else None
    kind = tc.get("type")
    if kind == "auto":
        return "auto", parallel
    if kind == "any":
        return "required", parallel
    if kind == "none":
        return "none", None
    if kind == "tool" and isinstance(tc.get("name"), str):
        if all(t["function"]["name"] != tc["name"] for t in tools):
            raise InvalidRequest("`tool_choice` names a tool that is not in `tools`.",
                                 param="tool_choice.name")
        return {"type": "function", "function": {"name": tc["name"]}}, parallel
    raise InvalidRequest("`tool_choice` must be of type auto, any, tool (with a name) or none.",
                         param="tool_choice")


# ---- canonical answer -> Anthropic message ------------------------------------------------


def tool_input(arguments: str | None) -> Any:
    """A tool call's JSON arguments as Anthropic's ``input`` object."""
    if not arguments:
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        return {"_raw_arguments": arguments}  # the model wrote broken JSON: keep it visible
    return value if isinstance(value, dict) else {"_value": value}


def message_id(canonical_id: str) -> str:
    return canonical_id if canonical_id.startswith("msg_") else (
        "msg_" + canonical_id.removeprefix("chatcmpl-"))


def to_anthropic(resp: ChatResponse, alias: str, ch: AnthropicChannel | None) -> AMessage:
    """The Anthropic ``message`` for a canonical answer (its first choice)."""
    blocks: list[Block] = []
    finish = None
    if resp.choices:
        choice = resp.choices[0]
        finish = choice.finish_reason
        msg = choice.message
        kept = ch.thinking_out if ch is not None else []
        if kept and (msg.reasoning_content or "") == "".join(b.thinking or "" for b in kept):
            blocks.extend(kept)  # with their signatures, redacted blocks included
        elif msg.reasoning_content:
            blocks.append(Block(type="thinking", thinking=msg.reasoning_content, signature=""))
        text = msg.text() or msg.refusal
        cited = ch.text_out if ch is not None else []
        if cited and text == "".join(b.text or "" for b in cited):
            blocks.extend(cited)  # the provider's text blocks, citations included
        elif text:
            blocks.append(Block(type="text", text=text))
        for n, tc in enumerate(msg.tool_calls or ()):
            blocks.append(Block(type="tool_use", id=tc.id or f"toolu_{resp.id}_{n}",
                                name=tc.function.name or "",
                                input=tool_input(tc.function.arguments)))
    reason = stop_reason(finish, ch)
    return AMessage(id=message_id(resp.id), content=blocks, model=alias, stop_reason=reason,
                    stop_sequence=ch.stop_sequence if reason == "stop_sequence" and ch else None,
                    usage=anthropic_usage(resp.usage))
