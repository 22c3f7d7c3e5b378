"""A Bedrock stand-in for :class:`~bastion.testing.upstream.FakeUpstream`.

``FakeUpstream(routes=bedrock_routes(verifier))`` speaks the Bedrock runtime API:

* ``POST /model/{modelId}/converse`` and ``/converse-stream`` (the answer in the AWS
  event-stream binary framing: ``messageStart``, ``contentBlockStart``/``Delta``/
  ``Stop`` per block, ``messageStop``, ``metadata`` with the usage);
* ``POST /model/{modelId}/invoke`` for Titan and Cohere embedding models;
* ``POST /sts/``: STS ``AssumeRoleWithWebIdentity`` (point ``AWS_ENDPOINT_URL_STS`` at
  ``{base_url}/sts``).

Every call must pass :class:`~bastion.testing.aws_standin.AwsVerifier` (SigV4
recomputed, or a Bedrock API key), and bodies are checked as Bedrock checks them
(``ValidationException``): unknown fields, a conversation that does not start with a
user turn or does not alternate, empty content, tool blocks without ``toolConfig``,
tool results that answer no tool use of the turn before, ``temperature`` above 1.
Errors carry ``x-amzn-ErrorType`` and ``{"message"}``, as Bedrock's do
(:func:`error_behavior` scripts one). Answers come from the fake provider's logic.

Behaviours beyond FakeUpstream's own: ``malformed`` (broken JSON; on streams a first
frame with a bad checksum), ``cut_stream`` (half the events, then the connection drops; with
a ``body``, half the events then an ``exception`` message named by the behaviour's
``exception`` header, default ``modelStreamErrorException``), ``stall_stream``;
``slow_first_byte`` is applied by FakeUpstream before the response head.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec
from aiohttp import web

from bastion.core.types import JSON, ChatRequest, FunctionCall, Message, ToolCall
from bastion.providers import eventstream
from bastion.providers.fake import estimate_tokens, fake_answer, fake_embedding, fake_usage
from bastion.testing.aws_standin import AwsVerifier, Refused
from bastion.testing.upstream import Behavior, FakeUpstream, Handler

_TOP = frozenset({"messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
                  "additionalModelRequestFields", "additionalModelResponseFieldPaths",
                  "promptVariables", "requestMetadata", "performanceConfig"})
_BLOCKS = frozenset({"text", "image", "document", "video", "toolUse", "toolResult",
                     "guardContent", "cachePoint", "reasoningContent"})
_INFERENCE = frozenset({"maxTokens", "temperature", "topP", "stopSequences"})
_enc = msgspec.json.Encoder()


def error_response(kind: str, message: str, status: int) -> web.Response:
    return web.Response(status=status, body=_enc.encode({"message": message}),
                        content_type="application/json",
                        headers={"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/"
                                                     "coral/com.amazon.bedrock/"})


def error_behavior(kind: str, status: int, message: str = "Bedrock said no.",
                   retry_after: str | None = None) -> Behavior:
    """A scripted Bedrock error (e.g. ``error_behavior("ThrottlingException", 429)``)."""
    return Behavior("status", status=status, retry_after=retry_after,
                    body=_enc.encode({"message": message}),
                    headers={"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/"})


class _Invalid(Exception):
    pass


def _check_turn(i: int, turn: Any, prev_tool_ids: set[str], has_config: bool) -> set[str]:
    """Problems of turn ``i``; the tool-use ids it opens."""
    if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
        raise _Invalid(f"messages.{i}.role: must be user or assistant")
    if (turn["role"] == "user") != (i % 2 == 0):
        raise _Invalid("A conversation must start with a user message and alternate "
                       "between user and assistant roles. Try again with a conversation "
                       "that alternates.")
    content = turn.get("content")
    if not isinstance(content, list) or not content:
        raise _Invalid(f"messages.{i}.content: The content field in the Message object is "
                       "empty. Add a ContentBlock object to the content field and try again.")
    opened: set[str] = set()
    for j, block in enumerate(content):
        if not isinstance(block, dict) or len(block) != 1 or not set(block) <= _BLOCKS:
            raise _Invalid(f"messages.{i}.content.{j}: a ContentBlock has exactly one member")
        if "text" in block and not block["text"]:
            raise _Invalid(f"messages.{i}.content.{j}.text: must not be empty")
        if ("toolUse" in block or "toolResult" in block) and not has_config:
            raise _Invalid("The toolConfig field must be defined when using toolUse and "
                           "toolResult content blocks.")
        if "toolUse" in block:
            if not isinstance(block["toolUse"].get("input"), dict):
                raise _Invalid(f"messages.{i}.content.{j}.toolUse.input: must be an object")
            opened.add(block["toolUse"].get("toolUseId", ""))
        if "toolResult" in block and block["toolResult"].get("toolUseId") not in prev_tool_ids:
            raise _Invalid(f"messages.{i}.content.{j}: the toolResult blocks exceed the "
                           "number of toolUse blocks of the previous turn")
    return opened


def check_converse(body: Any) -> None:
    """Raise ``_Invalid`` for a body Bedrock refuses (see the module docstring)."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise _Invalid("Malformed input request: messages is required")
    extra = sorted(set(body) - _TOP)
    if extra:
        raise _Invalid(f"Malformed input request: extraneous key [{extra[0]}] is not permitted")
    inference = body.get("inferenceConfig") or {}
    if set(inference) - _INFERENCE:
        raise _Invalid("Malformed input request: unknown inferenceConfig field")
    if not 0 <= inference.get("temperature", 0) <= 1:
        raise _Invalid("inferenceConfig.temperature: must be between 0 and 1")
    config = body.get("toolConfig")
    if config is not None:
        for t in config.get("tools") or []:
            spec = t.get("toolSpec") or {}
            if not spec.get("name") or not isinstance((spec.get("inputSchema") or {})
                                                      .get("json"), dict):
                raise _Invalid("toolConfig.tools: each toolSpec needs a name and inputSchema")
    prev: set[str] = set()
    for i, turn in enumerate(body["messages"]):
        prev = _check_turn(i, turn, prev, config is not None)
    if not body["messages"]:
        raise _Invalid("A conversation must start with a user message.")


