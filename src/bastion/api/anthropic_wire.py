"""The Anthropic Messages API on the wire, shared by the front door and the adapter.

One place holds the :mod:`msgspec` types of the Messages API (request, content
blocks, message, stream events), the mapping of stop reasons and usage between
Anthropic and the canonical (OpenAI-shaped) types, Anthropic-shaped error
bodies, and the *channel*: a small typed side channel for what the canonical
request cannot carry.

The channel
-----------
Anthropic-only request parameters (:data:`PASSTHROUGH`: ``top_k``, ``thinking``,
``output_config``, ``cache_control``, …) and the client's ``anthropic-beta``
header have no canonical field. The front door puts them in an
:class:`AnthropicChannel` held by the :data:`channel` context variable for the
duration of one request (the provider call runs in that request's task, or in a
task created from it, so it sees the value). The Anthropic adapter sends them
on unchanged; every other adapter never reads them, which drops them. On the
way back the Anthropic adapter notes what the canonical answer cannot say (the
stop sequence that matched, the input tokens known at ``message_start``).
Outside the Anthropic front door the variable is ``None``.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import msgspec

from bastion.core.errors import GatewayError
from bastion.core.types import JSON, Usage


@dataclass(slots=True)
class AnthropicChannel:
    """Per-request Anthropic-only parameters in (door → adapter) and notes out."""

    params: dict[str, Any] = field(default_factory=dict)  # PASSTHROUGH names -> values
    betas: str | None = None
    stop_sequence: str | None = None  # set by the Anthropic adapter
    input_tokens: int | None = None  # set by the Anthropic adapter at message_start
    # Request blocks the canonical shape flattens, kept so an Anthropic provider gets them
    # as the client sent them (used only while the canonical text they became is unchanged):
    documents: dict[str, Block] = field(default_factory=dict)  # text part -> document
    thinking_in: dict[int, list[Block]] = field(default_factory=dict)  # assistant # -> blocks
    tool_errors: set[str] = field(default_factory=set)  # tool_use ids whose result is_error
    # Answer blocks the canonical shape flattens, noted by the adapter for the front door:
    thinking_out: list[Block] = field(default_factory=list)  # with signatures
    text_out: list[Block] = field(default_factory=list)  # text blocks, when any cites
    signatures: list[str] = field(default_factory=list)  # streamed, in block order
    citations: list[Any] = field(default_factory=list)  # streamed, not yet relayed


channel: ContextVar[AnthropicChannel | None] = ContextVar("bastion_anthropic", default=None)


# ---- content blocks, requests, messages -------------------------------------------------


class Block(msgspec.Struct, omit_defaults=True):
    """One content block of any type; the fields a type does not use stay unset."""

    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None
    source: JSON | None = None
    tool_use_id: str | None = None
    content: str | list[Block] | None = None
    is_error: bool | None = None
    title: str | None = None
    context: str | None = None
    thinking: str | None = None
    signature: str | None = None
    data: str | None = None
    citations: Any = None
    cache_control: JSON | None = None


class InMessage(msgspec.Struct, forbid_unknown_fields=True):
    role: str
    content: str | list[Block]


class MessagesRequest(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """``POST /v1/messages`` body. ``max_tokens`` is checked by the door, so the same
    type also reads ``/v1/messages/count_tokens`` bodies, which have none."""

    model: str
    messages: list[InMessage]
    max_tokens: int | None = None
    system: str | list[Block] | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    metadata: JSON | None = None
    tools: list[JSON] | None = None
    tool_choice: JSON | None = None
    thinking: JSON | None = None
    service_tier: str | None = None
    output_config: JSON | None = None
    cache_control: JSON | None = None
    context_management: JSON | None = None
    diagnostics: Any = None
    inference_geo: str | None = None
    speed: str | None = None
    user_profile_id: str | None = None
    workspace_id: str | None = None
    documents: list[Any] | None = None  # Bastion extension, as on the OpenAI door


# MessagesRequest fields with no canonical counterpart: sent on unchanged to Anthropic
# providers (through the channel), dropped for the others. Parameters that make the
# vendor run tools or code the gateway cannot see (``mcp_servers``, ``container``) are
# not accepted, like server tools.
PASSTHROUGH = ("top_k", "thinking", "service_tier", "output_config", "cache_control",
               "context_management", "diagnostics", "inference_geo", "speed",
               "user_profile_id", "workspace_id")


class AUsage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class AMessage(msgspec.Struct):
    """An Anthropic ``message`` object (the non-stream answer, and in ``message_start``)."""

    id: str = ""
    type: str = "message"
    role: str = "assistant"
    content: list[Block] = msgspec.field(default_factory=list)
    model: str = ""
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: AUsage = msgspec.field(default_factory=AUsage)


# ---- stream events -------------------------------------------------------------------------


class BlockDelta(msgspec.Struct, omit_defaults=True):
    type: str
    text: str | None = None
    partial_json: str | None = None
    thinking: str | None = None
    signature: str | None = None
    citation: Any = None


class StopDelta(msgspec.Struct):
    stop_reason: str | None = None
    stop_sequence: str | None = None


class DeltaUsage(msgspec.Struct, omit_defaults=True):
    output_tokens: int
    input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class MessageStart(msgspec.Struct, tag_field="type", tag="message_start"):
    message: AMessage


class ContentBlockStart(msgspec.Struct, tag_field="type", tag="content_block_start"):
    index: int
    content_block: Block


class ContentBlockDelta(msgspec.Struct, tag_field="type", tag="content_block_delta"):
    index: int
    delta: BlockDelta


class ContentBlockStop(msgspec.Struct, tag_field="type", tag="content_block_stop"):
    index: int


class MessageDelta(msgspec.Struct, tag_field="type", tag="message_delta"):
    delta: StopDelta
    usage: DeltaUsage


class MessageStop(msgspec.Struct, tag_field="type", tag="message_stop"):
    pass


encoder = msgspec.json.Encoder()
request_decoder = msgspec.json.Decoder(MessagesRequest)
message_decoder = msgspec.json.Decoder(AMessage)
EVENT_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "message_start": msgspec.json.Decoder(MessageStart),
    "content_block_start": msgspec.json.Decoder(ContentBlockStart),
    "content_block_delta": msgspec.json.Decoder(ContentBlockDelta),
    "content_block_stop": msgspec.json.Decoder(ContentBlockStop),
    "message_delta": msgspec.json.Decoder(MessageDelta),
    "message_stop": msgspec.json.Decoder(MessageStop),
}


def sse_frame(event: bytes, payload: Any) -> bytes:
    """One SSE frame with an ``event:`` line, as Anthropic (and its SDK) expects."""
    return b"event: " + event + b"\ndata: " + encoder.encode(payload) + b"\n\n"


# ---- stop reasons and usage ----------------------------------------------------------------

# canonical finish_reason -> Anthropic stop_reason
STOP_REASON = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
               "function_call": "tool_use", "content_filter": "refusal"}
# Anthropic stop_reason -> canonical finish_reason
FINISH_REASON = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                 "tool_use": "tool_calls", "pause_turn": "stop", "refusal": "content_filter",
                 "model_context_window_exceeded": "length"}


def stop_reason(finish: str | None, ch: AnthropicChannel | None) -> str:
    """Anthropic's ``stop_reason`` for a canonical finish reason."""
    if finish == "stop" and ch is not None and ch.stop_sequence is not None:
        return "stop_sequence"
    return STOP_REASON.get(finish or "stop", "end_turn")


