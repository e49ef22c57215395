"""Issue 4: TLS faults (reliability §2.3, TL-01..TL-21) and the fault/framing cases over TLS.

Every verification failure is a ``ConnectError`` naming the reason, and the server must
receive **zero** application bytes. Truncation without close_notify (TL-12) is an error
whenever the body is not complete by its own framing. The plain-HTTP fault and framing
cases of servers/cases.py run again over TLS (CLOSE there is a TCP FIN without
close_notify; a valid close-delimited body is ended with a close_notify).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import ssl
import threading
import time

import httpr
import pytest
from servers.cases import FAULTS, FRAMINGS
from servers.helpers import fd_count, wait_for_fds, wait_until
from servers.scripted import CLOSE, READ, RST, STALL, response, send, send_slowly, serve
from servers.tls import CLOSE_NOTIFY, AlpnForcingServer, OpenSSLServer, plaintext

pytestmark = pytest.mark.timeout(30)

UNTRUSTED = "unable to get local issuer certificate"


def trusting(certs, **kw) -> httpr.Client:
    kw.setdefault("timeout", 10)
    return httpr.Client(ca_cert_file=certs.ca_pem, **kw)


def exc_types(names):
    if isinstance(names, str):
        names = (names,)
    return tuple(getattr(httpr, n) for n in names)


def assert_no_app_bytes(server) -> None:
    assert server.wait_done(1)
    conn = server.connections[0]
    assert conn.handshake_error is not None, "the server completed a handshake"
    assert conn.received == b"" and conn.requests == []


# -- certificate verification (TL-01..09) ------------------------------------------------------

VERIFY_CASES = [
    # (id, certificate, URL host, regex the message must match)
    (
        "hostname-mismatch",
        "server_other_name",
        "localhost",
        r"certificate verify failed: hostname mismatch",
    ),
    (
        "ip-mismatch",
        "server_dns_only",
        "127.0.0.1",
        r"certificate verify failed: IP address mismatch",
    ),
    ("untrusted-ca", "server_untrusted", "localhost", UNTRUSTED),
    ("missing-intermediate", "server_leaf_only", "localhost", UNTRUSTED),
    ("expired", "server_expired", "localhost", r"certificate has expired"),
    ("not-yet-valid", "server_not_yet_valid", "localhost", r"certificate is not yet valid"),
    ("self-signed", "server_self_signed", "localhost", r"self[- ]signed certificate"),
    ("ip-only-as-dns-san", "server_ip_as_dns", "127.0.0.1", r"IP address mismatch"),  # TL-06
    ("cn-without-san", "server_cn_only", "localhost", r"hostname mismatch"),  # TL-05
    ("nul-in-san", "server_nul_san", "localhost", r"hostname mismatch"),  # TL-08
]


@pytest.mark.parametrize(
    "maximum", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls12", "tls13"]
)
@pytest.mark.parametrize(
    ("cert", "host", "pattern"), [c[1:] for c in VERIFY_CASES], ids=[c[0] for c in VERIFY_CASES]
)
def test_verification_failure(tls_certs, make_tls_server, cert, host, pattern, maximum):
    server = make_tls_server(getattr(tls_certs, cert), maximum_version=maximum)
    with trusting(tls_certs) as c:
        t0 = time.monotonic()
        with pytest.raises(httpr.ConnectError) as ei:
            c.get(server.url_for("/secret", host), headers={"X-Secret": "s3cret"})
        assert time.monotonic() - t0 < 5
    assert re.search(pattern, str(ei.value)), str(ei.value)
    assert_no_app_bytes(server)


async def test_verification_failure_async(tls_certs, make_tls_server):
    server = make_tls_server(tls_certs.server_other_name)
    async with httpr.AsyncClient(ca_cert_file=tls_certs.ca_pem, timeout=10) as c:
        with pytest.raises(httpr.ConnectError, match="hostname mismatch"):
            await c.post(server.url_localhost + "/", content=b"secret body")
    assert_no_app_bytes(server)


def test_verification_failure_then_client_still_usable(tls_certs, make_tls_server):
    bad = make_tls_server(tls_certs.server_expired)
    good = make_tls_server()
    with trusting(tls_certs) as c:
        with pytest.raises(httpr.ConnectError, match="certificate has expired"):
            c.get(bad.url_localhost + "/")
        assert c.get(good.url_localhost + "/").content == b"ok"
        with pytest.raises(httpr.ConnectError, match="certificate has expired"):
            c.get(bad.url_localhost + "/")  # a failure is not cached as a success either
    assert bad.wait_done(2) and len(bad.connections) == 2


def test_oversized_certificate_is_a_clean_error(tls_certs, make_tls_server):
    """TL-21: a certificate message over OpenSSL's max_cert_list (100 KiB)."""
    server = make_tls_server(tls_certs.server_huge)
    with trusting(tls_certs) as c:
        t0 = time.monotonic()
        with pytest.raises(httpr.ConnectError):
            c.get(server.url_localhost + "/")
        assert time.monotonic() - t0 < 5
    assert_no_app_bytes(server)


