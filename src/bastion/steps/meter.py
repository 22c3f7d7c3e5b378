"""meter ←: tokens, cost, latency and every decision → usage log, log line, metrics.

The outermost step: it sees every request, refusals included, and settles
streams when they end (however they end). It also keeps the list of requests in
flight (:class:`~bastion.core.drain.Drain`) and turns the server's cut at
shutdown into :class:`~bastion.core.errors.ServerShuttingDown`: a 503 for a whole
answer, an error event for a stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from bastion.core.context import ChunkStream, Context, Reply
from bastion.core.drain import CUT, Drain, was_cut
from bastion.core.errors import GatewayError, ServerShuttingDown
from bastion.core.pipeline import Next
from bastion.core.types import ChatChunk
from bastion.observe.recorder import Recorder


class Meter:
    def __init__(self, recorder: Recorder, drain: Drain | None = None) -> None:
        self.recorder = recorder
        self.drain = drain or Drain()

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        self.drain.enter(ctx)
        try:
            reply = await call_next(ctx)
        except GatewayError as e:
            self._failed(ctx, e)
            raise
        except asyncio.CancelledError:
            if was_cut(ctx):
                err = ServerShuttingDown()
                self._failed(ctx, err)
                raise err from None
            self.drain.leave(ctx)
            ctx.status = 499  # the client went away; the server cancelled its request
            ctx.decisions["client_disconnected"] = True
            self.recorder.finish(ctx, None)
            raise
        except BaseException:
            self.drain.leave(ctx)
            ctx.status = 500
            ctx.error_code = "internal_error"
            self.recorder.finish(ctx, None)
            raise
        if reply.stream is None:
            self.drain.leave(ctx)
            self.recorder.finish(ctx, None)
            return reply
        return reply.map_stream(lambda s: self._settle(ctx, s))

    def _failed(self, ctx: Context, e: GatewayError) -> None:
        self.drain.leave(ctx)
        ctx.status = e.status
        ctx.error_code = e.code
        self.recorder.finish(ctx, e)

    async def _settle(self, ctx: Context, stream: ChunkStream) -> AsyncIterator[ChatChunk]:
        err: GatewayError | None = None
        try:
            async for chunk in stream:
                yield chunk
        except GatewayError as e:
            err = e
            ctx.status = e.status
            ctx.error_code = e.code
            raise
        except asyncio.CancelledError:
            if not was_cut(ctx):
                ctx.decisions["client_disconnected"] = True
                ctx.status = 499
                raise
            # the server cut the stream: it ends with an error event in the client's dialect
            err = ServerShuttingDown()
            ctx.status = err.status
            ctx.error_code = err.code
            raise err from None
        except GeneratorExit:
            if ctx.decisions.get(CUT):  # cut while writing to a slow client: no event fits
                ctx.status = ServerShuttingDown.status
                ctx.error_code = ServerShuttingDown.code
            else:
                ctx.decisions["client_disconnected"] = True
                ctx.status = 499
            raise
        finally:
            self.drain.leave(ctx)
            ctx.decisions.setdefault("stream_ms", round((time.monotonic() - ctx.started) * 1000))
            self.recorder.finish(ctx, err)
