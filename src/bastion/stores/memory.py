"""In-memory database: for tests and throwaway runs. Nothing survives a restart."""

from __future__ import annotations

import dataclasses

from bastion.stores.base import KeyRecord, UsageRow, UsageTotals


class MemoryDatabase:
    def __init__(self) -> None:
        self._meta: dict[str, str] = {}
        self._keys: dict[str, KeyRecord] = {}
        self._hashes: dict[str, tuple[str, float | None]] = {}
        self._usage: list[UsageRow] = []

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def meta_get_or_set(self, name: str, value: str) -> str:
        return self._meta.setdefault(name, value)

    async def insert_key(self, rec: KeyRecord, key_hash: str) -> None:
        self._keys[rec.id] = dataclasses.replace(rec)
        self._hashes[key_hash] = (rec.id, None)

    async def find_key(self, key_hash: str) -> tuple[KeyRecord, float | None] | None:
        hit = self._hashes.get(key_hash)
        if hit is None or hit[0] not in self._keys:
            return None
        return dataclasses.replace(self._keys[hit[0]]), hit[1]

    async def get_key(self, key_id: str) -> KeyRecord | None:
        rec = self._keys.get(key_id)
        return None if rec is None else dataclasses.replace(rec)

    async def list_keys(self) -> list[KeyRecord]:
        return [dataclasses.replace(r) for r in self._keys.values()]

    async def revoke_key(self, key_id: str, at: float) -> bool:
        rec = self._keys.get(key_id)
        if rec is None or rec.revoked_at is not None:
            return False
        rec.revoked_at = at
        return True

    async def add_key_hash(self, key_id: str, key_hash: str, retire_old_at: float) -> None:
        for h, (kid, until) in list(self._hashes.items()):
            if kid == key_id:
                self._hashes[h] = (kid, retire_old_at if until is None else min(until,
                                                                                 retire_old_at))
        self._hashes[key_hash] = (key_id, None)

    async def record_usage(self, rows: list[UsageRow]) -> None:
        self._usage.extend(rows)

    async def usage_totals(self, key_id: str) -> UsageTotals:
        t = UsageTotals()
        for r in self._usage:
            if r.key_id == key_id:
                t.requests += 1
                t.prompt_tokens += r.prompt_tokens
                t.completion_tokens += r.completion_tokens
                t.spend_usd += r.cost_usd
        return t

    async def usage_for_user(self, user: str) -> list[UsageRow]:
        rows = [dataclasses.replace(r) for r in self._usage if r.user == user]
        rows.sort(key=lambda r: r.ts)  # same order as the SQL backends
        return rows

    async def delete_user(self, user: str) -> int:
        before = len(self._usage)
        self._usage = [r for r in self._usage if r.user != user]
        for rec in self._keys.values():
            if rec.user == user:
                rec.user = None
        return before - len(self._usage)
