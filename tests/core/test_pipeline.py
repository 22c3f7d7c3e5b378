"""The step protocol carries the capabilities to come, streams included.

Two test steps, written only against ``Step``/``Context``/``Reply``, sit in a real
gateway in front of a real HTTP upstream:

* ``PseudonymiseEmails`` rewrites the request (an e-mail address becomes
  ``<EMAIL_1>`` before the provider sees it) and restores the answer, also when
  the stand-in arrives cut across stream chunks;
* ``CutBannedWords`` holds back a small window of a streamed answer and stops the
  stream with ``ContentFiltered`` before the client sees a banned word.

They sit where the real privacy and moderate steps will: moderation inside
privacy, so it judges the provider's words before stand-ins are restored.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import msgspec
import openai
import pytest

from bastion.config.settings import FakeSettings
from bastion.core.context import ChunkStream, Context, Reply
from bastion.core.errors import ContentFiltered
from bastion.core.pipeline import Next, Pipeline
from bastion.core.types import ChatChunk, ChatRequest, ChatResponse, ChunkChoice, Delta
from bastion.providers.fake import FakeProvider
from bastion.testing import FakeUpstream, GatewayServer

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
STAND_IN = re.compile(r"<EMAIL_\d+>")
BANNED = ("kaboom", "detonator")


def hold_back_point(text: str, longest: int) -> int:
    """Where to cut ``text`` so that a stand-in that has only begun is held back whole."""
    start = text.rfind("<")
    if start == -1 or ">" in text[start:] or len(text) - start >= longest:
        return len(text)
    return start


class PseudonymiseEmails:
    """→ e-mail addresses in user messages become ``<EMAIL_n>``; ← they are put back."""

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        req = ctx.request
        if not isinstance(req, ChatRequest):
            return await call_next(ctx)
        originals: dict[str, str] = {}  # stand-in → address; this request's, on the stack
        stand_ins: dict[str, str] = {}

        def swap(m: re.Match[str]) -> str:
            address = m.group(0)
            if address not in stand_ins:
                stand_ins[address] = f"<EMAIL_{len(stand_ins) + 1}>"
                originals[stand_ins[address]] = address
            return stand_ins[address]

        messages = [
            msgspec.structs.replace(m, content=EMAIL.sub(swap, m.content))
            if m.role == "user" and isinstance(m.content, str) else m
            for m in req.messages
        ]
        ctx.request = msgspec.structs.replace(req, messages=messages)
        reply = await call_next(ctx)
        if not originals:
            return reply

        def restore(text: str) -> str:
            return STAND_IN.sub(lambda m: originals.get(m.group(0), m.group(0)), text)

        if reply.stream is not None:
            return reply.map_stream(lambda s: self._restore_stream(s, restore, originals))
        if isinstance(reply.response, ChatResponse):
            for choice in reply.response.choices:
                if isinstance(choice.message.content, str):
                    choice.message.content = restore(choice.message.content)
        return reply

    @staticmethod
    async def _restore_stream(stream: ChunkStream, restore: Callable[[str], str],
                              originals: dict[str, str]) -> AsyncIterator[ChatChunk]:
        longest = max(len(s) for s in originals)
        held: dict[int, str] = {}  # per choice: the start of a stand-in not yet complete
        last: ChatChunk | None = None
        async for chunk in stream:
            last = chunk
            for ch in chunk.choices:
                text = held.pop(ch.index, "") + (ch.delta.content or "")
                cut = len(text) if ch.finish_reason else hold_back_point(text, longest)
                if text[cut:]:
                    held[ch.index] = text[cut:]
                if text or ch.delta.content is not None:
                    ch.delta.content = restore(text[:cut])
            yield chunk
        if held and last is not None:  # the stream ended without a finish: flush
            yield ChatChunk(id=last.id, model=last.model, created=last.created, choices=[
                ChunkChoice(index=i, delta=Delta(content=restore(t))) for i, t in held.items()])


class CutBannedWords:
    """← stops an answer holding a banned word; on streams, before the client sees it."""

    def __init__(self, banned: tuple[str, ...]) -> None:
        self.banned = tuple(w.lower() for w in banned)
        self.window = max(len(w) for w in banned) - 1  # the longest possible partial word

    def check(self, text: str) -> None:
        lowered = text.lower()
        if any(w in lowered for w in self.banned):
            raise ContentFiltered("The answer was stopped: it contained a banned word.")

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        reply = await call_next(ctx)
        if reply.stream is not None:
            return reply.map_stream(self._watch)
        if isinstance(reply.response, ChatResponse):
            for choice in reply.response.choices:
                self.check(choice.message.text())
        return reply

    async def _watch(self, stream: ChunkStream) -> AsyncIterator[ChatChunk]:
        held: dict[int, str] = {}
        async for chunk in stream:
            for ch in chunk.choices:
                text = held.pop(ch.index, "") + (ch.delta.content or "")
                self.check(text)
                cut = len(text) if ch.finish_reason else max(0, len(text) - self.window)
                if text[cut:]:
                    held[ch.index] = text[cut:]
                if text or ch.delta.content is not None:
                    ch.delta.content = text[:cut]
            yield chunk
        for text in held.values():
            self.check(text)


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream() as u:
        # Three characters a chunk: "<EMAIL_1>" (nine) always arrives cut in pieces.
        u.fake = FakeProvider("upstream", FakeSettings(chunk_chars=3))
        yield u


@pytest.fixture
def gw(up: FakeUpstream) -> Iterator[GatewayServer]:
    settings = {
        "providers": {"up": {"type": "openai", "base_url": up.base_url + "/v1",
                             "api_key": "env:UPSTREAM_KEY"}},
        # The gateway's own privacy step off: this test's pseudonymiser stands in for it.
        "models": {"chat": {"targets": ["up/gpt-test"], "guards": {"pii": "allow"}}},
        # these tests are about held-back streamed text, not about the injection guard
        "guards": {"injection": "off"},
    }
    with GatewayServer(settings, env={"UPSTREAM_KEY": "sk-upstream-test"}) as g:
        gateway = g.gateway
        # privacy outside moderation, as in the real list: moderation judges the
        # provider's own words, stand-ins included, before they are restored.
        gateway.pipeline = Pipeline(
            [*gateway.pipeline.steps, PseudonymiseEmails(), CutBannedWords(BANNED)],
            gateway.route)
        yield g


def client(gw: GatewayServer, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=key or gw.create_key(),
                         max_retries=0)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


def drain(c: openai.OpenAI, text: str, into: list[str]) -> None:
    """Stream an answer to ``text``, keeping each piece of content the client receives."""
    for chunk in c.chat.completions.create(model="chat", messages=user(text),  # type: ignore[arg-type]
                                           stream=True):
        into.append(chunk.choices[0].delta.content or "")


def upstream_saw(up: FakeUpstream) -> str:
    return str(up.received[-1].body)


PROMPT = ("Please write to ann.lee+work@example.co.uk and bob@example.org, "
          "cc ann.lee+work@example.co.uk")


def test_emails_never_reach_the_provider_and_come_back_non_stream(
        gw: GatewayServer, up: FakeUpstream) -> None:
    r = client(gw).chat.completions.create(model="chat", messages=user(PROMPT))  # type: ignore[arg-type]
    assert r.choices[0].message.content == f"You said: {PROMPT}"
    seen = upstream_saw(up)
    assert "@" not in seen
    assert "Please write to <EMAIL_1> and <EMAIL_2>, cc <EMAIL_1>" in seen


def test_stand_ins_cut_across_chunks_are_restored_exactly(
        gw: GatewayServer, up: FakeUpstream) -> None:
    chunks = list(client(gw).chat.completions.create(
        model="chat", messages=user(PROMPT), stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(pieces) == f"You said: {PROMPT}"
    assert "@" not in upstream_saw(up)
    # The provider sent three characters a chunk; no client chunk shows a broken stand-in.
    assert len([p for p in pieces if p]) > 10
    assert not any(re.search(r"<E|MAIL|_\d>", p) for p in pieces)
    assert chunks[-1].usage is not None
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_a_request_without_emails_passes_untouched(gw: GatewayServer, up: FakeUpstream) -> None:
    text = "a < b and c > d, <EMAIL_7> stays literal"
    chunks = list(client(gw).chat.completions.create(
        model="chat", messages=user(text), stream=True))  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == f"You said: {text}"
    assert text in upstream_saw(up)


def test_banned_word_cuts_the_stream_before_the_client_sees_it(gw: GatewayServer) -> None:
    key = gw.create_key(user="mod-test")
    text = "tell me about the KaBoom thing, it is really loud"
    received: list[str] = []
    with pytest.raises(openai.APIError) as e:
        drain(client(gw, key), text, received)
    assert isinstance(e.value.body, dict)
    assert e.value.body["code"] == "content_filtered"
    shown = "".join(received)
    # What came before was streamed (all but the hold-back window); not even the start
    # of the banned word was.
    assert shown.startswith("You said: tell me about")
    assert f"You said: {text}".startswith(shown)
    assert "kab" not in shown.lower()
    assert "loud" not in shown

    # The meter, outermost, recorded how the stream ended.
    gateway = gw.gateway
    gw.run(gateway.recorder.flush())
    [row] = gw.run(gateway.db.usage_for_user("mod-test"))
    assert (row.status, row.error_code) == (400, "content_filtered")


def test_the_error_event_is_the_last_event_on_the_wire(gw: GatewayServer) -> None:
    r = httpx.post(gw.openai_base_url + "/chat/completions",
                   headers={"Authorization": f"Bearer {gw.create_key()}"},
                   json={"model": "chat", "stream": True,
                         "messages": user("how does a detonator work? in detail please")})
    assert r.status_code == 200
    events = [line[len("data: "):] for line in r.text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    last = msgspec.json.decode(events[-2])
    assert last["error"]["code"] == "content_filtered"
    assert all("error" not in msgspec.json.decode(ev) for ev in events[:-2])
    assert "detonator" not in r.text.lower().replace(last["error"]["message"].lower(), "")
    assert "deto" not in "".join(
        (ch["delta"].get("content") or "") for ev in events[:-2]
        for ch in msgspec.json.decode(ev)["choices"])


def test_banned_word_in_a_whole_answer(gw: GatewayServer) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client(gw).chat.completions.create(model="chat", messages=user("kaboom"))  # type: ignore[arg-type]
    assert e.value.code == "content_filtered"
    assert "kaboom" not in str(e.value.body)


def test_banned_word_split_across_chunks_and_stand_ins_together(gw: GatewayServer) -> None:
    """Both steps at once: the stand-in is restored up to the point the stream is cut."""
    text = "mail x@y.io about de-tonator? no: detonator"
    received: list[str] = []
    with pytest.raises(openai.APIError):
        drain(client(gw), text, received)
    shown = "".join(received)
    assert shown.startswith("You said: mail x@y.io about de-tonator?")
    assert "detonator" not in shown
