"""The engine's large buffers (bodies, decoded bodies, JSON tapes: src/core/mem.c).

Freed ones are kept and reused, so a steady stream of large responses stops mapping fresh
pages; what is kept stays under the cache's maximum, goes back to the system once it has
aged while the client is idle, and nothing leaks. Every body is checked byte for byte, since
reused memory that leaked one response's bytes into another would be the worst outcome.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import time

import httpr
import pytest
from httpr import _httpr as native
from servers import payloads
from servers.httpserver import pattern_bytes

pytestmark = pytest.mark.timeout(60)

MAX_DEFAULT = 256 << 20


def stats() -> dict[str, int]:
    gc.collect()
    return native._debug_stats()


@pytest.fixture(autouse=True)
def _default_policy():
    native._mem_policy()
    native._mem_trim()  # start from an empty cache, whatever ran before in this process
    yield
    native._mem_policy()


def _urls(http_server) -> list[tuple[str, str, bytes | None]]:
    """(kind, url, post body): a gzip body decoded on the pool, a plain 300 kB body, and a
    JSON body read ahead into a tape (the echo of a 100 kB upload)."""
    return [
        ("gzip", http_server.url_for("/encoded/gzip?kind=large"), None),
        ("plain", http_server.url_for("/bytes/300000"), None),
        ("json", http_server.url_for("/echo"), b"x" * 100_000),
    ]


def _check(kind: str, r: httpr.Response, body: bytes | None) -> None:
    assert r.status_code == 200
    if kind == "gzip":
        assert r.content == payloads.LARGE_PAYLOAD
    elif kind == "plain":
        assert r.content == pattern_bytes(300000)
    else:
        doc = r.json()
        assert body is not None and base64.b64decode(doc["body_b64"]) == body
        assert json.loads(r.content) == doc


async def _round(client: httpr.AsyncClient, http_server, n: int) -> None:
    async def one(kind: str, url: str, body: bytes | None) -> None:
        if body is None:
            r = await client.get(url)
        else:
            r = await client.post(url, content=body, headers={"content-type": "text/plain"})
        _check(kind, r, body)

    await asyncio.gather(*(one(*u) for _ in range(n) for u in _urls(http_server)))


def test_a_second_round_reuses_the_first_rounds_buffers(http_server):
    async def main() -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        async with httpr.AsyncClient(max_concurrency=32) as client:
            before = stats()
            await _round(client, http_server, 20)
            first = stats()
            await _round(client, http_server, 20)
            return before, first, stats()

    before, first, second = asyncio.run(main())
    mapped_first = first["mem_mapped"] - before["mem_mapped"]
    mapped_second = second["mem_mapped"] - first["mem_mapped"]
    assert mapped_first > 0, first
    # The same workload again is served from what the first round freed. A round makes at
    # least 80 large buffers (gzip: encoded and decoded; plain: one; JSON: body and tape,
    # 20 times each): without reuse each would be mapped afresh; with it, only what more
    # bodies than before happen to be alive at once need.
    assert mapped_second < 80 // 4, (mapped_first, mapped_second)
    assert second["mem_blocks"] == 0, second  # every body, decoded body and tape freed
    assert 0 < second["mem_kept"] <= MAX_DEFAULT


def _sync_rounds(client: httpr.Client, http_server, n: int) -> None:
    for _ in range(n):
        for kind, url, body in _urls(http_server):
            if body is None:
                r = client.get(url)
            else:
                r = client.post(url, content=body, headers={"content-type": "text/plain"})
            _check(kind, r, body)


def test_sync_client_bodies_are_freed_and_reused(http_server):
    with httpr.Client() as client:
        _sync_rounds(client, http_server, 3)
        mapped = stats()["mem_mapped"]
        _sync_rounds(client, http_server, 5)
        after = stats()
    assert after["mem_mapped"] == mapped, "one request at a time: nothing new to map"
    assert after["mem_blocks"] == 0


def test_kept_buffers_go_back_to_the_system_when_idle(http_server):
    native._mem_policy(64 << 20, 0, 200)  # base 0: everything ages out after 200 ms

    async def main() -> None:
        async with httpr.AsyncClient(max_concurrency=16) as client:
            await _round(client, http_server, 8)

    asyncio.run(main())
    s = stats()
    assert s["mem_blocks"] == 0
    # nothing else runs now: only the reactor's idle timer can release them
    deadline = time.monotonic() + 10
    while stats()["mem_kept"] > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stats()["mem_kept"] == 0


def test_a_maximum_of_zero_keeps_nothing(http_server):
    native._mem_policy(0, 0, 0)

    async def main() -> None:
        async with httpr.AsyncClient(max_concurrency=16) as client:
            await _round(client, http_server, 6)
            assert stats()["mem_kept"] == 0

    asyncio.run(main())
    s = stats()
    assert s["mem_kept"] == 0 and s["mem_blocks"] == 0


def test_the_maximum_holds_under_a_burst(http_server):
    native._mem_policy(2 << 20, 1 << 20, 60000)

    async def main() -> None:
        async with httpr.AsyncClient(max_concurrency=64) as client:
            await _round(client, http_server, 20)

    asyncio.run(main())
    s = stats()
    assert s["mem_blocks"] == 0
    assert 0 < s["mem_kept"] <= 2 << 20


def test_responses_held_keep_their_bodies_until_read_or_dropped(http_server):
    url = http_server.url_for("/bytes/300000")

    async def main() -> None:
        async with httpr.AsyncClient(max_concurrency=8) as client:
            tasks = [asyncio.ensure_future(client.get(url)) for _ in range(10)]
            held = [await t for t in tasks]
            del tasks  # (each task holds its result too)
            assert stats()["mem_blocks"] == 10  # the engine's buffers, not yet copied
            for r in held[:4]:
                assert r.content == pattern_bytes(300000)  # builds bytes, frees the buffer
            assert stats()["mem_blocks"] == 6

    asyncio.run(main())
    # (checked out here: asyncio itself keeps the last awaited task's result alive a while)
    assert stats()["mem_blocks"] == 0


def test_reused_memory_never_shows_an_earlier_body(http_server):
    """Alternate a long body and shorter ones of other bytes through the same blocks: a
    response must hold its own bytes and end where its own body ends."""
    long_url = http_server.url_for("/bytes/250000")
    echo = http_server.url_for("/echo")

    async def main() -> None:
        async with httpr.AsyncClient(max_concurrency=4) as client:
            for i in range(10):
                a = await client.get(long_url)
                assert a.content == pattern_bytes(250000)
                del a
                sent = bytes([65 + i]) * (30000 + 1000 * i)
                b = await client.post(echo, content=sent, headers={"content-type": "text/plain"})
                assert len(b.content) == int(b.headers["content-length"])
                assert b.json()["body"] == sent.decode()
                del b

    asyncio.run(main())
