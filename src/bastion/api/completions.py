"""The legacy completions door: ``POST /v1/completions``, mapped onto chat.

Each prompt becomes a canonical chat request with the prompt as one user message,
so it goes down the same pipeline (keys, limits, guards, cache, routing) and
reaches every provider kind; the answer's text comes back as ``choices[].text``.

* ``prompt``: a string or a list of strings. A list runs one request per prompt
  (side by side when not streamed, one after another when streamed); choice
  indexes run ``prompt_index * n + j`` as OpenAI numbers them.
* ``echo`` puts the prompt before the answer; ``logprobs: k`` asks for token log
  probabilities (returned in the legacy shape); ``stop``, ``n``, ``seed``,
  ``temperature``, ``top_p``, the penalties, ``logit_bias`` and ``user`` map to
  their chat namesakes. ``max_tokens`` is left to the provider when not given
  (OpenAI's legacy default of 16 would cut chat models short).
* Refused with 400: token-id prompts, ``suffix`` (insertion) and ``best_of``
  other than ``n`` — chat models have no equivalent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from bastion.api.common import decode, error_response, openai_error_body, read_body, request_id
from bastion.api.middleware import add_route
from bastion.api.streaming import write_sse
from bastion.api.validate import validate_chat
from bastion.core.context import Context, Reply
from bastion.core.errors import GatewayError, InvalidRequest
from bastion.core.ids import new_id
from bastion.core.types import JSON, ChatRequest, ChatResponse, Message, StreamOptions, Usage

if TYPE_CHECKING:
    from bastion.app import Gateway

_enc = msgspec.json.Encoder()
DONE = b"data: [DONE]\n\n"
MAX_PROMPTS = 64  # one pipeline run each; far above what a client batches in practice


class CompletionRequest(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    model: str
    prompt: str | list[Any] | None = None
    suffix: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    logprobs: int | None = None
    echo: bool | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    best_of: int | None = None
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    seed: int | None = None


_decoder = msgspec.json.Decoder(CompletionRequest)


def prompts_of(req: CompletionRequest) -> list[str]:
    p = req.prompt
    if p is None:
        raise InvalidRequest("`prompt` is required: a string or a list of strings.",
                             param="prompt")
    prompts = [p] if isinstance(p, str) else p
    if not prompts or not all(isinstance(x, str) for x in prompts):
        raise InvalidRequest("`prompt` must be a string or a non-empty list of strings; "
                             "token-id prompts are not supported by this gateway.",
                             param="prompt")
    if len(prompts) > MAX_PROMPTS:
        raise InvalidRequest(f"`prompt` may hold at most {MAX_PROMPTS} prompts.",
                             param="prompt")
    if req.suffix:
        raise InvalidRequest("`suffix` (insertion) is not supported by this gateway.",
                             param="suffix")
    if req.best_of is not None and req.best_of != (req.n or 1):
        raise InvalidRequest("`best_of` is not supported by this gateway (only equal to `n`).",
                             param="best_of")
    if req.logprobs is not None and not 0 <= req.logprobs <= 5:
        raise InvalidRequest("`logprobs` must be between 0 and 5.", param="logprobs")
    return prompts


def to_chat(req: CompletionRequest, prompt: str) -> ChatRequest:
    chat = ChatRequest(
        model=req.model, messages=[Message(role="user", content=prompt)],
        stream=req.stream or None, max_tokens=req.max_tokens, temperature=req.temperature,
        top_p=req.top_p, n=req.n, stop=req.stop, presence_penalty=req.presence_penalty,
        frequency_penalty=req.frequency_penalty, logit_bias=req.logit_bias, user=req.user,
        seed=req.seed, logprobs=True if req.logprobs is not None else None,
        top_logprobs=req.logprobs or None,
        stream_options=StreamOptions(include_usage=True) if req.stream else None)
    validate_chat(chat)
    return chat


def legacy_logprobs(lp: JSON | None, offset: int) -> JSON | None:
    """Chat ``logprobs.content`` → the legacy ``tokens``/``token_logprobs``/… shape."""
    if not lp or not lp.get("content"):
        return None
    out: JSON = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
    for t in lp["content"]:
        out["tokens"].append(t.get("token", ""))
        out["token_logprobs"].append(t.get("logprob"))
        out["top_logprobs"].append({x["token"]: x["logprob"] for x in t.get("top_logprobs") or ()})
        out["text_offset"].append(offset)
        offset += len(t.get("token", ""))
    return out


def _usage(total: Usage, u: Usage | None) -> None:
    if u is not None:
        total.prompt_tokens += u.prompt_tokens
        total.completion_tokens += u.completion_tokens
        total.total_tokens += u.total_tokens


def completion_body(req: CompletionRequest, cid: str, created: int,
                    answers: list[tuple[str, ChatResponse]]) -> JSON:
    choices = []
    usage = Usage()
    n = req.n or 1
    for i, (prompt, resp) in enumerate(answers):
        _usage(usage, resp.usage)
        for c in resp.choices:
            head = prompt if req.echo else ""
            choices.append({"text": head + c.message.text(), "index": i * n + c.index,
                            "logprobs": legacy_logprobs(c.logprobs, len(head)),
                            "finish_reason": c.finish_reason or "stop"})
    return {"id": cid, "object": "text_completion", "created": created, "model": req.model,
            "choices": choices, "usage": usage, "system_fingerprint": None}


class CompletionsRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def register(self, app: web.Application) -> None:
        add_route(app, "POST", "/v1/completions", self.create)
        add_route(app, "POST", "/completions", self.create)

    async def _run(self, request: web.Request, rid: str, chat: ChatRequest,
                   body_bytes: int) -> Reply:
        ctx = Context(request=chat, request_id=rid, dialect="completions",
                      headers=request.headers, client_ip=request.remote,
                      body_bytes=body_bytes)
        reply = await self.gw.pipeline(ctx)
        reply.headers.update(ctx.response_headers)
        return reply

    async def create(self, request: web.Request) -> web.StreamResponse:
        rid = request_id(request)
        server = self.gw.settings.server
        try:
            body = await read_body(request, server.max_body_bytes, server.body_timeout_s)
            req = decode(body, _decoder.decode)
            prompts = prompts_of(req)
            chats = [to_chat(req, p) for p in prompts]
            ids = [rid] if len(chats) == 1 else [f"{rid}-{i}" for i in range(len(chats))]
            if req.stream:
                first = await self._run(request, ids[0], chats[0], len(body))
                headers = {"x-request-id": rid, **first.headers}
                events = self._stream(request, req, prompts, chats, ids, first, len(body))
                return await write_sse(request, headers, events)
            replies = await asyncio.gather(*(self._run(request, i, c, len(body))
                                             for i, c in zip(ids, chats, strict=True)))
        except GatewayError as e:
            return error_response(e, rid)
        answers = [(p, r.chat) for p, r in zip(prompts, replies, strict=True)]
        out = completion_body(req, "cmpl-" + new_id(), _now(), answers)
        return web.Response(body=_enc.encode(out), content_type="application/json",
                            headers={"x-request-id": rid, **replies[0].headers})

    async def _stream(self, request: web.Request, req: CompletionRequest, prompts: list[str],
                      chats: list[ChatRequest], ids: list[str], first: Reply,
                      body_bytes: int) -> AsyncIterator[bytes]:
        cid, created, n = "cmpl-" + new_id(), _now(), req.n or 1
        usage = Usage()
        want_usage = bool(req.stream_options and req.stream_options.include_usage)

        def frame(choices: list[JSON], u: Usage | None = None) -> bytes:
            return b"data: " + _enc.encode({
                "id": cid, "object": "text_completion", "created": created,
                "model": req.model, "choices": choices, "usage": u}) + b"\n\n"

        try:
            for i, chat in enumerate(chats):
                reply = first if i == 0 else await self._run(request, ids[i], chat, body_bytes)
                assert reply.stream is not None
                async with aclosing(reply.stream):  # type: ignore[type-var]
                    if req.echo:
                        yield frame([{"text": prompts[i], "index": i * n, "logprobs": None,
                                      "finish_reason": None}])
                    async for chunk in reply.stream:
                        _usage(usage, chunk.usage)
                        choices = [{"text": c.delta.content or "", "index": i * n + c.index,
                                    "logprobs": legacy_logprobs(c.logprobs, 0),
                                    "finish_reason": c.finish_reason} for c in chunk.choices
                                   if c.delta.content or c.finish_reason]
                        if choices:
                            yield frame(choices)
            if want_usage:
                yield frame([], usage)
        except GatewayError as e:
            yield b"data: " + _enc.encode(openai_error_body(e)) + b"\n\n"
        yield DONE


def _now() -> int:
    return int(time.time())
