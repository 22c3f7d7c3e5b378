"""meter ←: tokens, cost, latency and every decision → usage log, log line, metrics.

The outermost step: it sees every request, refusals included, and settles
streams when they end (however they end).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from bastion.core.context import ChunkStream, Context, Reply
from bastion.core.errors import GatewayError
from bastion.core.pipeline import Next
from bastion.core.types import ChatChunk
from bastion.observe.recorder import Recorder


class Meter:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        try:
            reply = await call_next(ctx)
        except GatewayError as e:
            ctx.status = e.status
            ctx.error_code = e.code
            self.recorder.finish(ctx, e)
            raise
        except asyncio.CancelledError:
            ctx.status = 499  # the client went away; the server cancelled its request
            ctx.decisions["client_disconnected"] = True
            self.recorder.finish(ctx, None)
            raise
        except BaseException:
            ctx.status = 500
            ctx.error_code = "internal_error"
            self.recorder.finish(ctx, None)
            raise
        if reply.stream is None:
            self.recorder.finish(ctx, None)
            return reply
        return reply.map_stream(lambda s: self._settle(ctx, s))

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
        except (GeneratorExit, asyncio.CancelledError):
            ctx.decisions["client_disconnected"] = True
            ctx.status = 499
            raise
        finally:
            ctx.decisions.setdefault("stream_ms", round((time.monotonic() - ctx.started) * 1000))
            self.recorder.finish(ctx, err)
