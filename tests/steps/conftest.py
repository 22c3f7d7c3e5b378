"""A scripted OpenAI-style upstream: answers the given messages in turn, streamed or not."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import openai
import pytest
from aiohttp import web

from bastion.core.types import (
    ChatChunk,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    Message,
    ToolCall,
    Usage,
    json_encoder,
)
from bastion.testing import FakeUpstream, GatewayServer
from bastion.testing.upstream import Behavior, sse


def text(content: str) -> Message:
    return Message(role="assistant", content=content)


def tool_call(name: str, arguments: dict[str, Any]) -> Message:
    return Message(role="assistant", content=None, tool_calls=[ToolCall(
        id="call_1", type="function",
        function=FunctionCall(name=name, arguments=msgspec.json.encode(arguments).decode()))])


def _frames(msg: Message, step: int) -> list[bytes]:
    def frame(choice: ChunkChoice) -> bytes:
        c = ChatChunk(id="chatcmpl-s", model="m", created=int(time.time()), choices=[choice])
        return b"data: " + json_encoder.encode(c) + b"\n\n"

    out = [frame(ChunkChoice(delta=Delta(role="assistant", content="")))]
    body = msg.text()
    out += [frame(ChunkChoice(delta=Delta(content=body[i:i + step])))
            for i in range(0, len(body), step)]
    for i, t in enumerate(msg.tool_calls or []):
        args = t.function.arguments or ""
        out.append(frame(ChunkChoice(delta=Delta(tool_calls=[ToolCall(
            index=i, id=t.id, type="function",
            function=FunctionCall(name=t.function.name, arguments=""))]))))
        out += [frame(ChunkChoice(delta=Delta(tool_calls=[ToolCall(
            index=i, function=FunctionCall(arguments=args[j:j + step]))])))
            for j in range(0, len(args), step)]
    finish = "tool_calls" if msg.tool_calls else "stop"
    out.append(frame(ChunkChoice(finish_reason=finish)))
    out.append(b"data: [DONE]\n\n")
    return out


class Scripted:
    """Answers ``answers`` in order (the last one repeats); records the bodies it got."""

    def __init__(self, answers: list[Message], step: int = 7) -> None:
        self.answers = answers
        self.step = step
        self.bodies: list[Any] = []

    async def handle(self, up: FakeUpstream, request: web.Request, body: Any,
                     b: Behavior) -> web.StreamResponse:
        self.bodies.append(body)
        msg = self.answers[min(len(self.bodies) - 1, len(self.answers) - 1)]
        if body.get("stream"):
            return await sse(request, _frames(msg, self.step))
        resp = ChatResponse(id="chatcmpl-s", model=body["model"], created=int(time.time()),
                            choices=[Choice(message=msg, finish_reason="tool_calls"
                                            if msg.tool_calls else "stop")],
                            usage=Usage(prompt_tokens=10, completion_tokens=10,
                                        total_tokens=20))
        return web.Response(body=json_encoder.encode(resp), content_type="application/json")


@pytest.fixture
def scripted() -> Iterator[Callable[[list[Message]], tuple[FakeUpstream, Scripted]]]:
    """``make(answers)`` starts an upstream that answers ``answers`` in turn."""
    started: list[FakeUpstream] = []

    def make(answers: list[Message]) -> tuple[FakeUpstream, Scripted]:
        script = Scripted(answers)
        up = FakeUpstream(routes={"/v1/chat/completions": script.handle}).start()
        started.append(up)
        return up, script

    yield make
    for up in started:
        up.stop()


def settings_for(up: FakeUpstream, guards: dict[str, Any] | None = None,
                 alias_guards: dict[str, Any] | None = None) -> dict[str, Any]:
    """Gateway settings with one ``chat`` alias on ``up``.

    The input injection guard is off unless ``guards`` sets it: these tests drive attacks
    through to the output checks and the tool firewall, which must hold on their own."""
    alias: dict[str, Any] = {"targets": ["up/gpt-test"]}
    if alias_guards is not None:
        alias["guards"] = alias_guards
    return {
        "providers": {"up": {"type": "openai", "base_url": up.base_url + "/v1",
                             "api_key": "env:UP_KEY"}},
        "guards": {"injection": "off", **(guards or {})},
        "models": {"chat": alias},
    }


@pytest.fixture
def gateways() -> Iterator[Callable[[dict[str, Any]], GatewayServer]]:
    """``make(settings)`` starts a gateway whose ``env:UP_KEY`` is set, stopped after."""
    started: list[GatewayServer] = []

    def make(settings: dict[str, Any]) -> GatewayServer:
        gw = GatewayServer(settings, env={"UP_KEY": "sk-upstream-test"}).start()
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


def oa(gw: GatewayServer) -> openai.OpenAI:
    """The official OpenAI client on ``gw`` with a fresh key."""
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
