"""The ``telemetry:`` section: what OpenTelemetry spans may carry beyond ids and counts.

Spans follow the OpenTelemetry GenAI conventions (see ``bastion.observe.genai`` and the
Observability part of ``docs/resilience.md``); prompt and completion text is recorded on
them only when ``capture_content`` is on, each text cut at ``content_max_chars``. The
collector is set by ``resilience.otlp_endpoint`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``.
"""

from __future__ import annotations

from pydantic import Field

from bastion.config.extensions import _Strict


class TelemetrySettings(_Strict):
    capture_content: bool = Field(False, description="prompt and answer text on spans")
    content_max_chars: int = Field(8000, ge=16, description="longest text kept per message")
