"""Resolvers for secrets kept in AWS Secrets Manager and HashiCorp Vault."""

from __future__ import annotations

from collections.abc import Mapping

from bastion.config.secrets import Resolver, SecretError


def aws_sm_resolver(env: Mapping[str, str]) -> Resolver:
    async def resolve(locator: str) -> str:
        raise SecretError("aws-sm: secrets are not supported yet")

    return resolve


def vault_resolver(env: Mapping[str, str]) -> Resolver:
    async def resolve(locator: str) -> str:
        raise SecretError("vault: secrets are not supported yet")

    return resolve
