"""TLS test servers and certificates (issue 4).

Certificates
------------
:class:`CertSet` writes every certificate the TLS tests need into one directory:
a trusted CA (``ca_pem``), a second CA nobody trusts (``other_ca_pem``), server
certificates (:class:`ServerCert`, each a chain file + key file) valid or broken
in one way each, and a client identity (``client_pem``: certificate + key, as
``client_pem=`` expects). trustme makes the ordinary ones; ``cryptography``'s
``CertificateBuilder`` makes the odd ones (expired, self-signed, CN only, a DNS
SAN spelled "127.0.0.1", a NUL inside a SAN, an oversized certificate).

Servers
-------
:class:`TLSServer` is :class:`servers.scripted.ScriptedServer` over TLS: the same
scripts and steps (``READ``, ``send``, ``serve``, ``CLOSE``, ``RST``, ``STALL``...)
run after a server-side handshake, on the decrypted stream. Per connection it
records what the handshake showed:

* ``sni_called`` / ``sni``: whether the SNI callback ran and the name it got
  (``None`` when the ClientHello carried no server_name);
* ``alpn``, ``version``, ``cipher``, ``session_reused``, ``peer_cert``
  (``SSLSocket.getpeercert()``, so the client certificate's subject under mTLS);
* ``handshake_error`` (``str`` of the exception when the handshake failed) and
  ``handshake_done`` (an Event set once the handshake ended either way);
* ``received``: the *application* bytes received (decrypted), ``requests``.

Steps added for TLS:

* ``CLOSE`` (inherited) closes the TCP connection **without** a close_notify
  (Python's ``SSLSocket`` never sends one on close/shutdown): a truncation;
* ``CLOSE_NOTIFY``: send a close_notify alert, then FIN;
* ``plaintext(b"...")``: raw bytes on the TCP socket, outside the TLS records.

``TLSServer(ctx, handshake=False)`` accepts TCP and never answers the
ClientHello (nothing is read; ``conn.closed`` is set when the client gives up).

:func:`pipe_to` is a script that turns a :class:`TLSServer` into a TLS
terminator in front of a plain server (``http_server``, httpbin): one backend
connection per TLS connection, close_notify when the backend closes.

:class:`AlpnForcingServer` (pyOpenSSL) selects ALPN ``h2`` whatever the client
offered, which the stdlib ``ssl`` server cannot do.

:class:`OpenSSLServer` runs ``openssl s_server`` (one connection at a time) for what
Python's ssl cannot do server-side: a TLS 1.3 KeyUpdate (``command(b"K")``) and a TLS 1.2
renegotiation (``command(b"r")``). The test reads the decrypted request from its stdout
and writes the response bytes to its stdin.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import select
import shutil
import socket
import ssl
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .scripted import POLL, Script, ScriptConnection, ScriptedServer, Step, _PeerGone

__all__ = [
    "CLOSE_NOTIFY",
    "AlpnForcingServer",
    "CertSet",
    "OpenSSLServer",
    "ServerCert",
    "TLSConnection",
    "TLSServer",
    "pipe_to",
    "plaintext",
    "server_context",
]

CLOSE_NOTIFY: Step = ("close_notify",)

CLIENT_CN = "httpr test client"


def plaintext(data: bytes) -> Step:
    return ("plaintext", bytes(data))


# -- certificates ---------------------------------------------------------------------


@dataclass(frozen=True)
class ServerCert:
    """A server identity: ``chain`` (leaf first, then what the server sends) and ``key``."""

    chain: str
    key: str
    name: str


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _general_name(identity: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(identity))
    except ValueError:
        return x509.DNSName(identity)


class CertSet:
    """Every certificate of the TLS tests, written as PEM files under ``directory``."""

    def __init__(self, directory: str | os.PathLike[str]):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA(organization_name="httpr test CA")
        self.other_ca = trustme.CA(organization_name="httpr untrusted CA")
        self.ca_pem = self._write("ca.pem", self.ca.cert_pem.bytes())
        self.other_ca_pem = self._write("other-ca.pem", self.other_ca.cert_pem.bytes())
        # the trusted CA plus the untrusted one, for SSL_CERT_FILE-style bundles
        self.empty_pem = self._write("empty.pem", b"")
        self.garbage_pem = self._write("garbage.pem", b"this is not a certificate\n" * 4)

        # valid: DNS "localhost" and IP 127.0.0.1 (the default server certificate)
        self.server = self._trustme("server", self.ca, "localhost", "127.0.0.1")
        self.server_dns_only = self._trustme("dns-only", self.ca, "localhost")
        self.server_other_name = self._trustme("other-name", self.ca, "other.test")
        self.server_untrusted = self._trustme("untrusted", self.other_ca, "localhost", "127.0.0.1")
        # issued by an intermediate: the full chain vs the leaf alone
        intermediate = self.ca.create_child_ca()
        leaf = intermediate.issue_cert("localhost", "127.0.0.1")
        self.server_chain = self._leaf_files(
            "chain", [p.bytes() for p in leaf.cert_chain_pems], leaf.private_key_pem.bytes()
        )
        self.server_leaf_only = self._leaf_files(
            "leaf-only", [leaf.cert_chain_pems[0].bytes()], leaf.private_key_pem.bytes()
        )
        assert len(leaf.cert_chain_pems) == 2  # leaf + intermediate

        # built by hand (cryptography)
        ca_key = serialization.load_pem_private_key(self.ca.private_key_pem.bytes(), None)
        ca_cert = x509.load_pem_x509_certificate(self.ca.cert_pem.bytes())
        day = datetime.timedelta(days=1)
        self.server_expired = self._built(
            "expired",
            ca_cert,
            ca_key,
            sans=["localhost", "127.0.0.1"],
            not_before=_now() - 30 * day,
            not_after=_now() - day,
        )
        self.server_not_yet_valid = self._built(
            "not-yet-valid",
            ca_cert,
            ca_key,
            sans=["localhost", "127.0.0.1"],
            not_before=_now() + day,
            not_after=_now() + 30 * day,
        )
        self.server_self_signed = self._built(
            "self-signed", None, None, sans=["localhost", "127.0.0.1"]
        )
        self.server_cn_only = self._built("cn-only", ca_cert, ca_key, sans=None, cn="localhost")
        self.server_ip_as_dns = self._built(
            "ip-as-dns", ca_cert, ca_key, sans=[x509.DNSName("127.0.0.1")]
        )
        self.server_nul_san = self._built(
            "nul-san", ca_cert, ca_key, sans=[x509.DNSName("localhost\x00.evil.test")]
        )
        # one certificate of more than 100 KiB (OpenSSL's default max_cert_list)
        self.server_huge = self._built(
            "huge",
            ca_cert,
            ca_key,
            sans=["localhost", "127.0.0.1"],
            extra=[
                x509.UnrecognizedExtension(
                    x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"),
                    b"\x04\x83\x01\xd4\xc0" + b"x" * 120000,
                )
            ],
        )

        # mTLS: a client identity from the trusted CA, one PEM with cert + key
        client = self.ca.issue_cert("client@example.test", common_name=CLIENT_CN)
        self.client_pem_data = client.private_key_and_cert_chain_pem.bytes()
        self.client_pem = self._write("client.pem", self.client_pem_data)
        # and one the server does not trust
        stranger = self.other_ca.issue_cert("stranger@example.test", common_name="stranger")
        self.untrusted_client_pem = self._write(
            "untrusted-client.pem", stranger.private_key_and_cert_chain_pem.bytes()
        )

    def _write(self, name: str, data: bytes) -> str:
        path = self.dir / name
        path.write_bytes(data)
        return str(path)

    def _leaf_files(self, name: str, chain: list[bytes], key: bytes) -> ServerCert:
        return ServerCert(
            chain=self._write(f"{name}.chain.pem", b"".join(chain)),
            key=self._write(f"{name}.key.pem", key),
            name=name,
        )

    def _trustme(self, name: str, ca: trustme.CA, *identities: str) -> ServerCert:
        leaf = ca.issue_cert(*identities)
        return self._leaf_files(
            name, [p.bytes() for p in leaf.cert_chain_pems], leaf.private_key_pem.bytes()
        )

    def _built(
        self,
        name: str,
        issuer_cert: x509.Certificate | None,
        issuer_key: object,
        *,
        sans: Sequence[str | x509.GeneralName] | None,
        cn: str | None = None,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        extra: Sequence[x509.ExtensionType] = (),
    ) -> ServerCert:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "httpr tests"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn or f"httpr {name}"),
            ]
        )
        self_signed = issuer_cert is None
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if self_signed else issuer_cert.subject)  # type: ignore[union-attr]
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or _now() - datetime.timedelta(days=1))
            .not_valid_after(not_after or _now() + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        if sans is not None:
            names = [s if isinstance(s, x509.GeneralName) else _general_name(s) for s in sans]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        for ext in extra:
            builder = builder.add_extension(ext, critical=False)
        sign_key = key if self_signed else issuer_key
        cert = builder.sign(sign_key, hashes.SHA256())  # type: ignore[arg-type]
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return self._leaf_files(name, [cert.public_bytes(serialization.Encoding.PEM)], key_pem)


def server_context(
    cert: ServerCert,
    *,
    alpn: Sequence[str] | None = ("http/1.1",),
    minimum_version: ssl.TLSVersion | None = None,
    maximum_version: ssl.TLSVersion | None = None,
    client_ca: str | None = None,
    require_client_cert: bool = False,
    ciphers: str | None = None,
) -> ssl.SSLContext:
    """A server-side ``SSLContext`` serving ``cert``.

    ``client_ca`` + ``require_client_cert`` make it demand a client certificate
    (``CERT_REQUIRED``); ``client_ca`` alone asks for one (``CERT_OPTIONAL``).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        # TLSVersion.TLSv1 / TLSv1_1 are deprecated: the point of the TLS 1.0 server
        warnings.simplefilter("ignore", DeprecationWarning)
        if ciphers is not None:
            ctx.set_ciphers(ciphers)
        if minimum_version is not None:
            ctx.minimum_version = minimum_version
        if maximum_version is not None:
            ctx.maximum_version = maximum_version
    ctx.load_cert_chain(cert.chain, cert.key)
    if alpn is not None:
        ctx.set_alpn_protocols(list(alpn))
    if client_ca is not None:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return ctx


