"""AI disclosure: the header on AI answers (not on static fallbacks), the optional prefix
on whole and streamed answers, per alias."""

from __future__ import annotations

import httpx
import openai

from bastion.testing import Behavior, FakeUpstream, GatewayServer


def test_header_and_prefix_per_alias() -> None:
    prefix = "AI-generated - verify important information. "
    with FakeUpstream() as up, GatewayServer({
        "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url}},
        "models": {"chat": {"targets": ["up/m"]},
                   "marked": {"targets": ["up/m"], "privacy": {"disclosure": {"prefix": prefix}}},
                   "quiet": {"targets": ["up/m"], "privacy": {"disclosure": {"header": False}}}},
    }) as gw:
        c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
        say = [{"role": "user", "content": "hello"}]
        raw = c.chat.completions.with_raw_response.create(model="chat", messages=say)  # type: ignore[arg-type]
        assert raw.headers["x-bastion-ai-generated"] == "true"
        assert raw.parse().choices[0].message.content == "You said: hello"
        raw = c.chat.completions.with_raw_response.create(model="quiet", messages=say)  # type: ignore[arg-type]
        assert "x-bastion-ai-generated" not in raw.headers
        r = c.chat.completions.create(model="marked", messages=say)  # type: ignore[arg-type]
        assert r.choices[0].message.content == prefix + "You said: hello"
        text = "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
            model="marked", messages=say, stream=True) if ch.choices)  # type: ignore[arg-type]
        assert text == prefix + "You said: hello"


def test_a_static_fallback_is_not_marked_as_ai_output() -> None:
    with FakeUpstream() as up:
        up.default = Behavior("status", status=500)
        with GatewayServer({
            "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url}},
            "models": {"chat": {"targets": ["up/m"], "fallback_message": "Busy, sorry.",
                                "privacy": {"disclosure": {"prefix": "AI: "}}}},
            "resilience": {"retry": {"max_attempts": 1}},
        }) as gw:
            r = httpx.post(gw.openai_base_url + "/chat/completions",
                           headers={"Authorization": f"Bearer {gw.create_key()}"},
                           json={"model": "chat", "messages": [{"role": "user", "content": "x"}]})
            assert r.headers["x-bastion-degraded"] == "static"
            assert "x-bastion-ai-generated" not in r.headers
            assert r.json()["choices"][0]["message"]["content"] == "Busy, sorry."


def test_global_disclosure_settings_apply_to_every_alias() -> None:
    with FakeUpstream() as up, GatewayServer({
        "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url}},
        "models": {"chat": {"targets": ["up/m"]}},
        "privacy": {"disclosure": {"header": False, "prefix": "[AI] "}},
    }) as gw:
        r = httpx.post(gw.openai_base_url + "/chat/completions",
                       headers={"Authorization": f"Bearer {gw.create_key()}"},
                       json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
        assert "x-bastion-ai-generated" not in r.headers
        assert r.json()["choices"][0]["message"]["content"] == "[AI] You said: hi"
