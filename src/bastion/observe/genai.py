"""OpenTelemetry GenAI semantic conventions for each upstream attempt.

Every attempt is recorded the way GenAI-aware tools (Langfuse, Arize Phoenix,
Datadog, Grafana) read it, with no custom parsing:

* a span ``{operation} {model}`` (kind CLIENT) with ``gen_ai.operation.name``
  (``chat``/``embeddings``), ``gen_ai.provider.name`` (``aws.bedrock``,
  ``gcp.vertex_ai``, ``openai``, …), ``gen_ai.request.model`` and the request's
  ``max_tokens``/``temperature``/``top_p``, then ``gen_ai.response.model``,
  ``gen_ai.response.id``, ``gen_ai.response.finish_reasons``,
  ``gen_ai.usage.input_tokens``/``output_tokens`` and, for streams,
  ``gen_ai.server.time_to_first_token`` (seconds). A streamed attempt's span ends
  with its stream.
* Prometheus histograms named as the conventions name them:
  ``gen_ai_client_operation_duration_seconds``, ``gen_ai_client_token_usage``
  (``gen_ai_token_type`` input/output) and ``gen_ai_server_time_to_first_token_seconds``,
  labelled by operation, provider and request model (values from the config only).

Prompt and completion text (``gen_ai.system_instructions``, ``gen_ai.input.messages``,
``gen_ai.output.messages``, as the conventions' JSON parts) go on spans only when the
operator opts in (``telemetry.capture_content``), each text cut at
``telemetry.content_max_chars``. The attempt is the innermost point of the request's
path, so what is recorded is what the provider received and answered: after the
privacy steps replaced or removed personal data, before pseudonyms are restored.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgspec

from bastion.core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingResponse,
    Message,
    Usage,
)

if TYPE_CHECKING:
    from bastion.observe.metrics import Metrics
    from bastion.observe.tracing import SpanHandle

# gen_ai.provider.name for each provider type; other types use the provider's own name.
PROVIDER_NAMES = {"openai": "openai", "azure_openai": "azure.ai.openai",
                  "anthropic": "anthropic", "gemini": "gcp.gemini", "vertex": "gcp.vertex_ai",
                  "bedrock": "aws.bedrock", "fake": "bastion.fake"}
_enc = msgspec.json.Encoder()


def provider_name(name: str, kind: str) -> str:
    return PROVIDER_NAMES.get(kind, name)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _parts(m: Message, limit: int) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if m.role == "tool":
        return [{"type": "tool_call_response", "id": m.tool_call_id,
                 "response": _cut(m.text(), limit)}]
    text = m.text()
    if text:
        parts.append({"type": "text", "content": _cut(text, limit)})
    parts.extend({"type": "tool_call", "id": tc.id, "name": tc.function.name,
                  "arguments": _cut(tc.function.arguments or "", limit)}
                 for tc in m.tool_calls or [])
    return parts


def input_content(req: ChatRequest, limit: int) -> dict[str, str]:
    """``gen_ai.system_instructions`` and ``gen_ai.input.messages`` (JSON strings)."""
    system = [{"type": "text", "content": _cut(m.text(), limit)} for m in req.messages
              if m.role in ("system", "developer")]
    messages = [{"role": m.role, "parts": _parts(m, limit)} for m in req.messages
                if m.role not in ("system", "developer")]
    out = {"gen_ai.input.messages": _enc.encode(messages).decode()}
    if system:
        out["gen_ai.system_instructions"] = _enc.encode(system).decode()
    return out


def output_content(messages: list[tuple[Message, str | None]], limit: int) -> str:
    return _enc.encode([{"role": "assistant", "parts": _parts(m, limit),
                         "finish_reason": reason or "stop"} for m, reason in messages]).decode()


class Observed:
    """One upstream attempt being observed (see the module docstring)."""

    __slots__ = ("calls", "finish", "first_s", "genai", "labels", "model", "rid", "span",
                 "started", "text")

    def __init__(self, genai: GenAI, labels: tuple[str, str, str], span: SpanHandle | None
                 ) -> None:
        self.genai = genai
        self.labels = labels
        self.span = span
        self.started = time.monotonic()
        self.first_s: float | None = None
        self.finish: list[str] = []
        self.rid: str | None = None
        self.model: str | None = None
        self.text: list[str] = []
        self.calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]

    def chunk(self, c: ChatChunk) -> None:
        """Note a streamed chunk (only called while a span records)."""
        if self.first_s is None:
            self.first_s = time.monotonic() - self.started
            self.genai.ttft(self.labels, self.first_s)
        self.rid = self.rid or c.id
        self.model = self.model or c.model
        for choice in c.choices[:1]:
            if choice.finish_reason:
                self.finish.append(choice.finish_reason)
            if not self.genai.capture:
                continue
            d = choice.delta
            if d.content:
                self.text.append(d.content)
            for tc in d.tool_calls or []:
                got = self.calls.setdefault(tc.index or 0, ["", "", ""])
                got[0] = got[0] or tc.id or ""
                got[1] = got[1] or tc.function.name or ""
                got[2] += tc.function.arguments or ""

    def first_chunk(self) -> None:
        """The stream's first chunk arrived (when no span records, for the metric)."""
        if self.first_s is None:
            self.first_s = time.monotonic() - self.started
            self.genai.ttft(self.labels, self.first_s)

    def end_with(self, usage: Usage | None,
                 response: ChatResponse | EmbeddingResponse | None = None,
                 error: BaseException | None = None) -> None:
        """:meth:`end` with the token counts of ``usage`` (when the provider gave them)."""
        self.end(usage.prompt_tokens if usage else None,
                 usage.completion_tokens if usage else None, response, error)

    def end(self, usage_in: int | None, usage_out: int | None,
            response: ChatResponse | EmbeddingResponse | None = None,
            error: BaseException | None = None) -> None:
        g = self.genai
        g.finished(self.labels, time.monotonic() - self.started, usage_in, usage_out, error)
        span = self.span
        if span is None:
            return
        attrs: dict[str, Any] = {}
        if isinstance(response, ChatResponse):
            self.rid, self.model = response.id, response.model
            self.finish = [c.finish_reason or "stop" for c in response.choices]
            if g.capture:
                attrs["gen_ai.output.messages"] = output_content(
                    [(c.message, c.finish_reason) for c in response.choices], g.max_chars)
        elif isinstance(response, EmbeddingResponse):
            self.model = response.model
        elif g.capture and (self.text or self.calls):
            from bastion.core.types import FunctionCall, ToolCall

            msg = Message(role="assistant", content="".join(self.text) or None, tool_calls=[
                ToolCall(id=i, function=FunctionCall(name=n, arguments=a))
                for i, n, a in self.calls.values()] or None)
            attrs["gen_ai.output.messages"] = output_content(
                [(msg, self.finish[-1] if self.finish else None)], g.max_chars)
        for key, value in (("gen_ai.response.id", self.rid), ("gen_ai.response.model", self.model),
                           ("gen_ai.usage.input_tokens", usage_in),
                           ("gen_ai.usage.output_tokens", usage_out),
                           ("gen_ai.server.time_to_first_token", self.first_s)):
            if value is not None:
                attrs[key] = value
        if self.finish:
            attrs["gen_ai.response.finish_reasons"] = self.finish
        span.end(attrs, error)