# -- protocol versions and ALPN (TL-10, TL-20) --------------------------------------------------


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1], ids=["tls10", "tls11"]
)
def test_old_protocol_version_refused(tls_certs, make_tls_server, version):
    server = make_tls_server(
        None, minimum_version=version, maximum_version=version, ciphers="DEFAULT:@SECLEVEL=0"
    )
    with trusting(tls_certs) as c, pytest.raises(httpr.ConnectError) as ei:
        c.get(server.url_localhost + "/")
    assert re.search("protocol", str(ei.value), re.IGNORECASE), str(ei.value)
    assert_no_app_bytes(server)


def test_server_selecting_unoffered_h2(tls_certs):
    """TL-20: the server answers ALPN "h2" though we offered only "http/1.1"."""
    with AlpnForcingServer(tls_certs.server) as server, trusting(tls_certs) as c:
        with pytest.raises(httpr.ConnectError):
            c.get(server.url + "/")
        assert wait_until(lambda: len(server.received) >= 1)
    assert server.offered == [[b"http/1.1"]]  # exactly one protocol offered
    assert server.received == [b""]  # no HTTP/1 bytes went to an h2 server


# -- mutual TLS (TL-16) -------------------------------------------------------------------------


def test_untrusted_client_certificate_refused(tls_certs, make_tls_server):
    server = make_tls_server(None, client_ca=tls_certs.ca_pem, require_client_cert=True)
    with (
        trusting(tls_certs, client_pem=tls_certs.untrusted_client_pem) as c,
        pytest.raises((httpr.ConnectError, httpr.ReadError)),
    ):
        c.get(server.url_localhost + "/")
    assert server.wait_done(1)
    assert server.connections[0].handshake_error is not None
    assert server.connections[0].requests == []


def test_invalid_client_identity_pem(tls_certs):
    cert_only = open(tls_certs.ca_pem, "rb").read()  # noqa: SIM115 - tiny file
    with pytest.raises(httpr.RequestError):
        httpr.Client(client_pem_data=cert_only)


# -- truncation (TL-12) -------------------------------------------------------------------------

HEAD_CL = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
HEAD_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    "wire",
    [HEAD_CL + b"0123456789", HEAD_CLOSE + b"partial body", HEAD_CHUNKED + b"5\r\nhel"],
    ids=["content-length", "close-delimited", "chunked"],
)
def test_truncation_without_close_notify_is_read_error(tls_certs, tls_server, wire):
    tls_server.set_script([READ, send(wire), CLOSE], [serve()])
    with trusting(tls_certs) as c:
        t0 = time.monotonic()
        with pytest.raises(httpr.ReadError) as ei:
            c.get(tls_server.url_localhost + "/truncated")
        assert time.monotonic() - t0 < 5
        assert c.get(tls_server.url_localhost + "/after").content == b"ok"  # still usable
    assert str(ei.value), "the error says nothing"


