"""The OpenAI front door, driven by the official openai SDK over real HTTP."""

from __future__ import annotations

import httpx
import openai
import pytest

from bastion.testing import GatewayServer, fake_settings


def client(gw: GatewayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0)


def test_chat_non_stream(gateway: GatewayServer) -> None:
    c = client(gateway, gateway.create_key())
    r = c.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hello"}])
    assert r.choices[0].message.content == "You said: hello"
    assert r.choices[0].finish_reason == "stop"
    assert r.object == "chat.completion"
    assert r.usage is not None
    assert r.usage.total_tokens > 0


def test_chat_stream_with_usage(gateway: GatewayServer) -> None:
    c = client(gateway, gateway.create_key())
    chunks = list(c.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "stream me please"}], stream=True,
        stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "You said: stream me please"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert all(ch.usage is None for ch in chunks[:-1])


def test_stream_without_usage_hides_usage_chunk(gateway: GatewayServer) -> None:
    c = client(gateway, gateway.create_key())
    chunks = list(c.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "x"}], stream=True))
    assert all(ch.usage is None for ch in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_tool_call_round_trip(gateway: GatewayServer) -> None:
    c = client(gateway, gateway.create_key())
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"query": {"type": "string"}}}}}]
    r = c.chat.completions.create(model="chat", tools=tools,  # type: ignore[arg-type]
                                  messages=[{"role": "user", "content": "find it"}])
    call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "lookup"  # type: ignore[union-attr]
    assert r.choices[0].finish_reason == "tool_calls"


def test_embeddings_and_models(gateway: GatewayServer) -> None:
    key = gateway.create_key(models=["chat"])
    c = client(gateway, key)
    assert [m.id for m in c.models.list()] == ["chat"]
    c2 = client(gateway, gateway.create_key())
    e = c2.embeddings.create(model="embeddings", input=["a", "b"])
    assert len(e.data) == 2
    assert len(e.data[0].embedding) == 64


@pytest.mark.parametrize("key", ["", "nope", "bst_" + "x" * 43, "sk-not-a-bastion-key"])
def test_bad_keys_get_401(gateway: GatewayServer, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    r = httpx.post(gateway.openai_base_url + "/chat/completions", headers=headers,
                   json={"model": "chat", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"


def test_scope_and_unknown_model(gateway: GatewayServer) -> None:
    c = client(gateway, gateway.create_key(models=["embeddings"]))
    with pytest.raises(openai.PermissionDeniedError) as e:
        c.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "model_not_allowed"
    c = client(gateway, gateway.create_key())
    with pytest.raises(openai.NotFoundError) as nf:
        c.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert nf.value.code == "model_not_found"


@pytest.mark.parametrize(("body", "status", "fragment"), [
    (b"{", 400, "not valid JSON"),
    (b'{"model": "chat", "messages": [{"role": 1}]}', 400, "messages[0].role"),
    (b'{"model": "chat", "messages": []}', 400, "at least one message"),
    (b'{"model": "chat", "messages": [{"role": "user", "content": "\xff"}]}', 400, "UTF-8"),
    (b'{"model": "chat", "messages": [], "bogus": 1}', 400, "bogus"),
    (b"", 400, "empty"),
])
def test_bad_input(gateway: GatewayServer, body: bytes, status: int, fragment: str) -> None:
    key = gateway.create_key()
    r = httpx.post(gateway.openai_base_url + "/chat/completions", content=body,
                   headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert r.status_code == status
    err = r.json()["error"]
    assert err["code"] == "invalid_request"
    assert fragment in err["message"]
    assert "Traceback" not in r.text


def test_oversized_body_gets_413() -> None:
    settings = fake_settings()
    settings["server"] = {"max_body_bytes": 2048}
    with GatewayServer(settings) as gw:
        key = gw.create_key()
        big = '{"model":"chat","messages":[{"role":"user","content":"' + "a" * 5000 + '"}]}'
        r = httpx.post(gw.openai_base_url + "/chat/completions", content=big,
                       headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "request_too_large"


def test_request_id_round_trip(gateway: GatewayServer) -> None:
    key = gateway.create_key()
    r = httpx.post(gateway.openai_base_url + "/chat/completions",
                   headers={"Authorization": f"Bearer {key}", "x-request-id": "req-123"},
                   json={"model": "chat", "messages": [{"role": "user", "content": "x"}]})
    assert r.headers["x-request-id"] == "req-123"
    r = httpx.get(gateway.base_url + "/nowhere")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_alias_kind_must_match_the_endpoint(gateway: GatewayServer) -> None:
    key = gateway.create_key()
    r = httpx.post(gateway.openai_base_url + "/embeddings", json={"model": "chat", "input": "x"},
                   headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 400
    assert "serves chat completions" in r.json()["error"]["message"]
    r = httpx.post(gateway.openai_base_url + "/chat/completions",
                   json={"model": "embeddings", "messages": [{"role": "user", "content": "x"}]},
                   headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 400
    assert "serves embeddings" in r.json()["error"]["message"]
