"""Hostile and sloppy clients over real HTTP: every bad body gets a clear 4xx in the
dialect's error shape with a stable code, and the gateway stays healthy."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bastion.testing import GatewayServer, fake_settings

CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
MSG = {"model": "chat", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
DEEP = b"[" * 100_000 + b"]" * 100_000
# Nothing a person reads may carry a trace, a file path, a host name or a key.
LEAKS = re.compile(r"Traceback|File \"|/work/|/home/|site-packages|\.py\b|127\.0\.0\.1|"
                   r"localhost|bst_[A-Za-z0-9_-]{8}|test-master-key")


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayServer]:
    settings = {**fake_settings(), "server": {"max_body_bytes": 1 << 20, "body_timeout_s": 0.5}}
    with GatewayServer(settings) as g:
        yield g


@pytest.fixture(scope="module")
def key(gw: GatewayServer) -> str:
    return gw.create_key("hostile")


def with_(base: dict[str, Any], **fields: Any) -> bytes:
    return json.dumps({**base, **fields}).encode()


def user(content: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


def check_error(r: httpx.Response, status: int, code: str, shape: str = "openai") -> str:
    """The error is ``status`` with ``code`` in the dialect's shape; its message is returned
    after checking it reads as a sentence and leaks nothing."""
    assert r.status_code == status, r.text[:500]
    body = r.json()
    if shape == "anthropic":
        assert body["type"] == "error"
        assert isinstance(body["error"]["type"], str)
    err = body["error"]
    assert err["code"] == code, err
    msg = err["message"]
    assert isinstance(msg, str)
    assert 10 < len(msg) < 400, msg
    assert not LEAKS.search(msg), msg
    assert r.headers["x-request-id"]
    return str(msg)


def healthy(gw: GatewayServer, key: str) -> None:
    r = httpx.post(gw.openai_base_url + "/chat/completions", json=CHAT,
                   headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == "You said: hi"


CHAT_BAD: dict[str, bytes] = {
    "not json": b"hello",
    "array": b"[1, 2]",
    "number": b"3",
    "string": b'"chat"',
    "null": b"null",
    "deep array": DEEP,
    "deep inside a free-form field": b'{"model":"chat","messages":[],"tools":[{"a":'
                                     + DEEP + b"}]}",
    "trailing garbage": json.dumps(CHAT).encode() + b" xyz",
    "NaN": b'{"model":"chat","messages":[{"role":"user","content":"x"}],"temperature":NaN}',
    "invalid utf-8": b'{"model":"chat","messages":[{"role":"user","content":"\xff\xfe"}]}',
    "lone surrogate": b'{"model":"chat","messages":[{"role":"user","content":"\\ud800"}]}',
    "model int": with_(CHAT, model=3),
    "model empty": with_(CHAT, model=""),
    "model huge": with_(CHAT, model="m" * 100_000),
    "model control chars": with_(CHAT, model="chat\r\nX-Evil: 1\x1b[31m"),
    "model NUL": with_(CHAT, model="chat\x00"),
    "messages string": with_(CHAT, messages="hi"),
    "messages empty": with_(CHAT, messages=[]),
    "message not object": with_(CHAT, messages=["hi"]),
    "unknown role": with_(CHAT, messages=[{"role": "wizard", "content": "x"}]),
    "missing role": with_(CHAT, messages=[{"content": "x"}]),
    "user content null": with_(CHAT, messages=[{"role": "user", "content": None}]),
    "content int": with_(CHAT, messages=user(5)),
    "part unknown type": with_(CHAT, messages=user([{"type": "blob"}])),
    "part without type": with_(CHAT, messages=user([{"text": "x"}])),
    "text part without text": with_(CHAT, messages=user([{"type": "text"}])),
    "text part with int text": with_(CHAT, messages=user([{"type": "text", "text": 5}])),
    "image part url int": with_(CHAT, messages=user([{"type": "image_url",
                                                      "image_url": {"url": 5}}])),
    "part string": with_(CHAT, messages=user(["hi"])),
    "tool message without tool_call_id": with_(CHAT, messages=[
        {"role": "user", "content": "x"}, {"role": "tool", "content": "r"}]),
    "assistant tool call without name": with_(CHAT, messages=[
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                                              "function": {"arguments": "{}"}}]}]),
    "n 0": with_(CHAT, n=0),
    "n negative": with_(CHAT, n=-1),
    "n huge": with_(CHAT, n=10**30),
    "max_tokens negative": with_(CHAT, max_tokens=-1),
    "max_tokens 0": with_(CHAT, max_tokens=0),
    "max_tokens absurd": with_(CHAT, max_tokens=10**30),
    "max_completion_tokens negative": with_(CHAT, max_completion_tokens=-5),
    "temperature 5": with_(CHAT, temperature=5),
    "temperature negative": with_(CHAT, temperature=-1),
    "temperature out of float range": b'{"model":"chat","messages":[],"temperature":1e400}',
    "top_p 2": with_(CHAT, top_p=2),
    "presence_penalty 5": with_(CHAT, presence_penalty=5),
    "logit_bias 500": with_(CHAT, logit_bias={"1": 500}),
    "seed beyond 64 bits": with_(CHAT, seed=10**30),
    "stream string": with_(CHAT, stream="true"),
    "stream_options without stream": with_(CHAT, stream_options={"include_usage": True}),
    "tools not objects": with_(CHAT, tools=["x"]),
    "tool function a string": with_(CHAT, tools=[{"type": "function", "function": "f"}]),
    "tool without name": with_(CHAT, tools=[{"type": "function", "function": {}}]),
    "tool parameters an array": with_(CHAT, tools=[{"type": "function", "function": {
        "name": "f", "parameters": []}}]),
    "tool of unknown type": with_(CHAT, tools=[{"type": "magic", "magic": {"name": "f"}}]),
    "tool_choice names an absent tool": with_(
        CHAT, tools=[{"type": "function", "function": {"name": "f"}}],
        tool_choice={"type": "function", "function": {"name": "g"}}),
    "tool_choice without tools": with_(
        CHAT, tool_choice={"type": "function", "function": {"name": "g"}}),
    "tool_choice unknown word": with_(CHAT, tool_choice="sometimes"),
    "response_format unknown": with_(CHAT, response_format={"type": "xml"}),
    "json_schema without name": with_(CHAT, response_format={"type": "json_schema",
                                                             "json_schema": {}}),
    "unknown field": with_(CHAT, frobnicate=True),
    "empty body": b"",
}


@pytest.mark.parametrize("body", CHAT_BAD.values(), ids=CHAT_BAD.keys())
def test_chat_refuses_bad_bodies(gw: GatewayServer, key: str, body: bytes) -> None:
    r = httpx.post(gw.openai_base_url + "/chat/completions", content=body,
                   headers={"Authorization": f"Bearer {key}",
                            "Content-Type": "application/json"})
    check_error(r, 400, "invalid_request")


def test_bad_field_errors_name_the_parameter(gw: GatewayServer, key: str) -> None:
    r = httpx.post(gw.openai_base_url + "/chat/completions", content=CHAT_BAD["tool without name"],
                   headers={"Authorization": f"Bearer {key}"})
    assert r.json()["error"]["param"] == "tools[0].function.name"
    r = httpx.post(gw.openai_base_url + "/chat/completions", content=CHAT_BAD["model int"],
                   headers={"Authorization": f"Bearer {key}"})
    assert r.json()["error"]["param"] == "model"


ACCEPTED: dict[str, bytes] = {
    "NUL byte in content": with_(CHAT, messages=user("a\x00b")),
    "UTF-8 byte order mark": b"\xef\xbb\xbf" + json.dumps(CHAT).encode(),
    "many messages": with_(CHAT, messages=[{"role": "user", "content": "x"}] * 3000),
    "max_tokens large but possible": with_(CHAT, max_tokens=200_000),
    "duplicate keys (last wins)": b'{"model":"nope","model":"chat","messages":'
                                  b'[{"role":"user","content":"hi"}]}',
}


@pytest.mark.parametrize("body", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_chat_accepts_odd_but_valid_bodies(gw: GatewayServer, key: str, body: bytes) -> None:
    r = httpx.post(gw.openai_base_url + "/chat/completions?api-version=1", content=body,
                   headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text


def test_model_names_from_clients_stay_out_of_metrics(gw: GatewayServer, key: str) -> None:
    def series() -> int:
        text = httpx.get(gw.base_url + "/metrics").text
        return sum(1 for line in text.splitlines() if line.startswith("bastion_requests_total"))

    headers = {"Authorization": f"Bearer {key}"}
    httpx.post(gw.openai_base_url + "/chat/completions", headers=headers,
               content=with_(CHAT, model="warm-up-name"))
    before = series()
    for i in range(30):
        r = httpx.post(gw.openai_base_url + "/chat/completions", headers=headers,
                       content=with_(CHAT, model=f"random-model-{i}/../x"))
        check_error(r, 404, "model_not_found")
    assert series() == before
    assert "random-model" not in httpx.get(gw.base_url + "/metrics").text


ANTHROPIC_BAD: dict[str, bytes] = {
    "not json": b"hello",
    "array": b"[]",
    "null": b"null",
    "deep": b'{"model":"chat","max_tokens":5,"messages":[],"metadata":{"a":' + DEEP + b"}}",
    "no max_tokens": with_(MSG, max_tokens=None),
    "max_tokens negative": with_(MSG, max_tokens=-1),
    "max_tokens absurd": with_(MSG, max_tokens=10**30),
    "system role in messages": with_(MSG, messages=[{"role": "system", "content": "x"}]),
    "unknown block": with_(MSG, messages=user([{"type": "blob"}])),
    "text block without text": with_(MSG, messages=user([{"type": "text"}])),
    "text block with int text": with_(MSG, messages=user([{"type": "text", "text": 3}])),
    "document content of wrong shape": with_(MSG, messages=user([{
        "type": "document", "source": {"type": "content", "content": [{"x": 1}]}}])),
    "document content an int": with_(MSG, messages=user([{
        "type": "document", "source": {"type": "content", "content": 5}}])),
    "document text an int": with_(MSG, messages=user([{
        "type": "document", "source": {"type": "text", "data": 5}}])),
    "image data an int": with_(MSG, messages=user([{
        "type": "image", "source": {"type": "base64", "data": 5, "media_type": "image/png"}}])),
    "temperature 5": with_(MSG, temperature=5),
    "stream string": with_(MSG, stream="yes"),
    "tool without name": with_(MSG, tools=[{"input_schema": {}}]),
    "tool schema an array": with_(MSG, tools=[{"name": "f", "input_schema": []}]),
    "tool_choice names an absent tool": with_(
        MSG, tools=[{"name": "f", "input_schema": {"type": "object"}}],
        tool_choice={"type": "tool", "name": "g"}),
    "tool_result without id": with_(MSG, messages=user([{"type": "tool_result",
                                                         "content": "x"}])),
    "tool_use without name": with_(MSG, messages=[
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "input": {}}]}]),
    "metadata user_id an int": with_(MSG, metadata={"user_id": 5}),
    "model huge": with_(MSG, model="m" * 5000),
    "model NUL": with_(MSG, model="chat\x00"),
    "lone surrogate": b'{"model":"chat","max_tokens":5,"messages":'
                      b'[{"role":"user","content":"\\ud800"}]}',
    "unknown field": with_(MSG, foo=1),
}


@pytest.mark.parametrize("body", ANTHROPIC_BAD.values(), ids=ANTHROPIC_BAD.keys())
def test_messages_refuses_bad_bodies_in_anthropic_shape(
    gw: GatewayServer, key: str, body: bytes
) -> None:
    r = httpx.post(gw.base_url + "/v1/messages", content=body,
                   headers={"x-api-key": key, "anthropic-version": "2023-06-01"})
    check_error(r, 400, "invalid_request", "anthropic")
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_count_tokens_refuses_deep_json(gw: GatewayServer, key: str) -> None:
    r = httpx.post(gw.base_url + "/v1/messages/count_tokens", content=ANTHROPIC_BAD["deep"],
                   headers={"x-api-key": key})
    check_error(r, 400, "invalid_request", "anthropic")


EMBEDDINGS_BAD: dict[str, bytes] = {
    "not json": b"x",
    "no input": b'{"model":"embeddings"}',
    "input int": b'{"model":"embeddings","input":5}',
    "input empty string": b'{"model":"embeddings","input":""}',
    "input empty list": b'{"model":"embeddings","input":[]}',
    "input list with empty string": b'{"model":"embeddings","input":["a",""]}',
    "input mixed kinds": b'{"model":"embeddings","input":["a",[1]]}',
    "negative token id": b'{"model":"embeddings","input":[-1]}',
    "too many inputs": json.dumps({"model": "embeddings", "input": ["a"] * 2049}).encode(),
    "dimensions negative": b'{"model":"embeddings","input":"a","dimensions":-1}',
    "encoding_format unknown": b'{"model":"embeddings","input":"a","encoding_format":"xml"}',
    "model huge": json.dumps({"model": "e" * 1000, "input": "a"}).encode(),
}


@pytest.mark.parametrize("body", EMBEDDINGS_BAD.values(), ids=EMBEDDINGS_BAD.keys())
def test_embeddings_refuses_bad_bodies(gw: GatewayServer, key: str, body: bytes) -> None:
    r = httpx.post(gw.openai_base_url + "/embeddings", content=body,
                   headers={"Authorization": f"Bearer {key}"})
    check_error(r, 400, "invalid_request")


ADMIN_BAD: dict[str, bytes] = {
    "not json": b"x",
    "array": b"[]",
    "null": b"null",
    "deep": b"[" * 20_000 + b"]" * 20_000,
    "no name": b"{}",
    "name int": b'{"name":5}',
    "name blank": b'{"name":"  "}',
    "name with NUL": b'{"name":"a\\u0000b"}',
    "name huge": json.dumps({"name": "n" * 1000}).encode(),
    "user with newline": b'{"name":"a","user":"bob\\r\\nx"}',
    "rpm string": b'{"name":"a","rpm":"5"}',
    "rpm negative": b'{"name":"a","rpm":-5}',
    "rpm beyond 64 bits": b'{"name":"a","rpm":100000000000000000000000}',
    "budget out of float range": b'{"name":"a","budget_usd":1e400}',
    "expires in 1e300 s": b'{"name":"a","expires_in_s":1e300}',
    "models a string": b'{"name":"a","models":"chat"}',
    "unknown model": b'{"name":"a","models":["nope"]}',
    "unknown field": b'{"name":"a","x":1}',
}


@pytest.mark.parametrize("body", ADMIN_BAD.values(), ids=ADMIN_BAD.keys())
def test_admin_create_refuses_bad_bodies(gw: GatewayServer, body: bytes) -> None:
    r = httpx.post(gw.base_url + "/admin/keys", content=body,
                   headers={"Authorization": f"Bearer {gw.master_key}"})
    check_error(r, 400, "invalid_request")


@pytest.mark.parametrize("body", [b"x", b"[]", b"null", b'{"grace_s":-5}', b'{"grace_s":"a"}',
                                  b'{"grace_s":1e300}', b'{"grace":5}'])
def test_admin_rotate_refuses_bad_bodies(gw: GatewayServer, body: bytes) -> None:
    master = {"Authorization": f"Bearer {gw.master_key}"}
    kid = httpx.post(gw.base_url + "/admin/keys", json={"name": "r"}, headers=master).json()["id"]
    r = httpx.post(gw.base_url + f"/admin/keys/{kid}/rotate", content=body, headers=master)
    check_error(r, 400, "invalid_request")
    r = httpx.post(gw.base_url + f"/admin/keys/{kid}/rotate", headers=master)
    assert r.status_code == 200  # no body at all: the default grace


@pytest.mark.parametrize("kid", ["nope", "%00", "a" * 5000, "%2e%2e", "key_%0a", "%ff"])
@pytest.mark.parametrize(("method", "suffix"), [("DELETE", ""), ("POST", "/rotate"),
                                                ("GET", "/usage")])
def test_admin_odd_key_ids_are_not_found(gw: GatewayServer, kid: str, method: str,
                                         suffix: str) -> None:
    r = httpx.request(method, gw.base_url + f"/admin/keys/{kid}{suffix}",
                      headers={"Authorization": f"Bearer {gw.master_key}"})
    check_error(r, 404, "not_found")


@pytest.mark.parametrize(("method", "path", "code", "status"), [
    ("GET", "/v1/chat/completions", "method_not_allowed", 405),
    ("PUT", "/v1/chat/completions", "method_not_allowed", 405),
    ("OPTIONS", "/v1/chat/completions", "method_not_allowed", 405),
    ("DELETE", "/v1/embeddings", "method_not_allowed", 405),
    ("DELETE", "/v1/models", "method_not_allowed", 405),
    ("PATCH", "/admin/keys", "method_not_allowed", 405),
    ("GET", "/v2/whatever", "not_found", 404),
    ("GET", "/v1/messages", "method_not_allowed", 405),
    ("POST", "/v1/messages/xyz", "not_found", 404),
])
def test_wrong_methods_and_unknown_paths(gw: GatewayServer, method: str, path: str, code: str,
                                         status: int) -> None:
    r = httpx.request(method, gw.base_url + path, content=b"{}")
    shape = "anthropic" if path.startswith("/v1/messages") else "openai"
    check_error(r, status, code, shape)


def test_head_requests_get_no_body(gw: GatewayServer) -> None:
    assert httpx.head(gw.base_url + "/healthz").status_code == 200
    assert httpx.head(gw.base_url + "/v1/chat/completions").status_code == 405