def test_truncated_close_delimited_stream_raises(tls_certs, tls_server):
    tls_server.set_script([READ, send(HEAD_CLOSE + b"partial"), CLOSE])
    with trusting(tls_certs) as c, c.stream("GET", tls_server.url_localhost + "/") as r:
        assert r.status_code == 200
        with pytest.raises(httpr.ReadError):
            b"".join(r.iter_bytes())


async def test_truncated_close_delimited_async_raises(tls_certs, tls_server):
    tls_server.set_script([READ, send(HEAD_CLOSE + b"partial"), CLOSE])
    async with httpr.AsyncClient(ca_cert_file=tls_certs.ca_pem, timeout=10) as c:
        with pytest.raises(httpr.ReadError):
            await c.get(tls_server.url_localhost + "/")


def test_close_delimited_with_close_notify_is_complete(tls_certs, tls_server):
    tls_server.set_script([READ, send(HEAD_CLOSE + b"the whole body"), CLOSE_NOTIFY], [serve()])
    with trusting(tls_certs) as c:
        r = c.get(tls_server.url_localhost + "/")
        assert (r.status_code, r.content) == (200, b"the whole body")
        assert c.get(tls_server.url_localhost + "/next").content == b"ok"
    assert len(tls_server.connections) == 2


@pytest.mark.parametrize(
    "wire",
    [
        HEAD_CL[: -len(b"1000\r\n\r\n")] + b"4\r\n\r\nbody",
        HEAD_CHUNKED + b"4\r\nbody\r\n0\r\n\r\n",
    ],
    ids=["content-length", "chunked"],
)
def test_complete_body_then_fin_without_close_notify_is_fine(tls_certs, tls_server, wire):
    tls_server.set_script([READ, send(wire), CLOSE], [serve()])
    with trusting(tls_certs) as c:
        r = c.get(tls_server.url_localhost + "/")
        assert r.content == b"body"
        assert c.get(tls_server.url_localhost + "/after").content == b"ok"


# -- other stream faults (TL-11) ----------------------------------------------------------------


def test_plaintext_injected_after_handshake(tls_certs, tls_server):
    tls_server.set_script(
        [READ, plaintext(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), STALL], [serve()]
    )
    with trusting(tls_certs, timeout=5) as c:
        t0 = time.monotonic()
        with pytest.raises(httpr.HTTPError) as ei:
            c.get(tls_server.url_localhost + "/")
        assert time.monotonic() - t0 < 3, "noticed only by the timeout"
        assert not isinstance(ei.value, httpr.TimeoutException)
        # garbage in the record layer breaks the read; it is not a handshake failure
        assert isinstance(ei.value, httpr.ReadError), repr(ei.value)
        assert "wrong version number" in str(ei.value), str(ei.value)
        assert c.get(tls_server.url_localhost + "/after").content == b"ok"


def test_reset_mid_body_over_tls(tls_certs, tls_server):
    tls_server.set_script([READ, send(HEAD_CL + b"0123"), RST], [serve()])
    with trusting(tls_certs) as c:
        with pytest.raises(httpr.ReadError):
            c.get(tls_server.url_localhost + "/")
        assert c.get(tls_server.url_localhost + "/after").content == b"ok"


def test_tls_records_one_byte_each(tls_certs, tls_server):
    wire = response(200, b"x" * 200, [("X-A", "b" * 100)])
    tls_server.set_script([READ, send_slowly(wire, 0.0005), CLOSE_NOTIFY])
    with trusting(tls_certs) as c:
        r = c.get(tls_server.url_localhost + "/")
    assert r.content == b"x" * 200 and r.headers["x-a"] == "b" * 100


# -- timeouts and cancellation (TL-15, CX-03) ---------------------------------------------------


