"""Self-tests of the TLS fixtures (servers/tls.py), with Python's own ssl / http.client.

No httpr here: these prove that every certificate is broken in exactly the
intended way, and that the TLS server records and does what the httpr tests
rely on. If these fail, the results of test_30/test_31 mean nothing.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import time
import urllib.request
import warnings

import pytest
from servers.helpers import wait_until
from servers.scripted import CLOSE, READ, response, send, serve
from servers.tls import (
    CLIENT_CN,
    CLOSE_NOTIFY,
    AlpnForcingServer,
    OpenSSLServer,
    plaintext,
    server_context,
)

with_timeout = pytest.mark.timeout(30)


def client_ctx(cafile: str | None = None, alpn: list[str] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cafile)
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    return ctx


def handshake_error(port: int, host: str, ctx: ssl.SSLContext) -> str | None:
    """None if a verified handshake to 127.0.0.1:port as ``host`` succeeds, else the error."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        with ctx.wrap_socket(raw, server_hostname=host):
            return None
    except ssl.SSLError as e:
        return str(e)
    finally:
        raw.close()


def get(port: int, host: str, ctx: ssl.SSLContext, path: str = "/") -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=5)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


# -- certificates ----------------------------------------------------------------------------


CERT_CASES = [
    # (attribute, host, expected verify error or None)
    ("server", "localhost", None),
    ("server", "127.0.0.1", None),
    ("server_dns_only", "localhost", None),
    ("server_dns_only", "127.0.0.1", "IP address mismatch"),
    ("server_other_name", "localhost", "Hostname mismatch"),
    ("server_untrusted", "localhost", "unable to get local issuer certificate"),
    ("server_expired", "localhost", "certificate has expired"),
    ("server_not_yet_valid", "localhost", "certificate is not yet valid"),
    ("server_self_signed", "localhost", "self-signed certificate"),
    ("server_chain", "localhost", None),
    ("server_chain", "127.0.0.1", None),
    ("server_leaf_only", "localhost", "unable to get local issuer certificate"),
    ("server_ip_as_dns", "127.0.0.1", "IP address mismatch"),
    ("server_nul_san", "localhost", "Hostname mismatch"),
]


@with_timeout
@pytest.mark.parametrize(("attr", "host", "expected"), CERT_CASES)
def test_certificate_verifies_as_intended(tls_certs, make_tls_server, attr, host, expected):
    server = make_tls_server(getattr(tls_certs, attr))
    err = handshake_error(server.port, host, ssl.create_default_context(cafile=tls_certs.ca_pem))
    if expected is None:
        assert err is None
    else:
        assert err is not None and expected in err, err
        assert server.wait_done(1)
        assert server.connections[0].handshake_error is not None
        assert server.connections[0].received == b""


@with_timeout
def test_valid_certificate_needs_the_test_ca(tls_certs, tls_server):
    err = handshake_error(tls_server.port, "localhost", ssl.create_default_context())
    assert err is not None and "unable to get local issuer certificate" in err


@with_timeout
def test_cn_only_certificate_is_valid_but_for_its_missing_san(tls_certs, make_tls_server):
    server = make_tls_server(tls_certs.server_cn_only)
    ctx = ssl.create_default_context(cafile=tls_certs.ca_pem)
    ctx.hostname_checks_common_name = True
    assert handshake_error(server.port, "localhost", ctx) is None  # CN is "localhost"
    ctx = ssl.create_default_context(cafile=tls_certs.ca_pem)
    ctx.hostname_checks_common_name = False
    err = handshake_error(server.port, "localhost", ctx)
    assert err is not None and "Hostname mismatch" in err


@with_timeout
def test_ip_as_dns_certificate_is_valid_for_its_dns_name(tls_certs, make_tls_server):
    # the same certificate is fine when "127.0.0.1" is compared as a DNS name: only the
    # IP-SAN rule rejects it
    server = make_tls_server(tls_certs.server_ip_as_dns)
    ctx = ssl.create_default_context(cafile=tls_certs.ca_pem)
    ctx.check_hostname = False
    assert handshake_error(server.port, "127.0.0.1", ctx) is None


@with_timeout
def test_huge_certificate_exceeds_openssl_default_limit(tls_certs, make_tls_server):
    assert os.path.getsize(tls_certs.server_huge.chain) > 150_000  # PEM of > 100 KiB DER
    server = make_tls_server(tls_certs.server_huge)
    err = handshake_error(
        server.port, "localhost", ssl.create_default_context(cafile=tls_certs.ca_pem)
    )
    assert err is not None and "excessive message size" in err


@with_timeout
def test_garbage_and_empty_bundles_hold_no_certificate(tls_certs):
    for path in (tls_certs.empty_pem, tls_certs.garbage_pem):
        with open(path, "rb") as f:
            assert b"BEGIN CERTIFICATE" not in f.read()
        with pytest.raises(ssl.SSLError):
            ssl.create_default_context(cafile=path)


# -- the TLS server ----------------------------------------------------------------------------


