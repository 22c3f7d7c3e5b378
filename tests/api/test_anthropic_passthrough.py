"""Anthropic client → gateway → Anthropic provider: what the canonical shape flattens
still comes through. Thinking signatures (so a thinking + tool-use conversation can
continue), ``is_error`` on tool results, documents with citations and the citations
of the answer, whole and streamed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from bastion.testing import FakeUpstream, GatewayServer
from bastion.testing.upstream_anthropic import ANTHROPIC_ROUTES, THINKING, signature

TOOLS: Any = [{"name": "lookup", "description": "Look up.", "input_schema": {
    "type": "object", "properties": {"query": {"type": "string"}}}}]
THINK: Any = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture
def setup() -> Iterator[tuple[anthropic.Anthropic, FakeUpstream]]:
    with FakeUpstream(routes=ANTHROPIC_ROUTES) as up:
        settings = {"providers": {"an": {"type": "anthropic", "base_url": up.base_url,
                                         "api_key": "env:ANTHROPIC_API_KEY"}},
                    "models": {"chat": {"targets": ["an/claude-test"]}},
                    "guards": {"injection": {"spotlight": "off"}}}  # tool results as sent
        with GatewayServer(settings, env={"ANTHROPIC_API_KEY": "sk-ant-x-0000"}) as gw:
            yield anthropic.Anthropic(base_url=gw.base_url, api_key=gw.create_key(),
                                      max_retries=0), up


def _continue(ac: anthropic.Anthropic, first: Any, error: bool) -> Any:
    use = first.content[-1]
    return ac.messages.create(model="chat", max_tokens=2048, tools=TOOLS, thinking=THINK,
                              messages=[
        {"role": "user", "content": "find it"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True)
                                          for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                      "content": "no such thing", "is_error": error}]}])


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_signature_and_is_error_round_trip(
        setup: tuple[anthropic.Anthropic, FakeUpstream], stream: bool) -> None:
    ac, up = setup
    kwargs: Any = {"model": "chat", "max_tokens": 2048, "tools": TOOLS, "thinking": THINK,
                   "messages": [{"role": "user", "content": "find it"}]}
    if stream:
        with ac.messages.stream(**kwargs) as s:
            first = s.get_final_message()
    else:
        first = ac.messages.create(**kwargs)
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    assert first.content[0].thinking == THINKING  # type: ignore[union-attr]
    assert first.content[0].signature == signature(THINKING)  # type: ignore[union-attr]
    second = _continue(ac, first, error=True)
    assert second.content[-1].text == "The tool said: no such thing"  # type: ignore[union-attr]
    sent = up.received[-1].body["messages"]
    assert sent[1]["content"][0] == {"type": "thinking", "thinking": THINKING,
                                     "signature": signature(THINKING)}
    assert sent[2]["content"][0]["is_error"] is True
    _continue(ac, first, error=False)
    assert "is_error" not in up.received[-1].body["messages"][2]["content"][0]


def test_a_thinking_block_without_its_signature_is_refused_upstream(
        setup: tuple[anthropic.Anthropic, FakeUpstream]) -> None:
    """The fake checks what the real API checks, so the round trip above is meaningful."""
    ac, _ = setup
    first = ac.messages.create(model="chat", max_tokens=2048, tools=TOOLS, thinking=THINK,
                               messages=[{"role": "user", "content": "find it"}])
    first.content[0].signature = "forged"  # type: ignore[union-attr]
    with pytest.raises(anthropic.BadRequestError, match="signature"):
        _continue(ac, first, error=False)


@pytest.mark.parametrize("stream", [False, True])
def test_documents_and_citations_pass_through(
        setup: tuple[anthropic.Anthropic, FakeUpstream], stream: bool) -> None:
    ac, up = setup
    doc = {"type": "document", "title": "Manual",
           "source": {"type": "text", "media_type": "text/plain",
                      "data": "The reset button is on the back of the unit."},
           "citations": {"enabled": True}}
    kwargs: Any = {"model": "chat", "max_tokens": 200, "messages": [
        {"role": "user", "content": [doc, {"type": "text", "text": "Where is reset?"}]}]}
    if stream:
        with ac.messages.stream(**kwargs) as s:
            msg = s.get_final_message()
    else:
        msg = ac.messages.create(**kwargs)
    sent = up.received[-1].body["messages"][0]["content"]
    assert sent[0] == doc
    text = msg.content[-1]
    assert text.type == "text"
    assert text.citations is not None
    assert [c.cited_text for c in text.citations] == [  # type: ignore[union-attr]
        "The reset button is "]
    assert text.citations[0].document_title == "Manual"  # type: ignore[union-attr]
