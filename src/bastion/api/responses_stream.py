"""Canonical chunks → the Responses API stream event sequence.

``response.created`` and ``response.in_progress`` first; then, per output item in
the order the answer produces them:

* reasoning: ``response.output_item.added``, ``response.reasoning_summary_part.added``,
  ``response.reasoning_summary_text.delta``…, ``…text.done``, ``…part.done``,
  ``response.output_item.done``;
* text: ``response.output_item.added`` (a message), ``response.content_part.added``,
  ``response.output_text.delta``…, ``response.output_text.done``,
  ``response.content_part.done``, ``response.output_item.done`` (a refusal is a
  ``refusal`` part with ``response.refusal.delta``/``.done``);
* each tool call: ``response.output_item.added`` (a function_call),
  ``response.function_call_arguments.delta``…, ``….done``, ``response.output_item.done``;

and last ``response.completed`` (or ``response.incomplete``) holding the whole
response with its usage. Every event carries ``type`` and a ``sequence_number``.
A :class:`GatewayError` raised by the stream ends it with an ``error`` event
(the gateway's stable ``code`` and message) and ``response.failed`` (whose
``response.error.code`` is the nearest code in OpenAI's closed list).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from bastion.api.responses_translate import finish, usage_of
from bastion.api.responses_wire import (
    FunctionCallItem,
    MessageItem,
    OutputItem,
    OutputText,
    ReasoningItem,
    Refusal,
    Response,
    SummaryText,
    sse_event,
)
from bastion.core.context import ChunkStream
from bastion.core.errors import GatewayError
from bastion.core.ids import new_id
from bastion.core.types import ChunkChoice


class _Writer:
    """Event state for one stream: the open item, the text so far, the sequence number.

    Local to one stream (one instance per response), never shared.
    """

    def __init__(self, resp: Response) -> None:
        self.resp = resp
        self.seq = 0
        self.out: list[bytes] = []
        self.kind = ""  # open item: "", "reasoning", "output_text", "refusal", "call"
        self.item_id = ""
        self.text: list[str] = []
        self.call: FunctionCallItem | None = None
        self.calls: dict[int, int] = {}  # canonical tool-call index -> output index

    def event(self, kind: str, **payload: Any) -> None:
        self.out.append(sse_event(kind, self.seq, payload))
        self.seq += 1

    @property
    def index(self) -> int:
        return len(self.resp.output) - 1

    def _where(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "output_index": self.index}

    def open(self, kind: str, item: OutputItem) -> None:
        self.close()
        self.kind, self.item_id = kind, item.id
        self.resp.output.append(item)
        self.event("response.output_item.added", output_index=self.index, item=_open_view(item))
        if kind == "reasoning":
            self.event("response.reasoning_summary_part.added", **self._where(),
                       summary_index=0, part=SummaryText(text=""))
        elif kind == "output_text":
            self.event("response.content_part.added", **self._where(), content_index=0,
                       part=OutputText(text=""))
        elif kind == "refusal":
            self.event("response.content_part.added", **self._where(), content_index=0,
                       part=Refusal(refusal=""))

    def delta(self, kind: str, text: str) -> None:
        if self.kind != kind:
            item: OutputItem
            if kind == "reasoning":
                item = ReasoningItem(id="rs_" + new_id(), summary=[])
            else:
                item = MessageItem(id="msg_" + new_id(), content=[])
            self.open(kind, item)
        self.text.append(text)
        if kind == "reasoning":
            self.event("response.reasoning_summary_text.delta", **self._where(),
                       summary_index=0, delta=text)
        elif kind == "output_text":
            self.event("response.output_text.delta", **self._where(), content_index=0,
                       delta=text, logprobs=[])
        else:
            self.event("response.refusal.delta", **self._where(), content_index=0, delta=text)

    def tool(self, index: int, call_id: str | None, name: str | None, args: str | None) -> None:
        if index not in self.calls or self.kind != "call":
            if index in self.calls:  # arguments for a call already closed: nothing to add to
                return
            item = FunctionCallItem(id="fc_" + new_id(), call_id=call_id or "call_" + new_id(),
                                    name=name or "", arguments="", status="in_progress")
            self.open("call", item)
            self.call = item
            self.calls[index] = self.index
        if args and self.call is not None:
            self.call.arguments += args
            self.event("response.function_call_arguments.delta", **self._where(), delta=args)

    def close(self) -> None:
        kind, item = self.kind, self.resp.output[-1] if self.resp.output else None
        if not kind or item is None:
            return
        text = "".join(self.text)
        where = self._where()
        if isinstance(item, ReasoningItem):
            part = SummaryText(text=text)
            item.summary = [part]
            self.event("response.reasoning_summary_text.done", **where, summary_index=0,
                       text=text)
            self.event("response.reasoning_summary_part.done", **where, summary_index=0,
                       part=part)
        elif isinstance(item, MessageItem):
            mpart: OutputText | Refusal
            if kind == "output_text":
                mpart = OutputText(text=text)
                self.event("response.output_text.done", **where, content_index=0, text=text,
                           logprobs=[])
            else:
                mpart = Refusal(refusal=text)
                self.event("response.refusal.done", **where, content_index=0, refusal=text)
            item.content = [mpart]
            self.event("response.content_part.done", **where, content_index=0, part=mpart)
        elif isinstance(item, FunctionCallItem):
            item.status = "completed"
            self.event("response.function_call_arguments.done", **where, name=item.name,
                       arguments=item.arguments)
        self.event("response.output_item.done", output_index=self.index, item=item)
        self.kind, self.item_id, self.text, self.call = "", "", [], None

    def feed(self, choice: ChunkChoice) -> None:
        d = choice.delta
        if d.reasoning_content:
            self.delta("reasoning", d.reasoning_content)
        if d.content:
            self.delta("output_text", d.content)
        if d.refusal:
            self.delta("refusal", d.refusal)
        for tc in d.tool_calls or ():
            index = tc.index if tc.index is not None else len(self.calls)
            self.tool(index, tc.id, tc.function.name, tc.function.arguments)


def failed_code(e: GatewayError) -> str:
    """OpenAI's ``response.error.code`` vocabulary is closed: the nearest of its codes
    (the gateway's own code is in the ``error`` event just before)."""
    if e.status == 429:
        return "rate_limit_exceeded"
    return "invalid_prompt" if e.status == 400 else "server_error"


def _open_view(item: OutputItem) -> OutputItem:
    """The item as ``output_item.added`` shows it: in progress, nothing in it yet."""
    if isinstance(item, MessageItem):
        return MessageItem(id=item.id, content=[], status="in_progress")
    if isinstance(item, FunctionCallItem):
        return FunctionCallItem(id=item.id, call_id=item.call_id, name=item.name,
                                arguments="", status="in_progress")
    return ReasoningItem(id=item.id, summary=[])


async def responses_sse(stream: ChunkStream, resp: Response) -> AsyncIterator[bytes]:
    """The Responses SSE events for a canonical stream (see the module docstring)."""
    w = _Writer(resp)
    w.event("response.created", response=resp)
    w.event("response.in_progress", response=resp)
    yield b"".join(w.out)
    w.out.clear()
    reason: str | None = None
    try:
        async for chunk in stream:
            if chunk.usage is not None:
                resp.usage = usage_of(chunk.usage)
            for choice in chunk.choices:
                if choice.index != 0:
                    continue
                w.feed(choice)
                if choice.finish_reason:
                    reason = choice.finish_reason
            if w.out:
                yield b"".join(w.out)
                w.out.clear()
    except GatewayError as e:
        w.close()
        w.event("error", code=e.code, message=e.message, param=e.param)
        resp.status = "failed"
        resp.error = {"code": failed_code(e), "message": e.message}
        w.event("response.failed", response=resp)
        yield b"".join(w.out)
        return
    w.close()
    finish(resp, reason)
    w.event("response.completed" if resp.status == "completed" else "response.incomplete",
            response=resp)
    yield b"".join(w.out)

