"""Scan one named blob of bytes: text, notebook, binary or (nested) archive.

:func:`scan_blob` is the single entry point used for files on disk, archive
members and git blobs alike; it returns :class:`Hit` items whose ``path`` is
the display path (archive members joined with ``!``).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .archives import archive_kind, iter_members
from .engine import Locator, scan_buffer
from .notebooks import scan_notebook

MAX_DEPTH = 6
CHUNK_BYTES = 16 * 1024 * 1024
_CARRY = 1024
_SNIFF = 8192

_MEDIA_EXT = frozenset(
    {
        ".png", ".jpg", ".jpeg", ".gif", ".webp", ".ico", ".bmp", ".tif", ".tiff", ".heic", ".psd",
        ".avif", ".mp3", ".mp4", ".m4a", ".wav", ".ogg", ".flac", ".avi", ".mov", ".mkv", ".webm",
        ".woff", ".woff2", ".ttf", ".otf", ".eot", ".7z", ".rar", ".zst", ".lz4", ".parquet",
        ".npy", ".pt", ".pth", ".onnx", ".safetensors", ".pkl", ".h5", ".sqlite", ".db",
    }
)
_MEDIA_MAGIC = (
    b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"OggS", b"fLaC", b"ID3", b"wOFF", b"wOF2",
    b"\x00\x01\x00\x00\x00", b"OTTO", b"\x00\x00\x01\x00", b"7z\xbc\xaf", b"Rar!",
    b"\x28\xb5\x2f\xfd",
)
_DOTENV_OK = frozenset(
    {"example", "sample", "template", "tmpl", "tpl", "dist", "defaults", "default", "schema",
     "vault", "types", "d"}
)
_ASCII_RUN = re.compile(rb"[\x20-\x7e\t]{8,}")
_UTF16_RUN = re.compile(rb"(?:[\x20-\x7e]\x00){8,}")


@dataclass(frozen=True, slots=True)
class Hit:
    """A located detection inside one scanned blob."""

    path: str
    line: int
    column: int
    detector: str
    secret: str
    note: str = ""


def is_dotenv_name(path: str) -> bool:
    """True for ``.env``/``.env.local``/``.env.production``…, False for example/template files."""
    base = path.replace("\\", "/").rsplit("/", 1)[-1].rsplit("!", 1)[-1]
    if base == ".env":
        return True
    if not base.startswith(".env."):
        return False
    return not any(part in _DOTENV_OK for part in base[5:].lower().split("."))


def _extension(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return base[dot:].lower() if dot > 0 else ""


def is_media(path: str, head: bytes) -> bool:
    """True for binaries that cannot hold credentials as text (images, fonts, media)."""
    return _extension(path) in _MEDIA_EXT or head.startswith(_MEDIA_MAGIC) or (
        head[4:8] == b"ftyp"
    )


def is_binary(head: bytes) -> bool:
    """Heuristic: NUL bytes in the first block mean binary."""
    return b"\x00" in head[:_SNIFF]


def _text_hits(
    path: str, data: bytes, line_base: int = 0, col_base: int = 0, ignore_from: int | None = None
) -> list[Hit]:
    limit = len(data) if ignore_from is None else ignore_from
    matches = [m for m in scan_buffer(data) if m.start < limit]
    if not matches:
        return []
    locator = Locator(data)
    out: list[Hit] = []
    for m in matches:
        line, column = locator.locate(m.start)
        if line == 1:
            column += col_base
        out.append(Hit(path, line + line_base, column, m.detector, m.secret))
    return out


def is_plain_text(path: str, data: bytes) -> bool:
    """True when ``data`` can go through the packed text path (no archive/binary/notebook)."""
    head = data[:_SNIFF]
    return not (
        path.endswith(".ipynb")
        or is_binary(head)
        or archive_kind(head if len(data) > 262 else data) is not None
    )


def scan_text_batch(items: list[tuple[str, bytes]]) -> list[Hit]:
    """Scan many small plain-text files packed into one buffer (one engine call).

    Equivalent to calling :func:`scan_blob` on each item, but the fixed cost of
    the engine is paid once per batch instead of once per file.
    """
    hits: list[Hit] = []
    starts: list[int] = []
    pos = 0
    for path, data in items:
        starts.append(pos)
        pos += len(data) + 1
        if is_dotenv_name(path):
            hits.append(Hit(path, 1, 1, "dotenv-file", "", "environment file in the tree"))
    if not items:
        return hits
    joined = b"\n".join(data for _, data in items)
    for m in scan_buffer(joined, starts):
        i = bisect_right(starts, m.start) - 1
        path, data = items[i]
        line, column = Locator(data).locate(m.start - starts[i])
        hits.append(Hit(path, line, column, m.detector, m.secret))
    return hits


def _binary_hits(path: str, data: bytes) -> list[Hit]:
    """Scan printable ASCII and UTF-16LE runs; columns are byte offsets + 1."""
    pieces: list[bytes] = []
    starts: list[int] = []
    sources: list[tuple[int, int]] = []
    pos = 0
    for regex, width in ((_ASCII_RUN, 1), (_UTF16_RUN, 2)):
        for m in regex.finditer(data):
            text = m.group() if width == 1 else m.group().decode("utf-16-le").encode("ascii")
            pieces.append(text)
            starts.append(pos)
            sources.append((m.start(), width))
            pos += len(text) + 1
    if not pieces:
        return []
    joined = b"\n".join(pieces)
    out: list[Hit] = []
    for hit in scan_buffer(joined):
        i = bisect_right(starts, hit.start) - 1
        src, width = sources[i]
        offset = src + (hit.start - starts[i]) * width
        out.append(Hit(path, 1, offset + 1, hit.detector, hit.secret, f"binary offset {offset}"))
    return out


def scan_blob(path: str, data: bytes, depth: int = 0) -> list[Hit]:
    """Scan ``data`` named ``path``; archives are expanded up to ``MAX_DEPTH`` levels."""
    hits: list[Hit] = []
    if is_dotenv_name(path):
        hits.append(Hit(path, 1, 1, "dotenv-file", "", "environment file in the tree"))
    head = data[:_SNIFF]
    kind = archive_kind(head if len(data) > 262 else data)
    if kind is not None:
        if depth < MAX_DEPTH:
            for member, blob in iter_members(path, data):
                hits.extend(scan_blob(f"{path}!{member}", blob, depth + 1))
        return hits
    if is_binary(head):
        if not is_media(path, head):
            hits.extend(_binary_hits(path, data))
        return hits
    if path.endswith(".ipynb"):
        nb = scan_notebook(data)
        if nb is not None:
            hits.extend(Hit(path, ln, col, m.detector, m.secret, note) for m, ln, col, note in nb)
            return hits
    hits.extend(_text_hits(path, data))
    return hits


def _chunks(fh: BinaryIO) -> Iterator[tuple[bytes, int, int, int]]:
    """Yield ``(chunk, line_base, col_base, ignore_from)``.

    Chunks end on a newline when possible; a chunk cut inside a very long line
    overlaps the next one by ``_CARRY`` bytes and matches starting in that
    overlap (offset >= ``ignore_from``) belong to the next chunk.
    """
    carry = b""
    line_base = 0
    col_base = 0
    while True:
        block = fh.read(CHUNK_BYTES)
        data = carry + block
        if not block:
            if data:
                yield data, line_base, col_base, len(data)
            return
        cut = data.rfind(b"\n") + 1
        if cut:
            chunk, carry = data[:cut], data[cut:]
            yield chunk, line_base, col_base, len(chunk)
            line_base += chunk.count(b"\n")
            col_base = 0
        else:
            keep = len(data) - _CARRY
            yield data, line_base, col_base, keep
            carry = data[keep:]
            col_base += keep


def scan_stream(path: str, fh: BinaryIO, size: int) -> list[Hit]:
    """Scan an open file; large plain-text files are streamed in chunks."""
    if size <= CHUNK_BYTES:
        return scan_blob(path, fh.read())
    head = fh.read(_SNIFF)
    fh.seek(0)
    if archive_kind(head) is not None or is_binary(head) or path.endswith(".ipynb"):
        return scan_blob(path, fh.read())
    hits: list[Hit] = []
    if is_dotenv_name(path):
        hits.append(Hit(path, 1, 1, "dotenv-file", "", "environment file in the tree"))
    for chunk, line_base, col_base, ignore_from in _chunks(fh):
        hits.extend(_text_hits(path, chunk, line_base, col_base, ignore_from))
    return hits
