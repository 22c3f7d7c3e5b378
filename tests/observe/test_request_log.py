"""The per-request log line: valid JSON, prompt fields dropped, secrets masked anywhere."""

from __future__ import annotations

import io
import json

import pytest

from bastion.observe import logging as blog


@pytest.mark.parametrize("secret", [
    "bst_" + "A1b2" * 11,
    "sk-proj-" + "Zz9_" * 10,
    "AIza" + "Q" * 35,
    "gsk_" + "a1" * 26,
    "AKIA" + "ABCDEFGHIJKLMNOP",
    "bat_" + "Ad9_" * 10,  # an admin token
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz",  # a caller JWT
])
def test_secrets_are_masked_wherever_they_hide(captured: io.StringIO, secret: str) -> None:
    blog.emit(None, 20, "request", {
        "key_id": "key_1", "note": f"failed with {secret}!",
        "decisions": {"nested": [f"x {secret}"]}, "auth": f"BeArEr {secret}",
    })
    line = captured.getvalue()
    assert secret not in line
    event = json.loads(line)
    assert event["note"] == "failed with [redacted]!"
    assert event["decisions"]["nested"] == ["x [redacted]"]
    assert event["auth"] == "[redacted]"
    assert event["event"] == "request"
    assert event["level"] == "info"
    assert event["timestamp"].endswith("Z")


def test_prompt_fields_are_not_logged_and_levels_filter(captured: io.StringIO) -> None:
    blog.emit(None, 20, "request", {"messages": [{"content": "my diagnosis"}],
                                    "content": "my diagnosis", "status": 200})
    blog.emit(None, 10, "debug_detail", {"status": 200})  # below the level
    lines = captured.getvalue().splitlines()
    assert len(lines) == 1
    assert "diagnosis" not in lines[0]
    assert json.loads(lines[0])["messages"] == "[not logged]"


@pytest.mark.parametrize("secret", [
    "bat_" + "Ad9_" * 10,
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz",
])
def test_admin_tokens_and_jwts_are_masked_without_a_bearer_hint(
        captured: io.StringIO, secret: str) -> None:
    blog.emit(None, 20, "request", {"note": f"token {secret} seen"})
    assert secret not in captured.getvalue()
    assert json.loads(captured.getvalue())["note"] == "token [redacted] seen"
