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


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
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


def configure_logging(
    level: str = "info", log_prompts: bool = False, fmt: str = "json",
    stream: TextIO | None = None,
) -> None:
    """Configure structlog once per process (called by the server at start-up)."""
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
