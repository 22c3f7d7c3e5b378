"""Errors as one structured line, and every library's log through the same formatter.

* :func:`exception_fields` (a structlog processor) turns ``exc_info`` into fields:
  ``error_type`` (the exception's qualified class name), ``error`` (its message,
  at most :data:`MAX_MESSAGE` characters) and ``traceback`` (the last
  :data:`MAX_FRAMES` frames, at most :data:`MAX_TRACEBACK` characters, the
  exception chain included). The redactor runs after it, so a secret in a message
  or a traceback is masked like anywhere else; local variables are never printed.
* :func:`route_stdlib` sends the standard ``logging`` records of libraries (aiohttp,
  asyncio, asyncpg, redis; warnings and errors, not their info chatter), Python
  warnings and uncaught exceptions (main thread and other threads) through the same
  processors, so the log holds only JSON lines.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import MutableMapping, Sequence
from types import TracebackType
from typing import Any, TextIO

import structlog

MAX_MESSAGE = 500
MAX_FRAMES = 20
MAX_TRACEBACK = 8000

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _exc_info(value: Any) -> ExcInfo | None:
    if value is True:
        info = sys.exc_info()
        return None if info[0] is None else info
    if isinstance(value, BaseException):
        return type(value), value, value.__traceback__
    if isinstance(value, tuple) and len(value) == 3 and value[0] is not None:
        return value
    return None


def _qualname(t: type[BaseException]) -> str:
    mod = t.__module__
    return t.__qualname__ if mod in ("builtins", "__main__") else f"{mod}.{t.__qualname__}"


def format_traceback(info: ExcInfo) -> str:
    """The last :data:`MAX_FRAMES` frames (per exception in the chain), bounded."""
    text = "".join(traceback.format_exception(*info, limit=-MAX_FRAMES))
    if len(text) > MAX_TRACEBACK:
        text = "…" + text[-MAX_TRACEBACK:]
    return text


def exception_fields(_logger: Any, _name: str,
                     event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    info = _exc_info(event.pop("exc_info", None))
    event.pop("exception", None)
    if info is None:
        return event
    event.setdefault("error_type", _qualname(info[0]))
    message = str(info[1])
    event.setdefault("error", message if len(message) <= MAX_MESSAGE
                     else message[:MAX_MESSAGE] + "…")
    event["traceback"] = format_traceback(info)
    return event


def _logger_name(_logger: Any, _name: str,
                 event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    record = event.get("_record")
    if record is not None:
        event.setdefault("logger", record.name)
    return event


def route_stdlib(stream: TextIO, level: int, pre_chain: Sequence[Any], renderer: Any) -> None:
    """Send standard ``logging`` records, warnings and uncaught exceptions through
    ``pre_chain`` and ``renderer`` to ``stream`` (see the module docstring)."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[_logger_name, *pre_chain],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_bastion", False):
            root.removeHandler(old)
    handler._bastion = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    # libraries' warnings and errors only: their info lines are chatter, and some
    # (HTTP clients) print whole URLs, query strings and all
    root.setLevel(max(level, logging.WARNING))
    logging.captureWarnings(True)
    log = logging.getLogger("bastion.uncaught")

    def excepthook(t: type[BaseException], v: BaseException, tb: TracebackType | None) -> None:
        if issubclass(t, KeyboardInterrupt):
            sys.__excepthook__(t, v, tb)
            return
        log.critical("uncaught_exception", exc_info=(t, v, tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        log.error("uncaught_exception_in_thread",
                  exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    sys.excepthook = excepthook
    threading.excepthook = thread_hook
