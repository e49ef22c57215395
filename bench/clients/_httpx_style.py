"""The request operations of clients with httpx's API: httpx itself, httpr (this project)
and the Rust original, whose API httpr keeps. Each client script passes ``SYNC`` or
``ASYNC`` to run_sync / run_async (_common.py) beside its own constructor and version."""

from __future__ import annotations

from typing import Any


def get(c: Any, url: str) -> tuple[int, bytes]:
    r = c.get(url)
    return r.status_code, r.content


def get_json(c: Any, url: str) -> tuple[int, Any]:
    r = c.get(url)
    return r.status_code, r.json()


def stream(c: Any, url: str) -> tuple[int, int]:
    n = 0
    with c.stream("GET", url) as r:
        for chunk in r.iter_bytes():
            n += len(chunk)
        return r.status_code, n


def post(c: Any, url: str, data: bytes) -> tuple[int, bytes]:
    r = c.post(url, content=data)
    return r.status_code, r.content


def close(c: Any) -> None:
    c.close()


async def aget(c: Any, url: str) -> tuple[int, bytes]:
    r = await c.get(url)
    return r.status_code, r.content


async def aget_json(c: Any, url: str) -> tuple[int, Any]:
    r = await c.get(url)
    return r.status_code, r.json()


async def astream(c: Any, url: str) -> tuple[int, int]:
    n = 0
    async with c.stream("GET", url) as r:
        async for chunk in r.aiter_bytes():
            n += len(chunk)
        return r.status_code, n


async def apost(c: Any, url: str, data: bytes) -> tuple[int, bytes]:
    r = await c.post(url, content=data)
    return r.status_code, r.content


async def aclose(c: Any) -> None:
    await c.aclose()


SYNC: dict[str, Any] = {
    "get": get,
    "get_json": get_json,
    "stream": stream,
    "post": post,
    "close": close,
}
ASYNC: dict[str, Any] = {
    "get": aget,
    "get_json": aget_json,
    "stream": astream,
    "post": apost,
    "close": aclose,
}
