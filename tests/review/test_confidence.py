"""Confidence scores: token probabilities over content tokens, and the other signals."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from bastion.core.types import ChatResponse, Choice, Message
from bastion.review.confidence import score, text_signals, token_probabilities
from bastion.testing import GatewayServer


def answer(text: str, logprobs: list[tuple[str, float]] | None = None, finish: str = "stop",
           refusal: str | None = None) -> ChatResponse:
    lp = None if logprobs is None else {"content": [
        {"token": t, "logprob": v, "bytes": [], "top_logprobs": []} for t, v in logprobs]}
    return ChatResponse(id="x", model="m", choices=[Choice(
        message=Message(role="assistant", content=text, refusal=refusal),
        finish_reason=finish, logprobs=lp)])


def test_mean_and_minimum_over_content_tokens_only() -> None:
    resp = answer("Paris is", [("Paris", math.log(0.9)), (" ", math.log(0.01)),
                               (" is", math.log(0.5)), ("\n", -20.0)])
    probs = token_probabilities(resp)
    assert probs == pytest.approx([0.9, 0.5])  # whitespace-only tokens say nothing
    c = score(probs, [])
    assert c.score == pytest.approx(0.7)
    assert c.mean == pytest.approx(0.7)
    assert c.minimum == pytest.approx(0.5)
    assert c.source == "logprobs"
    assert c.header() == "0.700"


@pytest.mark.parametrize(("text", "kwargs", "signal"), [
    ("I'm sorry, but I can't help with that.", {}, "refusal"),
    ("As an AI, I cannot give medical advice.", {}, "refusal"),
    ("", {"refusal": "I will not do that."}, "refusal"),
    ("I'm not sure, but it may be 40 mg.", {}, "hedging"),
    ("The answer is 42 but this may not be accurate.", {}, "hedging"),
    ("The list goes on and on and", {"finish": "length"}, "truncated"),
])
def test_signals_read_from_the_answer(text: str, kwargs: dict[str, Any], signal: str) -> None:
    assert signal in text_signals(answer(text, **kwargs))


def test_a_plain_confident_answer_has_no_signal_and_no_score_without_logprobs() -> None:
    resp = answer("Paris is the capital of France.")
    assert text_signals(resp) == []
    c = score(token_probabilities(resp), text_signals(resp))
    assert c.score is None
    assert c.header() == "unknown"
    assert c.source == "none"


def test_signals_cap_the_score() -> None:
    assert score([0.99, 0.98], ["hedging"]).score == 0.5
    assert score([0.2], ["hedging"]).score == pytest.approx(0.2)
    assert score([], ["refusal", "hedging"]).score == 0.3
    assert score([], ["schema_repair"]).source == "signals"
    assert score([], ["not-a-signal"]).score is None


def test_without_logprobs_signals_still_flag_answers() -> None:
    """A provider that returns no log probabilities (here Anthropic's wire format)."""
    from bastion.testing import FakeUpstream
    from bastion.testing.upstream_anthropic import ANTHROPIC_ROUTES

    with FakeUpstream(routes=ANTHROPIC_ROUTES,
                      reply="I'm sorry, but I can't answer that.") as up, GatewayServer({
            "providers": {"a": {"type": "anthropic", "base_url": up.base_url,
                                "api_key": "env:BASTION_MASTER_KEY"}},
            "models": {"chat": {"targets": ["a/claude-x"],
                                "review": {"min_confidence": 0.6, "action": "flag"}}}}) as gw:
        r = httpx.post(gw.openai_base_url + "/chat/completions",
                       headers={"authorization": f"Bearer {gw.create_key()}"},
                       json={"model": "chat", "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 200
        assert r.headers["x-bastion-confidence"] == "0.300"
        assert r.headers["x-bastion-review"] == "flagged"
        assert "logprobs" not in up.received[-1].body


def test_a_moderation_near_miss_lowers_the_score() -> None:
    near = "He punched him and there was blood everywhere."  # scores 0.45 of 0.5
    with GatewayServer({"providers": {"f": {"type": "fake", "fake": {"reply": near}}},
                        "models": {"chat": {"targets": ["f/m"], "review": {
                            "min_confidence": 0.6, "action": "flag"}}}}) as gw:
        r = httpx.post(gw.openai_base_url + "/chat/completions",
                       headers={"authorization": f"Bearer {gw.create_key()}"},
                       json={"model": "chat", "messages": [{"role": "user", "content": "x"}]})
    assert r.headers["x-bastion-confidence"] == "0.500"  # logprobs say 0.99; the cap wins
    assert r.headers["x-bastion-review"] == "flagged"


async def test_a_repaired_schema_lowers_the_score() -> None:
    """The review step reads the output guard's ``guards_schema`` decision."""
    from bastion.config.review_settings import ReviewSettings
    from bastion.core.context import Context, Reply
    from bastion.core.types import ChatRequest
    from bastion.steps.review import ReviewPolicy, ReviewStep
    from bastion.stores.review import ReviewQueue
    from bastion.stores.sqlite import SQLiteDatabase

    db = SQLiteDatabase(":memory:")
    await db.open()
    step = ReviewStep({"chat": ReviewPolicy(ReviewSettings(min_confidence=0.6),
                                            logprobs=False)}, ReviewQueue(db))
    ctx = Context(request=ChatRequest(model="chat", messages=[Message(role="user",
                                                                      content="x")]),
                  request_id="r")

    async def repaired(c: Context) -> Reply:
        c.decisions["guards_schema"] = "repaired"
        return Reply(response=answer('{"ok": true}', [("{", math.log(0.95))]))

    await step(ctx, repaired)
    assert ctx.response_headers["x-bastion-confidence"] == "0.500"
    assert ctx.decisions["confidence_signals"] == ["schema_repair"]
    assert ctx.response_headers["x-bastion-review"] == "flagged"
    await db.close()
