"""Structured JSON logs with redaction.

Every line passes :func:`redact`: anything shaped like a provider key or a
Bastion key is masked, whatever field it hides in, and a field that would hold
prompt or answer text is dropped (there is no setting to log them).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import MutableMapping
from typing import Any, TextIO

import msgspec
import structlog

from bastion.observe.log_errors import exception_fields, route_stdlib

_SECRETS = re.compile(
    r"(bst_[A-Za-z0-9_\-]{8,}|bat_[A-Za-z0-9_\-]{8,}|"
    r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*|"
    r"sk-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,}|"
    r"gsk_[A-Za-z0-9]{20,}|hf_[A-Za-z0-9]{20,}|xai-[A-Za-z0-9]{20,}|r8_[A-Za-z0-9]{20,}|"
    r"pplx-[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}|(?i:bearer)\s+[A-Za-z0-9._\-]{8,})"
)
PROMPT_FIELDS = frozenset({"prompt", "messages", "content", "completion", "answer", "text"})
_encoder = msgspec.json.Encoder()


def mask_secrets(text: str) -> str:
    return _SECRETS.sub("[redacted]", text)


_PLAIN = (int, float, bool, type(None))


def _clean(value: Any) -> Any:
    t = type(value)
    if t is str:
        return _SECRETS.sub("[redacted]", value)
    if t in _PLAIN:
        return value
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return mask_secrets(value)
    return value


def redact(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The structlog processor: prompt fields dropped, secrets masked."""
    for k in list(event):
        if k in PROMPT_FIELDS:
            event[k] = "[not logged]"
        else:
            event[k] = _clean(event[k])
    return event


def _render(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> str:
    return _encoder.encode(event).decode()


class _Sink:
    """Where the fast path writes: the same stream and level structlog was given."""

    __slots__ = ("level", "stream")

    def __init__(self, stream: TextIO, level: int) -> None:
        self.stream = stream
        self.level = level


_LEVEL_NAMES = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}
_sink: list[_Sink] = []  # set by configure_logging (JSON format only); empty = use structlog


def _may_hold_secret(text: str) -> bool:
    """A cheap test before the regex (which costs ~10 µs a line): could ``_SECRETS``
    match? Every alternative of the pattern starts with one of these literals."""
    return ("bst_" in text or "bat_" in text or "eyJ" in text or "sk-" in text
            or "AIza" in text or "gsk_" in text or "hf_" in text or "xai-" in text
            or "r8_" in text or "pplx-" in text
            or "AKIA" in text or "bearer" in text.lower())


class _Clock:
    """ISO-8601 UTC timestamps with the date part formatted once per second."""

    __slots__ = ("prefix", "second")

    def __init__(self) -> None:
        self.second = -1
        self.prefix = ""

    def now(self) -> str:
        t = time.time()
        sec = int(t)
        if sec != self.second:
            self.second = sec
            self.prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self.prefix}.{int((t - sec) * 1e6):06d}Z"


_clock = _Clock()


def emit(logger: Any, level: int, event: str, fields: dict[str, Any]) -> None:
    """Log one event in the same shape as structlog's JSON lines, without its processor
    chain (the per-request line is on the hot path). Prompt fields are dropped; secrets
    are masked over the whole encoded line at once (a mask only ever replaces characters
    inside a JSON string, so the line stays valid JSON). Falls back to ``logger`` when
    logging was not configured for JSON."""
    if not _sink:
        logger.log(level, event, **fields)
        return
    sink = _sink[0]
    if level < sink.level:
        return
    for k in PROMPT_FIELDS.intersection(fields):
        fields[k] = "[not logged]"
    fields["event"] = event
    fields["level"] = _LEVEL_NAMES.get(level, "info")
    fields["timestamp"] = _clock.now()
    line = _encoder.encode(fields).decode()
    if _may_hold_secret(line):
        line = _SECRETS.sub("[redacted]", line)
    sink.stream.write(line + "\n")
    sink.stream.flush()


def configure_logging(
    level: str = "info", fmt: str = "json", stream: TextIO | None = None,
) -> None:
    """Configure structlog once per process (called by the server at start-up)."""
    _sink.clear()
    if fmt == "json":
        _sink.append(_Sink(stream or sys.stderr, getattr(logging, level.upper(), logging.INFO)))
    renderer: structlog.types.Processor = (
        _render if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False))
    # errors: type, message and a bounded traceback as fields (before the redactor)
    chain: list[structlog.types.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        exception_fields,
        redact,
    ]
    # libraries' logging records, warnings and uncaught exceptions: the same lines
    route_stdlib(stream or sys.stderr, getattr(logging, level.upper(), logging.INFO), chain,
                 renderer)
    structlog.configure(
        processors=[*chain, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            getattr(logging, level.upper(), logging.INFO)),
        logger_factory=structlog.WriteLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str = "bastion") -> Any:
    return structlog.get_logger(name)
