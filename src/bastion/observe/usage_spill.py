"""Usage rows the database could not take, kept in local files until it can.

Only the usage writer uses this, and only while the database is failing: the
request path never touches it. Every call does its disk work in a thread.

Each process appends to a file of its own (``usage-<host>-<pid>-<random>.jsonl``,
one JSON object a line) that it holds an exclusive ``flock`` on for as long as it
lives. A file nobody holds a lock on belongs to a process that is gone (a crash,
a restart during the outage): whichever process replays next claims it with the
same lock, writes its rows and deletes it. A new file is locked before it gets
its final name, so no other process can claim it in between.

Rows carry a ``row_id`` that the database keeps unique, so a replay that stops
half-way (the database failed again) can simply start over: rows already written
are not written twice. The files together are bounded (``max_bytes``); rows
beyond it are dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

import msgspec

from bastion.stores.base import UsageRow

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(UsageRow)
PATTERN = "usage-*.jsonl"


class SpillFile:
    """See the module docstring. ``pending`` says whether any file may hold rows."""

    def __init__(self, directory: str | Path, max_bytes: int) -> None:
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self.pending = False
        self._own: IO[bytes] | None = None
        self._own_path: Path | None = None
        self._size = 0  # bytes in every file here, as last measured or written

    async def scan(self) -> bool:
        """Look for files left by earlier processes (a start hook); sets ``pending``."""
        found = await asyncio.to_thread(self._files)
        self._size = await asyncio.to_thread(self._measure, found)
        self.pending = self.pending or bool(found)
        return self.pending

    async def append(self, rows: list[UsageRow]) -> int:
        """Append ``rows``; returns how many fitted under ``max_bytes`` (the rest are
        the caller's to count as dropped)."""
        kept = await asyncio.to_thread(self._append, rows)
        if kept:
            self.pending = True
        return kept

    async def replay(self, write: Callable[[list[UsageRow]], Awaitable[None]],
                     batch: int = 1000) -> int:
        """Write every spilled row with ``write`` (batches of ``batch``) and remove what
        was written. Stops at the first failure (``write``'s exception propagates; the
        rows stay for the next replay). Returns the rows written."""
        written = 0
        for path in await asyncio.to_thread(self._files):
            own = path == self._own_path
            handle = None if own else await asyncio.to_thread(_claim, path)
            if not own and handle is None:
                continue  # a live process's file
            try:
                offset = 0
                while True:
                    rows, offset = await asyncio.to_thread(_read_from, path, offset, batch)
                    if not rows:
                        break
                    await write(rows)
                    written += len(rows)
                await asyncio.to_thread(self._done, path, handle)
            finally:
                if handle is not None:
                    handle.close()
        self.pending = bool(await asyncio.to_thread(self._files))
        return written

    def close(self) -> None:
        """Let go of this process's file (it stays for a later replay if it holds rows)."""
        if self._own is not None:
            self._own.close()
            if self._own_path is not None and self._own_path.exists() \
                    and self._own_path.stat().st_size == 0:
                self._own_path.unlink()
            self._own = None
            self._own_path = None

    # --- in a thread ---

    def _files(self) -> list[Path]:
        return sorted(self.dir.glob(PATTERN)) if self.dir.is_dir() else []

    @staticmethod
    def _measure(files: list[Path]) -> int:
        total = 0
        for f in files:
            with contextlib.suppress(FileNotFoundError):
                total += f.stat().st_size
        return total

    def _open_own(self) -> IO[bytes]:
        if self._own is None:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            name = f"usage-{socket.gethostname()}-{os.getpid()}-{os.urandom(4).hex()}.jsonl"
            tmp = self.dir / ("." + name)
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(tmp, self.dir / name)  # visible to others only once it is locked
            self._own = os.fdopen(fd, "ab")
            self._own_path = self.dir / name
        return self._own

    def _append(self, rows: list[UsageRow]) -> int:
        f = self._open_own()
        lines = []
        for r in rows:
            line = _encoder.encode(r) + b"\n"
            if self._size + len(line) > self.max_bytes:
                break
            self._size += len(line)
            lines.append(line)
        f.write(b"".join(lines))
        f.flush()
        os.fsync(f.fileno())
        return len(lines)

    def _done(self, path: Path, handle: IO[bytes] | None) -> None:
        size = path.stat().st_size
        if handle is None and self._own is not None:  # our own file: empty it, keep the lock
            self._own.truncate(0)
        else:
            path.unlink()
        self._size = max(0, self._size - size)


def _claim(path: Path) -> IO[bytes] | None:
    """``path`` opened and locked, or None when its writer is alive (or it is gone)."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    if not path.exists():  # replayed and removed by another process meanwhile
        f.close()
        return None
    return f


def _read_from(path: Path, offset: int, batch: int) -> tuple[list[UsageRow], int]:
    """Up to ``batch`` rows from byte ``offset`` on, and the offset after them."""
    rows: list[UsageRow] = []
    with path.open("rb") as f:
        f.seek(offset)
        while len(rows) < batch:
            line = f.readline()
            if not line:
                break
            offset += len(line)
            if not line.endswith(b"\n"):
                break  # a line cut short by a crash mid-write
            with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
                rows.append(_decoder.decode(line))
    return rows, offset
