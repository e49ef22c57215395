"""A real keep-alive HTTP/1.1 server for the general tests.

It runs an asyncio event loop (stock asyncio, so the server never depends on
the loop flavour under test) in a background thread, listens on 127.0.0.1 with
an ephemeral port and a listen backlog of 4096, and holds thousands of
simultaneous connections. Every TCP connection gets an id (0, 1, 2, ...) that
``/echo`` reports as ``conn_id``, so tests can prove keep-alive reuse.

Endpoints (any method; HEAD gets the GET headers without a body):

    /hello                 b"Hello world!" (12 bytes, text/plain)
    /echo, /echo/...       JSON: method, path, query, args (pairs), headers (pairs, as
                           received), body (latin-1), body_b64, conn_id, http_version
    /chunked               chunked response: CHUNKED_PARTS, one chunk each
    /close-delimited       HTTP/1.1 body without Content-Length (no Connection
                           header either), ended by closing the connection
    /status/<n>            status n; empty body (no Content-Length for 1xx/204/304)
    /slow-head?delay=s     waits s seconds before sending anything, then /hello's answer
    /slow-body?delay=s&chunks=n&size=k
                           head at once with Content-Length n*k, then n chunks of k
                           bytes, each after a delay of s seconds
    /bytes/<n>             n bytes of the pattern bytes(range(256)) repeated
    /id/<x>                body x (also in header X-Id)

Added for the API tests (issue 3):

    /                      a small HTML page ("Example Domain")
    /redirect-to?url=U&status=N
                           redirect (default 302) with ``Location: U`` as given
    /set-cookie?c=V&c=V2[&status=N&location=U]
                           one ``Set-Cookie: V`` header per ``c`` (raw values);
                           with ``location`` a redirect (default 302)
    /encoded/<codings>?kind=K
                           a body compressed with the comma-separated codings
                           (see :mod:`servers.payloads`), Content-Length framed
                           unless ``chunked=1``
    /parts?p=B&p=B2[&delay=s&ct=T&chunked=1&status=N]
                           body = the percent-decoded parts (raw bytes), each
                           written separately with ``delay`` seconds before every
                           part after the first; ``ct`` = Content-Type; chunked
                           framing with ``chunked=1`` (one chunk per part)
    /multi-header          ``X-Multi: a``, ``X-Multi: b``, ``X-Multi: c``
    /firehose?size=N&token=T
                           N bytes of pattern_bytes in 64 KiB writes; the server's
                           send buffer is 64 KiB, and ``server.progress[T]``
                           counts the bytes the kernel accepted so far;
                           ``server.finished[T]`` is set once the body was sent or
                           the peer went away (``server.aborted[T]`` then);
                           ``&pattern=count``: counter_bytes instead, where no two
                           8-byte words are alike (a reordering shows);
                           ``&framing=close`` (no Content-Length, ended by closing)
                           or ``&framing=chunked`` (a chunk per write)
    /large-file            2 MiB of pattern bytes, chunked in 64 KiB chunks
    /jsonplaceholder/users/<id>, /jsonplaceholder/posts?userId=N
                           a tiny stand-in for jsonplaceholder.typicode.com
"""

from __future__ import annotations

import array
import asyncio
import base64
import contextlib
import json
import socket
import sys
import threading
import urllib.parse

from . import payloads

__all__ = ["CHUNKED_PARTS", "HELLO", "HTTPServer", "counter_bytes", "pattern_bytes"]

HELLO = b"Hello world!"
CHUNKED_PARTS = [b"first chunk,", b"second chunk,", b"x" * 1000, b"last"]
_PATTERN = bytes(range(256)) * 4096  # 1 MiB


def counter_bytes(off: int, n: int) -> bytes:
    """Bytes [off, off + n) of a body whose k-th 8-byte word is k (big-endian)."""
    first, last = off // 8, (off + n + 7) // 8
    words = array.array("Q", range(first, last))
    if sys.byteorder == "little":
        words.byteswap()
    return words.tobytes()[off - first * 8 : off - first * 8 + n]


