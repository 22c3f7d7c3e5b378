"""One ledger for every worker on a machine without Redis: a process that owns it.

``bastion serve --workers N`` without ``state.redis`` would otherwise give each
worker its own :class:`~bastion.traffic.ledger.MemoryLedger`, multiplying every
rate limit, token quota and budget by N. Instead the supervisor starts one ledger
process (:func:`run_ledger_server`) holding the only ``MemoryLedger``; workers
reach it over a Unix socket (owner-only, in a private temporary directory) through
:class:`SocketLedger`, which has the Redis ledger's interface and failure
behaviour: a call that fails or takes longer than ``timeout_s`` raises
:class:`~bastion.traffic.ledger_redis.LedgerUnavailable`, and
:class:`~bastion.traffic.shared.SharedLedger` applies ``traffic.on_redis_error``
(budgets fail closed by default) until it answers again. The ledger process is
supervised and restarted like a worker; its counters then start afresh (budgets
are re-read from the usage log, as after a Redis restart).

Wire format: each message is a 4-byte big-endian length and a msgpack array;
requests ``[op, *args]``, answers ``[ok, value]``. One request at a time per
connection; a client keeps a small pool of connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import struct
from collections.abc import Callable
from typing import Any

import msgspec

from bastion.config.settings import Settings
from bastion.observe.logging import configure_logging, get_logger
from bastion.traffic.ledger import Charge, MemoryLedger, Verdict
from bastion.traffic.ledger_redis import LedgerUnavailable

#: Set by the supervisor for its workers: the path of the ledger process's socket.
LEDGER_SOCKET_ENV = "BASTION_LEDGER_SOCKET"
_HEADER = struct.Struct(">I")
_MAX_MESSAGE = 16 * 1024 * 1024
_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder()


async def _read(reader: asyncio.StreamReader) -> Any:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if size > _MAX_MESSAGE:
        raise ValueError("ledger message too large")
    return _dec.decode(await reader.readexactly(size))


def _frame(value: Any) -> bytes:
    body = _enc.encode(value)
    return _HEADER.pack(len(body)) + body


def _charges(raw: Any) -> list[Charge]:
    return msgspec.convert(raw, list[Charge])


class SocketLedger:
    """A :class:`~bastion.traffic.ledger.Ledger` in the ledger process (see module doc)."""

    def __init__(self, path: str, timeout_s: float = 1.0, max_connections: int = 16) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def _call(self, *request: Any) -> Any:
        try:
            async with asyncio.timeout(self.timeout_s), self._slots:
                conn = self._idle.pop() if self._idle else await asyncio.open_unix_connection(
                    self.path)
                try:
                    conn[1].write(_frame(request))
                    ok, value = await _read(conn[0])
                except BaseException:
                    conn[1].close()
                    raise
                self._idle.append(conn)
        except TimeoutError:
            raise LedgerUnavailable("TimeoutError", timeout=True) from None
        except (OSError, EOFError, asyncio.IncompleteReadError, ValueError,
                msgspec.DecodeError) as e:
            raise LedgerUnavailable(type(e).__name__) from None
        if not ok:
            raise LedgerUnavailable(str(value))
        return value

    async def reserve(self, charges: list[Charge], rid: str, hold_s: float) -> Verdict:
        return msgspec.convert(await self._call("reserve", charges, rid, hold_s), Verdict)

    async def settle(self, charges: list[Charge], rid: str, actual: list[int]) -> list[int]:
        return list(await self._call("settle", charges, rid, actual))

    async def settle_many(self, items: list[tuple[list[Charge], str, list[int]]]
                          ) -> list[list[int]]:
        return [list(x) for x in await self._call("settle_many", items)]

    async def seed(self, charge: Charge, spent: int) -> None:
        await self._call("seed", charge, spent)

    async def peek(self, charges: list[Charge]) -> list[int]:
        """What each counter holds now, reserving nothing (routing's headroom)."""
        return [int(x) for x in await self._call("peek", charges)]

    async def ping(self) -> None:
        await self._call("ping")

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop()[1].close()


async def _answer(ledger: MemoryLedger, request: Any) -> Any:
    op, *args = request
    if op == "reserve":
        return ledger.reserve_now(_charges(args[0]), str(args[1]), float(args[2]))
    if op == "settle":
        return ledger.settle_now(_charges(args[0]), str(args[1]), list(args[2]))
    if op == "settle_many":
        return [ledger.settle_now(_charges(c), str(rid), list(actual))
                for c, rid, actual in args[0]]
    if op == "seed":
        await ledger.seed(msgspec.convert(args[0], Charge), int(args[1]))
        return None
    if op == "peek":
        return ledger.peek_now(_charges(args[0]))
    if op == "ping":
        return None
    raise ValueError(f"unknown ledger operation {op!r}")


async def serve_ledger(path: str, on_listening: Callable[[], object] | None = None,
                       stop: asyncio.Event | None = None) -> None:
    """Serve one :class:`MemoryLedger` on the Unix socket ``path`` until ``stop``."""
    ledger = MemoryLedger()
    log = get_logger("bastion.ledger")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read(reader)
                try:
                    reply = [True, await _answer(ledger, request)]
                except (ValueError, TypeError, msgspec.ValidationError) as e:
                    reply = [False, f"{type(e).__name__}: {e}"]
                writer.write(_frame(reply))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass  # the worker went away or sent garbage: drop the connection
        finally:
            writer.close()

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    old = os.umask(0o177)  # the socket file is the owner's alone
    try:
        server = await asyncio.start_unix_server(handle, path)
    finally:
        os.umask(old)
    log.info("ledger_started", pid=os.getpid())
    if on_listening is not None:
        on_listening()
    stop = stop or asyncio.Event()
    async with server:
        await stop.wait()


def run_ledger_server(settings: Settings, path: str,
                      on_listening: Callable[[], object] | None = None) -> None:
    """The ledger process's life (started by the supervisor)."""
    configure_logging(settings.logging.level, settings.logging.format)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: None)
        await serve_ledger(path, on_listening, stop)

    asyncio.run(main())
