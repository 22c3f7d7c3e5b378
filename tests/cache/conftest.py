"""Fixtures of the cache tests: gateways in front of counting FakeUpstreams."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from bastion.testing import FakeUpstream, GatewayServer


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