# -- the scripted TLS server ----------------------------------------------------------------

_TCP_CLOSE = 7  # linux/tcp_states.h
_TCP_CLOSE_WAIT = 8


def _tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of ``sock`` (Linux ``TCP_INFO``), or -1."""
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    except (OSError, AttributeError):
        return -1


class TLSConnection(ScriptConnection):
    """A :class:`ScriptConnection` whose socket is a server-side ``SSLSocket``."""

    server: TLSServer

    def __init__(self, server: ScriptedServer, sock: socket.socket, conn_id: int):
        super().__init__(server, sock, conn_id)
        self.sni_called = False
        self.sni: str | None = None
        self.alpn: str | None = None
        self.version: str | None = None
        self.cipher: tuple[str, str, int] | None = None
        self.session_reused: bool | None = None
        self.peer_cert: dict | None = None
        self.handshake_error: str | None = None
        self.handshake_done = threading.Event()
        self.raw_bytes_seen = 0  # handshake=False: bytes waiting, unread, in the kernel

    # -- handshake -----------------------------------------------------------

    def _handshake(self) -> None:
        assert self.sock is not None
        ctx = self.server.context
        ssock = ctx.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
        self.sock = ssock
        self.server._by_socket[id(ssock)] = self
        try:
            while True:
                self._check_stop()
                try:
                    ssock.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    select.select([ssock], [], [], POLL)
                except ssl.SSLWantWriteError:
                    select.select([], [ssock], [], POLL)
        finally:
            self.server._by_socket.pop(id(ssock), None)
        self.alpn = ssock.selected_alpn_protocol()
        self.version = ssock.version()
        self.cipher = ssock.cipher()
        self.session_reused = ssock.session_reused
        self.peer_cert = ssock.getpeercert() or None

    def _hold(self) -> None:
        """handshake=False: never read the ClientHello; notice when the client gives up."""
        assert self.sock is not None
        while True:
            self._check_stop()
            r, _, _ = select.select([self.sock], [], [], POLL)
            if not r:
                continue
            try:
                data = self.sock.recv(65536, socket.MSG_PEEK)
            except OSError:
                data = b""
            if not data or _tcp_state(self.sock) in (_TCP_CLOSE, _TCP_CLOSE_WAIT):
                self.closed.set()  # (a FIN behind unread data only shows in the TCP state)
                return
            self.raw_bytes_seen = len(data)
            self.sleep(POLL)  # the data stays unread: do not spin on it

    def _run(self, script: Script) -> None:
        if not self.server.handshake:
            try:
                self._hold()
            except Exception as e:  # noqa: BLE001 - _Stopped, or the socket went away
                self.error = f"{type(e).__name__}: {e}"
            finally:
                self.handshake_done.set()
            super()._run([])  # closes the socket, sets done
            return
        try:
            self._handshake()
        except Exception as e:  # noqa: BLE001 - recorded for the test
            self.handshake_error = f"{type(e).__name__}: {e}"
            self.handshake_done.set()
            super()._run([])
            return
        self.handshake_done.set()
        super()._run(script)

    # -- I/O over TLS (the socket is non-blocking) ------------------------------

    def _recv_tls(self) -> bytes | None:
        """One non-blocking read: data, b"" at EOF (with or without close_notify), or None."""
        assert self.sock is not None
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return None
        except (ssl.SSLError, OSError):
            data = b""
        if not data:
            self.closed.set()
            return b""
        self.received += data
        return data

    def _wait_readable(self) -> bool:
        assert isinstance(self.sock, ssl.SSLSocket)
        if self.sock.pending():
            return True
        r, _, _ = select.select([self.sock], [], [], POLL)
        return bool(r)

    def _recv_some(self) -> bytes:
        while True:
            self._check_stop()
            if not self._wait_readable():
                continue
            data = self._recv_tls()
            if data is None:
                continue
            self._buf += data
            return data

    def _sendall(self, data: bytes) -> None:
        assert self.sock is not None
        view = memoryview(data)
        while view:
            self._check_stop()
            chunk = view[:16384]  # one record; retried whole after a WANT_WRITE
            try:
                n = self.sock.send(chunk)
            except (ssl.SSLWantWriteError, BlockingIOError):
                select.select([], [self.sock], [], POLL)
                continue
            except ssl.SSLWantReadError:
                select.select([self.sock], [], [], POLL)
                continue
            except OSError as e:
                self.closed.set()
                raise _PeerGone(str(e)) from e
            view = view[n:]

    def close_notify(self) -> None:
        """Send a close_notify alert, then FIN; wait (briefly) for the client to close."""
        if self.sock is None:
            return
        sock = self.sock
        assert isinstance(sock, ssl.SSLSocket)
        try:
            sock.unwrap()  # sends close_notify; the peer's answer is optional
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, ssl.SSLError, OSError):
            pass
        try:
            socket.socket.shutdown(sock, socket.SHUT_WR)
        except OSError:
            pass
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and not self.server._stopping.is_set():
            r, _, _ = select.select([sock], [], [], POLL)
            if not r:
                continue
            try:
                if not socket.socket.recv(sock, 65536):
                    break
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                break
        sock.close()
        self.sock = None

    def send_plaintext(self, data: bytes) -> None:
        """Bytes straight on the TCP socket, outside any TLS record."""
        assert self.sock is not None
        socket.socket.sendall(self.sock, data)

    def run_steps(self, steps: Sequence[Step]) -> None:
        for step in steps:
            if self.sock is None:
                return
            if step[0] == "close_notify":
                self.close_notify()
            elif step[0] == "plaintext":
                self.send_plaintext(step[1])
            elif step[0] == "read":
                if self.read_request() is None:
                    return
            else:
                super().run_steps([step])


class TLSServer(ScriptedServer):
    """:class:`ScriptedServer` over TLS; see the module docstring."""

    connection_class = TLSConnection
    connections: list[TLSConnection]  # type: ignore[assignment]

    def __init__(
        self,
        context: ssl.SSLContext,
        *scripts: Script,
        handshake: bool = True,
        host: str = "127.0.0.1",
        backlog: int = 128,
    ):
        self.handshake = handshake
        self._by_socket: dict[int, TLSConnection] = {}
        self.context = context
        self._install_sni_callback(context)
        super().__init__(*scripts, host=host, backlog=backlog)
        self.url = f"https://{host}:{self.port}"
        self.url_localhost = f"https://localhost:{self.port}"

    def _install_sni_callback(self, context: ssl.SSLContext) -> None:
        def on_sni(ssock: ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext) -> None:
            conn = self._by_socket.get(id(ssock))
            if conn is not None:
                conn.sni_called = True
                conn.sni = name

        context.sni_callback = on_sni  # type: ignore[assignment]

    def set_context(self, context: ssl.SSLContext) -> None:
        """Serve later connections with another context (another certificate)."""
        self._install_sni_callback(context)
        self.context = context

    def url_for(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"

    def handshakes_done(self) -> list[TLSConnection]:
        return [c for c in self.connections if c.handshake_done.is_set()]

    def wait_done(self, n: int | None = None, timeout: float = 5.0) -> bool:
        """Wait until ``n`` connections (default: all so far) ended their script."""
        deadline = time.monotonic() + timeout
        while True:
            conns = list(self.connections)
            if (n is None or len(conns) >= n) and all(c.done.is_set() for c in conns[:n]):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL)


def pipe_to(port: int, host: str = "127.0.0.1") -> Callable[[TLSConnection], None]:
    """A script: relay the decrypted stream to a plain server on ``host:port`` and back."""

    def script(conn: TLSConnection) -> None:
        backend = socket.create_connection((host, port), timeout=10)
        backend.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                conn._check_stop()
                tls = conn.sock
                if tls is None:
                    return
                assert isinstance(tls, ssl.SSLSocket)
                ready = tls.pending() > 0
                r, _, _ = select.select([tls, backend], [], [], 0 if ready else POLL)
                if ready or tls in r:
                    data = conn._recv_tls()
                    if data == b"":
                        return  # the client went away
                    if data:
                        backend.sendall(data)
                if backend in r:
                    try:
                        data = backend.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        conn.close_notify()
                        return
                    conn._sendall(data)
        finally:
            backend.close()

    return script


# -- a server that picks ALPN "h2" whatever the client offered (pyOpenSSL) -----------------


class AlpnForcingServer:
    """Accepts TLS connections and selects ALPN ``h2`` even if the client did not offer it.

    Records per connection: ``offered`` (the client's ALPN list), ``error`` (why the
    handshake failed) and ``received`` (application bytes, if the handshake succeeded).
    """

    def __init__(self, cert: ServerCert, selected: bytes = b"h2"):
        from OpenSSL import SSL

        self._SSL = SSL
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        ctx.use_certificate_chain_file(cert.chain)
        ctx.use_privatekey_file(cert.key)
        self.offered: list[list[bytes]] = []
        self.errors: list[str] = []
        self.received: list[bytes] = []

        def select_alpn(_conn: object, offered: list[bytes]) -> bytes:
            self.offered.append(list(offered))
            return selected

        ctx.set_alpn_select_callback(select_alpn)
        self._ctx = ctx
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(POLL)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.accepted = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alpn-forcing", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        SSL = self._SSL
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            sock.setblocking(False)
            conn = SSL.Connection(self._ctx, sock)
            conn.set_accept_state()
            got = bytearray()
            deadline = time.monotonic() + 5.0

            def retry(
                op: Callable[[], bytes | None],
                sock: socket.socket = sock,
                deadline: float = deadline,
            ) -> bytes | None:
                while time.monotonic() < deadline and not self._stopping.is_set():
                    try:
                        return op()
                    except SSL.WantReadError:
                        select.select([sock], [], [], POLL)
                    except SSL.WantWriteError:
                        select.select([], [sock], [], POLL)
                raise TimeoutError("ALPN-forcing server: connection timed out")

            try:
                retry(conn.do_handshake)
                while True:
                    data = retry(lambda conn=conn: conn.recv(65536))
                    if not data:
                        break
                    got += data
            except Exception as e:  # noqa: BLE001 - recorded for the test
                self.errors.append(f"{type(e).__name__}: {e}")
            finally:
                self.received.append(bytes(got))
                sock.close()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._listener.close()
        if self._thread.is_alive():
            raise RuntimeError("ALPN-forcing server thread did not stop")

    def __enter__(self) -> AlpnForcingServer:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- openssl s_server, for KeyUpdate and renegotiation ----------------------------------------


class OpenSSLServer:
    """``openssl s_server`` on 127.0.0.1 (see the module docstring).

    ``output`` accumulates everything s_server printed (its state lines and the
    decrypted bytes it received).
    """

    def __init__(self, cert: ServerCert, *args: str):
        exe = shutil.which("openssl")
        if exe is None:
            raise RuntimeError("the openssl CLI is not installed (tests/setup.sh installs it)")
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self.url = f"https://localhost:{self.port}"
        self.output = bytearray()
        # stdbuf: s_server's printf() lines ("SSL_do_handshake -> 1") must not sit in a buffer
        unbuffered = [shutil.which("stdbuf") or "", "-o0"] if shutil.which("stdbuf") else []
        self._proc = subprocess.Popen(
            [*unbuffered, exe, "s_server", "-accept", f"127.0.0.1:{self.port}", "-cert", cert.chain]
            + ["-key", cert.key, "-naccept", "1", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        if not self.wait_output(b"ACCEPT", 10):
            self.stop()
            raise RuntimeError(f"s_server did not start: {bytes(self.output)!r}")

    def wait_output(self, needle: bytes, timeout: float = 5.0) -> bool:
        """Read s_server's stdout until ``needle`` appears (True) or ``timeout`` passes."""
        assert self._proc.stdout is not None
        deadline = time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        while needle not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([fd], [], [], min(left, POLL * 5))
            if r:
                data = os.read(fd, 65536)
                if not data:
                    return needle in self.output
                self.output += data
        return True

    def command(self, letter: bytes) -> None:
        """A one-letter s_server command (``K`` KeyUpdate, ``r`` renegotiate, ``Q`` quit)."""
        self.write(letter + b"\n")
        time.sleep(0.2)  # a separate read() on its side, or it is sent as data

    def write(self, data: bytes) -> bool:
        """Bytes that s_server sends to the client as application data; False if it is gone."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)
            self._proc.stdin.flush()
        except BrokenPipeError:  # the connection ended and s_server (-naccept 1) exited
            return False
        return True

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait(5)
        for f in (self._proc.stdin, self._proc.stdout):
            if f is not None:
                try:
                    f.close()
                except OSError:  # unflushed stdin of a dead s_server
                    pass

    def __enter__(self) -> OpenSSLServer:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
