"""What a chat request needs from a model, and which targets have it.

A target that lists ``capabilities`` serves only requests whose needs are all in its
list; a target without the list serves every request (the gateway does not guess
what a model can do). The needs are read from the request's shape:

* ``tools``: tools or functions offered, or tool calls and results in the messages;
* ``vision``: image parts; ``audio``: audio parts or audio output asked for;
* ``json``: a ``response_format`` other than text; ``logprobs``: log-probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from bastion.core.errors import NoCapableModel
from bastion.core.types import ChatRequest

if TYPE_CHECKING:
    from bastion.core.context import Context
    from bastion.steps.route import Target

_IMAGE = frozenset({"image_url", "input_image", "image"})
_AUDIO = frozenset({"input_audio", "audio"})
_WORDS = {"tools": "tools", "vision": "images", "audio": "audio", "json": "JSON output",
          "logprobs": "log-probabilities"}


def needs(req: ChatRequest) -> set[str]:
    out: set[str] = set()
    if req.tools or req.functions:
        out.add("tools")
    if req.logprobs:
        out.add("logprobs")
    rf = req.response_format
    if rf and rf.get("type", "text") != "text":
        out.add("json")
    if req.audio is not None or (req.modalities and "audio" in req.modalities):
        out.add("audio")
    for m in req.messages:
        if m.tool_calls or m.role in ("tool", "function"):
            out.add("tools")
        if isinstance(m.content, list):
            for p in m.content:
                kind = p.get("type")
                if kind in _IMAGE:
                    out.add("vision")
                elif kind in _AUDIO:
                    out.add("audio")
    return out


def capable(ctx: Context, targets: Sequence[Target],
            caps: Mapping[str, frozenset[str] | None]) -> Sequence[Target]:
    """The targets that can serve ``ctx``'s request; none: :class:`NoCapableModel`."""
    req = ctx.request
    if not isinstance(req, ChatRequest):
        return targets
    need = needs(req)
    if not need:
        return targets
    ok = [t for t in targets if (c := caps.get(t.name)) is None or need <= c]
    if not ok:
        ctx.decisions["needs"] = sorted(need)
        what = ", ".join(_WORDS[n] for n in sorted(need))
        raise NoCapableModel(f"No model behind {ctx.alias!r} supports what this request "
                             f"uses ({what}). Remove it from the request or use another "
                             "model.")
    if len(ok) < len(targets):
        ctx.decisions["needs"] = sorted(need)
    return ok
