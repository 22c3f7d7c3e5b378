"""The OpenAI adapter in its three styles (openai, azure_openai, openai_compatible),
end to end: the openai SDK → a real gateway → an OpenAI-speaking FakeUpstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from bastion.testing import Behavior, FakeUpstream, GatewayServer
from bastion.testing.upstream import OPENAI_ROUTES, openai_chat, openai_embeddings

PROVIDER_KEY = "sk-proj-test-provider-key-0123456789abcdef"
AZURE_KEY = "0123456789abcdef0123456789abcdef"
NO_RETRY = {"retry": {"max_attempts": 1}, "breaker": {"enabled": False}}
AZURE_ROUTES = {
    "/openai/deployments/{deployment}/chat/completions": openai_chat,
    "/openai/deployments/{deployment}/embeddings": openai_embeddings,
}


@pytest.fixture(scope="module")
def upstream_oa() -> Iterator[FakeUpstream]:
    with FakeUpstream(routes={**OPENAI_ROUTES, **AZURE_ROUTES}) as up:
        yield up


@pytest.fixture(scope="module")
def gw(upstream_oa: FakeUpstream) -> Iterator[GatewayServer]:
    base = upstream_oa.base_url
    settings = {
        "providers": {
            "oa": {"type": "openai", "base_url": base + "/v1", "api_key": "env:OA_KEY"},
            "az": {"type": "azure_openai", "base_url": base, "api_key": "env:AZ_KEY",
                   "api_version": "2024-10-21"},
            "local": {"type": "openai_compatible", "base_url": base + "/v1",
                      "headers": {"x-tenant": "t1"}},
        },
        "models": {
            "chat": {"targets": ["oa/gpt-4o-mini"]},
            "azure": {"targets": ["az/my-deployment"]},
            "local": {"targets": ["local/llama3.2"]},
            "embeddings": {"targets": ["oa/text-embedding-3-small"], "kind": "embeddings"},
            "azure-embed": {"targets": ["az/embed-deployment"], "kind": "embeddings"},
        },
        "resilience": NO_RETRY,
    }
    with GatewayServer(settings, env={"OA_KEY": PROVIDER_KEY, "AZ_KEY": AZURE_KEY}) as server:
        yield server


@pytest.fixture
def up(upstream_oa: FakeUpstream) -> FakeUpstream:
    upstream_oa.received.clear()
    upstream_oa.script.clear()
    return upstream_oa


def hello(c: openai.OpenAI, model: str = "chat", **kw: Any) -> Any:
    return c.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                     **kw)


def no_virtual_key(up: FakeUpstream, vkey: str) -> None:
    for r in up.received:
        assert vkey not in json.dumps(r.headers) + json.dumps(r.body)


def test_openai_style(client: openai.OpenAI, up: FakeUpstream, vkey: str) -> None:
    r = hello(client, temperature=0.5, user="u-1")
    assert r.choices[0].message.content == "You said: hi"
    sent = up.received[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["Authorization"] == f"Bearer {PROVIDER_KEY}"
    assert sent.body["model"] == "gpt-4o-mini"  # the vendor's name, not the alias
    assert sent.body["temperature"] == 0.5
    assert sent.body["user"] == "u-1"
    assert "stream" not in sent.body
    no_virtual_key(up, vkey)


def test_azure_style(client: openai.OpenAI, up: FakeUpstream, vkey: str) -> None:
    assert hello(client, "azure").choices[0].message.content == "You said: hi"
    sent = up.received[-1]
    assert sent.path == ("/openai/deployments/my-deployment/chat/completions"
                         "?api-version=2024-10-21")
    assert sent.headers["api-key"] == AZURE_KEY
    assert "Authorization" not in sent.headers
    e = client.embeddings.create(model="azure-embed", input="x")
    assert len(e.data[0].embedding) == 64
    assert up.received[-1].path == ("/openai/deployments/embed-deployment/embeddings"
                                    "?api-version=2024-10-21")
    no_virtual_key(up, vkey)


def test_compatible_style_without_key(client: openai.OpenAI, up: FakeUpstream,
                                      vkey: str) -> None:
    assert hello(client, "local").choices[0].message.content == "You said: hi"
    sent = up.received[-1]
    assert "Authorization" not in sent.headers
    assert "api-key" not in sent.headers
    assert sent.headers["x-tenant"] == "t1"
    no_virtual_key(up, vkey)


def test_stream_always_asks_for_usage(client: openai.OpenAI, up: FakeUpstream) -> None:
    chunks = list(hello(client, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "You said: hi")
    assert all(c.usage is None for c in chunks)  # the client did not ask for it
    assert up.received[-1].body["stream_options"] == {"include_usage": True}
    chunks = list(hello(client, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens > 0


def test_tool_calls(client: openai.OpenAI, up: FakeUpstream) -> None:
    tools: Any = [{"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"query": {"type": "string"}}}}}]
    r = client.chat.completions.create(model="chat", tools=tools,
                                       messages=[{"role": "user", "content": "find it"}])
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.choices[0].message.tool_calls[0].function.name == "lookup"  # type: ignore[index,union-attr]
    assert up.received[-1].body["tools"] == tools
    chunks = list(client.chat.completions.create(
        model="chat", tools=tools, stream=True, messages=[{"role": "user", "content": "x"}]))
    calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or []]
    assert calls[0].function.name == "lookup"  # type: ignore[union-attr]


def test_embeddings(client: openai.OpenAI, up: FakeUpstream) -> None:
    e = client.embeddings.create(model="embeddings", input=["a", "b"], dimensions=8)
    assert [len(d.embedding) for d in e.data] == [8, 8]
    sent = up.received[-1]
    assert sent.path == "/v1/embeddings"
    assert sent.body["model"] == "text-embedding-3-small"
    assert sent.body["dimensions"] == 8


def test_vendor_4xx_is_upstream_rejected_and_scrubbed(client: openai.OpenAI,
                                                      up: FakeUpstream) -> None:
    body = json.dumps({"error": {
        "message": ("This model's maximum context length is 128000 tokens. "
                    f"(key {PROVIDER_KEY}, org sk-other-secret-abcdef123456)"),
        "type": "invalid_request_error", "code": "context_length_exceeded"}}).encode()
    up.push(Behavior(kind="status", status=400, body=body))
    with pytest.raises(openai.BadRequestError) as e:
        hello(client)
    assert e.value.code == "upstream_rejected"
    text = e.value.response.text
    assert "maximum context length is 128000 tokens" in text
    assert PROVIDER_KEY not in text
    assert "sk-other-secret" not in text
    assert "[redacted]" in text


@pytest.mark.parametrize("status", [401, 403])
def test_vendor_auth_failure_is_not_leaked(client: openai.OpenAI, up: FakeUpstream,
                                          status: int) -> None:
    body = json.dumps({"error": {
        "message": f"Incorrect API key provided: {PROVIDER_KEY[:8]}****cdef.",
        "type": "invalid_request_error", "code": "invalid_api_key"}}).encode()
    up.push(Behavior(kind="status", status=status, body=body))
    with pytest.raises(openai.InternalServerError) as e:
        hello(client)
    assert e.value.status_code == 503
    assert e.value.code == "upstream_unavailable"
    assert "Incorrect API key" not in e.value.response.text
    assert PROVIDER_KEY[:8] not in e.value.response.text


def test_vendor_429_and_malformed(client: openai.OpenAI, up: FakeUpstream) -> None:
    up.push(Behavior(kind="status", status=429, retry_after="3"))
    with pytest.raises(openai.InternalServerError) as e:
        hello(client)
    assert e.value.response.headers["retry-after"] == "3"
    up.push(Behavior(kind="malformed"))
    with pytest.raises(openai.InternalServerError):
        hello(client)
    up.push(Behavior(kind="cut_stream"))
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(
            model="chat", stream=True,
            messages=[{"role": "user", "content": "a long enough sentence to be cut"}]))


def test_unreadable_key_falls_back(upstream_oa: FakeUpstream, tmp_path: Any) -> None:
    """A key that cannot be read is a provider failure (the next target answers), not a
    crash; that holds for the Gemini and Anthropic adapters too."""
    base = upstream_oa.base_url
    settings = {
        "providers": {
            "broken": {"type": "openai", "base_url": base + "/v1",
                       "api_key": f"file:{tmp_path}/missing.key"},
            "gem-broken": {"type": "gemini", "base_url": base, "api_key": "env:NOT_SET"},
            "anth-broken": {"type": "anthropic", "base_url": base, "api_key": "env:NOT_SET"},
            "oa": {"type": "openai", "base_url": base + "/v1", "api_key": "env:OA_KEY"},
        },
        "models": {"chat": {"targets": ["broken/gpt-4o-mini", "gem-broken/gemini-2.5-flash",
                                        "anth-broken/claude-haiku-4-5", "oa/gpt-4o-mini"]},
                   "only-broken": {"targets": ["broken/gpt-4o-mini"]}},
        "resilience": NO_RETRY,
    }
    with GatewayServer(settings, env={"OA_KEY": PROVIDER_KEY}) as gw:
        c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
        upstream_oa.received.clear()
        assert hello(c).choices[0].message.content == "You said: hi"
        assert [r.headers["Authorization"] for r in upstream_oa.received] == [
            f"Bearer {PROVIDER_KEY}"]
        with pytest.raises(openai.InternalServerError) as e:
            hello(c, "only-broken")
        assert e.value.code == "upstream_unavailable"
        assert "missing.key" not in e.value.response.text
