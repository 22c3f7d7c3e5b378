"""``GatewayServer``: a real Bastion on loopback, for tests (yours and ours)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bastion.app import GATEWAY, Gateway, create_app
from bastion.config.loader import apply_env_overrides
from bastion.config.settings import Settings
from bastion.testing.loopthread import LoopThread

MASTER_KEY = "test-master-key-0123456789"


def fake_settings(**models: Any) -> dict[str, Any]:
    """Settings with the in-process fake provider, a ``chat`` and an ``embeddings`` alias."""
    return {
        "providers": {"fake": {"type": "fake"}},
        "models": models or {"chat": {"targets": ["fake/fake-model"]},
                             "embeddings": {"targets": ["fake/embed"], "kind": "embeddings"}},
    }


class GatewayServer:
    """Run Bastion built from ``settings`` (a dict or :class:`Settings`) in a thread.

    ``env`` is what the gateway resolves ``env:`` secrets from (by default only
    ``BASTION_MASTER_KEY``), so tests never touch the process environment.
    Use as a context manager; :meth:`create_key` makes a virtual key.
    """

    def __init__(
        self, settings: Settings | Mapping[str, Any], env: Mapping[str, str] | None = None
    ) -> None:
        if not isinstance(settings, Settings):
            data = dict(settings)
            data.setdefault("state", {"database": "memory://"})
            settings = Settings.model_validate(apply_env_overrides(data, {}))
        self.settings = settings
        self.env = {"BASTION_MASTER_KEY": MASTER_KEY, **(env or {})}
        self.master_key = self.env["BASTION_MASTER_KEY"]
        self.app = create_app(settings, self.env)
        self._thread = LoopThread(self.app)

    @property
    def gateway(self) -> Gateway:
        return self.app[GATEWAY]

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
