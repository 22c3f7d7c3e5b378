"""Responses API ⇄ canonical chat: the request on the way in, the answer on the way out.

Request (Responses → canonical ChatRequest):

* ``instructions`` → a leading ``system`` message; ``input`` as a string → one
  user message.
* input items: ``message`` (``role`` user/assistant/system/developer; content a
  string or ``input_text``/``output_text``/``input_image``/``input_file``/``refusal``
  parts) → a message; ``function_call`` items → ``tool_calls`` on the assistant
  message they follow (one is started if needed); ``function_call_output`` → a
  ``tool`` message; ``reasoning`` (its summary and text) → ``reasoning_content`` of
  the next assistant message, for providers that take reasoning back.
* ``tools`` (function tools only) → chat function tools; ``tool_choice`` →
  ``tool_choice``; ``text.format`` (``json_schema``/``json_object``) →
  ``response_format``; ``reasoning.effort`` → ``reasoning_effort``;
  ``max_output_tokens`` → ``max_completion_tokens``; ``top_logprobs`` → logprobs.
* Refused with 400, each with a reason: ``previous_response_id``, ``conversation``,
  ``prompt`` and ``item_reference`` items (the gateway keeps no conversation state:
  send the whole history in ``input``), ``background``, and hosted tools
  (web/file search, computer use, code interpreter, MCP…), which would run on the
  vendor's side, out of the gateway's sight, and the vendor-side ``moderation``
  policy. ``store`` is accepted and ignored (answers always say ``"store": false``);
  so are the hints ``include``, ``truncation``, ``max_tool_calls``,
  ``stream_options``, ``prompt_cache_retention``/``_options`` and
  ``context_management``.

Answer (canonical → Responses): reasoning → a ``reasoning`` item (summary text),
text → a ``message`` item with one ``output_text`` part (``refusal`` part for a
refusal), each tool call → a ``function_call`` item; ``finish_reason`` ``length``
→ ``status: incomplete`` (``max_output_tokens``), ``content_filter`` → incomplete
(``content_filter``); usage → ``input_tokens``/``output_tokens`` with details.
"""

from __future__ import annotations

import time
from typing import Any

from bastion.api.responses_wire import (
    FunctionCallItem,
    InputDetails,
    MessageItem,
    OutputDetails,
    OutputItem,
    OutputText,
    ReasoningItem,
    Refusal,
    Response,
    ResponsesRequest,
    ResponseUsage,
    SummaryText,
)
from bastion.core.errors import InvalidRequest
from bastion.core.ids import new_id
from bastion.core.types import JSON, ChatRequest, ChatResponse, FunctionCall, Message, ToolCall

_ROLES = frozenset(("user", "assistant", "system", "developer"))
_NO_STATE = ("This gateway keeps no conversation state, so `{}` cannot be used. Send the "
             "whole conversation in `input` instead: earlier messages, function_call items "
             "and their function_call_output items, in order.")


# Parameters that ask the vendor for something the gateway cannot do or see through.
_VENDOR_ONLY = {
    "moderation": "the gateway's own guards check requests and answers; leave it out.",
    "access_programs": "leave it out.",
    "image": "leave it out.",
}


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _refuse_unsupported(req: ResponsesRequest) -> None:
    for name in ("previous_response_id", "conversation", "prompt"):
        if getattr(req, name) is not None:
            raise _bad(_NO_STATE.format(name), name)
    if req.background or req.background_options is not None:
        raise _bad("Background responses are not supported by this gateway; send the "
                   "request without `background` (or stream it).", "background")
    for name, why in _VENDOR_ONLY.items():
        if getattr(req, name) is not None:
            raise _bad(f"`{name}` is not supported by this gateway: {why}", name)
    if req.input is None:
        raise _bad("`input` is required: a string or a list of input items.", "input")
    if isinstance(req.input, list) and not req.input:
        raise _bad("`input` must not be empty.", "input")


