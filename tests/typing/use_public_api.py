"""Checked by mypy --strict in tests/run.sh (never executed): the public API's types as a user
sees them. A wrong annotation in httpr shows up here as a type error."""

from __future__ import annotations

import asyncio

import httpr


def sync_usage(url: str) -> int:
    with httpr.Client(
        auth=("user", None),
        params={"a": 1, "b": [True, None]},
        headers={"X-A": "1"},
        cookies={"k": "v"},
        timeout=5.0,
        follow_redirects=True,
        max_redirects=3,
    ) as client:
        r: httpr.Response = client.get(url, params=[("q", "x")], timeout=1.0)
        status: int = r.status_code
        text: str = r.text
        body: bytes = r.content
        ct: str = r.headers.get("content-type")
        every: list[str] = r.headers.get_all("set-cookie")
        cookies: dict[str, str] = r.cookies
        r.raise_for_status()
        data = r.json()
        del text, body, ct, every, cookies, data
        client.post(url, json={"a": [1, 2]}, auth_bearer="t")
        client.put(url, content=b"raw")
        client.patch(url, data={"f": "v"})
        with client.stream("GET", url) as s:
            chunks: list[bytes] = list(s.iter_bytes())
            lines: list[str] = list(s.iter_lines())
            del chunks, lines
        client.headers["x-b"] = "2"
        client.timeout = None
        return status


async def async_usage(url: str) -> list[int]:
    async with httpr.AsyncClient(max_concurrency=8) as client:
        rs: list[httpr.Response] = await asyncio.gather(*(client.get(url) for _ in range(3)))
        async with client.stream("GET", url) as s:
            async for chunk in s.aiter_bytes():
                assert isinstance(chunk, bytes)
            async for line in s.aiter_lines():
                assert isinstance(line, str)
        return [r.status_code for r in rs]


def module_functions(url: str) -> None:
    httpr.get(url, headers={"a": "b"})
    httpr.request("DELETE", url, verify=False)
    try:
        httpr.head(url)
    except httpr.TimeoutException:
        pass
    except httpr.TransportError as e:
        print(e)
