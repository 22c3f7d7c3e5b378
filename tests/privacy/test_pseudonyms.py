"""The pseudonym map and restoring answers: consistent, distinct, realistic stand-ins;
restoration at every chunk split point of a stream and inside JSON arguments."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from bastion.core.holdback import hold_back
from bastion.core.types import ChatChunk, ChunkChoice, Delta, FunctionCall, ToolCall
from bastion.privacy.analyzer import Detector
from bastion.privacy.checksums import card_ok, iban_ok
from bastion.privacy.entities import PATTERN_ENTITIES
from bastion.privacy.pseudonyms import Pseudonyms, RestoreFilter, Restorer

KEY = b"k" * 32
VALUES = [("PERSON", "Jane Roe"), ("EMAIL", "jane@corp.example"),
          ("PHONE", "+41 44 668 18 00"), ("CREDIT_CARD", "4242 4242 4242 4242"),
          ("IBAN", "DE89 3704 0044 0532 0130 00"), ("US_SSN", "536-22-1234"),
          ("IP_ADDRESS", "81.2.69.160"), ("STREET_ADDRESS", "221 Baker Street,\nLondon"),
          ("DATE_OF_BIRTH", "12/03/1985"), ("MEDICAL_RECORD_NUMBER", "A1234567")]


def mapped() -> tuple[Pseudonyms, dict[str, str]]:
    p = Pseudonyms(KEY, "u:alice")
    return p, {v: p.get(e, v) for e, v in VALUES}


def test_stand_ins_are_consistent_distinct_and_keyed() -> None:
    p, m = mapped()
    assert len(set(m.values())) == len(m)
    assert all(m[v] != v for v in m)
    again = Pseudonyms(KEY, "u:alice")
    assert {v: again.get(e, v) for e, v in VALUES} == m  # same tenant, same key: same
    other = Pseudonyms(KEY, "u:bob")
    assert {v: other.get(e, v) for e, v in VALUES} != m  # another tenant: different
    assert p.get("PERSON", "Jane") == m["Jane Roe"].split()[0]  # a part of a known name


def test_stand_ins_are_realistic_and_valid_where_values_have_checksums() -> None:
    _, m = mapped()
    assert card_ok(m["4242 4242 4242 4242"].replace(" ", ""))
    assert iban_ok(m["DE89 3704 0044 0532 0130 00"].replace(" ", ""))
    assert m["jane@corp.example"].split("@")[1].startswith("example.")
    assert m["+41 44 668 18 00"].startswith("+41 ")
    assert m["536-22-1234"][0] == "9"  # a never-issued area: nobody's SSN
    assert m["81.2.69.160"].startswith(("192.0.2.", "198.51.100.", "203.0.113."))
    for stand_in in m.values():
        assert stand_in.isascii()
        assert json.dumps(stand_in)[1:-1] == stand_in  # passes through JSON unchanged


def test_a_stand_in_never_equals_text_already_in_the_request() -> None:
    p = Pseudonyms(KEY, "t")
    first = p.get("PERSON", "Jane Roe")
    q = Pseudonyms(KEY, "t", text=f"Jane Roe met {first}")
    assert q.get("PERSON", "Jane Roe") != first


def _echo_text() -> tuple[str, str, Restorer]:
    p, m = mapped()
    original = ("Dear Jane Roe, we wrote to jane@corp.example and +41 44 668 18 00 about card "
                "4242 4242 4242 4242 (IBAN DE89 3704 0044 0532 0130 00, SSN 536-22-1234) from "
                "81.2.69.160; you live at 221 Baker Street,\nLondon, born 12/03/1985, MRN "
                "A1234567. Thanks, Jane!")
    echoed = original
    for v, s in sorted(m.items(), key=lambda kv: -len(kv[0])):
        echoed = echoed.replace(v, s)
    echoed = echoed.replace("Jane!", p.get("PERSON", "Jane") + "!")
    return original, echoed, Restorer(p.originals)


async def _stream(pieces: list[str]) -> AsyncIterator[ChatChunk]:
    for piece in pieces:
        yield ChatChunk(id="x", model="m", choices=[ChunkChoice(delta=Delta(content=piece))])
    yield ChatChunk(id="x", model="m", choices=[ChunkChoice(finish_reason="stop")])


async def _through(pieces: list[str], restorer: Restorer) -> str:
    out = []
    async for c in hold_back(_stream(pieces), lambda: RestoreFilter(restorer)):
        out.extend(ch.delta.content or "" for ch in c.choices)
    return "".join(out)


async def test_restored_at_every_split_point_of_a_stream() -> None:
    original, echoed, restorer = _echo_text()
    assert restorer.text(echoed) == original
    for i in range(len(echoed) + 1):
        assert await _through([echoed[:i], echoed[i:]], restorer) == original, i
    assert await _through(list(echoed), restorer) == original  # one character a chunk
    for size in (2, 3, 5, 7, 13):
        pieces = [echoed[i:i + size] for i in range(0, len(echoed), size)]
        assert await _through(pieces, restorer) == original


async def test_tool_call_arguments_are_restored_json_escaped_at_every_split() -> None:
    p = Pseudonyms(KEY, "t")
    stand = p.get("STREET_ADDRESS", 'Flat "B", 1 Elm Street,\nLeeds')
    args = json.dumps({"to": stand, "note": "ok"})
    restorer = Restorer(p.originals)
    for i in range(len(args) + 1):
        async def calls(i: int = i) -> AsyncIterator[ChatChunk]:
            for n, piece in enumerate([args[:i], args[i:]]):
                tc = ToolCall(index=0, id="c1" if n == 0 else None,
                              function=FunctionCall(name="send" if n == 0 else None,
                                                    arguments=piece))
                yield ChatChunk(id="x", model="m",
                                choices=[ChunkChoice(delta=Delta(tool_calls=[tc]))])
            yield ChatChunk(id="x", model="m", choices=[ChunkChoice(finish_reason="tool_calls")])
        got = ""
        async for c in hold_back(calls(), lambda: RestoreFilter(restorer)):
            for ch in c.choices:
                for tc in ch.delta.tool_calls or []:
                    got += tc.function.arguments or ""
        assert json.loads(got) == {"to": 'Flat "B", 1 Elm Street,\nLeeds', "note": "ok"}


def test_only_whole_stand_ins_are_restored() -> None:
    p = Pseudonyms(KEY, "t")
    name = p.get("PERSON", "Jane")
    mail = p.get("EMAIL", "jane@corp.example")
    ip = p.get("IP_ADDRESS", "81.2.69.160")
    r = Restorer(p.originals)
    assert r.text(f"{name}t met {name}.") == f"{name}t met Jane."
    assert r.text(f"{mail}.org and {mail}") == f"{mail}.org and jane@corp.example"
    assert r.text(f"{ip}0 vs {ip}") == f"{ip}0 vs 81.2.69.160"


def test_detection_and_stand_ins_round_trip_on_free_text() -> None:
    det = Detector(frozenset(PATTERN_ENTITIES))
    text = "Call +1 415 555 0132 or mail ops@acme.example; card 4111 1111 1111 1111."
    p = Pseudonyms(KEY, "t", text)
    out, pos = [], 0
    for f in det.analyze(text):
        out += [text[pos:f.start], p.get(f.entity, f.value)]
        pos = f.end
    out.append(text[pos:])
    sent = "".join(out)
    for f in det.analyze(text):
        assert f.value not in sent
    assert Restorer(p.originals).text(sent) == text
