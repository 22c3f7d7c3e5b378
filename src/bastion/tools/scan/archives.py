"""Archive expansion: zip family (APK/AAB/IPA/JAR/whl) and tar/gzip family.

:func:`iter_members` yields ``(member_name, bytes)`` for regular members of an
archive held in memory. It never raises for corrupt archives (it stops
yielding) and enforces per-member and total size budgets against zip bombs.
"""

from __future__ import annotations

import bz2
import gzip
import io
import logging
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Iterator

log = logging.getLogger(__name__)

MAX_MEMBER_BYTES = 256 * 1024 * 1024
MAX_TOTAL_BYTES = 1024 * 1024 * 1024

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_GZIP_MAGIC = b"\x1f\x8b"
_BZ2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_CORRUPT = (OSError, EOFError, ValueError, zipfile.BadZipFile, tarfile.TarError, zlib.error,
            lzma.LZMAError, NotImplementedError, RuntimeError)


def archive_kind(data: bytes) -> str | None:
    """Return ``"zip"``, ``"tar"`` or ``"compressed"`` for archive-like bytes, else None."""
    if data.startswith(_ZIP_MAGIC):
        return "zip"
    if len(data) > 262 and data[257:262] == b"ustar":
        return "tar"
    if data.startswith((_GZIP_MAGIC, _BZ2_MAGIC, _XZ_MAGIC)):
        return "compressed"
    return None


class _Budget:
    def __init__(self) -> None:
        self.remaining = MAX_TOTAL_BYTES

    def take(self, size: int) -> bool:
        if size > MAX_MEMBER_BYTES or size > self.remaining:
            return False
        self.remaining -= size
        return True


def _zip_members(data: bytes, budget: _Budget) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.is_dir() or info.flag_bits & 0x1:  # directories, encrypted members
                continue
            if not budget.take(info.file_size):
                log.warning("skipping oversized archive member %s", info.filename)
                continue
            with zf.open(info) as fh:
                blob = fh.read(MAX_MEMBER_BYTES + 1)
            yield info.filename, blob[:MAX_MEMBER_BYTES]


def _tar_members(data: bytes, budget: _Budget) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
        for info in tf:
            if not info.isfile() or not budget.take(info.size):
                continue
            fh = tf.extractfile(info)
            if fh is not None:
                with fh:
                    yield info.name, fh.read()


def _decompress(data: bytes) -> bytes:
    if data.startswith(_GZIP_MAGIC):
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            return gz.read(MAX_MEMBER_BYTES)
    if data.startswith(_BZ2_MAGIC):
        return bz2.BZ2Decompressor().decompress(data, MAX_MEMBER_BYTES)
    return lzma.LZMADecompressor().decompress(data, MAX_MEMBER_BYTES)


def iter_members(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """Yield ``(member, content)`` of the archive ``data`` (named ``name``).

    A compressed stream that is not a tar yields one member named after the
    archive without its compression suffix.
    """
    kind = archive_kind(data)
    budget = _Budget()
    try:
        if kind == "zip":
            yield from _zip_members(data, budget)
        elif kind == "tar":
            yield from _tar_members(data, budget)
        elif kind == "compressed":
            try:
                yield from _tar_members(data, budget)
                return
            except tarfile.TarError:
                pass
            inner = _decompress(data)
            base = name.rsplit("/", 1)[-1]
            for suffix in (".gz", ".bz2", ".xz", ".tgz"):
                if base.endswith(suffix):
                    base = base[: -len(suffix)] + (".tar" if suffix == ".tgz" else "")
                    break
            yield base, inner
    except _CORRUPT as exc:
        log.warning("cannot read archive %s: %s", name, exc)
