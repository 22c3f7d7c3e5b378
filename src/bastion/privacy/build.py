"""Wiring the privacy part into a gateway: policies, compliance, stores, background work."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bastion.config.settings import Compliance
from bastion.observe.logging import get_logger
from bastion.privacy import ner
from bastion.privacy.compliance import ComplianceRules
from bastion.privacy.disclosure import Disclose
from bastion.privacy.policy import AliasPolicy, build_policies, eu_marks
from bastion.privacy.retention import BodyStore, PrivacyEvents, Purger, Writer
from bastion.privacy.step import PrivacyKey, PrivacyStep
from bastion.privacy.subjects import ReviewItems, SubjectData

if TYPE_CHECKING:
    from bastion.app import Gateway
    from bastion.core.pipeline import Step

KEY_META = "privacy_pseudonym_key"
_log = get_logger("bastion.privacy")


class PrivacyConfigError(ValueError):
    """The privacy settings cannot work on this installation."""


@dataclass(slots=True)
class PrivacyParts:
    """What :func:`build` made: the steps, the data-subject service, the policies."""

    steps: list[Step]
    subjects: SubjectData
    policies: dict[str, AliasPolicy]
    writer: Writer
    names: ner.NameRecogniser | None


class KeyLoader:
    """The shared pseudonym key from the database. While the database is away, this
    process's random key stands in (stand-ins stay consistent within each request) and
    the shared one is loaded, in the background, once it is back."""

    def __init__(self, gw: Gateway, key: PrivacyKey) -> None:
        self.gw = gw
        self.key = key
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> bool:
        try:
            self.key.value = bytes.fromhex(await self.gw.db.meta_get_or_set(
                KEY_META, secrets.token_hex(32)))
        except Exception as e:  # noqa: BLE001 - any store failure: retried, never fatal
            _log.warning("privacy_key_unavailable", error=type(e).__name__)
            return False
        return True

    async def _keep_loading(self) -> None:
        delay = 0.5
        while not await self.load():
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def start(self) -> None:
        if not await self.load():
            self._task = asyncio.get_running_loop().create_task(self._keep_loading())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def build(gw: Gateway) -> PrivacyParts:
    s = gw.settings
    ps = s.privacy
    wanted = {e for a in s.models.values()
              for e in (a.privacy.entities if a.privacy.entities is not None else ps.entities)}
    names = None
    if wanted & set(ner.NER_ENTITIES_SET):
        if not ner.available():
            raise PrivacyConfigError(
                "privacy: PERSON, LOCATION and ORGANIZATION need the name model; install "
                "the `ner` extra (pip install 'bastion-gateway[ner]') or remove them from "
                "privacy.entities")
        # One model per process, whatever the config reloads (it takes seconds to load).
        names = gw.lasting_part(("privacy.names",), ner.NameRecogniser)
    policies = build_policies(s, names)
    rules = ComplianceRules(frozenset(r.lower() for r in ps.eu_regions), ps.pii_requires_dpa)
    route = gw.route
    route.compliance = rules

    def targets_of(alias: str) -> list[tuple[str, Compliance]]:
        a = route.aliases.get(alias)
        if a is None:
            return []
        out = [(t.name, t.compliance) for t in a.targets]
        if a.local is not None:
            out.append((a.local.name, a.local.compliance))
        return out

    writer = Writer(gw.db)
    keep_s = max((a.cache.ttl_s + a.cache.stale_ttl_s for a in s.models.values()), default=0.0)
    key = PrivacyKey(secrets.token_bytes(32))
    step = PrivacyStep(
        policies, eu=eu_marks(s), rules=rules, targets_of=targets_of, key=key,
        max_scan_chars=ps.max_scan_chars, ner_max_chars=ps.ner_max_chars,
        events=PrivacyEvents(writer, keep_s), bodies=BodyStore(writer, ps.retention.bodies_ttl_s))
    purger = Purger(gw.db, ps.retention, gw.redis, [
        s.traffic.redis_prefix, s.cache.namespace + ":", s.resilience.redis_prefix])

    loader = KeyLoader(gw, key)

    async def start() -> None:
        await loader.start()
        writer.start()
        await purger.start()
        if names is not None:
            # Load the model off the loop and without holding up readiness.
            gw.privacy_loading = asyncio.get_running_loop().run_in_executor(None, names.load)

    async def close() -> None:
        await loader.close()
        await purger.close()
        await writer.close()

    gw.on_start.append(start)
    gw.on_close.append(close)
    disclose = Disclose({n: p.disclosure for n, p in policies.items()
                         if s.models[n].kind == "chat"})
    subjects = SubjectData(gw, s.traffic.redis_prefix, writer.flush)
    subjects.register(ReviewItems(gw.db))
    return PrivacyParts([disclose, step], subjects, policies, writer, names)