@with_timeout
def test_tls_server_records_sni_alpn_version_and_keepalive(tls_certs, tls_server):
    ctx = client_ctx(tls_certs.ca_pem, alpn=["http/1.1"])
    for host in ("localhost", "127.0.0.1"):
        conn = http.client.HTTPSConnection(host, tls_server.port, context=ctx, timeout=5)
        for path in ("/a", "/b"):
            conn.request("GET", path)
            r = conn.getresponse()
            assert (r.status, r.read()) == (200, b"ok")
        conn.close()
    assert tls_server.wait_done(2)
    c0, c1 = tls_server.connections
    assert (c0.sni_called, c0.sni) == (True, "localhost")
    assert (c1.sni_called, c1.sni) == (True, None)  # IP literal: no server_name
    assert c0.alpn == c1.alpn == "http/1.1"
    assert c0.version == "TLSv1.3"
    assert [r.target for r in c0.requests] == ["/a", "/b"]  # keep-alive: one connection
    assert c0.handshake_error is None and c0.peer_cert is None
    assert c0.received.startswith(b"GET /a HTTP/1.1\r\n")


@with_timeout
def test_tls_server_without_client_alpn_records_none(tls_certs, tls_server):
    assert get(tls_server.port, "localhost", client_ctx(tls_certs.ca_pem)) == (200, b"ok")
    assert tls_server.wait_done(1)
    assert tls_server.connections[0].alpn is None


@with_timeout
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_server_session_reused_is_recorded(tls_certs, make_tls_server, version):
    server = make_tls_server(None, maximum_version=version)
    ctx = client_ctx(tls_certs.ca_pem)
    session = None
    for _ in range(2):
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert s.recv(1000).endswith(b"ok")
            session = s.session
    assert server.wait_done(2)
    assert [c.session_reused for c in server.connections] == [False, True]
    expected = "TLSv1.2" if version == ssl.TLSVersion.TLSv1_2 else "TLSv1.3"
    assert [c.version for c in server.connections] == [expected, expected]


def read_all(s: ssl.SSLSocket) -> tuple[bytes, str | None]:
    """Read until EOF; return (data, None) on close_notify, (data, error) on a bare FIN."""
    out = bytearray()
    while True:
        try:
            d = s.recv(65536)
        except ssl.SSLError as e:
            return bytes(out), str(e)
        if not d:
            return bytes(out), None
        out += d


@with_timeout
@pytest.mark.parametrize("notify", [True, False], ids=["close_notify", "bare-fin"])
def test_tls_server_close_with_or_without_close_notify(tls_certs, tls_server, notify):
    body = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nclose-delimited body"
    tls_server.set_script([READ, send(body), CLOSE_NOTIFY if notify else CLOSE])
    ctx = client_ctx(tls_certs.ca_pem)
    raw = socket.create_connection(("127.0.0.1", tls_server.port), timeout=5)
    with ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data, err = read_all(s)
    assert data == body
    if notify:
        assert err is None
    else:
        assert err is not None and "EOF" in err, err  # UNEXPECTED_EOF_WHILE_READING