def canonical_usage(u: AUsage) -> Usage:
    """Anthropic usage → canonical: prompt tokens include cache reads and writes, as
    OpenAI's do; ``prompt_tokens_details`` keeps both apart."""
    read = u.cache_read_input_tokens or 0
    written = u.cache_creation_input_tokens or 0
    prompt = u.input_tokens + read + written
    details = ({"cached_tokens": read, "cache_creation_tokens": written}
               if read or written else None)
    return Usage(prompt_tokens=prompt, completion_tokens=u.output_tokens,
                 total_tokens=prompt + u.output_tokens, prompt_tokens_details=details)


def anthropic_usage(u: Usage | None) -> AUsage:
    """Canonical usage → Anthropic: ``input_tokens`` excludes cache reads and writes."""
    if u is None:
        return AUsage()
    d = u.prompt_tokens_details or {}
    read = int(d.get("cached_tokens") or 0)
    written = int(d.get("cache_creation_tokens") or 0)
    return AUsage(input_tokens=max(0, u.prompt_tokens - read - written),
                  output_tokens=u.completion_tokens,
                  cache_creation_input_tokens=written if d else None,
                  cache_read_input_tokens=read if d else None)


# ---- errors --------------------------------------------------------------------------------

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                402: "billing_error", 403: "permission_error", 404: "not_found_error",
                405: "invalid_request_error", 413: "request_too_large",
                429: "rate_limit_error", 503: "overloaded_error", 504: "timeout_error",
                529: "overloaded_error"}


def anthropic_error_type(err: GatewayError) -> str:
    """Anthropic's error ``type`` for a gateway error, by its HTTP status."""
    if err.status in _ERROR_TYPES:
        return _ERROR_TYPES[err.status]
    return "invalid_request_error" if 400 <= err.status < 500 else "api_error"


def anthropic_error_body(err: GatewayError) -> dict[str, Any]:
    """``{"type": "error", "error": {type, message, code}}``; ``code`` is the gateway's
    stable code (the SDKs ignore fields they do not know)."""
    return {"type": "error", "error": {"type": anthropic_error_type(err),
                                       "message": err.message, "code": err.code}}
