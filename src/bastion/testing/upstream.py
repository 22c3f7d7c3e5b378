"""``FakeUpstream``: an HTTP server on loopback that speaks a provider's wire format.

It answers like the in-process fake provider (echo, or a tool call when tools
are offered), records every request it receives (path, headers, JSON body),
and fails on cue: push :class:`Behavior` objects and each call takes the next
one (then ``default``). Dialect handlers are registered per path, so one server
can play OpenAI (and Azure OpenAI and compatible servers), Anthropic and Gemini.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from aiohttp import web

from bastion.core.types import ChatRequest, EmbeddingRequest, json_encoder
from bastion.providers.base import Call
from bastion.providers.fake import FakeProvider
from bastion.testing.loopthread import LoopThread

BehaviorKind = Literal["ok", "status", "hang", "slow_first_byte", "malformed", "cut_stream",
                       "reset", "stall_stream"]
# "ok" with ``delay_s`` answers after that long; "stall_stream" sends half a stream,
# then holds the connection open for ``delay_s`` (default: an hour) without a byte.
# ``sent`` sets how many frames a stall or cut sends first (default half); ``usage=False``
# leaves ``usage`` out of the answer (as some servers do); ``interval_s`` spaces a
# stream's frames that far apart.


@dataclass(slots=True)
class Behavior:
    kind: BehaviorKind = "ok"
    status: int = 500
    retry_after: str | None = None
    delay_s: float = 0.0
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    sent: int | None = None
    usage: bool = True
    interval_s: float = 0.0


@dataclass(slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    at: float


Handler = Callable[["FakeUpstream", web.Request, Any, Behavior], Awaitable[web.StreamResponse]]


async def sse(request: web.Request, frames: list[bytes], cut: bool = False,
              delay_s: float = 0.0, stall_s: float = 0.0, sent: int | None = None,
              interval_s: float = 0.0) -> web.StreamResponse:
    """Send ``frames`` (``interval_s`` apart); with ``cut``, send ``sent`` of them (default
    half) and drop the connection; with ``stall_s``, send that many and go quiet that long."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    if delay_s:
        await asyncio.sleep(delay_s)
    first = frames[: max(1, len(frames) // 2) if sent is None else sent]
    if stall_s:
        for f in first:
            await resp.write(f)
        await asyncio.sleep(stall_s)
        return resp
    if cut:
        for f in first:
            await resp.write(f)
        assert request.transport is not None
        request.transport.abort()
        return resp
    for f in frames:
        await resp.write(f)
        if interval_s:
            await asyncio.sleep(interval_s)
    await resp.write_eof()
    return resp


async def openai_chat(up: FakeUpstream, request: web.Request, body: Any,
                      b: Behavior) -> web.StreamResponse:
    req = msgspec.convert(body, ChatRequest)
    call = Call(model=req.model)
    if not req.stream:
        resp = await up.fake.complete(msgspec.structs.replace(req, stream=None), call)
        if not b.usage:
            resp.usage = None
        if b.kind == "malformed":
            return web.Response(body=b'{"id": "x", "choices": [', content_type="application/json")
        return web.Response(body=json_encoder.encode(resp), content_type="application/json")
    frames = [b"data: " + json_encoder.encode(c) + b"\n\n"
              async for c in up.fake.stream(req, call) if b.usage or c.usage is None]
    if b.kind == "malformed":
        frames.insert(1, b"data: {not json\n\n")
    frames.append(b"data: [DONE]\n\n")
    return await sse(request, frames, cut=b.kind == "cut_stream",
                     delay_s=b.delay_s if b.kind == "slow_first_byte" else 0.0,
                     stall_s=(b.delay_s or 3600) if b.kind == "stall_stream" else 0.0,
                     sent=b.sent, interval_s=b.interval_s)


async def openai_embeddings(up: FakeUpstream, request: web.Request, body: Any,
                            b: Behavior) -> web.StreamResponse:
    req = msgspec.convert(body, EmbeddingRequest)
    resp = await up.fake.embed(req, Call(model=req.model))
    return web.Response(body=json_encoder.encode(resp), content_type="application/json")


async def openai_moderations(up: FakeUpstream, request: web.Request, body: Any,
                             b: Behavior) -> web.StreamResponse:
    """Flags a text as violence when it holds the word "hurt" (a fake, not a classifier)."""
    from bastion.providers.moderation import ModerationRequest, result_for

    req = msgspec.convert(body, ModerationRequest)
    results = [result_for({"violence": 0.9 if "hurt" in t.lower() else 0.01})
               for t in req.texts()]
    return web.Response(body=json_encoder.encode(
        {"id": "modr-fake", "model": req.model or "omni-moderation-latest",
         "results": results}), content_type="application/json")


OPENAI_ROUTES: dict[str, Handler] = {
    "/v1/moderations": openai_moderations,
    "/v1/chat/completions": openai_chat,
    "/chat/completions": openai_chat,
    "/v1/embeddings": openai_embeddings,
    "/embeddings": openai_embeddings,
}


class FakeUpstream:
    """See the module docstring. ``routes`` maps a path (``{name}`` allowed) to a handler."""

    def __init__(self, routes: dict[str, Handler] | None = None, reply: str | None = None,
                 port: int = 0) -> None:
        from bastion.config.settings import FakeSettings

        self.fake = FakeProvider("upstream", FakeSettings(reply=reply))
        self.script: deque[Behavior] = deque()
        self.default = Behavior()
        # when set, calls with nothing scripted take ``chooser()`` instead of ``default``
        self.chooser: Callable[[], Behavior] | None = None
        self.received: list[Received] = []
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        for path, handler in (routes or OPENAI_ROUTES).items():
            self.app.router.add_post(path, self._wrap(handler))
        self._thread = LoopThread(self.app, port)

    @property
    def base_url(self) -> str:
        return self._thread.base_url

    def push(self, *behaviors: Behavior) -> None:
        self.script.extend(behaviors)

    @property
    def calls(self) -> int:
        return len(self.received)

    def _wrap(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            raw = await request.read()
            try:
                body = msgspec.json.decode(raw) if raw else None
            except msgspec.DecodeError:
                body = raw.decode("utf-8", "replace")
            self.received.append(Received(request.path_qs, dict(request.headers), body,
                                          time.monotonic()))
            if self.script:
                b = self.script.popleft()
            else:
                b = self.chooser() if self.chooser is not None else self.default
            if b.kind == "status":
                headers = dict(b.headers)
                if b.retry_after is not None:
                    headers["Retry-After"] = b.retry_after
                payload = b.body or json_encoder.encode(
                    {"error": {"message": f"fake upstream failure {b.status}",
                               "type": "server_error", "code": None}})
                return web.Response(status=b.status, body=payload, headers=headers,
                                    content_type="application/json")
            if b.kind == "hang":
                await asyncio.sleep(b.delay_s or 3600)
            if b.kind == "reset":
                assert request.transport is not None
                request.transport.abort()
                return web.Response()
            if b.kind == "slow_first_byte" and not (isinstance(body, dict) and body.get("stream")):
                await asyncio.sleep(b.delay_s)
            if b.kind == "ok" and b.delay_s:
                await asyncio.sleep(b.delay_s)
            return await handler(self, request, body, b)

        return handle

    def start(self) -> FakeUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
