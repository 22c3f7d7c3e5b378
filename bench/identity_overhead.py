"""Identity overhead: CPU per request of the authenticate step, virtual key vs caller JWT.

Builds the real authentication parts (``Callers`` over a memory database, a
``JwtAuthenticator`` trusting a local issuer) and calls ``identify`` directly,
single-threaded, so what is measured is authentication alone:

  * ``virtual key``          HMAC of the key + a cache hit (the baseline)
  * ``JWT <alg>, cached``    the same token again: a hash and a dictionary lookup
  * ``JWT <alg>, verified``  a new token each time: parse, signature, claims, mapping

Process CPU microseconds per call (``time.process_time``). The issuer's keys come
from a static key (no network): on the request path a JWKS behaves the same once
its keys are cached.

    python bench/identity_overhead.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import jwt

from bastion.config.auth_settings import AuthSettings
from bastion.config.secrets import default_resolvers
from bastion.identity.callers import Callers
from bastion.identity.jwt_auth import JwtAuthenticator
from bastion.keys import KeyService
from bastion.stores.base import open_database
from bastion.testing.idp import IdpKey, new_private_key

ISSUER = "https://login.example.com/"


async def per_call_us(call: Callable[[], Awaitable[object]], calls: int) -> float:
    for _ in range(min(200, calls)):  # warm up caches and code paths
        await call()
    t0 = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - t0) / calls * 1e6


async def main(calls: int) -> None:
    db = open_database("memory://")
    await db.open()
    keys = KeyService(db, 60.0, {"BASTION_KEY_HASH_SECRET": "bench"})
    vkey = (await keys.create("bench")).key
    rows: list[tuple[str, float]] = []
    plain = Callers(keys, None, 6000)
    headers = {"authorization": f"Bearer {vkey}"}
    rows.append(("virtual key", await per_call_us(lambda: plain.identify(headers), calls)))
    with tempfile.TemporaryDirectory() as tmp:
        for alg in ("RS256", "ES256", "EdDSA"):
            key = IdpKey("k1", alg, new_private_key(alg))
            pem = Path(tmp) / f"{alg}.pem"
            pem.write_text(key.public_pem())
            settings = AuthSettings.model_validate({"jwt": [{
                "issuer": ISSUER, "audience": "bastion", "public_key": f"file:{pem}",
                "algorithms": [alg], "limits": {"rpm": 20}}]})
            jwts = JwtAuthenticator(settings, ["chat"], default_resolvers({}))
            await jwts.start()
            callers = Callers(keys, jwts, 6000)
            now = int(time.time())

            def token(sub: str, key: IdpKey = key, now: int = now) -> str:
                claims = {"iss": ISSUER, "aud": "bastion", "sub": sub, "exp": now + 3600}
                return jwt.encode(claims, key.private, algorithm=key.alg,
                                  headers={"kid": key.kid})

            same = {"authorization": f"Bearer {token('alice')}"}
            rows.append((f"JWT {alg}, cached",
                         await per_call_us(functools.partial(callers.identify, same), calls)))
            fresh = [{"authorization": f"Bearer {token(f'user-{i}')}"}
                     for i in range(min(calls, 5000))]
            it = iter(fresh)
            n = len(fresh) - 200
            rows.append((f"JWT {alg}, verified",
                         await per_call_us(lambda c=callers, i=it: c.identify(next(i)), n)))
            await jwts.aclose()
    await db.close()
    print(f"{'scenario':<26} {'CPU µs/call':>12}")
    for name, us in rows:
        print(f"{name:<26} {us:>12.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    asyncio.run(main(parser.parse_args().calls))
