"""The token requests that reach their signature in one turn of the event loop are signed
together, then answered (``core/signing.py``): every request is checked before any is signed,
each gets its own token, a failed signature fails its own request only, a cancelled request is
not signed, and a long turn is cut into batches whose answers go out before the next batch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from realmgate.jose import decode_verified
from realmgate.server.core.admin import Admin
from realmgate.server.core.binding import Binding
from realmgate.server.core.signing import SigningBatch
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from tests.unit.test_grant_memo import NOW, Clock, make, raw


class Recorded:
    """A grant that records when it is signed, in a log shared with the requests."""

    def __init__(self, name: str, log: list[str], fail: bool = False):
        self.name, self.log, self.fail = name, log, fail

    def response_json(self, now: int, binding: Binding | None = None) -> bytes:
        self.log.append(f"signed {self.name}")
        if self.fail:
            raise RuntimeError("signature failed")
        return b'{"token":"%s","iat":%d}' % (self.name.encode(), now)


async def request(batch: SigningBatch, name: str, log: list[str], fail: bool = False) -> bytes:
    log.append(f"checked {name}")
    answer = await batch.response_json(Recorded(name, log, fail), NOW)
    log.append(f"answered {name}")
    return answer


def test_a_turn_is_checked_then_signed_then_answered() -> None:
    log: list[str] = []

    async def run() -> list[bytes]:
        batch = SigningBatch()
        answers = await asyncio.gather(*(request(batch, n, log) for n in "abc"))
        assert len(batch) == 0
        return answers

    answers = asyncio.run(run())
    assert log == [
        *(f"checked {n}" for n in "abc"),
        *(f"signed {n}" for n in "abc"),
        *(f"answered {n}" for n in "abc"),
    ]
    assert answers == [b'{"token":"%s","iat":%d}' % (n.encode(), NOW) for n in "abc"]


def test_a_long_turn_is_answered_batch_by_batch() -> None:
    log: list[str] = []

    batch = SigningBatch(max_batch=2)

    async def run() -> None:
        await asyncio.gather(*(request(batch, n, log) for n in "abcde"))

    asyncio.run(run())
    assert len(batch) == 0
    assert log == [
        *(f"checked {n}" for n in "abcde"),
        "signed a",
        "signed b",
        "answered a",
        "answered b",
        "signed c",
        "signed d",
        "answered c",
        "answered d",
        "signed e",
        "answered e",
    ]


def test_a_failed_signature_fails_its_own_request_only() -> None:
    log: list[str] = []

    async def run() -> list[bytes | BaseException]:
        batch = SigningBatch()
        return await asyncio.gather(
            request(batch, "a", log),
            request(batch, "b", log, fail=True),
            request(batch, "c", log),
            return_exceptions=True,
        )

    a, b, c = asyncio.run(run())
    assert isinstance(b, RuntimeError)
    assert a == b'{"token":"a","iat":%d}' % NOW and c == b'{"token":"c","iat":%d}' % NOW
    assert "answered b" not in log and "answered c" in log


def test_a_request_cancelled_while_it_waits_is_not_signed() -> None:
    log: list[str] = []

    async def run() -> None:
        batch = SigningBatch()
        first = asyncio.ensure_future(request(batch, "a", log))
        second = asyncio.ensure_future(request(batch, "b", log))
        await asyncio.sleep(0)  # both checked and waiting; the flush is queued behind this
        first.cancel()
        assert await second == b'{"token":"b","iat":%d}' % NOW
        with pytest.raises(asyncio.CancelledError):
            await first

    asyncio.run(run())
    assert log == ["checked a", "checked b", "signed b", "answered b"]


def test_a_request_alone_waits_for_its_own_signature_only() -> None:
    log: list[str] = []

    async def run() -> None:
        batch = SigningBatch()
        for name in "ab":  # one after the other: a batch of one each
            await request(batch, name, log)

    asyncio.run(run())
    assert log == ["checked a", "signed a", "answered a", "checked b", "signed b", "answered b"]


class CountingBatch(SigningBatch):
    """Records the size of each batch it signs."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[int] = []

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self.flushed.append(min(len(self), self.max_batch))
        super()._flush(loop)


def test_a_batch_left_behind_by_a_closed_loop_does_not_stall_the_next_loop() -> None:
    log: list[str] = []
    batch = SigningBatch()
    old = asyncio.new_event_loop()
    waiting = old.create_task(request(batch, "a", log))
    old.call_soon(old.stop)  # after "a"'s first step: it waits, its flush never runs
    old.run_forever()
    assert log == ["checked a"] and len(batch) == 1 and not waiting.done()
    old.close()

    async def run() -> bytes:
        return await asyncio.wait_for(request(batch, "b", log), timeout=30)

    assert asyncio.run(run()) == b'{"token":"b","iat":%d}' % NOW
    assert log == ["checked a", "checked b", "signed b", "answered b"]


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(Settings(data_dir=tmp_path, bootstrap_demo=False))
    yield rt
    rt.close()


@pytest.mark.parametrize("cache_size", [0, 4096])
def test_concurrent_token_requests_each_get_their_own_valid_token(
    runtime: Runtime, cache_size: int
) -> None:
    admin = Admin(runtime.store, runtime.vault, runtime.settings, clock=lambda: NOW)
    first = admin.create_tenant("acme")
    clients = [(first.client_id, first.client_secret)]
    for i in range(5):
        issued = admin.create_client("acme", f"worker-{i}")
        clients.append((issued.client_id, issued.client_secret))
    grant, directory, _ = make(runtime, clock=Clock(), token_request_cache_size=cache_size)
    grant.signing = batch = CountingBatch()

    async def run() -> list[dict[str, object]]:
        requests = [raw(cid, secret) for cid, secret in clients * 2]
        for r in requests[: len(clients)]:  # realm and clients in memory: no wait but the batch
            await grant.handle_body(r)
        batch.flushed.clear()
        answers = await asyncio.gather(*(grant.handle_body(r) for r in requests))
        realm = await directory.realm("acme")
        assert realm is not None
        key = realm.verify_keys[realm.signing_key.kid]
        claims = []
        for answer in answers:
            _, c = decode_verified(json.loads(answer)["access_token"], key.key, [key.alg])
            claims.append(c)
        return claims

    claims = asyncio.run(run())
    assert batch.flushed == [len(clients) * 2]  # one turn, one batch
    assert [c["azp"] for c in claims] == [cid for cid, _ in clients * 2]
    assert len({c["jti"] for c in claims}) == len(claims)
    assert {c["iat"] for c in claims} == {NOW}
