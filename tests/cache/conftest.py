"""Fixtures of the cache tests: gateways in front of counting FakeUpstreams, and an
upstream whose embeddings are bags of words (for the semantic cache)."""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import openai
import pytest
from aiohttp import web

from bastion.testing import Behavior, FakeUpstream, GatewayServer
from bastion.testing.upstream import OPENAI_ROUTES


class CacheKit:
    """Builds gateways (stopped at the end of the test) and asks them questions."""

    def __init__(self) -> None:
        self.started: list[GatewayServer | FakeUpstream] = []

    def settings(self, upstream: FakeUpstream, cache: dict[str, Any] | None = None,
                 top: dict[str, Any] | None = None, **alias: Any) -> dict[str, Any]:
        """One ``chat`` alias on an OpenAI-speaking FakeUpstream, with ``cache`` settings."""
        return {
            "providers": {"up": {"type": "openai", "base_url": upstream.base_url + "/v1",
                                 "api_key": "env:UP_KEY"}},
            "models": {"chat": {"targets": ["up/gpt-test"], "cache": cache or {},
                                "resilience": {"retry": {"max_attempts": 1}}, **alias}},
            **(top or {}),
        }

    def gateway(self, settings: dict[str, Any]) -> GatewayServer:
        gw = GatewayServer(settings, env={"UP_KEY": "sk-upstream-test"}).start()
        self.started.append(gw)
        return gw

    def upstream(self, **kwargs: Any) -> FakeUpstream:
        up = FakeUpstream(**kwargs).start()
        self.started.append(up)
        return up

    @staticmethod
    def client(gw: GatewayServer, key: str | None = None, **key_args: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=gw.openai_base_url, max_retries=0,
                             api_key=key or gw.create_key(**key_args))

    @staticmethod
    def ask(client: openai.OpenAI, text: str, headers: dict[str, str] | None = None,
            **params: Any) -> tuple[str | None, str | None]:
        """``(answer text, x-bastion-cache header)`` of one non-streaming call."""
        params.setdefault("temperature", 0)
        raw = client.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": text}], extra_headers=headers,
            **params)
        return raw.parse().choices[0].message.content, raw.headers.get("x-bastion-cache")

    def close(self) -> None:
        for part in reversed(self.started):
            part.stop()


@pytest.fixture
def kit() -> Iterator[CacheKit]:
    k = CacheKit()
    yield k
    k.close()


@pytest.fixture
def namespace() -> str:
    """A Redis/Postgres namespace of this test alone."""
    return "bastion_test_" + uuid.uuid4().hex[:12]


# Words the bag-of-words embedder ignores: it cannot tell a negation or a number apart,
# which is the blind spot of real embedders that the verifier is there for.
_STOP = {"the", "a", "an", "is", "are", "of", "on", "in", "me", "tell", "what", "please",
         "not", "for", "to", "and", "it", "its", "can", "you", "do", "does"}


def bag_vector(text: str, dims: int = 256) -> list[float]:
    vec = [0.0] * dims
    for w in re.findall(r"[a-z]+", text.lower()):
        if w not in _STOP:
            vec[int.from_bytes(hashlib.sha256(w.encode()).digest()[:4], "big") % dims] += 1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


async def bag_embeddings(up: FakeUpstream, request: web.Request, body: Any,
                         b: Behavior) -> web.StreamResponse:
    texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
    data = [{"object": "embedding", "index": i, "embedding": bag_vector(t)}
            for i, t in enumerate(texts)]
    return web.Response(body=msgspec.json.encode({
        "object": "list", "data": data, "model": body["model"],
        "usage": {"prompt_tokens": 1, "total_tokens": 1}}), content_type="application/json")


def semantic_settings(kit: CacheKit, up: FakeUpstream, top: dict[str, Any] | None = None,
                      **semantic: Any) -> dict[str, Any]:
    """A ``chat`` alias with the semantic cache, embedding through the ``embed`` alias."""
    s = kit.settings(up, {"semantic": {"threshold": 0.6, "embedder": "alias:embed",
                                       **semantic}}, top=top)
    s["models"]["embed"] = {"targets": ["up/bag-embed"], "kind": "embeddings"}
    return s


@pytest.fixture
def bag_upstream(kit: CacheKit) -> FakeUpstream:
    return kit.upstream(routes={**OPENAI_ROUTES, "/v1/embeddings": bag_embeddings})


def chat_calls(up: FakeUpstream) -> int:
    return sum(1 for r in up.received if r.path.endswith("/chat/completions"))
