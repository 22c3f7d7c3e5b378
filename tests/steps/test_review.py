"""Human review end to end: confidence, flag, hold, polls in both dialects, decisions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from bastion.testing import FakeUpstream, GatewayServer
from bastion.testing.server import MASTER_KEY

LOW = "[[p=0.3]] what is the dose?"  # the fake gives each piece of its answer p = 0.3


def settings(review: dict[str, Any] | None, provider: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    alias: dict[str, Any] = {"targets": ["p/m"]}
    if review is not None:
        alias["review"] = review
    return {"providers": {"p": provider or {"type": "fake"}}, "models": {"chat": alias}}


@pytest.fixture
def gw_for() -> Iterator[Callable[..., GatewayServer]]:
    started: list[GatewayServer] = []

    def make(review: dict[str, Any] | None, provider: dict[str, Any] | None = None
             ) -> GatewayServer:
        gw = GatewayServer(settings(review, provider)).start()
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


def chat(gw: GatewayServer, key: str, text: str, **extra: Any) -> httpx.Response:
    return httpx.post(gw.openai_base_url + "/chat/completions",
                      headers={"authorization": f"Bearer {key}"},
                      json={"model": "chat", "messages": [{"role": "user", "content": text}],
                            **extra}, timeout=10)


def poll(gw: GatewayServer, key: str, rid: str, *, anthropic_key: bool = False
         ) -> httpx.Response:
    h = {"x-api-key": key} if anthropic_key else {"authorization": f"Bearer {key}"}
    return httpx.get(f"{gw.base_url}/v1/bastion/reviews/{rid}", headers=h, timeout=10)


def decide(gw: GatewayServer, rid: str, decision: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{gw.base_url}/admin/review/{rid}",
                      headers={"authorization": f"Bearer {MASTER_KEY}"},
                      json={"decision": decision, **body}, timeout=10)


def test_flag_marks_low_confidence_answers_and_strips_logprobs_nobody_asked_for(
        gw_for: Callable[..., GatewayServer]) -> None:
    gw = gw_for({"min_confidence": 0.6, "action": "flag"})
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": LOW}])
    assert raw.headers["x-bastion-confidence"] == "0.300"
    assert raw.headers["x-bastion-review"] == "flagged"
    assert raw.parse().choices[0].logprobs is None  # requested for us, stripped for the client
    sure = client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "hello"}])
    assert sure.headers["x-bastion-confidence"] == "0.990"
    assert "x-bastion-review" not in sure.headers
    asked = client.chat.completions.create(
        model="chat", logprobs=True, messages=[{"role": "user", "content": "hello"}])
    assert asked.choices[0].logprobs is not None  # the client asked: kept
    # A stream is judged before its first byte: the header is there, the text whole.
    with client.chat.completions.with_streaming_response.create(
            model="chat", stream=True, messages=[{"role": "user", "content": LOW}]) as s:
        assert s.headers["x-bastion-confidence"] == "0.300"
        text = "".join(c.choices[0].delta.content or "" for c in s.parse() if c.choices)
    assert text == f"You said: {LOW}"


def test_min_confidence_decides_what_is_low(gw_for: Callable[..., GatewayServer]) -> None:
    strict = gw_for({"min_confidence": 0.6, "action": "flag"})
    lenient = gw_for({"min_confidence": 0.4, "action": "flag"})
    ask = "[[p=0.5]] hi"
    assert chat(strict, strict.create_key(), ask).headers.get("x-bastion-review") == "flagged"
    assert "x-bastion-review" not in chat(lenient, lenient.create_key(), ask).headers


def test_logprobs_are_requested_from_the_provider_only_when_the_policy_needs_them(
        upstream: FakeUpstream, gw_for: Callable[..., GatewayServer]) -> None:
    openai_up = {"type": "openai", "base_url": upstream.base_url + "/v1",
                 "api_key": "env:BASTION_MASTER_KEY"}
    judged = gw_for({"min_confidence": 0.6, "action": "flag"}, openai_up)
    r = chat(judged, judged.create_key(), LOW)
    assert upstream.received[-1].body["logprobs"] is True
    assert r.json()["choices"][0]["logprobs"] is None
    assert r.headers["x-bastion-confidence"] == "0.300"
    plain = gw_for(None, openai_up)
    chat(plain, plain.create_key(), LOW)
    assert "logprobs" not in upstream.received[-1].body
    always = gw_for({"always": True, "action": "hold"}, openai_up)
    chat(always, always.create_key(), "hi")
    assert "logprobs" not in upstream.received[-1].body  # every answer is held anyway


def test_hold_answers_202_and_the_poller_gets_the_approved_answer(
        gw_for: Callable[..., GatewayServer]) -> None:
    gw = gw_for({"min_confidence": 0.6, "action": "hold"})
    key = gw.create_key()
    r = chat(gw, key, LOW)
    assert r.status_code == 202
    body = r.json()
    rid = body["id"]
    assert body["status"] == "pending"
    assert body["poll_url"] == f"/v1/bastion/reviews/{rid}"
    assert r.headers["location"] == body["poll_url"]
    assert r.headers["retry-after"]
    assert "You said" not in r.text  # nothing of the answer before a person saw it
    gw.run(gw.gateway.recorder.flush())
    rows = gw.run(gw.gateway.db.sql_fetch(
        "SELECT status, outcome, error_code, completion_tokens FROM usage"))
    assert [r[:3] for r in rows] == [(202, "served", "review_pending")]
    assert rows[0][3] > 0  # the provider's work is counted (and charged) like any other
    waiting = poll(gw, key, rid)
    assert waiting.status_code == 202
    assert waiting.json()["status"] == "pending"
    assert poll(gw, gw.create_key(), rid).status_code == 404  # another key: not found
    listed = httpx.get(f"{gw.base_url}/admin/review",
                       headers={"authorization": f"Bearer {MASTER_KEY}"}).json()["data"]
    assert [i["id"] for i in listed] == [rid]
    assert listed[0]["confidence"] == pytest.approx(0.3)
    assert listed[0]["reason"] == "low_confidence"
    item = httpx.get(f"{gw.base_url}/admin/review/{rid}",
                     headers={"authorization": f"Bearer {MASTER_KEY}"}).json()
    assert item["prompt"][-1] == {"role": "user", "text": LOW}
    assert item["answer"][0]["text"] == f"You said: {LOW}"
    done = decide(gw, rid, "approve", note="checked the dose")
    assert done.status_code == 200
    assert done.json()["decided_by"] == "master-key"
    assert done.json()["decided_at"] > time.time() - 60
    got = poll(gw, key, rid)
    assert got.status_code == 200
    assert got.headers["x-bastion-review"] == "approved"
    assert got.json()["choices"][0]["message"]["content"] == f"You said: {LOW}"
    assert got.json()["choices"][0]["logprobs"] is None
    again = decide(gw, rid, "reject")
    assert again.status_code == 400
    assert "approved by master-key" in again.json()["error"]["message"]
    audit = gw.run(gw.gateway.admins.audit.export(action="review."))
    assert [(e.action, e.target, e.detail.get("decision"), e.detail["outcome"])
            for e in audit] == [("review.decide", rid, "approved", "ok"),
                                ("review.decide", rid, None, "failed")]


def test_a_held_stream_answers_202_before_any_text(gw_for: Callable[..., GatewayServer]
                                                   ) -> None:
    gw = gw_for({"min_confidence": 0.6, "action": "hold"})
    key = gw.create_key()
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions",
                      headers={"authorization": f"Bearer {key}"},
                      json={"model": "chat", "stream": True,
                            "messages": [{"role": "user", "content": LOW}]}) as r:
        assert r.status_code == 202
        assert r.headers["content-type"].startswith("application/json")
        body = r.read()
    assert b"data:" not in body
    rid = httpx.Response(202, content=body).json()["id"]
    decide(gw, rid, "approve")
    assert poll(gw, key, rid).json()["choices"][0]["message"]["content"] == f"You said: {LOW}"
    # A confident stream streams as usual.
    confident = chat(gw, key, "hello", stream=True)
    assert confident.status_code == 200
    assert "You said: hello" in "".join(confident.text.split("data: "))


def test_anthropic_dialect_hold_edit_and_reject(gw_for: Callable[..., GatewayServer]) -> None:
    gw = gw_for({"always": True, "action": "hold",
                 "reject_message": "Our nurse could not confirm this answer; please call us."})
    key = gw.create_key()
    client = anthropic.Anthropic(base_url=gw.base_url, api_key=key, max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="chat", max_tokens=100, messages=[{"role": "user", "content": "hello"}])
    assert raw.status_code == 202
    rid = raw.headers["x-bastion-review-id"]
    assert poll(gw, key, rid, anthropic_key=True).status_code == 202
    decide(gw, rid, "edit", text="Take one tablet a day.")
    got = poll(gw, key, rid, anthropic_key=True)
    assert got.status_code == 200
    assert got.headers["x-bastion-review"] == "edited"
    assert got.json()["type"] == "message"
    assert got.json()["content"] == [{"type": "text", "text": "Take one tablet a day."}]
    raw2 = client.messages.with_raw_response.create(
        model="chat", max_tokens=100, messages=[{"role": "user", "content": "again"}])
    rid2 = raw2.headers["x-bastion-review-id"]
    decide(gw, rid2, "reject")
    no = poll(gw, key, rid2, anthropic_key=True)
    assert no.status_code == 422
    assert no.json()["type"] == "error"
    assert no.json()["error"]["message"] == (
        "Our nurse could not confirm this answer; please call us.")
    # Confident or not, every answer of an `always` alias waits for a person.
    assert chat(gw, key, "hello").status_code == 202


def test_an_unanswered_hold_expires_after_ttl(gw_for: Callable[..., GatewayServer]) -> None:
    gw = gw_for({"always": True, "action": "hold", "ttl_s": 0.3})
    key = gw.create_key()
    rid = chat(gw, key, "hi").json()["id"]
    time.sleep(0.4)
    gone = poll(gw, key, rid)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "review_expired"
    assert decide(gw, rid, "approve").status_code == 400
    n = gw.run(gw.gateway.reviews.queue.purge())
    assert n == 1  # its text erased
    item = gw.run(gw.gateway.reviews.item(rid))
    assert item.status == "expired"
    assert item.answer is None
    assert item.prompt is None


def test_reviewer_role_needed_to_decide(gw_for: Callable[..., GatewayServer]) -> None:
    gw = gw_for({"always": True, "action": "hold"})
    rid = chat(gw, gw.create_key(), "hi").json()["id"]
    accounts = gw.gateway.admins.accounts
    gw.run(accounts.create("vera", "viewer", "a-long-password-1"))
    gw.run(accounts.create("rita", "reviewer", "a-long-password-2"))
    viewer = gw.run(accounts.login("vera", "a-long-password-1")).token
    reviewer = gw.run(accounts.login("rita", "a-long-password-2")).token
    url = f"{gw.base_url}/admin/review/{rid}"
    denied = httpx.post(url, headers={"authorization": f"Bearer {viewer}"},
                        json={"decision": "approve"})
    assert denied.status_code == 403
    ok = httpx.post(url, headers={"authorization": f"Bearer {reviewer}"},
                    json={"decision": "reject", "note": "wrong dose"})
    assert ok.status_code == 200
    assert ok.json()["decided_by"] == "account:rita"
    assert ok.json()["note"] == "wrong dose"


async def test_reviewers_never_see_values_a_privacy_step_marked_personal() -> None:
    """The step on its own, with the real queue on SQLite: what a privacy step put in
    ``guards.sensitive_values`` is masked for reviewers and kept for the client."""
    from bastion.api.admin_review import item_view
    from bastion.config.review_settings import ReviewSettings
    from bastion.core.context import Context, Reply
    from bastion.core.errors import ReviewPending
    from bastion.core.types import ChatRequest, ChatResponse, Choice, Message
    from bastion.steps.review import ReviewPolicy, ReviewStep
    from bastion.stores.review import ReviewQueue
    from bastion.stores.sqlite import SQLiteDatabase

    db = SQLiteDatabase(":memory:")
    await db.open()
    queue = ReviewQueue(db)
    step = ReviewStep({"chat": ReviewPolicy(ReviewSettings(always=True, action="hold"),
                                            logprobs=False)}, queue)
    email = "ann.smith@example.com"
    ctx = Context(request=ChatRequest(model="chat", messages=[
        Message(role="user", content=f"Write to {email} about the refund")]), request_id="r1")
    ctx.state["guards.sensitive_values"] = (email,)

    async def provider(_: Context) -> Reply:
        return Reply(response=ChatResponse(id="x", model="m", choices=[Choice(
            message=Message(role="assistant", content=f"Dear {email}, your refund…"),
            finish_reason="stop")]))

    with pytest.raises(ReviewPending) as held:
        await step(ctx, provider)
    item = await queue.get(held.value.review_id)
    assert item is not None
    shown = item_view(item)
    assert email not in str(shown)
    assert shown["prompt"][0]["text"] == "Write to [personal data] about the refund"
    assert shown["answer"][0]["text"] == "Dear [personal data], your refund…"
    assert email in (item.answer or "")  # approved, the client gets its own answer
    await db.close()