@pytest.mark.timeout(20)
def test_handshake_never_answered_is_connect_timeout(tls_certs, make_tls_server):
    silent = make_tls_server(None, handshake=False)
    good = make_tls_server()
    with trusting(tls_certs, timeout=0.5) as c:
        t0 = time.monotonic()
        with pytest.raises(httpr.ConnectTimeout):
            c.get(silent.url_localhost + "/")
        assert time.monotonic() - t0 < 2
        assert c.get(good.url_localhost + "/").content == b"ok"
    conn = silent.connections[0]
    assert conn.raw_bytes_seen > 0  # a ClientHello was sent, and never answered
    assert conn.closed.wait(5), "the client kept the stalled socket open"


@pytest.mark.timeout(20)
async def test_handshake_never_answered_async(tls_certs, make_tls_server):
    silent = make_tls_server(None, handshake=False)
    good = make_tls_server()
    async with httpr.AsyncClient(ca_cert_file=tls_certs.ca_pem, timeout=0.5) as c:
        with pytest.raises(httpr.ConnectTimeout):
            await c.get(silent.url_localhost + "/")
        assert (await c.get(good.url_localhost + "/")).content == b"ok"


@pytest.mark.timeout(20)
async def test_cancel_during_handshake_closes_the_socket(tls_certs, make_tls_server):
    silent = make_tls_server(None, handshake=False)
    good = make_tls_server()
    async with httpr.AsyncClient(ca_cert_file=tls_certs.ca_pem, timeout=10) as c:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(c.get(silent.url_localhost + "/"), 0.3)
        assert wait_until(lambda: silent.connections and silent.connections[0].closed.is_set())
        assert (await c.get(good.url_localhost + "/")).content == b"ok"


@pytest.mark.timeout(20)
def test_server_silent_after_handshake_is_read_timeout(tls_certs, tls_server):
    tls_server.set_script([READ, STALL])
    with trusting(tls_certs, timeout=0.5) as c:
        t0 = time.monotonic()
        with pytest.raises(httpr.ReadTimeout):
            c.get(tls_server.url_localhost + "/")
        assert time.monotonic() - t0 < 2
    assert tls_server.connections[0].handshake_error is None
    assert tls_server.connections[0].requests[0].target == "/"


# -- the plain-HTTP fault and framing cases, over TLS --------------------------------------------


@pytest.mark.parametrize("case", FAULTS, ids=[c.id for c in FAULTS])
def test_fault_over_tls(tls_certs, tls_server, case):
    tls_server.set_script(case.steps, [serve()])
    with trusting(tls_certs, timeout=3) as c:
        t0 = time.monotonic()
        with pytest.raises(exc_types(case.exc)) as info:
            c.get(tls_server.url_localhost + "/fault")
        assert time.monotonic() - t0 < 2.5, "the fault was noticed only by the timeout"
        if case.match:
            assert info.match(case.match)
        assert c.get(tls_server.url_localhost + "/after").content == b"ok"
    assert [r.target for r in tls_server.connections[0].requests] == ["/fault"]


def _over_tls(steps: tuple) -> tuple:
    # a valid read-until-close body ends with a close_notify over TLS
    return tuple(CLOSE_NOTIFY if s == CLOSE else s for s in steps)


@pytest.mark.parametrize("case", FRAMINGS, ids=[c.id for c in FRAMINGS])
def test_framing_over_tls(tls_certs, tls_server, case):
    out = send_slowly(case.wire, 0.001) if case.slow else send(case.wire)
    steps = (READ, out, CLOSE_NOTIFY) if case.close_after else (READ, out, serve())
    tls_server.set_script(_over_tls(steps), [serve()])
    with trusting(tls_certs, timeout=3) as c:
        r = c.request(case.method, tls_server.url_localhost + "/first")
        assert r.status_code == case.status
        assert r.content == case.body
        assert r.http_version == case.version
        assert c.get(tls_server.url_localhost + "/second").content == b"ok"
    targets = [[req.target for req in conn.requests] for conn in tls_server.connections]
    if case.reusable:
        assert targets == [["/first", "/second"]], "connection should have been reused"
    else:
        assert targets == [["/first"], ["/second"]], "connection with unsure framing was reused"


