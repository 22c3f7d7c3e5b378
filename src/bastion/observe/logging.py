"""Structured JSON logs with redaction.

Every line passes :func:`redact`: anything shaped like a provider key or a
Bastion key is masked, whatever field it hides in, and prompt/answer text is
dropped unless the operator opted in (``logging.log_prompts``).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any, TextIO

import msgspec
import structlog

_SECRETS = re.compile(
    r"(bst_[A-Za-z0-9_\-]{8,}|sk-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,}|"
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


def make_redactor(log_prompts: bool) -> structlog.types.Processor:
    def redact(
        _logger: Any, _name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for k in list(event):
            if not log_prompts and k in PROMPT_FIELDS:
                event[k] = "[not logged]"
            else:
                event[k] = _clean(event[k])
        return event

    return redact


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


def emit(logger: Any, level: int, event: str, fields: dict[str, Any]) -> None:
    """Log one event with the same redaction and shape as structlog's JSON lines, without
    its processor chain (the per-request line is on the hot path). Falls back to
    ``logger`` when logging was not configured for JSON."""
    if not _sink:
        logger.log(level, event, **fields)
        return
    sink = _sink[0]
    if level < sink.level:
        return
    for k, v in fields.items():
        if k in PROMPT_FIELDS:
            fields[k] = "[not logged]"
        elif type(v) is not int and type(v) is not float and v is not None:
            fields[k] = _clean(v)
    fields["event"] = event
    fields["level"] = _LEVEL_NAMES.get(level, "info")
    fields["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    sink.stream.write(_encoder.encode(fields).decode() + "\n")
    sink.stream.flush()


def configure_logging(
    level: str = "info", log_prompts: bool = False, fmt: str = "json",
    stream: TextIO | None = None,
) -> None:
    """Configure structlog once per process (called by the server at start-up)."""
    _sink.clear()
    if fmt == "json" and not log_prompts:
        _sink.append(_Sink(stream or sys.stderr, getattr(logging, level.upper(), logging.INFO)))
    renderer: structlog.types.Processor = (
        _render if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            make_redactor(log_prompts),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            getattr(logging, level.upper(), logging.INFO)),
        logger_factory=structlog.WriteLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str = "bastion") -> Any:
    return structlog.get_logger(name)
