"""Canonical request, response and stream-chunk types.

The canonical shape is OpenAI's chat-completions shape: it is the superset most
providers speak, so the OpenAI front door decodes straight into it and other
dialects translate at their edge. The types are :mod:`msgspec` structs: one
decode and one encode per body, no dict round trips. ``omit_defaults`` keeps
fields a client never set out of what is sent on, so a request reaches the
provider as the client wrote it.
"""

from __future__ import annotations

from typing import Any

import msgspec

JSON = dict[str, Any]


class _Base(msgspec.Struct, omit_defaults=True):
    """Requests and message parts: fields a client never set are not sent on."""


class _Out(msgspec.Struct):
    """Response envelopes: every field is written, ``null`` included, as OpenAI does."""


class FunctionCall(_Base):
    name: str | None = None
    arguments: str | None = None


class ToolCall(_Base):
    # ``None`` by default so that an explicit "function" is written (omit_defaults would
    # drop a default of "function", and OpenAI requires ``type`` on request tool calls).
    id: str | None = None
    type: str | None = None
    function: FunctionCall = msgspec.field(default_factory=FunctionCall)
    index: int | None = None


class Message(_Base):
    """One chat message. ``content`` is a string or a list of typed parts (dicts)."""

    role: str
    content: str | list[JSON] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None
    function_call: FunctionCall | None = None
    audio: JSON | None = None
    annotations: list[JSON] | None = None
    reasoning_content: str | None = None

    def text(self) -> str:
        """All text of the message, parts joined by newlines."""
        c = self.content
        if c is None:
            return ""
        if isinstance(c, str):
            return c
        return "\n".join(p.get("text", "") for p in c if p.get("type") == "text")


class StreamOptions(_Base):
    include_usage: bool | None = None


class ChatRequest(_Base, forbid_unknown_fields=True):
    """OpenAI ``POST /v1/chat/completions`` body, every documented parameter."""

    model: str
    messages: list[Message]
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    stop: str | list[str] | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    user: str | None = None
    seed: int | None = None
    tools: list[JSON] | None = None
    tool_choice: str | JSON | None = None
    parallel_tool_calls: bool | None = None
    response_format: JSON | None = None
    functions: list[JSON] | None = None
    function_call: str | JSON | None = None
    service_tier: str | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    reasoning_effort: str | None = None
    modalities: list[str] | None = None
    audio: JSON | None = None
    prediction: JSON | None = None
    web_search_options: JSON | None = None
    verbosity: str | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    # Bastion extension: retrieved documents, scanned as untrusted data and placed in the
    # last user turn by the injection guard (never sent to a provider as a field).
    documents: list[Any] | None = None

    def output_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class Usage(_Out):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: JSON | None = None
    completion_tokens_details: JSON | None = None


class Choice(_Out):
    index: int = 0
    message: Message = msgspec.field(default_factory=lambda: Message(role="assistant"))
    finish_reason: str | None = None
    logprobs: JSON | None = None


class ChatResponse(_Out):
    id: str
    model: str
    choices: list[Choice]
    object: str = "chat.completion"
    created: int = 0
    usage: Usage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None


class Delta(_Base):
    role: str | None = None
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None
    function_call: FunctionCall | None = None
    reasoning_content: str | None = None


class ChunkChoice(_Out):
    index: int = 0
    delta: Delta = msgspec.field(default_factory=Delta)
    finish_reason: str | None = None
    logprobs: JSON | None = None


class ChatChunk(_Out):
    id: str
    model: str
    choices: list[ChunkChoice]
    object: str = "chat.completion.chunk"
    created: int = 0
    usage: Usage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None


class EmbeddingRequest(_Base, forbid_unknown_fields=True):
    model: str
    input: str | list[str | int | list[int]]
    encoding_format: str | None = None
    dimensions: int | None = None
    user: str | None = None

    def texts(self) -> list[str]:
        i = self.input
        if isinstance(i, str):
            return [i]
        return [x for x in i if isinstance(x, str)]


class Embedding(_Out):
    index: int
    embedding: list[float] | str
    object: str = "embedding"


class EmbeddingUsage(_Out):
    prompt_tokens: int = 0
    total_tokens: int = 0


class EmbeddingResponse(_Out):
    data: list[Embedding]
    model: str
    object: str = "list"
    usage: EmbeddingUsage = msgspec.field(default_factory=EmbeddingUsage)


json_encoder = msgspec.json.Encoder()
chat_request_decoder = msgspec.json.Decoder(ChatRequest)
embedding_request_decoder = msgspec.json.Decoder(EmbeddingRequest)
chat_response_decoder = msgspec.json.Decoder(ChatResponse)
chat_chunk_decoder = msgspec.json.Decoder(ChatChunk)
embedding_response_decoder = msgspec.json.Decoder(EmbeddingResponse)
any_decoder = msgspec.json.Decoder()
