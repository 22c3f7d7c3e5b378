"""The AWS event-stream binary framing (``application/vnd.amazon.eventstream``).

Bedrock's ``ConverseStream`` and ``InvokeModelWithResponseStream`` answer with a
sequence of messages, each::

    total length (u32) | headers length (u32) | prelude CRC32 (u32)
    headers            | payload               | message CRC32 (u32)

all big-endian; the prelude CRC covers the first 8 bytes, the message CRC every
byte before it. A header is ``name length (u8) | name | type (u8) | value``;
Bedrock sends strings (type 7: ``u16 length | utf-8``), notably ``:message-type``
(``event`` or ``exception``), ``:event-type`` / ``:exception-type`` and
``:content-type``. :class:`EventStreamDecoder` takes bytes as they arrive and
returns whole messages; a bad CRC or an impossible length raises
:class:`EventStreamError` (the stream is not what AWS sends). :func:`encode`
writes a message (for the Bedrock stand-in in :mod:`bastion.testing`).
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass

_PRELUDE = struct.Struct(">III")
_MIN_MESSAGE = _PRELUDE.size + 4
# Bedrock's documented limits are far lower; a larger length means a corrupt stream.
MAX_MESSAGE = 24 * 1024 * 1024
_MAX_HEADERS = 128 * 1024
# Fixed-size value types: boolean true/false carry no bytes.
_FIXED = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}


class EventStreamError(Exception):
    """The bytes are not a valid event stream (bad CRC, impossible lengths)."""


class EventStreamTooLarge(EventStreamError):
    """A message longer than the decoder accepts (the provider's ``max_event_bytes``)."""


HeaderValue = str | bytes | int | bool


@dataclass(frozen=True, slots=True)
class Message:
    headers: dict[str, HeaderValue]
    payload: bytes

    @property
    def message_type(self) -> str:
        return str(self.headers.get(":message-type", "event"))

    @property
    def event_type(self) -> str:
        """``:event-type`` of an event, ``:exception-type`` of an exception."""
        key = ":exception-type" if self.message_type == "exception" else ":event-type"
        return str(self.headers.get(key, ""))


def _value(kind: int, data: bytes, at: int) -> tuple[HeaderValue, int]:
    if kind == 0:
        return True, at
    if kind == 1:
        return False, at
    if kind in (6, 7):
        if at + 2 > len(data):
            raise EventStreamError("event-stream header value overruns its headers")
        (n,) = struct.unpack_from(">H", data, at)
        raw = data[at + 2:at + 2 + n]
        if len(raw) != n:
            raise EventStreamError("event-stream header value overruns its headers")
        return (raw.decode("utf-8", "replace") if kind == 7 else raw), at + 2 + n
    size = _FIXED.get(kind)
    if size is None:
        raise EventStreamError(f"unknown event-stream header type {kind}")
    raw = data[at:at + size]
    if len(raw) != size:
        raise EventStreamError("event-stream header value overruns its headers")
    if kind == 9:
        return str(uuid.UUID(bytes=raw)), at + size
    return int.from_bytes(raw, "big", signed=True), at + size


def parse_headers(data: bytes) -> dict[str, HeaderValue]:
    out: dict[str, HeaderValue] = {}
    at = 0
    while at < len(data):
        n = data[at]
        name = data[at + 1:at + 1 + n]
        if len(name) != n or at + 1 + n >= len(data):
            raise EventStreamError("event-stream header name overruns its headers")
        at += 1 + n
        kind = data[at]
        value, at = _value(kind, data, at + 1)
        out[name.decode("utf-8", "replace")] = value
    return out


class EventStreamDecoder:
    """Bytes in, whole :class:`Message` objects out (see the module docstring)."""

    __slots__ = ("_buf", "_max")

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self._buf = bytearray()
        self._max = max_message

    @property
    def pending(self) -> int:
        """Bytes held that do not yet make a whole message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out: list[Message] = []
        while len(self._buf) >= _PRELUDE.size:
            total, hlen, crc = _PRELUDE.unpack_from(self._buf)
            if zlib.crc32(self._buf[:8]) != crc:
                raise EventStreamError("event-stream prelude checksum mismatch")
            if total < _MIN_MESSAGE + hlen or hlen > _MAX_HEADERS:
                raise EventStreamError("event-stream message length out of range")
            if total > self._max:
                raise EventStreamTooLarge(f"an event-stream message of {total:,} bytes")
            if len(self._buf) < total:
                break
            frame = bytes(self._buf[:total])
            del self._buf[:total]
            (msg_crc,) = struct.unpack_from(">I", frame, total - 4)
            if zlib.crc32(frame[:-4]) != msg_crc:
                raise EventStreamError("event-stream message checksum mismatch")
            start = _PRELUDE.size
            headers = parse_headers(frame[start:start + hlen])
            out.append(Message(headers, frame[start + hlen:total - 4]))
        return out


def _header(name: str, value: str) -> bytes:
    raw_name = name.encode()
    raw = value.encode()
    return bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack(">H", len(raw)) + raw


def encode(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers."""
    head = b"".join(_header(k, v) for k, v in headers.items())
    total = _PRELUDE.size + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event(event_type: str, payload: bytes) -> bytes:
    """A Bedrock ``event`` message carrying JSON."""
    return encode({":event-type": event_type, ":content-type": "application/json",
                   ":message-type": "event"}, payload)


def exception(exception_type: str, payload: bytes) -> bytes:
    """A Bedrock ``exception`` message (e.g. ``throttlingException``) carrying JSON."""
    return encode({":exception-type": exception_type, ":content-type": "application/json",
                   ":message-type": "exception"}, payload)