def _texts(blocks: list[JSON]) -> str:
    return "\n".join(b["text"] for b in blocks if isinstance(b.get("text"), str))


def to_canonical(model: str, body: JSON) -> ChatRequest:
    """The canonical request the fake provider answers (the inverse of the adapter)."""
    messages = []
    if body.get("system"):
        messages.append(Message(role="system", content=_texts(body["system"])))
    for turn in body["messages"]:
        blocks = turn["content"]
        for b in blocks:
            if "toolResult" in b:
                r = b["toolResult"]
                text = "\n".join(c.get("text") or _enc.encode(c.get("json")).decode()
                                 for c in r.get("content", []))
                messages.append(Message(role="tool", tool_call_id=r["toolUseId"], content=text))
        calls = [ToolCall(id=b["toolUse"]["toolUseId"], type="function", function=FunctionCall(
            name=b["toolUse"]["name"], arguments=_enc.encode(b["toolUse"]["input"]).decode()))
            for b in blocks if "toolUse" in b]
        text = _texts(blocks)
        if text or calls:
            messages.append(Message(role=turn["role"], content=text or None,
                                    tool_calls=calls or None))
    tools = [{"type": "function", "function": {"name": t["toolSpec"]["name"]}}
             for t in (body.get("toolConfig") or {}).get("tools") or []]
    return ChatRequest(model=model, messages=messages, tools=tools or None,
                       max_tokens=(body.get("inferenceConfig") or {}).get("maxTokens"))


def _answer(up: FakeUpstream, model: str, body: JSON) -> tuple[list[JSON], str, JSON]:
    req = to_canonical(model, body)
    msg = fake_answer(req, up.fake.settings.reply)
    u = fake_usage(req, msg)
    usage = {"inputTokens": u.prompt_tokens, "outputTokens": u.completion_tokens,
             "totalTokens": u.total_tokens}
    if msg.tool_calls:
        return ([{"toolUse": {"toolUseId": t.id, "name": t.function.name,
                              "input": msgspec.json.decode(t.function.arguments or "{}")}}
                 for t in msg.tool_calls], "tool_use", usage)
    text = msg.text()
    limit = req.output_limit()
    stop = "max_tokens" if limit is not None and estimate_tokens(text) >= limit else "end_turn"
    return [{"text": text}], stop, usage


def _frames(blocks: list[JSON], stop: str, usage: JSON, step: int) -> list[bytes]:
    ev = eventstream.event
    frames = [ev("messageStart", _enc.encode({"role": "assistant", "p": "abcd"}))]
    for i, b in enumerate(blocks):
        pieces: list[JSON]
        if "toolUse" in b:
            t = b["toolUse"]
            frames.append(ev("contentBlockStart", _enc.encode(
                {"contentBlockIndex": i,
                 "start": {"toolUse": {"toolUseId": t["toolUseId"], "name": t["name"]}}})))
            args = _enc.encode(t["input"]).decode()
            half = len(args) // 2
            pieces = [{"toolUse": {"input": p}} for p in (args[:half], args[half:]) if p]
        else:
            text = b["text"]
            pieces = [{"text": text[k:k + step]} for k in range(0, len(text), step)] or [
                {"text": ""}]
        frames.extend(ev("contentBlockDelta", _enc.encode({"contentBlockIndex": i, "delta": d}))
                      for d in pieces)
        frames.append(ev("contentBlockStop", _enc.encode({"contentBlockIndex": i})))
    frames.append(ev("messageStop", _enc.encode({"stopReason": stop})))
    frames.append(ev("metadata", _enc.encode({"usage": usage, "metrics": {"latencyMs": 12}})))
    return frames


