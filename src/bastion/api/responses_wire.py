"""The OpenAI Responses API on the wire: the request body and the ``response`` object.

Input items (``input`` as a list) stay free-form JSON here and are checked one by
one by :mod:`bastion.api.responses_translate`, so a wrong item gets a message
naming it (``input[3].call_id``) rather than a union-decoding error. Output
objects are msgspec structs written with every field, ``null`` included, as
OpenAI writes them, so the official SDK's models and strict clients accept them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from bastion.core.types import JSON


class ResponsesRequest(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """``POST /v1/responses`` body: every documented parameter (some are refused later,
    with a reason, by :func:`bastion.api.responses_translate.to_canonical`)."""

    model: str
    input: str | list[JSON] | None = None
    instructions: str | None = None
    tools: list[JSON] | None = None
    tool_choice: str | JSON | None = None
    parallel_tool_calls: bool | None = None
    text: JSON | None = None
    reasoning: JSON | None = None
    max_output_tokens: int | None = None
    max_tool_calls: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_logprobs: int | None = None
    stream: bool | None = None
    stream_options: JSON | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    conversation: str | JSON | None = None
    prompt: JSON | None = None
    background: bool | None = None
    include: list[str] | None = None
    truncation: str | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    service_tier: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    prompt_cache_options: JSON | None = None
    context_management: list[JSON] | None = None
    background_options: JSON | None = None
    moderation: JSON | None = None
    access_programs: Any = None
    image: Any = None


class OutputText(msgspec.Struct, tag_field="type", tag="output_text"):
    text: str
    annotations: list[JSON] = msgspec.field(default_factory=list)
    logprobs: list[JSON] = msgspec.field(default_factory=list)


class Refusal(msgspec.Struct, tag_field="type", tag="refusal"):
    refusal: str


class SummaryText(msgspec.Struct, tag_field="type", tag="summary_text"):
    text: str


class MessageItem(msgspec.Struct, tag_field="type", tag="message"):
    id: str
    content: list[OutputText | Refusal]
    role: str = "assistant"
    status: str = "completed"


class FunctionCallItem(msgspec.Struct, tag_field="type", tag="function_call"):
    id: str
    call_id: str
    name: str
    arguments: str
    status: str = "completed"


class ReasoningItem(msgspec.Struct, tag_field="type", tag="reasoning"):
    id: str
    summary: list[SummaryText]
    encrypted_content: str | None = None
    status: str | None = None


OutputItem = MessageItem | FunctionCallItem | ReasoningItem


class InputDetails(msgspec.Struct):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputDetails(msgspec.Struct):
    reasoning_tokens: int = 0


class ResponseUsage(msgspec.Struct):
    input_tokens: int = 0
    input_tokens_details: InputDetails = msgspec.field(default_factory=InputDetails)
    output_tokens: int = 0
    output_tokens_details: OutputDetails = msgspec.field(default_factory=OutputDetails)
    total_tokens: int = 0


class Response(msgspec.Struct):
    """The ``response`` object (``POST /v1/responses`` answer, and in stream events)."""

    id: str
    created_at: int
    model: str
    output: list[OutputItem] = msgspec.field(default_factory=list)
    object: str = "response"
    status: str = "completed"
    error: JSON | None = None
    incomplete_details: JSON | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    reasoning: JSON | None = None
    store: bool = False
    temperature: float | None = None
    text: JSON = msgspec.field(default_factory=lambda: {"format": {"type": "text"}})
    tool_choice: str | JSON = "auto"
    tools: list[JSON] = msgspec.field(default_factory=list)
    top_p: float | None = None
    truncation: str = "disabled"
    usage: ResponseUsage | None = None
    user: str | None = None


encoder = msgspec.json.Encoder()
request_decoder = msgspec.json.Decoder(ResponsesRequest)


def sse_event(kind: str, seq: int, payload: dict[str, Any]) -> bytes:
    """One Responses stream event: ``event:`` line, and ``type`` and ``sequence_number``
    in the data, as OpenAI sends them."""
    body = encoder.encode({"type": kind, "sequence_number": seq, **payload})
    return b"event: " + kind.encode() + b"\ndata: " + body + b"\n\n"