def to_canonical(req: ResponsesRequest) -> ChatRequest:
    """The canonical chat request for ``req`` (see the module docstring)."""
    _refuse_unsupported(req)
    msgs: list[Message] = []
    if req.instructions:
        msgs.append(Message(role="system", content=req.instructions))
    if isinstance(req.input, str):
        msgs.append(Message(role="user", content=req.input))
    else:
        _items(req.input or [], msgs)
    tools = [_tool(t, i) for i, t in enumerate(req.tools)] if req.tools else None
    reasoning = req.reasoning or {}
    effort = reasoning.get("effort")
    logprobs = req.top_logprobs is not None and req.top_logprobs > 0
    return ChatRequest(
        model=req.model, messages=msgs, stream=req.stream or None, tools=tools,
        tool_choice=_tool_choice(req.tool_choice) if tools else None,
        parallel_tool_calls=req.parallel_tool_calls if tools else None,
        response_format=_format(req.text), max_completion_tokens=req.max_output_tokens,
        temperature=req.temperature, top_p=req.top_p, user=req.user,
        metadata=req.metadata, service_tier=req.service_tier,
        safety_identifier=req.safety_identifier, prompt_cache_key=req.prompt_cache_key,
        reasoning_effort=effort if isinstance(effort, str) else None,
        logprobs=True if logprobs else None, top_logprobs=req.top_logprobs if logprobs else None,
        verbosity=(req.text or {}).get("verbosity"),
    )


def _items(items: list[JSON], msgs: list[Message]) -> None:
    reasoning: list[str] = []
    last_item = ""
    for i, item in enumerate(items):
        where = f"input[{i}]"
        kind = item.get("type", "message")
        if kind == "message":
            m = _message(item, where)
            if m.role == "assistant" and reasoning:
                m.reasoning_content = "\n".join(reasoning)
                reasoning.clear()
            msgs.append(m)
        elif kind == "function_call":
            call = _function_call(item, where)
            prev = msgs[-1] if msgs else None
            if (prev is not None and prev.role == "assistant"
                    and last_item in ("message", "function_call")):
                prev.tool_calls = [*(prev.tool_calls or ()), call]
            else:
                msgs.append(Message(role="assistant", content=None, tool_calls=[call],
                                    reasoning_content="\n".join(reasoning) or None))
                reasoning.clear()
        elif kind == "function_call_output":
            msgs.append(_function_output(item, where))
        elif kind == "reasoning":
            reasoning.extend(_reasoning_text(item, where))
        elif kind == "item_reference":
            raise _bad(_NO_STATE.format(f"{where} (item_reference)"), where)
        else:
            raise _bad(f"{where}.type {str(kind)[:60]!r} is not supported by this gateway: use "
                       "message, function_call, function_call_output or reasoning items.",
                       f"{where}.type")
        last_item = kind


def _text(item: JSON, name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str):
        raise _bad(f"{where}.{name} is required and must be a string.", f"{where}.{name}")
    return value