# -- file descriptors ---------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_failed_verifications_do_not_leak_fds(tls_certs, make_tls_server, http_server):
    server = make_tls_server(tls_certs.server_untrusted)
    with trusting(tls_certs) as c:
        c.get(http_server.url + "/hello")
        with pytest.raises(httpr.ConnectError):
            c.get(server.url_localhost + "/")
        baseline = fd_count()
        for _ in range(200):
            with pytest.raises(httpr.ConnectError, match=UNTRUSTED):
                c.get(server.url_localhost + "/")
        assert wait_for_fds(baseline) <= baseline
    assert len(server.connections) == 201
    assert all(conn.requests == [] for conn in server.connections)


@pytest.mark.timeout(60)
def test_fds_back_to_baseline_after_tls_faults(tls_certs, tls_server, http_server):
    def script(conn):
        steps = [
            (READ, send(HEAD_CL + b"x"), CLOSE),
            (READ, plaintext(b"garbage"), STALL),
            (READ, send(HEAD_CLOSE + b"x"), CLOSE),
            (READ, send(HEAD_CL + b"x"), RST),
        ]
        conn.run_steps(steps[conn.id % len(steps)])

    tls_server.set_script(script)
    httpr.get(http_server.url + "/hello")
    baseline = fd_count()
    c = trusting(tls_certs, timeout=3)
    for _ in range(20):
        with pytest.raises(httpr.HTTPError):
            c.get(tls_server.url_localhost + "/")
    c.close()
    assert wait_for_fds(baseline) <= baseline


# -- KeyUpdate and renegotiation from the server (TL-13, TL-14), with openssl s_server ----------

needs_openssl_cli = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="needs the openssl CLI (tests/setup.sh)"
)


def _run_in_thread(fn):
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, box


@needs_openssl_cli
@pytest.mark.timeout(30)
def test_tls13_key_update_from_the_server(tls_certs):
    """TL-14: KeyUpdate(update_requested) mid-connection is handled; the connection goes on."""
    with OpenSSLServer(tls_certs.server, "-tls1_3") as server, trusting(tls_certs, timeout=5) as c:
        t, box = _run_in_thread(
            lambda: (c.get(server.url + "/one").content, c.get(server.url + "/two").content)
        )
        assert server.wait_output(b"GET /one HTTP/1.1\r\n")
        assert server.wait_output(b"\r\n\r\n")
        server.command(b"K")
        assert server.wait_output(b"SSL_do_handshake -> 1")
        server.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none")
        # the second request, on the same connection, decrypts with the client's new keys
        assert server.wait_output(b"GET /two HTTP/1.1\r\n"), bytes(server.output[-200:])
        server.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo")
        t.join(10)
    assert not t.is_alive()
    assert "error" not in box, repr(box.get("error"))
    assert box["result"] == (b"one", b"two")


@needs_openssl_cli
@pytest.mark.timeout(30)
def test_tls12_renegotiation_from_the_server_never_hangs(tls_certs):
    """TL-13: a server-initiated renegotiation is refused or completed, never a stuck pump."""
    with OpenSSLServer(tls_certs.server, "-tls1_2") as server, trusting(tls_certs, timeout=3) as c:
        t, box = _run_in_thread(lambda: c.get(server.url + "/one"))
        assert server.wait_output(b"GET /one HTTP/1.1\r\n")
        assert server.wait_output(b"\r\n\r\n")
        t0 = time.monotonic()
        server.command(b"r")
        assert server.wait_output(b"SSL_do_handshake -> ")
        server.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none")
        t.join(10)
        elapsed = time.monotonic() - t0
    assert not t.is_alive()
    if "error" in box:
        err = box["error"]
        assert isinstance(err, httpr.HTTPError), repr(err)
        assert not isinstance(err, httpr.TimeoutException), f"stuck until the timeout: {err!r}"
    else:
        assert box["result"].content == b"one"
    assert elapsed < 2.5
