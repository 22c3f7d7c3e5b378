"""Shared by the adapter tests: a key on the module's gateway (``gw``) and SDK clients."""

from __future__ import annotations

import anthropic
import openai
import pytest

from bastion.testing import GatewayServer


def sdk(server: GatewayServer) -> openai.OpenAI:
    """An openai client with a fresh key on ``server``, no retries of its own."""
    return openai.OpenAI(base_url=server.openai_base_url, api_key=server.create_key(),
                         max_retries=0)


@pytest.fixture(scope="module")
def vkey(gw: GatewayServer) -> str:
    return gw.create_key()


@pytest.fixture
def client(gw: GatewayServer, vkey: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=vkey, max_retries=0)


@pytest.fixture
def claude(gw: GatewayServer, vkey: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.base_url, api_key=vkey, max_retries=0)
