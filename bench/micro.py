"""``python -m bench.micro``: the cost of realmgate's request paths without HTTP, per call.

Seeds a throw-away SQLite data directory, warms the caches, then times, in this process:
the signing of one access token per algorithm, the whole client credentials grant (realm,
client authentication, scope, audience, signing) per algorithm, the same for a repeated request
body (remembered: realm, client and throttle checks, signing), and the tenant API's bearer
authentication of one valid token. The figures are microseconds per call on one core
(best of ``--rounds`` rounds), the floor under what the HTTP benchmark can reach.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import seed
from realmgate.jose import sign
from realmgate.server.api.auth import BearerAuth, authenticate
from realmgate.server.core.grants import ClientCredentialsGrant, RawTokenRequest, TokenRequest
from realmgate.server.core.realms import Directory
from realmgate.server.runtime import open_runtime
from realmgate.server.settings import Settings
from realmgate.wire.forms import parse_form


def _best(fn: Callable[[], object], n: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


async def _abest(fn: Callable[[], Awaitable[object]], n: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            await fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


async def run(n: int, rounds: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="realmgate-micro-") as tmp:
        data = Path(tmp) / "data"
        realms = seed.seed_realms(data, None, 2)
        settings = Settings(data_dir=data, bootstrap_demo=False, token_rate_limit=0)
        rt = open_runtime(settings)
        try:
            directory = Directory(rt.store, rt.vault, settings)
            grant = ClientCredentialsGrant(directory)
            tokens: dict[str, str] = {}
            for alg, creds in realms.items():
                cred = creds[0]
                req = TokenRequest(cred.tenant, parse_form(cred.body.encode()), None, "127.0.0.1")
                tokens[alg] = (await grant.handle(req))["access_token"]
                realm = await directory.realm(cred.tenant)
                assert realm is not None
                claims = {"iss": realm.issuer, "sub": "x", "exp": 2**31, "scope": "a b"}
                out[f"sign {alg}"] = _best(
                    lambda r=realm, c=claims: sign(r.signing_key, c), n, rounds
                )
                out[f"grant {alg}"] = await _abest(lambda r=req: grant.handle(r), n, rounds)
                raw = RawTokenRequest(cred.tenant, cred.body.encode(), None, "127.0.0.1")
                out[f"grant {alg} repeated"] = await _abest(
                    lambda r=raw: grant.handle_body(r), n, rounds
                )
                header = f"Bearer {tokens[alg]}"
                out[f"api auth {alg}"] = await _abest(
                    lambda h=header: authenticate(directory, h), n, rounds
                )
                bearer = BearerAuth(directory)
                out[f"api auth {alg} cached"] = await _abest(
                    lambda h=header, b=bearer: b.authenticate(h), n, rounds
                )
        finally:
            rt.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.micro", description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=2000, help="calls per round")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    for name, us in asyncio.run(run(args.n, args.rounds)).items():
        print(f"{name:<22} {us:8.1f} µs/call  ({1e6 / us:,.0f}/s per core)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