class GenAI:
    """Configured once (metrics, content opt-in); the route makes one :class:`Observed`
    per attempt."""

    def __init__(self, metrics: Metrics, capture: bool = False, max_chars: int = 8000) -> None:
        self.metrics = metrics
        self.capture = capture
        self.max_chars = max_chars
        self._series: dict[tuple[str, ...], Any] = {}

    def request_attrs(self, req: Any, operation: str, provider: str,
                      model: str) -> dict[str, Any]:
        attrs: dict[str, Any] = {"gen_ai.operation.name": operation,
                                 "gen_ai.provider.name": provider, "gen_ai.request.model": model}
        if isinstance(req, ChatRequest):
            for key, value in (("gen_ai.request.max_tokens", req.output_limit()),
                               ("gen_ai.request.temperature", req.temperature),
                               ("gen_ai.request.top_p", req.top_p)):
                if value is not None:
                    attrs[key] = value
            if self.capture:
                attrs.update(input_content(req, self.max_chars))
        return attrs

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._series.get(key)
        if child is None:  # one per configured target and label set: bounded
            child = self._series[key] = metric.labels(*labels)
        return child

    def ttft(self, labels: tuple[str, str, str], seconds: float) -> None:
        self._child(self.metrics.genai_ttft, *labels).observe(seconds)

    def finished(self, labels: tuple[str, str, str], seconds: float, usage_in: int | None,
                 usage_out: int | None, error: BaseException | None) -> None:
        m = self.metrics
        self._child(m.genai_duration, *labels,
                    type(error).__name__ if error is not None else "").observe(seconds)
        if usage_in is not None:
            self._child(m.genai_tokens, *labels, "input").observe(usage_in)
        if usage_out is not None and labels[0] == "chat":
            self._child(m.genai_tokens, *labels, "output").observe(usage_out)
