"""A scripted raw-socket HTTP server for fault injection (curl ``sws`` style).

Each accepted TCP connection gets an incrementing id (0, 1, 2, ...) and runs a
*script*: either a list of steps (plain data) or a callable ``script(conn)``
that drives a :class:`ScriptConnection` by hand. Everything the client sends is
recorded per connection (``conn.received`` raw bytes, ``conn.requests`` parsed
requests), so a test can assert the exact bytes that went out and whether a
connection was reused.

Steps (tuples; use the helpers below)::

    READ                 read one request: head up to CRLFCRLF, then its body
                         (Content-Length or chunked); ends the script on EOF
    send(b"...")         send bytes
    send_slowly(b, dt)   send one byte every dt seconds
    sleep(t)             wait t seconds
    CLOSE                shutdown(SHUT_WR) + close: a FIN
    RST                  SO_LINGER {1, 0} + close: a reset
    HALF_CLOSE           shutdown(SHUT_WR) only; the script may go on reading
    STALL                send nothing, keep reading (and recording) until the
                         client closes or the server stops
    serve(resp)          loop { READ; send(resp) } until the client closes;
                         ``resp`` is bytes or ``callable(Request) -> bytes``
                         (default: a 200 "ok" with Content-Length, no body for
                         HEAD)

When a list of steps ends without closing, the connection is closed (FIN).

Scripts per connection: ``server.set_script(steps)`` applies one script to
every connection; ``server.set_script(s0, s1, ...)`` gives connection *i* the
script *i*, and every later connection the last one.

The server runs entirely on threads of the test process, listens on
127.0.0.1 with an ephemeral port, and :meth:`ScriptedServer.stop` closes every
socket and joins every thread (a stalled connection is woken by the stop flag).
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "CLOSE",
    "HALF_CLOSE",
    "READ",
    "RST",
    "STALL",
    "Request",
    "ScriptConnection",
    "ScriptedServer",
    "response",
    "send",
    "send_slowly",
    "serve",
    "sleep",
]

POLL = 0.02  # seconds between checks of the stop flag
MAX_HEAD = 1 << 20  # a request head larger than this ends the script

Step = tuple
Script = Sequence[Step] | Callable[["ScriptConnection"], None]

READ: Step = ("read",)
CLOSE: Step = ("close",)
RST: Step = ("rst",)
HALF_CLOSE: Step = ("half_close",)
STALL: Step = ("stall",)


def send(data: bytes) -> Step:
    return ("send", bytes(data))


def send_slowly(data: bytes, delay: float) -> Step:
    return ("send_slowly", bytes(data), float(delay))


def sleep(seconds: float) -> Step:
    return ("sleep", float(seconds))


def serve(resp: bytes | Callable[[Request], bytes] | None = None) -> Step:
    return ("serve", resp)


def response(
    status: int = 200,
    body: bytes = b"ok",
    headers: Iterable[tuple[str, str]] = (),
    reason: str | None = None,
    version: str = "HTTP/1.1",
    content_length: bool = True,
) -> bytes:
    """Build raw response bytes (Content-Length framing unless told not to)."""
    if reason is None:
        reason = {200: "OK", 204: "No Content", 304: "Not Modified", 404: "Not Found"}.get(
            status, "Status"
        )
    lines = [f"{version} {status} {reason}".encode("latin-1")]
    for name, value in headers:
        lines.append(f"{name}: {value}".encode("latin-1"))
    if content_length:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


OK_BODY = b"ok"


def default_responder(request: Request) -> bytes:
    """200 with body b"ok" (headers only for HEAD)."""
    if request.method == "HEAD":
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    return response(200, OK_BODY)


@dataclass
class Request:
    """One request as the server read it."""

    conn_id: int
    index: int  # position among the requests of its connection
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes  # exact bytes of head + body as received
    time: float = field(default_factory=time.monotonic)

    def header(self, name: str) -> str | None:
        """Last value of a header (case-insensitive), or None."""
        name = name.lower()
        found = None
        for k, v in self.headers:
            if k.lower() == name:
                found = v
        return found

    def header_list(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]


class _Stopped(Exception):
    """The server is stopping; unwind the script."""


class _PeerGone(Exception):
    """The client closed or reset the connection."""


class ScriptConnection:
    """One accepted connection; the object a callable script drives."""

    def __init__(self, server: ScriptedServer, sock: socket.socket, conn_id: int):
        self.server = server
        self.sock: socket.socket | None = sock
        self.id = conn_id
        self.peer = sock.getpeername()
        self.received = bytearray()  # every byte the client sent, in order
        self.requests: list[Request] = []
        self.closed = threading.Event()  # set when the client's EOF/RST was seen
        self.done = threading.Event()  # set when the script ended and the socket is closed
        self.error: str | None = None  # why the script ended early, if it did
        self._buf = bytearray()  # received but not yet consumed by READ
        self._wr_shut = False
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one send, one segment
        sock.setblocking(False)

    # -- low level ---------------------------------------------------------

    def _check_stop(self) -> None:
        if self.server._stopping.is_set():
            raise _Stopped()

    def _recv_some(self) -> bytes:
        """Wait for data; return it, or b"" on EOF/reset (marks ``closed``)."""
        assert self.sock is not None
        while True:
            self._check_stop()
            r, _, _ = select.select([self.sock], [], [], POLL)
            if not r:
                continue
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                self.closed.set()
                return b""
            self.received += data
            self._buf += data
            return data

    def _sendall(self, data: bytes) -> None:
        assert self.sock is not None
        view = memoryview(data)
        while view:
            self._check_stop()
            _, w, _ = select.select([], [self.sock], [], POLL)
            if not w:
                continue
            try:
                n = self.sock.send(view[:65536])
            except BlockingIOError:
                continue
            except OSError as e:
                self.closed.set()
                raise _PeerGone(str(e)) from e
            view = view[n:]

    # -- steps -------------------------------------------------------------

    def read_request(self) -> Request | None:
        """Read one request (head + body). None if the client closed first."""
        while b"\r\n\r\n" not in self._buf:
            if len(self._buf) > MAX_HEAD:
                raise _PeerGone("request head too large")
            if not self._recv_some():
                return None
        end = self._buf.index(b"\r\n\r\n") + 4
        head = bytes(self._buf[:end])
        del self._buf[:end]
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].decode("latin-1").split(" ")
        method = parts[0] if parts else ""
        target = parts[1] if len(parts) > 1 else ""
        version = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name, value.strip(" \t")))
        req = Request(self.id, len(self.requests), method, target, version, headers, b"", head)
        te = (req.header("transfer-encoding") or "").lower()
        if "chunked" in te:
            body, raw_body = self._read_chunked()
        else:
            n = int(req.header("content-length") or 0)
            while len(self._buf) < n:
                if not self._recv_some():
                    raise _PeerGone("EOF in request body")
            body = raw_body = bytes(self._buf[:n])
            del self._buf[:n]
        req.body = body
        req.raw = head + raw_body
        self.requests.append(req)
        self.server._request_seen()
        return req

    def _read_line(self) -> bytes:
        while b"\r\n" not in self._buf:
            if not self._recv_some():
                raise _PeerGone("EOF in chunked request body")
        end = self._buf.index(b"\r\n") + 2
        line = bytes(self._buf[:end])
        del self._buf[:end]
        return line

    def _read_chunked(self) -> tuple[bytes, bytes]:
        body = bytearray()
        raw = bytearray()
        while True:
            line = self._read_line()
            raw += line
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers up to the empty line
                    t = self._read_line()
                    raw += t
                    if t == b"\r\n":
                        return bytes(body), bytes(raw)
            while len(self._buf) < size + 2:
                if not self._recv_some():
                    raise _PeerGone("EOF in chunked request body")
            body += self._buf[:size]
            raw += self._buf[: size + 2]
            del self._buf[: size + 2]

    def send(self, data: bytes) -> None:
        self._sendall(data)

    def send_slowly(self, data: bytes, delay: float) -> None:
        for i in range(len(data)):
            self._sendall(data[i : i + 1])
            self.sleep(delay)

    def sleep(self, seconds: float) -> None:
        if self.server._stopping.wait(seconds):
            raise _Stopped()

    def stall(self) -> None:
        """Keep reading (recording) until the client goes away or the server stops."""
        while self._recv_some():
            pass

    def half_close(self) -> None:
        assert self.sock is not None
        if not self._wr_shut:
            self._wr_shut = True
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        """Graceful close: FIN (unless unread data makes the kernel send RST)."""
        if self.sock is None:
            return
        self.half_close()
        self.sock.close()
        self.sock = None

    def reset(self) -> None:
        """Abortive close: RST."""
        if self.sock is None:
            return
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        self.sock = None

    def serve(self, resp: bytes | Callable[[Request], bytes] | None = None) -> None:
        """Answer every request on this connection until the client closes it."""
        while True:
            req = self.read_request()
            if req is None:
                return
            if resp is None:
                out = default_responder(req)
            elif callable(resp):
                out = resp(req)
            else:
                out = resp
            self._sendall(out)

    def run_steps(self, steps: Sequence[Step]) -> None:
        for step in steps:
            if self.sock is None:
                return
            op = step[0]
            if op == "read":
                if self.read_request() is None:
                    return
            elif op == "send":
                self.send(step[1])
            elif op == "send_slowly":
                self.send_slowly(step[1], step[2])
            elif op == "sleep":
                self.sleep(step[1])
            elif op == "close":
                self.close()
            elif op == "rst":
                self.reset()
            elif op == "half_close":
                self.half_close()
            elif op == "stall":
                self.stall()
            elif op == "serve":
                self.serve(step[1])
            else:
                raise ValueError(f"unknown script step {step!r}")

    # -- thread body -------------------------------------------------------

    def _run(self, script: Script) -> None:
        try:
            if callable(script):
                script(self)
            else:
                self.run_steps(script)
        except _Stopped:
            self.error = "server stopped"
        except _PeerGone as e:
            self.error = f"peer gone: {e}"
        except Exception as e:  # noqa: BLE001 - a broken script must not kill the server silently
            self.error = f"{type(e).__name__}: {e}"
        finally:
            if self.sock is not None:
                try:
                    self.sock.close()
                except OSError:
                    pass
                self.sock = None
            self.done.set()


class ScriptedServer:
    """Threaded raw-socket server; see the module docstring."""

    #: the class of the per-connection object (servers.tls.TLSConnection for TLS)
    connection_class: type[ScriptConnection] = ScriptConnection

    def __init__(self, *scripts: Script, host: str = "127.0.0.1", backlog: int = 128):
        self.host = host
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(backlog)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.connections: list[ScriptConnection] = []
        self._scripts: list[Script] = [[serve()]]
        if scripts:
            self.set_script(*scripts)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"scripted-accept-{self.port}", daemon=True
        )
        self._accept_thread.start()

    # -- configuration -----------------------------------------------------

    def set_script(self, *scripts: Script) -> None:
        """One script for every connection, or one per connection (the last repeats)."""
        if not scripts:
            raise ValueError("set_script needs at least one script")
        self._scripts = list(scripts)

    def _script_for(self, conn_id: int) -> Script:
        return self._scripts[min(conn_id, len(self._scripts) - 1)]

    # -- observation -------------------------------------------------------

    @property
    def connection_count(self) -> int:
        return len(self.connections)

    @property
    def received(self) -> list[bytes]:
        """Raw bytes received, one entry per connection (index = connection id)."""
        return [bytes(c.received) for c in self.connections]

    @property
    def requests(self) -> list[Request]:
        """Every parsed request, ordered by arrival time."""
        out = [r for c in self.connections for r in c.requests]
        out.sort(key=lambda r: r.time)
        return out

    def url_for(self, path: str = "/") -> str:
        return self.url + path

    def _request_seen(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def wait_for_connections(self, n: int, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.connections) >= n, timeout)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: sum(len(c.requests) for c in self.connections) >= n, timeout
            )

    # -- threads -----------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                r, _, _ = select.select([self._listener], [], [], POLL)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, OSError):
                continue
            with self._cond:
                conn = self.connection_class(self, sock, len(self.connections))
                script = self._script_for(conn.id)
                t = threading.Thread(
                    target=conn._run,
                    args=(script,),
                    name=f"scripted-{self.port}-conn{conn.id}",
                    daemon=True,
                )
                self.connections.append(conn)
                self._threads.append(t)
                self._cond.notify_all()
            t.start()

    def threads(self) -> list[threading.Thread]:
        return [self._accept_thread, *self._threads]

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, wake every script, close every socket, join every thread."""
        self._stopping.set()
        self._accept_thread.join(timeout)
        try:
            self._listener.close()
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        for t in list(self._threads):
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self.threads() if t.is_alive()]
        if alive:
            raise RuntimeError(f"scripted server threads did not stop: {alive}")

    def __enter__(self) -> ScriptedServer:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
