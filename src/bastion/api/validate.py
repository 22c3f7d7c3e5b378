"""What the OpenAI front door checks before a request goes down the pipeline.

The decoder (:mod:`msgspec`) already enforces types; these checks cover what a type
cannot say: ranges, required-by-role fields, the shape of the free-form JSON fields
(content parts, tools, ``tool_choice``, ``response_format``) that steps and adapters
read, and limits that keep client text out of logs and metrics. Each refusal is an
:class:`InvalidRequest` (400 ``invalid_request``) naming the parameter, as OpenAI does.

Checks are attribute tests and loops the request needs anyway (no regex, no
re-encoding): they run on every request.

What is deliberately *accepted* and left to the provider: ``max_tokens`` up to
:data:`MAX_OUTPUT_TOKENS` (the gateway cannot know every model's limit; a provider
refuses more than its model allows, which reaches the client as 400
``upstream_rejected``), any number of ``stop`` sequences, unknown ``metadata`` keys,
and query strings on POST routes (ignored).
"""

from __future__ import annotations

from typing import Any

from bastion.api.common import check_model
from bastion.core.errors import InvalidRequest
from bastion.core.types import JSON, ChatRequest, EmbeddingRequest, Message

ROLES = frozenset(("system", "developer", "user", "assistant", "tool", "function"))
# Content part type -> the field it must carry and that field's type.
PART_FIELDS: dict[str, tuple[str, type]] = {
    "text": ("text", str), "image_url": ("image_url", dict), "input_audio": ("input_audio", dict),
    "file": ("file", dict), "refusal": ("refusal", str),
}
MAX_OUTPUT_TOKENS = 10_000_000  # far above any model's output limit; catches nonsense only
MAX_TOOL_NAME = 128
MAX_EMBEDDING_INPUTS = 2048  # OpenAI's documented limit per request
_INT64 = 2**63 - 1
_RANGES = (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0), ("presence_penalty", -2.0, 2.0),
           ("frequency_penalty", -2.0, 2.0))


def bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def validate_chat(req: ChatRequest) -> None:
    """Raise :class:`InvalidRequest` for what OpenAI would refuse (see the module doc)."""
    check_model(req.model)
    if not req.messages:
        raise bad("Give at least one message in `messages`.", "messages")
    _numbers(req)
    if req.stream_options is not None and not req.stream:
        raise bad("`stream_options` is only allowed when `stream` is true.", "stream_options")
    for i, m in enumerate(req.messages):
        _message(m, i)
    names = _tools(req.tools, "tools") if req.tools else None
    if req.functions:
        _tools([{"type": "function", "function": f} for f in req.functions], "functions")
    if req.tool_choice is not None:
        _tool_choice(req.tool_choice, names)
    if req.response_format is not None:
        _response_format(req.response_format)


def _numbers(req: ChatRequest) -> None:
    if req.n is not None and not 1 <= req.n <= 128:
        raise bad("`n` must be between 1 and 128.", "n")
    if req.top_logprobs is not None and not 0 <= req.top_logprobs <= 20:
        raise bad("`top_logprobs` must be between 0 and 20.", "top_logprobs")
    for name in ("max_tokens", "max_completion_tokens"):
        v = getattr(req, name)
        if v is not None and not 1 <= v <= MAX_OUTPUT_TOKENS:
            raise bad(f"`{name}` must be at least 1 (and at most {MAX_OUTPUT_TOKENS:,}).", name)
    for name, lo, hi in _RANGES:
        v = getattr(req, name)
        if v is not None and not lo <= v <= hi:
            raise bad(f"`{name}` must be between {lo:g} and {hi:g}.", name)
    if req.seed is not None and not -_INT64 - 1 <= req.seed <= _INT64:
        raise bad("`seed` must fit in a 64-bit integer.", "seed")
    if req.logit_bias:
        for v in req.logit_bias.values():
            if not -100.0 <= v <= 100.0:
                raise bad("`logit_bias` values must be between -100 and 100.", "logit_bias")


def _message(m: Message, i: int) -> None:
    where = f"messages[{i}]"
    if m.role not in ROLES:
        raise bad(f"{where}.role {_show(m.role)} is not a known role: use system, developer, "
                  "user, assistant or tool.", f"{where}.role")
    c = m.content
    if isinstance(c, list):
        for j, part in enumerate(c):
            _part(part, f"{where}.content[{j}]")
    elif c is None and m.role not in ("assistant", "function"):
        raise bad(f"{where}.content is required for a {m.role} message.", f"{where}.content")
    if m.role == "tool" and not m.tool_call_id:
        raise bad(f"{where}.tool_call_id is required: name the tool call this message "
                  "answers.", f"{where}.tool_call_id")
    for k, tc in enumerate(m.tool_calls or ()):
        if not tc.id or not tc.function.name:
            raise bad(f"{where}.tool_calls[{k}] needs an `id` and a `function.name`.",
                      f"{where}.tool_calls[{k}]")


