"""What the provider served is charged even when it did not say how much: a client that
leaves after the call, a stream cut before its first words, an answer without ``usage``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from tests.api.test_client_disconnect import read_some_then_leave

from bastion.testing import Behavior, FakeUpstream, GatewayServer

PROMPT = "please tell me everything you know about lighthouses " * 20


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream() as u:
        yield u


@pytest.fixture
def gw(up: FakeUpstream) -> Iterator[GatewayServer]:
    settings: dict[str, Any] = {
        "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url + "/v1"}},
        "models": {"chat": {"targets": ["up/gpt-4o-mini"],
                            "resilience": {"retry": {"max_attempts": 1}}}},
    }
    with GatewayServer(settings) as g:
        yield g


def admin(gw: GatewayServer, path: str) -> Any:
    r = httpx.get(gw.base_url + path, headers={"Authorization": f"Bearer {gw.master_key}"})
    assert r.status_code == 200, r.text
    return r.json()


def rows_of(gw: GatewayServer, user: str, count: int = 1) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while True:
        rows: list[dict[str, Any]] = admin(gw, f"/admin/users/{user}/data")["usage"]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def body(stream: bool, max_tokens: int = 300) -> dict[str, Any]:
    return {"model": "chat", "stream": stream, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": PROMPT}]}


def test_a_client_leaving_after_the_call_is_charged_the_reservation(
        up: FakeUpstream, gw: GatewayServer) -> None:
    up.push(Behavior(kind="ok", delay_s=3))
    key = gw.create_key(user="leaver")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gw.openai_base_url + "/chat/completions", json=body(False),
                   headers={"Authorization": f"Bearer {key}"}, timeout=0.6)
    assert up.calls == 1
    [row] = rows_of(gw, "leaver")
    assert row["status"] == 499
    assert row["outcome"] == "cancelled"
    assert row["prompt_tokens"] > 100  # the counted prompt
    assert row["completion_tokens"] == 300  # nothing is known: the allowance reserved
    assert row["cost_usd"] == pytest.approx(
        (row["prompt_tokens"] * 0.15 + 300 * 0.6) / 1e6)


def test_a_stream_left_before_its_first_words_is_charged_its_prompt(
        up: FakeUpstream, gw: GatewayServer) -> None:
    up.push(Behavior(kind="stall_stream", sent=1, delay_s=30))  # the role event, then silence
    key = gw.create_key(user="early")
    payload = httpx.Request("POST", "http://x", json=body(True)).content
    assert b'"content":""' in read_some_then_leave(gw.port, key, payload)
    [row] = rows_of(gw, "early")
    assert row["outcome"] == "cancelled"
    assert row["prompt_tokens"] > 100
    assert row["completion_tokens"] == 0  # no words were delivered
    assert row["cost_usd"] == pytest.approx(row["prompt_tokens"] * 0.15 / 1e6)


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_without_usage_is_counted(up: FakeUpstream, gw: GatewayServer,
                                            stream: bool) -> None:
    up.push(Behavior(usage=False))
    key = gw.create_key(user="nousage")
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0)
    if stream:
        text = "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
            **body(True)) if ch.choices)
    else:
        text = c.chat.completions.create(**body(False)).choices[0].message.content or ""
    assert text.startswith("You said:")
    [row] = rows_of(gw, "nousage")
    assert row["outcome"] == "served"
    assert row["prompt_tokens"] > 100
    assert row["completion_tokens"] >= len(text) // 4
    assert row["cost_usd"] > 0
