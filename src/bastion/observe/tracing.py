"""OpenTelemetry traces: a span per pipeline step and per upstream attempt.

Off unless an OTLP endpoint is configured (``resilience.otlp_endpoint`` or the
standard ``OTEL_EXPORTER_OTLP_ENDPOINT``). Off costs nothing: steps are not
wrapped at all, and the route checks ``tracer.enabled`` before opening a span.
When on, the OpenTelemetry packages are imported by name, only then; they are an
optional dependency::

    pip install opentelemetry-api opentelemetry-sdk opentelemetry-exporter-otlp-proto-http

Step spans of a streamed answer end when the step returns the stream, not when the
stream ends; the meter step's log line has the full duration. Each upstream attempt
is a CLIENT span named and described by the OpenTelemetry GenAI conventions (see
:mod:`bastion.observe.genai`), which ends with its stream.

The outermost step's span is the request's root: it continues the client's W3C
``traceparent`` when one is sent, and its trace id goes back in the
``x-bastion-trace-id`` response header. Trace headers are never sent on to providers.
Spans carry ids, names, models, token counts and error types: no key, no error message
or stack trace (exceptions are not recorded as span events), and no prompt or answer
text unless ``telemetry.capture_content`` is on.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Protocol

from bastion.core.context import Context, Reply
from bastion.core.pipeline import Next, Step

Attrs = Mapping[str, str | int | float | bool]
TRACE_ID_HEADER = "x-bastion-trace-id"


class SpanHandle(Protocol):
    """A span opened by :meth:`Tracer.client_span`, ended explicitly (it may outlive the
    code that opened it, e.g. a streamed answer's)."""

    def end(self, attrs: Mapping[str, Any], error: BaseException | None = None) -> None: ...


class Tracer(Protocol):
    """Opens spans. ``enabled`` is ``False`` for the no-op tracer: callers skip work."""

    enabled: bool

    def span(self, name: str, attrs: Attrs) -> AbstractContextManager[Any]: ...

    def client_span(self, name: str, attrs: Mapping[str, Any]) -> SpanHandle | None:
        """A CLIENT span (an upstream call), child of the current span; ``None`` when off."""
        ...

    def root_span(self, name: str, attrs: Attrs,
                  traceparent: str | None) -> AbstractContextManager[str]:
        """A span continuing ``traceparent`` (when valid); yields its trace id (32 hex)."""
        ...

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Export the finished spans now (blocking, up to ``timeout_s``); ``True`` if done."""
        ...

    def shutdown(self) -> None:
        """Flush and stop exporting (blocking)."""
        ...

    async def aclose(self) -> None:
        """:meth:`shutdown` off the event loop."""
        ...


class NoopTracer:
    enabled = False

    def span(self, name: str, attrs: Attrs) -> AbstractContextManager[Any]:
        return nullcontext()

    def client_span(self, name: str, attrs: Mapping[str, Any]) -> SpanHandle | None:
        return None

    def root_span(self, name: str, attrs: Attrs,
                  traceparent: str | None) -> AbstractContextManager[str]:
        return nullcontext("")

    def flush(self, timeout_s: float = 10.0) -> bool:
        return True

    def shutdown(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class OtelTracer:
    """Spans through the OpenTelemetry SDK, exported over OTLP/HTTP in batches."""

    enabled = True

    def __init__(self, endpoint: str, service_name: str, *, full_url: bool = False) -> None:
        """``endpoint`` is the collector's base URL (``/v1/traces`` is added), or with
        ``full_url`` the traces URL itself (as ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)."""
        trace = importlib.import_module("opentelemetry.trace")
        sdk = importlib.import_module("opentelemetry.sdk.trace")
        export = importlib.import_module("opentelemetry.sdk.trace.export")
        resources = importlib.import_module("opentelemetry.sdk.resources")
        otlp = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        self._status = trace.Status
        self._error = trace.StatusCode.ERROR
        self._server = trace.SpanKind.SERVER
        self._client = trace.SpanKind.CLIENT
        self._format_trace_id = trace.format_trace_id
        self._propagator = importlib.import_module(
            "opentelemetry.trace.propagation.tracecontext").TraceContextTextMapPropagator()
        url = endpoint if full_url else endpoint.rstrip("/")
        if not full_url and not url.endswith("/v1/traces"):
            url += "/v1/traces"
        resource = resources.Resource.create({"service.name": service_name})
        self._provider = sdk.TracerProvider(resource=resource)
        self._provider.add_span_processor(
            export.BatchSpanProcessor(otlp.OTLPSpanExporter(endpoint=url)))
        self._tracer = self._provider.get_tracer("bastion")

    @contextmanager
    def span(self, name: str, attrs: Attrs) -> Iterator[Any]:
        # record_exception=False: an exception event would carry the error's message
        # (a provider's words, which may quote the prompt) and a stack trace.
        with self._tracer.start_as_current_span(
                name, attributes=dict(attrs), record_exception=False,
                set_status_on_exception=False) as span:
            try:
                yield span
            except BaseException as e:
                self._failed(span, e)
                raise

    @contextmanager
    def root_span(self, name: str, attrs: Attrs, traceparent: str | None) -> Iterator[str]:
        parent = (self._propagator.extract({"traceparent": traceparent})
                  if traceparent else None)
        with self._tracer.start_as_current_span(
                name, context=parent, kind=self._server, attributes=dict(attrs),
                record_exception=False, set_status_on_exception=False) as span:
            try:
                yield self._format_trace_id(span.get_span_context().trace_id)
            except BaseException as e:
                self._failed(span, e)
                raise

    def client_span(self, name: str, attrs: Mapping[str, Any]) -> SpanHandle | None:
        span = self._tracer.start_span(name, kind=self._client, attributes=dict(attrs),
                                       record_exception=False, set_status_on_exception=False)
        return _OtelSpan(span, self)

    def _failed(self, span: Any, e: BaseException) -> None:
        span.set_attribute("error.type", type(e).__name__)
        span.set_status(self._status(self._error, type(e).__name__))

    def flush(self, timeout_s: float = 10.0) -> bool:
        return bool(self._provider.force_flush(int(timeout_s * 1000)))

    def shutdown(self) -> None:
        self._provider.shutdown()

    async def aclose(self) -> None:
        await asyncio.to_thread(self._provider.shutdown)


class _OtelSpan:
    __slots__ = ("_span", "_tracer")

    def __init__(self, span: Any, tracer: OtelTracer) -> None:
        self._span = span
        self._tracer = tracer

    def end(self, attrs: Mapping[str, Any], error: BaseException | None = None) -> None:
        self._span.set_attributes(dict(attrs))
        if error is not None:
            self._tracer._failed(self._span, error)
        self._span.end()


def build_tracer(endpoint: str | None, env: Mapping[str, str],
                 service_name: str = "bastion") -> Tracer:
    """The OTLP tracer when an endpoint is configured, else the no-op tracer.

    ``endpoint`` (the settings) wins over ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (a full
    URL, used as is), which wins over ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL)."""
    traces_url = None if endpoint else env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    endpoint = endpoint or traces_url or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return NoopTracer()
    try:
        return OtelTracer(endpoint, env.get("OTEL_SERVICE_NAME", service_name),
                          full_url=traces_url is not None)
    except ImportError as e:
        raise RuntimeError(
            "Tracing is configured (an OTLP endpoint is set) but OpenTelemetry is not "
            "installed: pip install opentelemetry-api opentelemetry-sdk "
            "opentelemetry-exporter-otlp-proto-http") from e


class TracedStep:
    """Wraps a step in a span named after it (only built when tracing is on)."""

    def __init__(self, step: Step, tracer: Tracer) -> None:
        self.step = step
        self.tracer = tracer
        self.name = "step." + type(step).__name__.lower()

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        with self.tracer.span(self.name, {"bastion.request_id": ctx.request_id,
                                          "bastion.alias": ctx.alias}):
            return await self.step(ctx, call_next)


class RootTracedStep(TracedStep):
    """The outermost step's span: the request's root (see the module docstring)."""

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        attrs = {"bastion.request_id": ctx.request_id, "bastion.alias": ctx.alias}
        with self.tracer.root_span(self.name, attrs, ctx.headers.get("traceparent")) as tid:
            ctx.response_headers[TRACE_ID_HEADER] = tid
            return await self.step(ctx, call_next)


def trace_steps(steps: Sequence[Step], tracer: Tracer) -> list[Step]:
    """``steps`` each wrapped in a span when ``tracer`` is on (the first one opening the
    request's root span); the same steps, unwrapped, when off."""
    if not tracer.enabled or not steps:
        return list(steps)
    return [RootTracedStep(steps[0], tracer), *(TracedStep(s, tracer) for s in steps[1:])]
