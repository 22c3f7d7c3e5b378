"""What every front door shares: reading bodies safely, request ids, error replies."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from aiohttp import StreamReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from bastion.core.errors import (
    BodyTooLarge,
    GatewayError,
    InvalidRequest,
    RequestTimeout,
    UnsupportedMediaType,
)
from bastion.core.ids import new_id

T = TypeVar("T")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_encoder = msgspec.json.Encoder()
_BOM = b"\xef\xbb\xbf"
MAX_MODEL_NAME = 256  # characters; longer names are refused before they reach logs or errors


def request_id(request: web.Request) -> str:
    """The client's ``x-request-id`` when it is sane, else a new one."""
    rid = request.headers.get("x-request-id")
    if rid and _REQUEST_ID.match(rid):
        return rid
    return new_id()


async def read_body(request: web.Request, limit: int, timeout_s: float = 30.0, *,
                    empty_ok: bool = False) -> bytes:
    """The raw body, refusing more than ``limit`` bytes without reading them all.

    ``Content-Encoding: gzip``/``deflate`` bodies are decompressed (``limit`` counts
    the decompressed bytes, so a compression bomb stops at the limit); a body that does
    not decompress is a 400. A body still arriving ``timeout_s`` after the handler
    started reading is refused with 408 ``request_timeout`` (and the connection closed).
    An empty body is refused unless ``empty_ok``.
    """
    # Lenient like the providers: curl's default form type is read as JSON too; only
    # bodies that cannot be JSON are refused up front.
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("multipart/", "image/", "audio/", "video/")):
        raise UnsupportedMediaType()
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"The request body is larger than the {limit}-byte limit.")
    reader = request.content
    try:
        if reader.is_eof():  # the usual case: the whole body is already here, no timer
            body = await _read_all(reader, limit)
        else:
            async with asyncio.timeout(timeout_s):
                body = await _read_all(reader, limit)
    except TimeoutError:
        raise RequestTimeout(f"The request body did not arrive within {timeout_s:g} s. "
                             "Please send it again.") from None
    except (RequestPayloadError, HttpProcessingError):
        raise InvalidRequest("The request body could not be read: it is cut short or its "
                             "Content-Encoding does not match its bytes. Send plain or "
                             "gzip-compressed JSON.") from None
    if not body and not empty_ok:
        raise InvalidRequest("The request body is empty; send a JSON object.")
    return body


async def _read_all(reader: StreamReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in reader.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"The request body is larger than the {limit}-byte limit.")
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def check_model(name: str) -> None:
    """Refuse model names no configuration can hold (empty, huge, control characters)
    before they reach the route, the usage log or an error message."""
    if not name or len(name) > MAX_MODEL_NAME or not name.isprintable():
        raise InvalidRequest(f"`model` must be the name of a model on this gateway: 1 to "
                             f"{MAX_MODEL_NAME} printable characters.", param="model")


def decode(body: bytes, decoder: Callable[[bytes], T]) -> T:
    """Decode and validate ``body``; errors say what is wrong and where, for a person.

    A UTF-8 byte order mark (some Windows tools write one) is skipped."""
    if body.startswith(_BOM):
        body = body[3:]
    try:
        return decoder(body)
    except msgspec.ValidationError as e:
        msg = str(e)
        path = None
        if " - at `" in msg:
            msg, _, path = msg.partition(" - at `")
            path = _clip(path.rstrip("`").removeprefix("$.")) or None
            msg = f"{_clip(msg)} (at {path})"
        else:
            msg = _clip(msg)
        raise InvalidRequest(f"The request is not valid: {msg}.", param=path) from None
    except msgspec.DecodeError as e:
        detail = str(e)
        if detail == "Input data was truncated":  # also what msgspec says of a lone \\ud800
            detail = ("it ends too early, or a \\u escape is not a valid character "
                      "(e.g. an unpaired surrogate)")
        raise InvalidRequest(f"The request body is not valid JSON: {detail}.") from None
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not valid UTF-8 text.") from None
    except RecursionError:
        raise InvalidRequest("The request body is nested too deeply.") from None


def _clip(text: str, most: int = 200) -> str:
    """``text`` cut to ``most`` characters: a client's field names can be any length."""
    return text if len(text) <= most else text[:most] + "…"


def openai_error_body(err: GatewayError) -> dict[str, Any]:
    return {"error": {"message": err.message, "type": err.type, "code": err.code,
                      "param": err.param}}


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(body=_encoder.encode(payload), status=status, headers=headers,
                        content_type="application/json")


def error_response(err: GatewayError, rid: str, shape: str = "openai") -> web.Response:
    payload = getattr(err, "payload", None)
    if payload is not None:  # not an error: an answer of its own (202 review pending)
        body = payload()
    elif shape == "anthropic":
        from bastion.api.anthropic_wire import anthropic_error_body

        body = anthropic_error_body(err)
    else:
        body = openai_error_body(err)
    headers = {"x-request-id": rid, **err.headers()}
    resp = json_response(body, err.status, headers)
    if err.status == 408:  # the rest of a stalled body is not worth waiting for
        resp.force_close()
    return resp