def pattern_bytes(n: int) -> bytes:
    """What /bytes/<n> returns."""
    if n <= len(_PATTERN):
        return _PATTERN[:n]
    reps = n // len(_PATTERN) + 1
    return (_PATTERN * reps)[:n]


_REASONS = {
    100: "Continue",
    200: "OK",
    201: "Created",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    404: "Not Found",
    418: "I'm a teapot",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


_EXAMPLE_HTML = (
    b"<!doctype html>\n<html><head><title>Example Domain</title></head>"
    b"<body><h1>Example Domain</h1><p>A local stand-in page.</p></body></html>\n"
)


class _BadRequest(Exception):
    pass


class HTTPServer:
    """See the module docstring. ``start()`` is called by the constructor."""

    def __init__(self, host: str = "127.0.0.1", backlog: int = 4096):
        self.host = host
        self.backlog = backlog
        self.connections_accepted = 0
        self.active_connections = 0
        self.requests_served = 0
        self.progress: dict[str, int] = {}
        self.finished: dict[str, threading.Event] = {}
        self.aborted: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._run, name="httpserver", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("HTTP test server did not start")
        if self._error is not None:
            raise RuntimeError("HTTP test server failed to start") from self._error
        self.url = f"http://{host}:{self.port}"

    # -- lifecycle ---------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(
                    self._handle,
                    self.host,
                    0,
                    backlog=self.backlog,
                    limit=1 << 20,
                    reuse_address=True,
                )
            )
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as e:  # noqa: BLE001 - reported to the constructor
            self._error = e
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("HTTP test server thread did not stop")

    def __enter__(self) -> HTTPServer:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url_for(self, path: str) -> str:
        return self.url + path

    # -- connection handling -------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        with self._lock:
            conn_id = self.connections_accepted
            self.connections_accepted += 1
            self.active_connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    writer.write(
                        b"HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    await writer.drain()
                    return
                try:
                    keep_alive = await self._dispatch(conn_id, head, reader, writer)
                except _BadRequest:
                    writer.write(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                        b"Connection: close\r\n\r\n"
                    )
                    await writer.drain()
                    return
                with self._lock:
                    self.requests_served += 1
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            # server shutdown; swallowed so asyncio's stream callback does not log it
            return
        finally:
            with self._lock:
                self.active_connections -= 1
            self._writers.discard(writer)
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _read_body(
        self, reader: asyncio.StreamReader, headers: list[tuple[str, str]]
    ) -> bytes:
        te = ",".join(v for k, v in headers if k.lower() == "transfer-encoding").lower()
        if "chunked" in te:
            body = bytearray()
            while True:
                line = await reader.readuntil(b"\r\n")
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError as e:
                    raise _BadRequest() from e
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    return bytes(body)
                body += await reader.readexactly(size)
                await reader.readexactly(2)
        cls = [v for k, v in headers if k.lower() == "content-length"]
        if not cls:
            return b""
        try:
            n = int(cls[-1])
        except ValueError as e:
            raise _BadRequest() from e
        return await reader.readexactly(n)

    async def _dispatch(
        self,
        conn_id: int,
        head: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Serve one request; return whether the connection stays open."""
        lines = head[:-4].decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ")
        except ValueError as e:
            raise _BadRequest() from e
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest()
            headers.append((name, value.strip(" \t")))
        body = await self._read_body(reader, headers)

        conn_tokens = {
            t.strip().lower() for k, v in headers if k.lower() == "connection" for t in v.split(",")
        }
        if version == "HTTP/1.0":
            keep_alive = "keep-alive" in conn_tokens
        else:
            keep_alive = "close" not in conn_tokens

        split = urllib.parse.urlsplit(target)
        path, query = split.path, split.query
        args = urllib.parse.parse_qsl(query, keep_blank_values=True)
        params = dict(args)
        is_head = method == "HEAD"

        def respond(
            status: int,
            body: bytes = b"",
            extra: list[tuple[str, str]] | None = None,
            content_type: str | None = "text/plain",
        ) -> None:
            out = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
            if content_type and status not in (204, 304):
                out.append(f"Content-Type: {content_type}")
            for k, v in extra or []:
                out.append(f"{k}: {v}")
            if not (100 <= status < 200 or status in (204, 304)):
                out.append(f"Content-Length: {len(body)}")
            if not keep_alive:
                out.append("Connection: close")
            data = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")
            if not is_head and status not in (204, 304) and not 100 <= status < 200:
                data += body
            writer.write(data)

        if path == "/hello":
            respond(200, HELLO)
        elif path == "/echo" or path.startswith("/echo/"):
            payload = {
                "method": method,
                "path": path,
                "target": target,
                "query": query,
                "args": [list(p) for p in args],
                "headers": [[k, v] for k, v in headers],
                "body": body.decode("latin-1"),
                "body_b64": base64.b64encode(body).decode("ascii"),
                "conn_id": conn_id,
                "http_version": version,
            }
            respond(200, json.dumps(payload).encode(), content_type="application/json")
        elif path == "/chunked":
            out = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
            if not keep_alive:
                out += b"Connection: close\r\n"
            writer.write(out + b"\r\n")
            if not is_head:
                for part in CHUNKED_PARTS:
                    writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                    await writer.drain()
                    await asyncio.sleep(0.005)
                writer.write(b"0\r\n\r\n")
        elif path == "/close-delimited":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
            if not is_head:
                for part in CHUNKED_PARTS:
                    writer.write(part)
                    await writer.drain()
                    await asyncio.sleep(0.005)
            await writer.drain()
            return False
        elif path.startswith("/status/"):
            try:
                status = int(path[len("/status/") :])
            except ValueError as e:
                raise _BadRequest() from e
            respond(status, b"")
        elif path == "/slow-head":
            await asyncio.sleep(float(params.get("delay", "1")))
            respond(200, HELLO)
        elif path == "/slow-body":
            delay = float(params.get("delay", "1"))
            chunks = int(params.get("chunks", "2"))
            size = int(params.get("size", "10"))
            out = (
                f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {chunks * size}\r\n"
            )
            if not keep_alive:
                out += "Connection: close\r\n"
            writer.write(out.encode() + b"\r\n")
            if not is_head:
                for i in range(chunks):
                    await writer.drain()
                    await asyncio.sleep(delay)
                    writer.write(bytes([ord("a") + i % 26]) * size)
        elif path.startswith("/bytes/"):
            try:
                n = int(path[len("/bytes/") :])
            except ValueError as e:
                raise _BadRequest() from e
            respond(200, pattern_bytes(n), content_type="application/octet-stream")
        elif path.startswith("/id/"):
            ident = urllib.parse.unquote(path[len("/id/") :])
            respond(200, ident.encode(), extra=[("X-Id", ident)])
        elif path == "/":
            respond(200, _EXAMPLE_HTML, content_type="text/html; charset=UTF-8")
        elif path == "/redirect-to":
            status = int(params.get("status", "302"))
            respond(status, b"", extra=[("Location", params.get("url", "/"))])
        elif path == "/set-cookie":
            extra = [("Set-Cookie", v) for k, v in args if k == "c"]
            if "location" in params:
                extra.append(("Location", params["location"]))
                status = int(params.get("status", "302"))
            else:
                status = int(params.get("status", "200"))
            respond(status, b"cookies set", extra=extra)
        elif path.startswith("/encoded/"):
            codings = tuple(c.strip() for c in path[len("/encoded/") :].split(",") if c.strip())
            try:
                data = payloads.encoded_body(codings, params.get("kind", "ok"))
            except ValueError as e:
                raise _BadRequest() from e
            extra = [("Content-Encoding", payloads.content_encoding_header(list(codings)))]
            if params.get("chunked") == "1":
                await self._send_parts(
                    writer,
                    200,
                    [data[i : i + 65536] for i in range(0, len(data), 65536)],
                    "text/plain; charset=utf-8",
                    extra,
                    True,
                    0.0,
                    keep_alive,
                    is_head,
                )
            else:
                respond(200, data, extra=extra, content_type="text/plain; charset=utf-8")
        elif path == "/parts":
            parts = [
                urllib.parse.unquote_to_bytes(v.replace("+", " "))
                for k, _, v in (item.partition("=") for item in query.split("&") if item)
                if k == "p"
            ]
            await self._send_parts(
                writer,
                int(params.get("status", "200")),
                parts,
                params.get("ct"),
                [],
                params.get("chunked") == "1",
                float(params.get("delay", "0")),
                keep_alive,
                is_head,
            )
        elif path == "/multi-header":
            respond(200, b"multi", extra=[("X-Multi", "a"), ("X-Multi", "b"), ("X-Multi", "c")])
        elif path == "/firehose":
            await self._firehose(
                writer,
                int(params.get("size", "0")),
                params.get("token", ""),
                counter=params.get("pattern") == "count",
                framing=params.get("framing", "length"),
            )
            return False
        elif path == "/large-file":
            data = pattern_bytes(2 << 20)
            await self._send_parts(
                writer,
                200,
                [data[i : i + 65536] for i in range(0, len(data), 65536)],
                "application/octet-stream",
                [],
                True,
                0.0,
                keep_alive,
                is_head,
            )
        elif path.startswith("/jsonplaceholder/users/"):
            uid = int(path.rsplit("/", 1)[1])
            user = {"id": uid, "name": f"User {uid}", "username": f"user{uid}"}
            respond(200, json.dumps(user).encode(), content_type="application/json")
        elif path == "/jsonplaceholder/posts":
            uid = int(params.get("userId", "1"))
            posts = [{"userId": uid, "id": uid * 10 + i, "title": f"post {i}"} for i in range(uid)]
            respond(200, json.dumps(posts).encode(), content_type="application/json")
        else:
            respond(404, b"not found")
        await writer.drain()
        return keep_alive

    async def _send_parts(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        parts: list[bytes],
        content_type: str | None,
        extra: list[tuple[str, str]],
        chunked: bool,
        delay: float,
        keep_alive: bool,
        is_head: bool,
    ) -> None:
        out = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        if content_type:
            out.append(f"Content-Type: {content_type}")
        out += [f"{k}: {v}" for k, v in extra]
        if chunked:
            out.append("Transfer-Encoding: chunked")
        else:
            out.append(f"Content-Length: {sum(len(p) for p in parts)}")
        if not keep_alive:
            out.append("Connection: close")
        writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
        if is_head:
            return
        for i, part in enumerate(parts):
            await writer.drain()
            if i and delay:
                await asyncio.sleep(delay)
            if chunked:
                if part:
                    writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            else:
                writer.write(part)
        if chunked:
            writer.write(b"0\r\n\r\n")

    async def _firehose(
        self,
        writer: asyncio.StreamWriter,
        size: int,
        token: str,
        *,
        counter: bool = False,
        framing: str = "length",
    ) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        transport = writer.transport
        transport.set_write_buffer_limits(high=65536, low=16384)
        done = threading.Event()
        with self._lock:
            self.progress[token] = 0
            self.finished[token] = done
            self.aborted[token] = False
        framing_header = {
            "length": b"Content-Length: %d\r\n" % size,
            "chunked": b"Transfer-Encoding: chunked\r\n",
            "close": b"",
        }[framing]
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            b"%sConnection: close\r\n\r\n" % framing_header
        )
        block = pattern_bytes(1 << 20)
        sent = 0
        try:
            while sent < size:
                n = min(65536, size - sent)
                if counter:
                    chunk = counter_bytes(sent, n)
                else:
                    off = sent % len(block)
                    chunk = block[off : off + n]
                    if len(chunk) < n:
                        chunk += block[: n - len(chunk)]
                if framing == "chunked":
                    chunk = b"%x\r\n%s\r\n" % (n, chunk)
                writer.write(chunk)
                await writer.drain()
                sent += n
                # what the kernel accepted: written minus what asyncio still buffers
                self.progress[token] = sent - transport.get_write_buffer_size()
            if framing == "chunked":
                writer.write(b"0\r\n\r\n")
                await writer.drain()
            self.progress[token] = sent
        except (ConnectionError, OSError):
            self.aborted[token] = True
        finally:
            if transport.is_closing() and sent < size:
                self.aborted[token] = True
            done.set()