def _part(part: JSON, where: str) -> None:
    kind = part.get("type")
    spec = PART_FIELDS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise bad(f"{where}.type must be one of {', '.join(PART_FIELDS)}; got "
                  f"{_show(kind)}.", f"{where}.type")
    field, typ = spec
    if not isinstance(part.get(field), typ):
        what = "a string" if typ is str else "an object"
        raise bad(f"{where}.{field} is required for a {kind} part and must be {what}.",
                  f"{where}.{field}")
    if kind == "image_url" and not isinstance(part["image_url"].get("url"), str):
        raise bad(f"{where}.image_url.url must be a string (an https: or data: URL).",
                  f"{where}.image_url.url")


def _tools(tools: list[JSON], param: str) -> set[str]:
    """The tool names, after checking each tool's shape."""
    names: set[str] = set()
    for i, t in enumerate(tools):
        where = f"{param}[{i}]"
        kind = t.get("type", "function")
        if kind not in ("function", "custom"):
            raise bad(f"{where}.type must be 'function' (or 'custom').", f"{where}.type")
        fn = t.get(kind)
        if not isinstance(fn, dict):
            raise bad(f"{where}.{kind} must be an object with a `name`.", f"{where}.{kind}")
        name = fn.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_TOOL_NAME:
            raise bad(f"{where}.{kind}.name is required: 1 to {MAX_TOOL_NAME} characters.",
                      f"{where}.{kind}.name")
        params = fn.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise bad(f"{where}.{kind}.parameters must be a JSON Schema object.",
                      f"{where}.{kind}.parameters")
        desc = fn.get("description")
        if desc is not None and not isinstance(desc, str):
            raise bad(f"{where}.{kind}.description must be a string.",
                      f"{where}.{kind}.description")
        names.add(name)
    return names


def _tool_choice(tc: str | JSON, names: set[str] | None) -> None:
    if isinstance(tc, str):
        if tc not in ("none", "auto", "required"):
            raise bad("`tool_choice` must be 'none', 'auto', 'required' or an object naming "
                      "a tool.", "tool_choice")
        if tc == "required" and not names:
            raise bad("`tool_choice` 'required' needs `tools`.", "tool_choice")
        return
    kind = tc.get("type")
    if kind == "allowed_tools":
        if not names:
            raise bad("`tool_choice` needs `tools`.", "tool_choice")
        return
    fn = tc.get(kind) if kind in ("function", "custom") else None
    name = fn.get("name") if isinstance(fn, dict) else None
    if not isinstance(name, str):
        raise bad("`tool_choice` must be 'none', 'auto', 'required' or "
                  '{"type": "function", "function": {"name": …}}.', "tool_choice")
    if not names or name not in names:
        raise bad(f"`tool_choice` names the tool {_show(name)}, which is not in `tools`.",
                  "tool_choice")


def _response_format(rf: JSON) -> None:
    kind = rf.get("type")
    if kind == "json_schema":
        js = rf.get("json_schema")
        if not isinstance(js, dict) or not isinstance(js.get("name"), str):
            raise bad("`response_format.json_schema` must be an object with a `name`.",
                      "response_format.json_schema")
    elif kind not in ("text", "json_object"):
        raise bad("`response_format.type` must be 'text', 'json_object' or 'json_schema'.",
                  "response_format.type")


def validate_embeddings(req: EmbeddingRequest) -> None:
    """Raise :class:`InvalidRequest` for what OpenAI's embeddings endpoint would refuse."""
    check_model(req.model)
    inp = req.input
    if isinstance(inp, str):
        if not inp:
            raise bad("`input` must not be empty.", "input")
    elif not inp:
        raise bad("Give some `input` to embed.", "input")
    elif len(inp) > MAX_EMBEDDING_INPUTS:
        raise bad(f"`input` may hold at most {MAX_EMBEDDING_INPUTS} items.", "input")
    else:
        _embedding_items(inp)
    if req.dimensions is not None and req.dimensions < 1:
        raise bad("`dimensions` must be at least 1.", "dimensions")
    if req.encoding_format is not None and req.encoding_format not in ("float", "base64"):
        raise bad("`encoding_format` must be 'float' or 'base64'.", "encoding_format")


def _embedding_items(inp: list[Any]) -> None:
    """One kind throughout: strings, token ids, or lists of token ids; none empty."""
    first = type(inp[0])
    for i, x in enumerate(inp):
        if type(x) is not first:
            raise bad("`input` must be all strings, all token ids, or all lists of token "
                      "ids.", "input")
        if (first is not int and not x) or (first is int and x < 0):
            raise bad(f"input[{i}] must not be empty (or a negative token id).",
                      f"input[{i}]")


def _show(value: object) -> str:
    """A client's value quoted for an error message, cut short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "…"
