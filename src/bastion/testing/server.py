"""``GatewayServer``: a real Bastion on loopback, for tests (yours and ours)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from bastion.app import GATEWAY, Gateway, create_app
from bastion.config.loader import apply_env_overrides
from bastion.config.settings import Settings
from bastion.testing.loopthread import LoopThread

MASTER_KEY = "test-master-key-0123456789abcdef0123456789"


def fake_settings(**models: Any) -> dict[str, Any]:
    """Settings with the in-process fake provider, a ``chat`` and an ``embeddings`` alias."""
    return {
        "providers": {"fake": {"type": "fake"}},
        "models": models or {"chat": {"targets": ["fake/fake-model"]},
                             "embeddings": {"targets": ["fake/embed"], "kind": "embeddings"}},
    }


def _build_on(
    loop: asyncio.AbstractEventLoop, settings: Settings, env: Mapping[str, str]
) -> web.Application:
    """``create_app`` with ``loop`` running (not yet serving), as the providers' HTTP
    sessions bind to the loop they are made on; a helper thread, so it also works
    when the caller is itself inside an event loop."""
    async def build() -> web.Application:
        return create_app(settings, env)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(loop.run_until_complete, build()).result()


class GatewayServer:
    """Run Bastion built from ``settings`` (a dict or :class:`Settings`) in a thread.

    ``env`` is what the gateway resolves ``env:`` secrets from (by default only
    ``BASTION_MASTER_KEY``), so tests never touch the process environment.
    Use as a context manager; :meth:`create_key` makes a virtual key.
    """

    def __init__(
        self, settings: Settings | Mapping[str, Any], env: Mapping[str, str] | None = None,
        port: int = 0,
    ) -> None:
        if not isinstance(settings, Settings):
            data = dict(settings)
            data.setdefault("state", {"database": "memory://"})
            settings = Settings.model_validate(apply_env_overrides(data, {}))
        self.settings = settings
        self.env = {"BASTION_MASTER_KEY": MASTER_KEY, **(env or {})}
        self.master_key = self.env["BASTION_MASTER_KEY"]
        self._thread = LoopThread(web.Application(), port)
        self.app = _build_on(self._thread.loop, settings, self.env)
        self._thread.app = self.app

    @property
    def gateway(self) -> Gateway:
        return self.app[GATEWAY]

    @property
    def port(self) -> int:
        return self._thread.port

    @property
    def base_url(self) -> str:
        return self._thread.base_url

    @property
    def openai_base_url(self) -> str:
        return self._thread.base_url + "/v1"

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return self._thread.run(coro, timeout)

    def create_key(self, name: str = "test", **kwargs: Any) -> str:
        return str(self.run(self.gateway.keys.create(name, **kwargs)).key)

    def start(self) -> GatewayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