def _message(item: JSON, where: str) -> Message:
    role = item.get("role")
    if role not in _ROLES:
        raise _bad(f"{where}.role must be user, assistant, system or developer.",
                   f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return Message(role=role, content=content)
    if not isinstance(content, list):
        raise _bad(f"{where}.content must be a string or a list of content parts.",
                   f"{where}.content")
    parts = [_part(p, f"{where}.content[{j}]") for j, p in enumerate(content)]
    if role != "user" or all(p["type"] == "text" for p in parts):
        # Only user turns may carry images and files in chat; others are plain text.
        texts = [p.get("text", "") for p in parts if p["type"] == "text"]
        refusal = next((p["refusal"] for p in parts if p["type"] == "refusal"), None)
        if role == "assistant" and refusal is not None and not texts:
            return Message(role=role, content=None, refusal=refusal)
        return Message(role=role, content="".join(texts) if role == "assistant"
                       else "\n".join(texts))
    return Message(role=role, content=parts)


def _part(p: Any, where: str) -> JSON:
    if not isinstance(p, dict):
        raise _bad(f"{where} must be a content part object.", where)
    kind = p.get("type")
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": _text(p, "text", where)}
    if kind == "refusal":
        return {"type": "refusal", "refusal": _text(p, "refusal", where)}
    if kind == "input_image":
        return _inline(p, where, ("image_url", "url", "detail"), "image_url",
                       "an https: or data: URL; uploaded file ids are not supported")
    if kind == "input_file":
        return _inline(p, where, ("file_data", "file_data", "filename"), "file",
                       "a data: URL; uploaded file ids and file URLs are not supported")
    raise _bad(f"{where}.type {str(kind)[:60]!r} is not supported: use input_text, "
               "output_text, input_image, input_file or refusal.", f"{where}.type")


def _inline(p: JSON, where: str, names: tuple[str, str, str], kind: str, what: str) -> JSON:
    """A chat part of ``kind`` from an inline image or file: ``names`` are the Responses
    field, its chat name, and the optional field kept beside it."""
    field, name, extra = names
    value = p.get(field)
    if not isinstance(value, str):
        raise _bad(f"{where}.{field} is required ({what} by this gateway).",
                   f"{where}.{field}")
    inner: JSON = {name: value}
    if isinstance(p.get(extra), str):
        inner[extra] = p[extra]
    return {"type": kind, kind: inner}


def _function_call(item: JSON, where: str) -> ToolCall:
    return ToolCall(id=_text(item, "call_id", where), type="function", function=FunctionCall(
        name=_text(item, "name", where), arguments=_text(item, "arguments", where)))


def _function_output(item: JSON, where: str) -> Message:
    call_id = _text(item, "call_id", where)
    out = item.get("output")
    if isinstance(out, list):
        texts = []
        for j, p in enumerate(out):
            part = _part(p, f"{where}.output[{j}]")
            if part["type"] != "text":
                raise _bad(f"{where}.output[{j}]: only text can be sent back as a tool's "
                           "output through this gateway.", f"{where}.output[{j}]")
            texts.append(part["text"])
        out = "\n".join(texts)
    if not isinstance(out, str):
        raise _bad(f"{where}.output must be a string or a list of input_text parts.",
                   f"{where}.output")
    return Message(role="tool", tool_call_id=call_id, content=out)


def _reasoning_text(item: JSON, where: str) -> list[str]:
    out: list[str] = []
    for name in ("summary", "content"):
        parts = item.get(name) or []
        if not isinstance(parts, list):
            raise _bad(f"{where}.{name} must be a list.", f"{where}.{name}")
        out.extend(p["text"] for p in parts if isinstance(p, dict)
                   and isinstance(p.get("text"), str))
    return out


def _tool(t: JSON, i: int) -> JSON:
    where = f"tools[{i}]"
    kind = t.get("type")
    if kind != "function":
        raise _bad(f"{where}: tools of type {str(kind)[:60]!r} are not supported by this "
                   "gateway (hosted tools run at the vendor, out of its sight); define a "
                   "function tool instead.", f"{where}.type")
    name = t.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= 128:
        raise _bad(f"{where}.name is required: 1 to 128 characters.", f"{where}.name")
    fn: JSON = {"name": name}
    if t.get("description") is not None:
        if not isinstance(t["description"], str):
            raise _bad(f"{where}.description must be a string.", f"{where}.description")
        fn["description"] = t["description"]
    params = t.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise _bad(f"{where}.parameters must be a JSON Schema object.", f"{where}.parameters")
    fn["parameters"] = params or {"type": "object", "properties": {}}
    if isinstance(t.get("strict"), bool):
        fn["strict"] = t["strict"]
    return {"type": "function", "function": fn}


def _tool_choice(tc: str | JSON | None) -> str | JSON | None:
    if tc is None or isinstance(tc, str):
        return tc
    if tc.get("type") == "function" and isinstance(tc.get("name"), str):
        return {"type": "function", "function": {"name": tc["name"]}}
    raise _bad("`tool_choice` must be 'none', 'auto', 'required' or "
               '{"type": "function", "name": …}.', "tool_choice")


def _format(text: JSON | None) -> JSON | None:
    fmt = (text or {}).get("format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        assert isinstance(fmt, dict)
        if not isinstance(fmt.get("name"), str) or not isinstance(fmt.get("schema"), dict):
            raise _bad("`text.format` json_schema needs a `name` and a `schema` object.",
                       "text.format")
        spec = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": spec}
    raise _bad("`text.format.type` must be text, json_object or json_schema.",
               "text.format.type")


# ---- canonical answer -> response ---------------------------------------------------------


def response_id() -> str:
    return "resp_" + new_id()


def echo(req: ResponsesRequest, rid: str, created: int) -> Response:
    """The ``response`` object with the request's own settings echoed, and no output yet."""
    fmt = (req.text or {}).get("format") or {"type": "text"}
    return Response(
        id=rid, created_at=created, model=req.model, status="in_progress",
        instructions=req.instructions, max_output_tokens=req.max_output_tokens,
        metadata=req.metadata or {}, parallel_tool_calls=req.parallel_tool_calls is not False,
        reasoning=req.reasoning, temperature=req.temperature, text={"format": fmt},
        tool_choice=req.tool_choice or "auto", tools=req.tools or [], top_p=req.top_p,
        truncation=req.truncation or "disabled", user=req.user)


def usage_of(u: Any) -> ResponseUsage | None:
    """Canonical usage → Responses usage (``None`` stays ``None``)."""
    if u is None:
        return None
    details = u.prompt_tokens_details or {}
    cached = int(details.get("cached_tokens") or 0)
    written = int(details.get("cache_creation_tokens") or 0)
    reasoning = int((u.completion_tokens_details or {}).get("reasoning_tokens") or 0)
    return ResponseUsage(input_tokens=u.prompt_tokens,
                         input_tokens_details=InputDetails(cached_tokens=cached,
                                                           cache_write_tokens=written),
                         output_tokens=u.completion_tokens,
                         output_tokens_details=OutputDetails(reasoning_tokens=reasoning),
                         total_tokens=u.total_tokens or u.prompt_tokens + u.completion_tokens)


def citations(message: Message) -> list[JSON]:
    """Chat ``url_citation`` annotations in the Responses shape (flat)."""
    out = []
    for a in message.annotations or ():
        cite = a.get("url_citation")
        if a.get("type") == "url_citation" and isinstance(cite, dict):
            out.append({"type": "url_citation", **cite})
    return out


INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def finish(resp: Response, finish_reason: str | None) -> None:
    """Set ``status`` and ``incomplete_details`` from a canonical finish reason."""
    reason = INCOMPLETE.get(finish_reason or "")
    resp.status = "incomplete" if reason else "completed"
    resp.incomplete_details = {"reason": reason} if reason else None


def to_response(chat: ChatResponse, base: Response) -> Response:
    """``base`` (from :func:`echo`) completed with the canonical answer's output."""
    out: list[OutputItem] = []
    reason = None
    if chat.choices:
        choice = chat.choices[0]
        reason = choice.finish_reason
        msg = choice.message
        if msg.reasoning_content:
            out.append(ReasoningItem(id="rs_" + new_id(),
                                     summary=[SummaryText(text=msg.reasoning_content)]))
        text = msg.text()
        parts: list[OutputText | Refusal] = []
        if text:
            parts.append(OutputText(text=text, annotations=citations(msg)))
        if msg.refusal:
            parts.append(Refusal(refusal=msg.refusal))
        if parts:
            out.append(MessageItem(id="msg_" + new_id(), content=parts))
        for tc in msg.tool_calls or ():
            out.append(FunctionCallItem(id="fc_" + new_id(), call_id=tc.id or "call_" + new_id(),
                                        name=tc.function.name or "",
                                        arguments=tc.function.arguments or "{}"))
    base.output = out
    base.usage = usage_of(chat.usage)
    finish(base, reason)
    return base


def now() -> int:
    return int(time.time())
