"""Issue 4: HTTPS through the public API (CONTRACT §2.1, §5.8; reliability §2.3).

Trust configuration (``ca_cert_file``, ``HTTPR_CA_BUNDLE``, ``SSL_CERT_FILE``/``SSL_CERT_DIR``,
``verify=False``), SNI and ALPN as the server saw them, mutual TLS, session resumption
(and its isolation between configurations, TL-18), pool isolation (TL-17), ``https_only``,
keep-alive, concurrency and bodies over TLS, fds.

Servers: ``tls_server`` (scripted, records the handshake per connection) and
``https_server`` / ``https_httpbin`` (TLS terminators in front of ``http_server`` /
``httpbin``), see tests/servers/tls.py. Every server certificate is issued by
``tls_certs.ca`` unless the test says otherwise; no client trusts it by default.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pathlib
import shutil
import ssl
import subprocess

import httpr
import pytest
from servers.helpers import fd_count, wait_for_fds, wait_until
from servers.httpserver import CHUNKED_PARTS, HELLO, pattern_bytes
from servers.payloads import PAYLOAD
from servers.scripted import READ, response, send, serve
from servers.tls import CLIENT_CN, CLOSE_NOTIFY

pytestmark = pytest.mark.timeout(30)

MiB = 1 << 20
UNTRUSTED = "unable to get local issuer certificate"


def trusting(certs, **kw) -> httpr.Client:
    """A client that trusts the test CA (through ca_cert_file)."""
    kw.setdefault("timeout", 10)
    return httpr.Client(ca_cert_file=certs.ca_pem, **kw)


def close_after_first(server) -> None:
    """Connection 0 answers once with ``Connection: close`` (+ close_notify); later ones serve."""
    server.set_script(
        [READ, send(response(200, b"first", [("Connection", "close")])), CLOSE_NOTIFY],
        [serve()],
    )


def echo_body(req) -> bytes:
    return response(200, req.body, [("Content-Type", "application/octet-stream")])


# -- the basics --------------------------------------------------------------------------------


def test_https_get_dns_name(tls_certs, tls_server):
    with trusting(tls_certs) as c:
        r = c.get(tls_server.url_localhost + "/path?q=1")
    assert r.status_code == 200
    assert r.content == b"ok"
    assert r.http_version == "HTTP/1.1"
    assert r.url == tls_server.url_localhost + "/path?q=1"
    assert tls_server.wait_done(1)
    (conn,) = tls_server.connections
    assert conn.handshake_error is None
    assert conn.version == "TLSv1.3"
    (req,) = conn.requests
    assert (req.method, req.target) == ("GET", "/path?q=1")
    assert req.header("host") == f"localhost:{tls_server.port}"


def test_https_get_ip_literal_with_ip_san(tls_certs, tls_server):
    with trusting(tls_certs) as c:
        r = c.get(tls_server.url + "/")
    assert (r.status_code, r.content) == (200, b"ok")
    assert tls_server.connections[0].requests[0].header("host") == f"127.0.0.1:{tls_server.port}"


def test_sni_for_dns_names_only(tls_certs, tls_server):
    with trusting(tls_certs) as c:
        assert c.get(tls_server.url_localhost + "/").status_code == 200
        assert c.get(tls_server.url + "/").status_code == 200
    assert tls_server.wait_done(2)
    by_host = {c.requests[0].header("host").split(":")[0]: c for c in tls_server.connections}
    assert set(by_host) == {"localhost", "127.0.0.1"}  # two origins, two connections
    assert (by_host["localhost"].sni_called, by_host["localhost"].sni) == (True, "localhost")
    # the callback ran for the IP connection too, with no name: no SNI extension was sent
    assert (by_host["127.0.0.1"].sni_called, by_host["127.0.0.1"].sni) == (True, None)


def test_alpn_offers_http11_and_not_h2(tls_certs, make_tls_server):
    # the server prefers h2: had the client offered it, the server would have picked it
    server = make_tls_server(None, alpn=["h2", "http/1.1"])
    with trusting(tls_certs) as c:
        r = c.get(server.url + "/")
    assert r.status_code == 200 and r.http_version == "HTTP/1.1"
    assert server.connections[0].alpn == "http/1.1"


def test_server_without_alpn_is_fine(tls_certs, make_tls_server):
    server = make_tls_server(None, alpn=None)
    with trusting(tls_certs) as c:
        assert c.get(server.url + "/").content == b"ok"
    assert server.connections[0].alpn is None


def test_server_with_only_h2_alpn_falls_back_to_http11(tls_certs, make_tls_server):
    # the stdlib server selects nothing when there is no overlap: no ALPN, plain HTTP/1.1
    # (a server that *selects* h2 anyway is test_31's test_server_selecting_unoffered_h2)
    server = make_tls_server(None, alpn=["h2"])
    with trusting(tls_certs) as c:
        assert c.get(server.url + "/").content == b"ok"
    assert server.connections[0].alpn is None


@pytest.mark.parametrize(
    ("maximum", "expected"),
    [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")],
)
def test_tls12_and_tls13_servers(tls_certs, make_tls_server, maximum, expected):
    server = make_tls_server(None, maximum_version=maximum)
    with trusting(tls_certs) as c:
        assert c.get(server.url + "/").content == b"ok"
    assert server.connections[0].version == expected


def test_full_chain_from_an_intermediate_verifies(tls_certs, make_tls_server):
    server = make_tls_server(tls_certs.server_chain)
    with trusting(tls_certs) as c:
        assert c.get(server.url_localhost + "/").content == b"ok"


# -- trust configuration -------------------------------------------------------------------------


def test_default_client_does_not_trust_the_test_ca(tls_server, monkeypatch):
    monkeypatch.delenv("HTTPR_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with httpr.Client(timeout=10) as c, pytest.raises(httpr.ConnectError) as ei:
        c.get(tls_server.url_localhost + "/")
    assert UNTRUSTED in str(ei.value)
    assert tls_server.wait_done(1)
    assert tls_server.connections[0].received == b""


def test_ca_cert_file_as_pathlike(tls_certs, tls_server):
    with httpr.Client(ca_cert_file=pathlib.Path(tls_certs.ca_pem), timeout=10) as c:
        assert c.get(tls_server.url_localhost + "/").content == b"ok"


def test_ca_cert_file_adds_to_the_system_store(tls_certs, make_tls_server, monkeypatch):
    # the "system store" here is SSL_CERT_FILE = the other CA; ca_cert_file adds ours on top
    ours = make_tls_server()
    theirs = make_tls_server(tls_certs.server_untrusted)  # issued by the other CA
    monkeypatch.delenv("HTTPR_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", tls_certs.other_ca_pem)
    with trusting(tls_certs) as c:
        assert c.get(ours.url_localhost + "/").content == b"ok"
        assert c.get(theirs.url_localhost + "/").content == b"ok"
    with httpr.Client(timeout=10) as c:  # the system store alone
        assert c.get(theirs.url_localhost + "/").content == b"ok"
        with pytest.raises(httpr.ConnectError, match=UNTRUSTED):
            c.get(ours.url_localhost + "/")


def test_httpr_ca_bundle_env_read_at_construction(tls_certs, tls_server, monkeypatch):
    monkeypatch.delenv("HTTPR_CA_BUNDLE", raising=False)
    before = httpr.Client(timeout=10)
    monkeypatch.setenv("HTTPR_CA_BUNDLE", tls_certs.ca_pem)
    during = httpr.Client(timeout=10)
    monkeypatch.delenv("HTTPR_CA_BUNDLE")
    try:
        assert during.get(tls_server.url_localhost + "/").content == b"ok"
        with pytest.raises(httpr.ConnectError, match=UNTRUSTED):
            before.get(tls_server.url_localhost + "/")
    finally:
        before.close()
        during.close()


def test_httpr_ca_bundle_env_with_module_api(tls_certs, tls_server, monkeypatch):
    monkeypatch.setenv("HTTPR_CA_BUNDLE", tls_certs.ca_pem)
    assert httpr.get(tls_server.url_localhost + "/").content == b"ok"


def test_ca_cert_file_argument_beats_env(tls_certs, tls_server, monkeypatch):
    monkeypatch.setenv("HTTPR_CA_BUNDLE", tls_certs.ca_pem)
    with (
        httpr.Client(ca_cert_file=tls_certs.other_ca_pem, timeout=10) as c,
        pytest.raises(httpr.ConnectError, match=UNTRUSTED),
    ):
        c.get(tls_server.url_localhost + "/")


def test_ssl_cert_file_env_is_honoured_per_configuration(tls_certs, tls_server, monkeypatch):
    monkeypatch.delenv("HTTPR_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    url = tls_server.url_localhost + "/"
    with httpr.Client(timeout=10) as c, pytest.raises(httpr.ConnectError, match=UNTRUSTED):
        c.get(url)
    monkeypatch.setenv("SSL_CERT_FILE", tls_certs.ca_pem)
    with httpr.Client(timeout=10) as c:
        assert c.get(url).content == b"ok"
    # back to the system store: a new client must not reuse the context built for the env
    monkeypatch.delenv("SSL_CERT_FILE")
    with httpr.Client(timeout=10) as c, pytest.raises(httpr.ConnectError, match=UNTRUSTED):
        c.get(url)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI (setup.sh)")
def test_ssl_cert_dir_env_is_honoured(tls_certs, tls_server, monkeypatch, tmp_path):
    out = subprocess.run(
        ["openssl", "x509", "-subject_hash", "-noout", "-in", tls_certs.ca_pem],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    )
    shutil.copy(tls_certs.ca_pem, tmp_path / f"{out.stdout.strip()}.0")
    monkeypatch.delenv("HTTPR_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    with httpr.Client(timeout=10) as c:
        assert c.get(tls_server.url_localhost + "/").content == b"ok"


@pytest.mark.parametrize("kind", ["empty", "garbage"])
@pytest.mark.parametrize("via", ["argument", "env"])
def test_bundle_without_certificates_is_request_error(tls_certs, monkeypatch, kind, via):
    path = tls_certs.empty_pem if kind == "empty" else tls_certs.garbage_pem
    for cls in (httpr.Client, httpr.AsyncClient):
        if via == "env":
            monkeypatch.setenv("HTTPR_CA_BUNDLE", path)
            with pytest.raises(httpr.RequestError):
                cls()
        else:
            with pytest.raises(httpr.RequestError):
                cls(ca_cert_file=path)


def test_nonexistent_bundle_is_request_error(tmp_path, monkeypatch):
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(httpr.RequestError, match="nope.pem"):
        httpr.Client(ca_cert_file=missing)
    monkeypatch.setenv("HTTPR_CA_BUNDLE", missing)
    with pytest.raises(httpr.RequestError, match="nope.pem"):
        httpr.AsyncClient()


def test_verify_false_ignores_the_bundle(tls_certs, tls_server):
    with httpr.Client(verify=False, ca_cert_file=tls_certs.garbage_pem, timeout=10) as c:
        assert c.get(tls_server.url_localhost + "/").content == b"ok"


@pytest.mark.parametrize(
    ("cert", "host"),
    [
        ("server_untrusted", "localhost"),
        ("server_expired", "localhost"),
        ("server_self_signed", "localhost"),
        ("server_other_name", "localhost"),
        ("server_dns_only", "127.0.0.1"),
        ("server_leaf_only", "localhost"),
    ],
)
def test_verify_false_accepts_any_certificate(tls_certs, make_tls_server, cert, host):
    server = make_tls_server(getattr(tls_certs, cert))
    with httpr.Client(verify=False, timeout=10) as c:
        r = c.get(server.url_for("/x", host))
    assert (r.status_code, r.content) == (200, b"ok")
    assert [r.target for r in server.connections[0].requests] == ["/x"]


def test_module_functions_take_tls_options(tls_certs, make_tls_server):
    good = make_tls_server()
    bad = make_tls_server(tls_certs.server_untrusted)
    assert httpr.get(good.url_localhost + "/", ca_cert_file=tls_certs.ca_pem).content == b"ok"
    assert httpr.get(bad.url_localhost + "/", verify=False).content == b"ok"
    with pytest.raises(httpr.ConnectError):
        httpr.get(bad.url_localhost + "/", ca_cert_file=tls_certs.ca_pem)


# -- mutual TLS --------------------------------------------------------------------------------


@pytest.fixture
def mtls_server(tls_certs, make_tls_server):
    return make_tls_server(None, client_ca=tls_certs.ca_pem, require_client_cert=True)


def cn_of(conn) -> str | None:
    if conn.peer_cert is None:
        return None
    for rdn in conn.peer_cert["subject"]:
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def test_mtls_client_pem(tls_certs, mtls_server):
    with trusting(tls_certs, client_pem=tls_certs.client_pem) as c:
        assert c.get(mtls_server.url_localhost + "/").content == b"ok"
    assert cn_of(mtls_server.connections[0]) == CLIENT_CN


def test_mtls_client_pem_data(tls_certs, mtls_server):
    with trusting(tls_certs, client_pem_data=tls_certs.client_pem_data) as c:
        assert c.get(mtls_server.url_localhost + "/").content == b"ok"
    assert cn_of(mtls_server.connections[0]) == CLIENT_CN


def test_mtls_identity_used_with_verify_false(tls_certs, make_tls_server):
    server = make_tls_server(
        tls_certs.server_untrusted, client_ca=tls_certs.ca_pem, require_client_cert=True
    )
    with httpr.Client(verify=False, client_pem=tls_certs.client_pem, timeout=10) as c:
        assert c.get(server.url_localhost + "/").content == b"ok"
    assert cn_of(server.connections[0]) == CLIENT_CN


def test_mtls_missing_client_certificate(tls_certs, mtls_server):
    with trusting(tls_certs) as c:
        with pytest.raises(httpr.HTTPError) as ei:
            c.get(mtls_server.url_localhost + "/")
        # the server's alert is a TLS failure even when (TLS 1.3) it arrives after our side
        # of the handshake completed
        assert isinstance(ei.value, httpr.ConnectError), repr(ei.value)
        assert "alert" in str(ei.value), str(ei.value)
    assert mtls_server.wait_done(1)
    conn = mtls_server.connections[0]
    assert conn.handshake_error is not None
    assert conn.requests == []


def test_mtls_both_sources_is_value_error(tls_certs):
    with pytest.raises(ValueError) as ei:
        httpr.Client(client_pem=tls_certs.client_pem, client_pem_data=tls_certs.client_pem_data)
    assert str(ei.value) == "Only one of client_pem or client_pem_data may be set."


async def test_mtls_async(tls_certs, mtls_server):
    async with httpr.AsyncClient(
        ca_cert_file=tls_certs.ca_pem, client_pem=tls_certs.client_pem, timeout=10
    ) as c:
        r = await c.get(mtls_server.url_localhost + "/")
    assert r.content == b"ok"
    assert cn_of(mtls_server.connections[0]) == CLIENT_CN


# -- session resumption --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "maximum", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls12", "tls13"]
)
def test_session_resumed_by_the_same_client(tls_certs, make_tls_server, maximum):
    server = make_tls_server(None, maximum_version=maximum)
    close_after_first(server)
    with trusting(tls_certs) as c:
        assert c.get(server.url_localhost + "/1").content == b"first"
        assert c.get(server.url_localhost + "/2").content == b"ok"
    assert server.wait_done(2)
    assert [c.session_reused for c in server.connections] == [False, True]


def test_session_shared_by_clients_with_the_same_configuration(tls_certs, tls_server):
    with trusting(tls_certs) as a:
        assert a.get(tls_server.url_localhost + "/a").content == b"ok"
    with trusting(tls_certs) as b:
        assert b.get(tls_server.url_localhost + "/b").content == b"ok"
    assert tls_server.wait_done(2)
    assert [c.session_reused for c in tls_server.connections] == [False, True]


def test_session_not_resumed_by_a_verifying_client_after_verify_false(tls_certs, make_tls_server):
    """TL-18: a session made without verification must not skip verification later."""
    server = make_tls_server(tls_certs.server_untrusted)
    with httpr.Client(verify=False, timeout=10) as lax:
        assert lax.get(server.url_localhost + "/lax").content == b"ok"
    with trusting(tls_certs) as strict, pytest.raises(httpr.ConnectError, match=UNTRUSTED):
        strict.get(server.url_localhost + "/strict")
    assert server.wait_done(2)
    lax_conn, strict_conn = server.connections
    assert lax_conn.session_reused is False
    assert strict_conn.session_reused is not True
    assert strict_conn.requests == [] and strict_conn.received == b""


def test_session_not_resumed_across_ca_sets(tls_certs, make_tls_server):
    """TL-18: a client trusting another CA set does not inherit a session it could not verify."""
    server = make_tls_server(tls_certs.server_untrusted)
    with httpr.Client(ca_cert_file=tls_certs.other_ca_pem, timeout=10) as a:
        assert a.get(server.url_localhost + "/a").content == b"ok"
    with trusting(tls_certs) as b, pytest.raises(httpr.ConnectError, match=UNTRUSTED):
        b.get(server.url_localhost + "/b")
    assert server.wait_done(2)
    assert server.connections[1].requests == []


def test_session_not_resumed_across_client_identities(tls_certs, make_tls_server):
    """A resumed session carries the client certificate: a client without one must not get it."""
    server = make_tls_server(None, client_ca=tls_certs.ca_pem)  # asks, does not require
    with trusting(tls_certs, client_pem=tls_certs.client_pem) as a:
        assert a.get(server.url_localhost + "/a").content == b"ok"
    with trusting(tls_certs) as b:
        assert b.get(server.url_localhost + "/b").content == b"ok"
    assert server.wait_done(2)
    first, second = server.connections
    assert cn_of(first) == CLIENT_CN
    assert second.session_reused is False
    assert cn_of(second) is None


# -- connection pool isolation (TL-17) -------------------------------------------------------------


def test_verify_false_connection_not_reused_by_a_verifying_client(tls_certs, make_tls_server):
    server = make_tls_server(tls_certs.server_untrusted)
    url = server.url_localhost + "/"
    lax = httpr.Client(verify=False, timeout=10)
    try:
        assert lax.get(url).content == b"ok"  # its connection stays idle in a pool
        with httpr.Client(timeout=10) as strict, pytest.raises(httpr.ConnectError):
            strict.get(url)
        assert lax.get(url).content == b"ok"
    finally:
        lax.close()
    assert server.wait_done(2)
    assert len(server.connections) == 2
    assert [len(c.requests) for c in server.connections] == [2, 0]


def test_module_get_verify_false_then_verified(tls_certs, make_tls_server):
    server = make_tls_server(tls_certs.server_untrusted)
    url = server.url_localhost + "/"
    assert httpr.get(url, verify=False).content == b"ok"
    with pytest.raises(httpr.ConnectError, match=UNTRUSTED):
        httpr.get(url)
    with pytest.raises(httpr.ConnectError, match=UNTRUSTED):
        httpr.get(url, ca_cert_file=tls_certs.ca_pem)


async def test_async_verify_false_then_verified(tls_certs, make_tls_server):
    server = make_tls_server(tls_certs.server_untrusted)
    url = server.url_localhost + "/"
    async with httpr.AsyncClient(verify=False, timeout=10) as lax:
        assert (await lax.get(url)).content == b"ok"
        async with httpr.AsyncClient(timeout=10) as strict:
            with pytest.raises(httpr.ConnectError):
                await strict.get(url)


# -- https_only --------------------------------------------------------------------------------


def test_https_only_refuses_http_before_any_io(tls_certs, tls_server, scripted_server):
    with trusting(tls_certs, https_only=True) as c:
        with pytest.raises(httpr.RequestError):
            c.get(scripted_server.url + "/")
        assert c.get(tls_server.url_localhost + "/").content == b"ok"
    assert scripted_server.connection_count == 0


def test_https_only_refuses_redirect_to_http(tls_certs, tls_server, scripted_server):
    tls_server.set_script(
        [serve(lambda req: response(302, b"", [("Location", scripted_server.url + "/plain")]))]
    )
    with trusting(tls_certs, https_only=True) as c, pytest.raises(httpr.RequestError):
        c.get(tls_server.url_localhost + "/start")
    assert tls_server.connections[0].requests[0].target == "/start"
    assert scripted_server.connection_count == 0


def test_redirect_https_to_http_sends_no_referer(tls_certs, tls_server, scripted_server):
    tls_server.set_script(
        [serve(lambda req: response(302, b"", [("Location", scripted_server.url + "/plain")]))]
    )
    with trusting(tls_certs) as c:
        r = c.get(tls_server.url_localhost + "/secret?token=1")
    assert r.status_code == 200 and r.url == scripted_server.url + "/plain"
    (req,) = scripted_server.requests
    assert req.header("referer") is None


# -- keep-alive, concurrency and bodies over TLS ---------------------------------------------------


def test_keepalive_over_tls(tls_certs, https_server):
    with trusting(tls_certs) as c:
        ids = {c.get(https_server.url + "/echo").json()["conn_id"] for _ in range(20)}
        assert c.get(https_server.url + "/hello").content == HELLO
        assert c.get(https_server.url + "/chunked").content == b"".join(CHUNKED_PARTS)
        assert c.head(https_server.url + "/hello").content == b""
    assert len(ids) == 1
    assert https_server.connection_count == 1
    assert len(https_server.connections[0].received) > 20 * 30  # all went over that one


def test_close_delimited_body_with_close_notify(tls_certs, https_server):
    with trusting(tls_certs) as c:
        r = c.get(https_server.url + "/close-delimited")
        assert r.content == b"".join(CHUNKED_PARTS)
        assert c.get(https_server.url + "/hello").content == HELLO  # on a new connection
    assert https_server.connection_count == 2


def test_large_download_over_tls(tls_certs, https_server):
    n = 5 * MiB
    with trusting(tls_certs) as c:
        r = c.get(https_server.url + f"/bytes/{n}")
    assert len(r.content) == n
    assert r.content == pattern_bytes(n)


def test_large_upload_over_tls(tls_certs, tls_server):
    blob = os.urandom(5 * MiB)
    tls_server.set_script([serve(echo_body)])
    with trusting(tls_certs) as c:
        r = c.post(tls_server.url_localhost + "/up", content=blob)
    assert r.content == blob
    (req,) = tls_server.connections[0].requests
    assert req.header("content-length") == str(len(blob))
    assert req.body == blob


def test_streamed_file_upload_over_tls(tls_certs, tls_server, tmp_path):
    blob = os.urandom(3 * MiB)
    f = tmp_path / "big.bin"
    f.write_bytes(blob)
    tls_server.set_script([serve(echo_body)])
    with trusting(tls_certs) as c:
        r = c.post(tls_server.url_localhost + "/up", files={"big": str(f)})
    (req,) = tls_server.connections[0].requests
    assert req.header("transfer-encoding") == "chunked"
    assert blob in req.body
    assert r.content == req.body


def test_streaming_download_over_tls(tls_certs, https_server):
    with trusting(tls_certs) as c:
        with c.stream("GET", https_server.url + "/large-file") as r:
            assert r.status_code == 200
            chunks = list(r.iter_bytes())
        assert c.get(https_server.url + "/hello").content == HELLO  # connection reusable
    assert len(chunks) > 1
    assert b"".join(chunks) == pattern_bytes(2 * MiB)
    assert https_server.connection_count == 1


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_gzip_over_tls(tls_certs, https_server, chunked):
    url = https_server.url + "/encoded/gzip?kind=ok" + ("&chunked=1" if chunked else "")
    with trusting(tls_certs) as c:
        r = c.get(url)
    assert r.content == PAYLOAD
    assert "content-encoding" not in r.headers


def test_httpbin_over_tls(tls_certs, https_httpbin):
    with trusting(tls_certs) as c:
        r = c.get(https_httpbin.url + "/get", params={"a": "1"})
        assert r.json()["args"] == {"a": "1"}
        r = c.post(https_httpbin.url + "/post", json={"k": "v"})
        assert r.json()["json"] == {"k": "v"}
        assert c.get(https_httpbin.url + "/gzip").json()["gzipped"] is True


def test_threads_share_one_client_over_tls(tls_certs, https_server, run_in_threads):
    with trusting(tls_certs) as c:

        def one(i: int):
            return lambda: c.get(https_server.url + f"/id/{i}").content

        results = run_in_threads([one(i) for i in range(16)])
    assert results == [str(i).encode() for i in range(16)]


async def test_async_64_concurrent_requests_over_tls(tls_certs, https_server):
    async with httpr.AsyncClient(ca_cert_file=tls_certs.ca_pem, timeout=20) as c:
        rs = await asyncio.gather(*[c.get(https_server.url + f"/id/{i}") for i in range(64)])
    assert [r.content for r in rs] == [str(i).encode() for i in range(64)]
    assert all(r.http_version == "HTTP/1.1" for r in rs)
    assert 1 <= https_server.connection_count <= 64


async def test_async_streaming_and_upload_over_tls(tls_certs, https_server):
    blob = os.urandom(2 * MiB)
    async with httpr.AsyncClient(ca_cert_file=tls_certs.ca_pem, timeout=20) as c:
        async with c.stream("GET", https_server.url + "/large-file") as r:
            got = b"".join([ch async for ch in r.aiter_bytes()])
        assert got == pattern_bytes(2 * MiB)
        d = (await c.post(https_server.url + "/echo", content=blob)).json()
    assert base64.b64decode(d["body_b64"]) == blob


def test_async_client_in_loop_factory_threads(tls_certs, https_server, loop_factory):
    """AsyncClient over TLS on a loop made by the parametrized factory (asyncio / uvloop)."""

    async def main() -> list[bytes]:
        async with httpr.AsyncClient(ca_cert_file=tls_certs.ca_pem, timeout=20) as c:
            rs = await asyncio.gather(*[c.get(https_server.url + f"/id/{i}") for i in range(8)])
        return [r.content for r in rs]

    loop = loop_factory()
    try:
        assert loop.run_until_complete(main()) == [str(i).encode() for i in range(8)]
    finally:
        loop.close()


# -- file descriptors --------------------------------------------------------------------------


def test_close_releases_tls_connections(tls_certs, https_server, http_server):
    httpr.get(http_server.url + "/hello")  # the reactor exists before the baseline
    baseline = fd_count()
    c = trusting(tls_certs)
    for i in range(5):
        assert c.get(https_server.url + f"/id/{i}").content == str(i).encode()
    assert fd_count() > baseline  # an idle TLS connection is held
    c.close()
    assert wait_for_fds(baseline) <= baseline
    assert wait_until(lambda: all(conn.closed.is_set() for conn in https_server.connections))


def test_json_roundtrip_over_tls(tls_certs, https_server):
    with trusting(tls_certs) as c:
        d = c.post(https_server.url + "/echo", json={"a": [1, 2]}).json()
    assert json.loads(base64.b64decode(d["body_b64"])) == {"a": [1, 2]}
