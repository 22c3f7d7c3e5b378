"""The fake provider: answers locally, deterministically, with switchable faults.

It is public API: applications test their own integration against it, the demo
uses it, and the test suite's HTTP fake servers share its answer logic. With no
fixed ``reply`` it echoes the last user message; with ``tools`` offered (and
``tool_choice`` not ``"none"``) and a user turn last, it calls the first tool; with
a tool result last, it answers ``"The tool said: <result>"``. Its answers have the
exact OpenAI wire shape: tool calls typed ``"function"``, ``content`` null beside them.

Faults (``FakeSettings.faults``) are tried in order on each call: ``status``
(with optional ``Retry-After``), ``hang``, ``slow_first_byte``, ``malformed_json``,
``cut_stream`` (half the answer, then the connection drops) and
``connection_error``; ``times`` limits how often one fires, ``rate`` makes it random.

Asked for ``logprobs``, it gives each piece of its answer (``chunk_chars`` long, one
piece a stream chunk) the probability 0.99, or ``P`` when a message of the request
holds the marker ``[[p=P]]`` (so tests and demos can make confident and doubtful
answers at will).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
import time
from collections.abc import AsyncGenerator

import msgspec

from bastion.config.settings import FakeFault, FakeSettings
from bastion.core.errors import (
    ProviderBadResponse,
    ProviderConnectionError,
    ProviderStreamBroken,
    ProviderTimeout,
)
from bastion.core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    Embedding,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingUsage,
    FunctionCall,
    Message,
    ToolCall,
    Usage,
)
from bastion.providers.base import Call
from bastion.providers.http import error_for_status

_P_MARK = re.compile(r"\[\[p=(0(?:\.\d+)?|1(?:\.0+)?)\]\]")


def fake_probability(req: ChatRequest) -> float:
    """0.99, or the ``[[p=P]]`` a message of ``req`` names."""
    for m in req.messages:
        found = _P_MARK.search(m.text())
        if found:
            return float(found.group(1))
    return 0.99


def fake_logprob(piece: str, p: float) -> dict[str, object]:
    lp = math.log(p) if p > 0 else -9999.0
    return {"token": piece, "logprob": lp, "bytes": list(piece.encode()), "top_logprobs": []}


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters a token), never zero for text."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _prompt_text(req: ChatRequest) -> str:
    return "\n".join(m.text() for m in req.messages)


def fake_answer(req: ChatRequest, reply: str | None = None) -> Message:
    """The deterministic answer the fake gives to ``req``."""
    if req.tools and req.tool_choice != "none" and req.messages[-1].role == "user":
        fn = req.tools[0].get("function", {}).get("name", "tool")
        digest = hashlib.sha256(_prompt_text(req).encode()).hexdigest()[:24]
        args = msgspec.json.encode({"query": req.messages[-1].text()[:200]}).decode()
        return Message(role="assistant", content=None, tool_calls=[
            ToolCall(id=f"call_{digest}", type="function",
                     function=FunctionCall(name=fn, arguments=args))])
    if reply is None and req.messages[-1].role == "tool":
        reply = f"The tool said: {req.messages[-1].text()}"
    if reply is None:
        last = next((m.text() for m in reversed(req.messages) if m.role == "user"), "")
        reply = f"You said: {last}" if last else "Hello from Bastion's fake provider."
    limit = req.output_limit()
    if limit is not None and estimate_tokens(reply) > limit:
        reply = reply[: limit * 4]
    return Message(role="assistant", content=reply)


def fake_usage(req: ChatRequest, msg: Message) -> Usage:
    p = estimate_tokens(_prompt_text(req))
    out = msg.text() or "".join((t.function.arguments or "") for t in msg.tool_calls or [])
    c = estimate_tokens(out)
    return Usage(prompt_tokens=p, completion_tokens=c, total_tokens=p + c)


def fake_embedding(text: str, dims: int = 64) -> list[float]:
    """A deterministic unit vector for ``text``."""
    out: list[float] = []
    seed = text.encode()
    i = 0
    while len(out) < dims:
        block = hashlib.sha256(seed + i.to_bytes(4, "big")).digest()
        out.extend((b - 127.5) / 127.5 for b in block)
        i += 1
    vec = out[:dims]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


class FakeProvider:
    """An in-process provider with the behaviour described in the module docstring."""

    def __init__(self, name: str, settings: FakeSettings | None = None) -> None:
        self.name = name
        self.settings = settings or FakeSettings()
        self._fired = [0] * len(self.settings.faults)
        self._rng = random.Random(self.settings.seed)  # noqa: S311 - fault dice, not crypto
        self.calls = 0

    def _fault(self) -> FakeFault | None:
        for i, f in enumerate(self.settings.faults):
            if f.times is not None and self._fired[i] >= f.times:
                continue
            if f.rate < 1.0 and self._rng.random() >= f.rate:
                continue
            self._fired[i] += 1
            return f
        return None

    async def _before(self, call: Call, fault: FakeFault | None) -> None:
        self.calls += 1
        if self.settings.latency_ms:
            await asyncio.sleep(self.settings.latency_ms / 1000)
        if fault is None:
            return
        if fault.kind == "status":
            headers = {} if fault.retry_after_s is None else {
                "retry-after": str(fault.retry_after_s)}
            raise error_for_status(fault.status, headers, b'{"error":{"message":"fake fault"}}')
        if fault.kind == "connection_error":
            raise ProviderConnectionError()
        if fault.kind in ("hang", "slow_first_byte"):
            delay = call.timeouts.first_byte + 1 if fault.kind == "hang" else fault.delay_ms / 1000
            if delay >= call.timeouts.first_byte:
                await asyncio.sleep(call.timeouts.first_byte)
                raise ProviderTimeout()
            await asyncio.sleep(delay)
        if fault.kind == "malformed_json":
            raise ProviderBadResponse()

    def _response(self, req: ChatRequest, call: Call) -> ChatResponse:
        msg = fake_answer(req, self.settings.reply)
        finish = "tool_calls" if msg.tool_calls else "stop"
        n = req.n or 1
        logprobs = None
        if req.logprobs:
            p, step, text = fake_probability(req), self.settings.chunk_chars, msg.text()
            logprobs = {"content": [fake_logprob(text[i:i + step], p)
                                    for i in range(0, len(text), step)], "refusal": None}
        return ChatResponse(
            id="chatcmpl-fake-" + hashlib.sha256(_prompt_text(req).encode()).hexdigest()[:16],
            model=call.model, created=int(time.time()),
            choices=[Choice(index=i, message=msg, finish_reason=finish, logprobs=logprobs)
                     for i in range(n)],
            usage=fake_usage(req, msg),
        )

    async def complete(self, req: ChatRequest, call: Call) -> ChatResponse:
        await self._before(call, self._fault())
        return self._response(req, call)

    async def stream(self, req: ChatRequest, call: Call) -> AsyncGenerator[ChatChunk, None]:
        fault = self._fault()
        await self._before(call, fault if fault is None or fault.kind != "cut_stream" else None)
        resp = self._response(req, call)
        msg = resp.choices[0].message

        def chunk(choices: list[ChunkChoice], usage: Usage | None = None) -> ChatChunk:
            return ChatChunk(id=resp.id, model=resp.model, created=resp.created,
                             choices=choices, usage=usage)

        yield chunk([ChunkChoice(delta=Delta(role="assistant", content=""))])
        text = msg.text()
        step = self.settings.chunk_chars
        pieces = [text[i:i + step] for i in range(0, len(text), step)]
        if fault is not None and fault.kind == "cut_stream":
            for p in pieces[: max(1, len(pieces) // 2)]:
                yield chunk([ChunkChoice(delta=Delta(content=p))])
            raise ProviderStreamBroken()
        prob = fake_probability(req) if req.logprobs else None
        for p in pieces:
            yield chunk([ChunkChoice(delta=Delta(content=p), logprobs=None if prob is None else
                                     {"content": [fake_logprob(p, prob)]})])
        if msg.tool_calls:
            tcs = [ToolCall(index=i, id=t.id, type="function", function=t.function)
                   for i, t in enumerate(msg.tool_calls)]
            yield chunk([ChunkChoice(delta=Delta(tool_calls=tcs))])
        yield chunk([ChunkChoice(finish_reason=resp.choices[0].finish_reason)])
        yield chunk([], resp.usage)

    async def embed(self, req: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        await self._before(call, self._fault())
        texts = req.texts() or [str(req.input)]
        dims = req.dimensions or 64
        data = [Embedding(index=i, embedding=fake_embedding(t, dims)) for i, t in enumerate(texts)]
        tokens = sum(estimate_tokens(t) for t in texts)
        return EmbeddingResponse(data=data, model=call.model,
                                 usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens))

    async def aclose(self) -> None:
        return None


