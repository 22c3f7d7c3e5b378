"""The share of prompt tokens each alias gets from the providers' prompt caches, read from
each provider's usage fields (OpenAI ``prompt_tokens_details.cached_tokens``, Anthropic
``cache_read_input_tokens``, Gemini ``cachedContentTokenCount``), as a metric."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from aiohttp import web

from bastion.testing import Behavior, FakeUpstream, GatewayServer

from .conftest import SAY

OPENAI = {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4o",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                       "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1000, "completion_tokens": 5, "total_tokens": 1005,
                    "prompt_tokens_details": {"cached_tokens": 800}}}
ANTHROPIC = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
             "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
             "stop_sequence": None,
             "usage": {"input_tokens": 100, "output_tokens": 5,
                       "cache_read_input_tokens": 900, "cache_creation_input_tokens": 0}}
GEMINI = {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]},
                          "finishReason": "STOP", "index": 0}],
          "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 5,
                            "totalTokenCount": 1005, "cachedContentTokenCount": 500},
          "modelVersion": "gemini-x"}


def canned(body: dict[str, Any]) -> Any:
    async def handler(up: FakeUpstream, request: web.Request, _: Any,
                      b: Behavior) -> web.StreamResponse:
        return web.json_response(body)

    return handler


@pytest.fixture
def providers() -> Iterator[dict[str, FakeUpstream]]:
    ups = {
        "oa": FakeUpstream(routes={"/chat/completions": canned(OPENAI)}),
        "an": FakeUpstream(routes={"/v1/messages": canned(ANTHROPIC)}),
        "ge": FakeUpstream(routes={"/v1beta/models/{call}": canned(GEMINI)}),
    }
    for up in ups.values():
        up.start()
    yield ups
    for up in ups.values():
        up.stop()


def test_cached_token_share_per_alias_from_each_providers_usage(
    providers: dict[str, FakeUpstream],
) -> None:
    types = {"oa": "openai_compatible", "an": "anthropic", "ge": "gemini"}
    cfg = {"providers": {n: {"type": types[n], "base_url": up.base_url,
                             **({"api_key": "env:UP_KEY"} if n != "oa" else {})}
                         for n, up in providers.items()},
           "models": {n: {"targets": [f"{n}/{n}-model"]} for n in providers}}
    with GatewayServer(cfg, env={"UP_KEY": "up-key-123"}) as gw:
        c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
        for alias in ("oa", "an", "ge"):
            for _ in range(2):
                r = c.chat.completions.create(model=alias, messages=SAY)  # type: ignore[arg-type]
                assert r.usage is not None
                assert r.usage.prompt_tokens == 1000
        metrics = httpx.get(gw.base_url + "/metrics").text
    for alias, target, share in (("oa", "oa/oa-model", 0.8), ("an", "an/an-model", 0.9),
                                 ("ge", "ge/ge-model", 0.5)):
        assert f'bastion_cached_token_share{{alias="{alias}"}} {share}' in metrics
        cached = round(2000 * share)
        assert (f'bastion_tokens_total{{alias="{alias}",direction="cached",target="{target}"}}'
                f" {cached}.0") in metrics
        assert (f'bastion_tokens_total{{alias="{alias}",direction="prompt",target="{target}"}}'
                " 2000.0") in metrics