async def _send(request: web.Request, frames: list[bytes], b: Behavior) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream"})
    await resp.prepare(request)
    half = frames[: max(1, len(frames) // 2)]
    if b.kind in ("cut_stream", "stall_stream"):
        for f in half:
            await resp.write(f)
        if b.kind == "stall_stream":
            await asyncio.sleep(b.delay_s or 3600)
            return resp
        if b.body is None:
            assert request.transport is not None
            request.transport.abort()
            return resp
        kind = b.headers.get("exception", "modelStreamErrorException")
        await resp.write(eventstream.exception(kind, b.body))
        await resp.write_eof()
        return resp
    if b.kind == "malformed":  # the first frame's checksum is wrong
        frames = [frames[0][:-1] + bytes([frames[0][-1] ^ 0xFF]), *frames[1:]]
    with contextlib.suppress(ConnectionResetError):  # the client gave up on a bad stream
        for f in frames:
            await resp.write(f)
        await resp.write_eof()
    return resp


def _embed(up: FakeUpstream, model: str, body: Any) -> web.Response:
    if "titan-embed" in model:
        if not isinstance(body, dict) or not isinstance(body.get("inputText"), str):
            raise _Invalid("Malformed input request: inputText is required")
        if "dimensions" in body and "v2" not in model:
            raise _Invalid("Malformed input request: extraneous key [dimensions]")
        text = body["inputText"]
        return web.json_response({"embedding": fake_embedding(text, body.get("dimensions", 256)),
                                  "inputTextTokenCount": estimate_tokens(text)})
    if "cohere.embed" in model:
        if not isinstance(body, dict) or not isinstance(body.get("texts"), list) or (
                not body.get("input_type")):
            raise _Invalid("Malformed input request: texts and input_type are required")
        texts = body["texts"]
        if len(texts) > 96:
            raise _Invalid("texts: at most 96 texts per request")
        vectors = [fake_embedding(t, body.get("output_dimension", 256)) for t in texts]
        return web.json_response(
            {"id": "emb-1", "response_type": "embeddings_floats", "texts": texts,
             "embeddings": vectors},
            headers={"X-Amzn-Bedrock-Input-Token-Count":
                     str(sum(estimate_tokens(t) for t in texts))})
    raise _Invalid("The provided model identifier is invalid.")


def bedrock_routes(verifier: AwsVerifier) -> dict[str, Handler]:
    """The stand-in's routes, authenticating with ``verifier``."""

    async def guarded(up: FakeUpstream, request: web.Request, body: Any, b: Behavior,
                      action: str) -> web.StreamResponse:
        try:
            verifier.verify(request, await request.read())
        except Refused as e:
            return error_response(e.kind, str(e), e.status)
        model = request.match_info["model"]
        try:
            if action == "invoke":
                return _embed(up, model, body)
            check_converse(body)
        except _Invalid as e:
            return error_response("ValidationException", str(e), 400)
        blocks, stop, usage = _answer(up, model, body)
        if action == "converse-stream":
            return await _send(request, _frames(blocks, stop, usage,
                                                up.fake.settings.chunk_chars), b)
        if b.kind == "malformed":
            return web.Response(body=b'{"output": {"message": ', content_type="application/json")
        return web.json_response({"output": {"message": {"role": "assistant", "content": blocks}},
                                  "stopReason": stop, "usage": usage,
                                  "metrics": {"latencyMs": 12}})

    async def converse(up: FakeUpstream, request: web.Request, body: Any,
                       b: Behavior) -> web.StreamResponse:
        return await guarded(up, request, body, b, "converse")

    async def converse_stream(up: FakeUpstream, request: web.Request, body: Any,
                              b: Behavior) -> web.StreamResponse:
        return await guarded(up, request, body, b, "converse-stream")

    async def invoke(up: FakeUpstream, request: web.Request, body: Any,
                     b: Behavior) -> web.StreamResponse:
        return await guarded(up, request, body, b, "invoke")

    async def sts(up: FakeUpstream, request: web.Request, body: Any,
                  b: Behavior) -> web.StreamResponse:
        try:
            xml = verifier.assume_role((await request.read()).decode())
        except Refused as e:
            return web.Response(status=e.status, content_type="text/xml", text=(
                f"<ErrorResponse><Error><Code>{e.kind}</Code><Message>{e}</Message>"
                "</Error></ErrorResponse>"))
        return web.Response(body=xml, content_type="text/xml")

    return {"/model/{model}/converse": converse, "/model/{model}/converse-stream": converse_stream,
            "/model/{model}/invoke": invoke, "/sts/": sts}
