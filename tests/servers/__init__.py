"""Local test servers for the httpr suite.

Everything here listens on 127.0.0.1 only, on an ephemeral port, and runs in
background threads of the test process.

* :mod:`servers.scripted` — a raw-socket server driven by a per-connection
  script (send bytes, sleep, read a request, close, reset, stall, ...). Used for
  fault injection and for proving what the client sent and whether a
  connection was reused.
* :mod:`servers.httpserver` — a real keep-alive HTTP/1.1 server (asyncio, its
  own loop in a thread) with the general endpoints (``/hello``, ``/echo`` ...),
  able to hold thousands of simultaneous connections, plus the endpoints of the
  API tests (redirects, Set-Cookie, compressed bodies, split text, a firehose
  that reports how far the sender got).
* :mod:`servers.httpbin_app` — the httpbin application (from pytest-httpbin's
  dependencies) served by waitress: keep-alive, threaded.
* :mod:`servers.tls` — TLS (issue 4): the test certificates (trustme + cryptography),
  the scripted server over TLS recording SNI/ALPN/session reuse per connection, a TLS
  terminator in front of the other servers, and ``openssl s_server`` / pyOpenSSL servers
  for what the stdlib ``ssl`` server cannot do.
* :mod:`servers.payloads` — compressed bodies (gzip, deflate, br, zstd, chains,
  corrupt, truncated, bombs) for ``/encoded/...``.
"""
