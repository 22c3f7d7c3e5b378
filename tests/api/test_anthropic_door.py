"""The Anthropic front door, driven by the official anthropic SDK over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import msgspec
import pytest

from bastion.testing import GatewayServer, fake_settings

TOOLS: Any = [{"name": "lookup", "description": "Look a thing up.",
               "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}}]


def client(gw: GatewayServer, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.base_url, api_key=key, max_retries=0)


@pytest.fixture
def ac(gateway: GatewayServer) -> anthropic.Anthropic:
    return client(gateway, gateway.create_key())


def raw_events(gw: GatewayServer, key: str, body: dict[str, Any]) -> list[tuple[str, Any]]:
    """The SSE events of a streamed answer, as (event, data) pairs, read without an SDK."""
    r = httpx.post(gw.base_url + "/v1/messages", json={**body, "stream": True},
                   headers={"x-api-key": key, "anthropic-version": "2023-06-01"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    out = []
    for frame in r.text.split("\n\n"):
        if not frame.strip():
            continue
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        data = msgspec.json.decode(lines["data"])
        assert data["type"] == lines["event"]
        out.append((lines["event"], data))
    return out


def test_message_non_stream(gateway: GatewayServer, ac: anthropic.Anthropic) -> None:
    r = ac.messages.create(model="chat", max_tokens=100, system="Be brief.",
                           messages=[{"role": "user", "content": "hello"}])
    assert r.type == "message"
    assert r.role == "assistant"
    assert r.id.startswith("msg_")
    assert r.model == "chat"
    assert [b.type for b in r.content] == ["text"]
    assert r.content[0].text == "You said: hello"  # type: ignore[union-attr]
    assert r.stop_reason == "end_turn"
    assert r.stop_sequence is None
    assert r.usage.input_tokens > 0
    assert r.usage.output_tokens > 0


def test_bearer_auth_and_content_blocks(gateway: GatewayServer) -> None:
    c = anthropic.Anthropic(base_url=gateway.base_url, auth_token=gateway.create_key(),
                            api_key=None, max_retries=0)
    r = c.messages.create(model="chat", max_tokens=100, system=[{"type": "text", "text": "S"}],
                          messages=[{"role": "user", "content": [
                              {"type": "text", "text": "blocks"},
                              {"type": "image", "source": {"type": "base64",
                                                           "media_type": "image/png",
                                                           "data": "iVBORw0KGgo="}}]}])
    assert r.content[0].text == "You said: blocks"  # type: ignore[union-attr]


def test_stream_helper(ac: anthropic.Anthropic) -> None:
    with ac.messages.stream(model="chat", max_tokens=100,
                            messages=[{"role": "user", "content": "stream me please"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "You said: stream me please"
    assert final.content[0].text == text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.model == "chat"
    assert final.usage.output_tokens > 0
    assert final.usage.input_tokens > 0


def test_raw_stream_event_sequence(gateway: GatewayServer) -> None:
    key = gateway.create_key()
    events = raw_events(gateway, key, {"model": "chat", "max_tokens": 50,
                                       "messages": [{"role": "user", "content": "hi there"}]})
    names = [e for e, _ in events]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    assert names[1] == "content_block_start"
    assert set(names[2:-3]) == {"content_block_delta"}
    assert names[-3] == "content_block_stop"
    start = events[0][1]["message"]
    assert start["content"] == []
    assert start["stop_reason"] is None
    assert start["model"] == "chat"
    assert "input_tokens" in start["usage"]
    text = "".join(d["delta"]["text"] for e, d in events if e == "content_block_delta")
    assert text == "You said: hi there"
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] > 0


def test_sdk_raw_stream(ac: anthropic.Anthropic) -> None:
    stream = ac.messages.create(model="chat", max_tokens=100, stream=True,
                                messages=[{"role": "user", "content": "raw"}])
    types = [ev.type for ev in stream]
    assert types[0] == "message_start"
    assert types[-1] == "message_stop"


def test_tool_use_and_result_round_trip(ac: anthropic.Anthropic) -> None:
    first = ac.messages.create(model="chat", max_tokens=100, tools=TOOLS,
                               tool_choice={"type": "auto"},
                               messages=[{"role": "user", "content": "find the answer"}])
    assert first.stop_reason == "tool_use"
    use = first.content[-1]
    assert use.type == "tool_use"
    assert use.name == "lookup"
    assert use.input == {"query": "find the answer"}
    second = ac.messages.create(model="chat", max_tokens=100, tools=TOOLS, messages=[
        {"role": "user", "content": "find the answer"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True)  # type: ignore[misc]
                                          for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                      "content": "42"}]}])
    assert second.stop_reason == "end_turn"
    # the fake answers a tool result with it
    assert second.content[0].text == "The tool said: 42"  # type: ignore[union-attr]


def test_tool_use_stream(gateway: GatewayServer, ac: anthropic.Anthropic) -> None:
    with ac.messages.stream(model="chat", max_tokens=100, tools=TOOLS,
                            messages=[{"role": "user", "content": "look it up"}]) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "tool_use"
    assert final.content[0].input == {"query": "look it up"}
    events = raw_events(gateway, gateway.create_key(), {
        "model": "chat", "max_tokens": 50, "tools": TOOLS,
        "messages": [{"role": "user", "content": "look it up"}]})
    start = next(d for e, d in events if e == "content_block_start")
    assert start["content_block"]["type"] == "tool_use"
    assert start["content_block"]["input"] == {}
    deltas = [d["delta"] for e, d in events if e == "content_block_delta"]
    assert {d["type"] for d in deltas} == {"input_json_delta"}
    assert msgspec.json.decode("".join(d["partial_json"] for d in deltas)) == {
        "query": "look it up"}


def test_count_tokens(ac: anthropic.Anthropic) -> None:
    short = ac.messages.count_tokens(model="chat", messages=[{"role": "user", "content": "hi"}])
    long = ac.messages.count_tokens(model="chat", tools=TOOLS,
                                    messages=[{"role": "user", "content": "hi " * 200}])
    assert 0 < short.input_tokens < long.input_tokens


@pytest.mark.parametrize("key", ["sk-ant-api03-not-ours", "nope", "bst_" + "x" * 43])
def test_bad_key_is_authentication_error(gateway: GatewayServer, key: str) -> None:
    with pytest.raises(anthropic.AuthenticationError) as e:
        client(gateway, key).messages.create(
            model="chat", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    body: Any = e.value.body
    assert body["error"]["type"] == "authentication_error"
    assert body["error"]["code"] == "invalid_api_key"
    assert body["type"] == "error"


def test_missing_max_tokens_is_bad_request(gateway: GatewayServer) -> None:
    r = httpx.post(gateway.base_url + "/v1/messages",
                   headers={"x-api-key": gateway.create_key()},
                   json={"model": "chat", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "invalid_request"
    assert "max_tokens" in err["message"]


def test_unknown_model_and_scope(gateway: GatewayServer, ac: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as nf:
        ac.messages.create(model="nope", max_tokens=10,
                           messages=[{"role": "user", "content": "x"}])
    assert nf.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    scoped = client(gateway, gateway.create_key(models=["embeddings"]))
    with pytest.raises(anthropic.PermissionDeniedError) as pd:
        scoped.messages.create(model="chat", max_tokens=10,
                               messages=[{"role": "user", "content": "x"}])
    assert pd.value.body["error"]["code"] == "model_not_allowed"  # type: ignore[index]


@pytest.mark.parametrize(("body", "fragment"), [
    (b"{", "not valid JSON"),
    (b'{"model": "chat", "max_tokens": 5, "messages": []}', "at least one message"),
    (b'{"model": "chat", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}',
     "messages[0].role"),
    (b'{"model": "chat", "max_tokens": 5, "bogus": 1, "messages": []}', "bogus"),
    (b'{"model": "chat", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}',
     "max_tokens"),
    (b'{"model": "chat", "max_tokens": 5, "temperature": 1.5,'
     b' "messages": [{"role": "user", "content": "x"}]}', "temperature"),
    (b'{"model": "chat", "max_tokens": 5, "tools": [{"type": "web_search_20250305",'
     b' "name": "web_search"}], "messages": [{"role": "user", "content": "x"}]}', "server tools"),
    (b'{"model": "chat", "max_tokens": 5, "messages": [{"role": "user", "content": ['
     b'{"type": "document", "source": {"type": "url", "url": "http://x"}}]}]}', "inline"),
    (b'{"model": "chat", "max_tokens": 5, "mcp_servers": [],'
     b' "messages": [{"role": "user", "content": "x"}]}', "mcp_servers"),
])
def test_bad_input_is_anthropic_shaped(gateway: GatewayServer, body: bytes,
                                       fragment: str) -> None:
    r = httpx.post(gateway.base_url + "/v1/messages", content=body,
                   headers={"x-api-key": gateway.create_key(),
                            "content-type": "application/json"})
    assert r.status_code == 400
    data = r.json()
    assert data["type"] == "error"
    assert data["error"]["type"] == "invalid_request_error"
    assert fragment in data["error"]["message"]


def test_unknown_path_under_messages_is_anthropic_shaped(gateway: GatewayServer) -> None:
    r = httpx.post(gateway.base_url + "/v1/messages/nope", json={})
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "not_found_error"


def stream_text(c: anthropic.Anthropic, prompt: str) -> str:
    with c.messages.stream(model="chat", max_tokens=50,
                           messages=[{"role": "user", "content": prompt}]) as s:
        return "".join(s.text_stream)


@pytest.fixture
def cut_gateway() -> Iterator[GatewayServer]:
    settings = fake_settings()
    settings["providers"]["fake"]["fake"] = {"faults": [{"kind": "cut_stream"}],
                                             "chunk_chars": 4}
    with GatewayServer(settings) as gw:
        yield gw


def test_mid_stream_failure_ends_with_error_event(cut_gateway: GatewayServer) -> None:
    key = cut_gateway.create_key()
    events = raw_events(cut_gateway, key, {
        "model": "chat", "max_tokens": 50,
        "messages": [{"role": "user", "content": "a fairly long message to cut"}]})
    assert events[0][0] == "message_start"
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["type"] == "overloaded_error"
    assert events[-1][1]["error"]["code"] == "upstream_unavailable"
    assert "message_stop" not in [e for e, _ in events]
    with pytest.raises(anthropic.APIStatusError):
        stream_text(client(cut_gateway, key), "a fairly long message to cut")