@with_timeout
def test_tls_server_plaintext_breaks_the_record_layer(tls_certs, tls_server):
    tls_server.set_script([READ, plaintext(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")])
    raw = socket.create_connection(("127.0.0.1", tls_server.port), timeout=5)
    with client_ctx(tls_certs.ca_pem).wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        with pytest.raises(ssl.SSLError) as ei:
            s.recv(100)
    assert "wrong version number" in str(ei.value).lower() or "record" in str(ei.value).lower()


@with_timeout
def test_tls_server_never_handshakes(make_tls_server):
    server = make_tls_server(None, handshake=False)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=0.5)
    ctx = ssl.create_default_context()
    t0 = time.monotonic()
    with pytest.raises((TimeoutError, socket.timeout)):
        ctx.wrap_socket(raw, server_hostname="localhost")
    assert time.monotonic() - t0 < 2
    assert wait_until(lambda: server.connections and server.connections[0].raw_bytes_seen > 0)
    conn = server.connections[0]
    assert conn.raw_bytes_seen > 0 and conn.received == b""  # the ClientHello, unread
    assert conn.version is None and conn.handshake_error is None
    raw.close()
    assert conn.closed.wait(5)  # the server notices the client giving up


@with_timeout
def test_tls10_only_server(tls_certs, make_tls_server):
    server = make_tls_server(
        None,
        minimum_version=ssl.TLSVersion.TLSv1,
        maximum_version=ssl.TLSVersion.TLSv1,
        ciphers="DEFAULT:@SECLEVEL=0",
    )
    old = client_ctx(tls_certs.ca_pem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    assert get(server.port, "localhost", old) == (200, b"ok")
    assert server.wait_done(1)
    assert server.connections[0].version == "TLSv1"
    err = handshake_error(server.port, "localhost", client_ctx(tls_certs.ca_pem))
    assert err is not None and re.search("protocol", err), err


@with_timeout
def test_tls_server_mtls(tls_certs, make_tls_server):
    server = make_tls_server(None, client_ca=tls_certs.ca_pem, require_client_cert=True)
    ctx = client_ctx(tls_certs.ca_pem)
    # without a certificate: TLS 1.3 reports the server's alert on the first read
    with pytest.raises((ssl.SSLError, ConnectionError)):
        get(server.port, "localhost", ctx)
    ctx.load_cert_chain(tls_certs.client_pem)
    assert get(server.port, "localhost", ctx) == (200, b"ok")
    assert server.wait_done(2)
    first, second = server.connections
    assert first.handshake_error is not None and first.received == b""
    assert second.handshake_error is None
    assert second.peer_cert is not None
    assert (("commonName", CLIENT_CN),) in second.peer_cert["subject"]


@with_timeout
def test_tls_server_rejects_untrusted_client_cert(tls_certs, make_tls_server):
    server = make_tls_server(None, client_ca=tls_certs.ca_pem, require_client_cert=True)
    ctx = client_ctx(tls_certs.ca_pem)
    ctx.load_cert_chain(tls_certs.untrusted_client_pem)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        get(server.port, "localhost", ctx)
    assert server.wait_done(1)
    assert "unknown ca" in (server.connections[0].handshake_error or "") or (
        "certificate verify failed" in (server.connections[0].handshake_error or "")
    )


@with_timeout
def test_set_context_switches_certificate_on_same_port(tls_certs, tls_server):
    ctx = client_ctx(tls_certs.ca_pem)
    assert handshake_error(tls_server.port, "localhost", ctx) is None
    tls_server.set_context(server_context(tls_certs.server_untrusted))
    err = handshake_error(tls_server.port, "localhost", ctx)
    assert err is not None and "unable to get local issuer" in err
    assert tls_server.wait_done(2)
    assert tls_server.connections[1].sni == "localhost"  # the new context reports SNI too


@with_timeout
def test_terminator_in_front_of_http_server(tls_certs, https_server, http_server):
    ctx = client_ctx(tls_certs.ca_pem)
    conn = http.client.HTTPSConnection("127.0.0.1", https_server.port, context=ctx, timeout=5)
    ids = set()
    for _ in range(3):
        conn.request("GET", "/echo")
        r = conn.getresponse()
        ids.add(json.loads(r.read())["conn_id"])
    conn.close()
    assert len(ids) == 1  # one backend connection for one TLS connection
    assert https_server.connection_count == 1
    # close-delimited body: the terminator ends it with a close_notify, so it is complete
    raw = socket.create_connection(("127.0.0.1", https_server.port), timeout=5)
    with ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as s:
        s.sendall(b"GET /close-delimited HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data, err = read_all(s)
    assert err is None
    assert data.endswith(b"last")
    with urllib.request.urlopen(https_server.url + "/hello", context=ctx, timeout=5) as r:
        assert r.read() == b"Hello world!"


@with_timeout
def test_terminator_in_front_of_httpbin(tls_certs, https_httpbin):
    ctx = client_ctx(tls_certs.ca_pem)
    with urllib.request.urlopen(https_httpbin.url + "/get?a=1", context=ctx, timeout=10) as r:
        assert json.loads(r.read())["args"] == {"a": "1"}


@with_timeout
def test_alpn_forcing_server(tls_certs):
    with AlpnForcingServer(tls_certs.server) as server:
        # a client offering only http/1.1: OpenSSL itself rejects the unoffered "h2"
        err = handshake_error(server.port, "localhost", client_ctx(tls_certs.ca_pem, ["http/1.1"]))
        assert err is not None and "bad extension" in err.lower()
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with client_ctx(tls_certs.ca_pem, ["h2", "http/1.1"]).wrap_socket(
            raw, server_hostname="localhost"
        ) as s:
            assert s.selected_alpn_protocol() == "h2"
            s.sendall(b"PRI")
        assert wait_until(lambda: len(server.received) == 2)
    assert server.offered == [[b"http/1.1"], [b"h2", b"http/1.1"]]
    assert server.received == [b"", b"PRI"]


def test_scripted_responses_over_tls(tls_certs, tls_server):
    tls_server.set_script([serve(lambda req: response(201, req.target.encode()))])
    assert get(tls_server.port, "localhost", client_ctx(tls_certs.ca_pem), "/x?y") == (
        201,
        b"/x?y",
    )


needs_openssl_cli = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="needs the openssl CLI (tests/setup.sh)"
)


@needs_openssl_cli
@with_timeout
@pytest.mark.parametrize(("flag", "letter"), [("-tls1_3", b"K"), ("-tls1_2", b"r")])
def test_openssl_server_key_update_and_renegotiation(tls_certs, flag, letter):
    with OpenSSLServer(tls_certs.server, flag) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with client_ctx(tls_certs.ca_pem).wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET /one HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert server.wait_output(b"GET /one HTTP/1.1\r\nHost: localhost\r\n\r\n")
            server.command(letter)
            assert server.wait_output(b"SSL_do_handshake -> "), bytes(server.output[-300:])
            server.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none")
            got = b""
            while not got.endswith(b"one"):
                got += s.recv(1000)
            # the client's next bytes decrypt on the server: both sides followed the change
            s.sendall(b"GET /two HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert server.wait_output(b"GET /two HTTP/1.1")
            assert s.version() == ("TLSv1.3" if flag == "-tls1_3" else "TLSv1.2")
