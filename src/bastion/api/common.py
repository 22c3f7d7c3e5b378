"""What every front door shares: reading bodies safely, request ids, error replies."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from bastion.core.errors import BodyTooLarge, GatewayError, InvalidRequest, UnsupportedMediaType
from bastion.core.ids import new_id

T = TypeVar("T")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_encoder = msgspec.json.Encoder()


def request_id(request: web.Request) -> str:
    """The client's ``x-request-id`` when it is sane, else a new one."""
    rid = request.headers.get("x-request-id")
    if rid and _REQUEST_ID.match(rid):
        return rid
    return new_id()


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, refusing more than ``limit`` bytes without reading them all."""
    # Lenient like the providers: curl's default form type is read as JSON too; only
    # bodies that cannot be JSON are refused up front.
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("multipart/", "image/", "audio/", "video/")):
        raise UnsupportedMediaType()
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"The request body is larger than the {limit}-byte limit.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"The request body is larger than the {limit}-byte limit.")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise InvalidRequest("The request body is empty; send a JSON object.")
    return body


def decode(body: bytes, decoder: Callable[[bytes], T]) -> T:
    """Decode and validate ``body``; errors say what is wrong and where, for a person."""
    try:
        return decoder(body)
    except msgspec.ValidationError as e:
        msg = str(e)
        path = None
        if " - at `" in msg:
            msg, _, path = msg.partition(" - at `")
            path = path.rstrip("`").removeprefix("$.") or None
            msg = f"{msg} (at {path})"
        raise InvalidRequest(f"The request is not valid: {msg}.", param=path) from None
    except msgspec.DecodeError as e:
        raise InvalidRequest(f"The request body is not valid JSON: {e}.") from None
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not valid UTF-8 text.") from None


def openai_error_body(err: GatewayError) -> dict[str, Any]:
    return {"error": {"message": err.message, "type": err.type, "code": err.code,
                      "param": err.param}}


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(body=_encoder.encode(payload), status=status, headers=headers,
                        content_type="application/json")


def error_response(err: GatewayError, rid: str, shape: str = "openai") -> web.Response:
    if shape == "anthropic":
        from bastion.api.anthropic_wire import anthropic_error_body

        body = anthropic_error_body(err)
    else:
        body = openai_error_body(err)
    headers = {"x-request-id": rid, **err.headers()}
    return json_response(body, err.status, headers)
