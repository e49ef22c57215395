"""Every Python example of the seed documentation (``shared/seeds/*.md``) runs as a test.

The code blocks are extracted from the Markdown files at test time and run unchanged,
except that their URLs are pointed at local servers on 127.0.0.1:

* ``https://httpbin.org``                  -> the local httpbin (``httpbin`` fixture)
* ``https://jsonplaceholder.typicode.com`` -> ``http_server``'s /jsonplaceholder stand-in
* ``https://example.com``                  -> ``http_server`` (``/large-file``, ``/``)
* ``https://invalid.url.example``          -> a closed port on 127.0.0.1 (it must fail)

A block with a top-level ``await`` is a fragment: it runs as a coroutine whose globals
hold ``client`` (an ``httpr.AsyncClient``) and ``process`` (a byte counter). A block
that is only the documented signature of the section's member (``get(url: str,
**kwargs) -> Response`` under the heading ``get``) is checked against the real
signature instead (every documented parameter exists, in order). Only
examples that need a client certificate (``client_pem``) are skipped, with that reason.

Every example that does I/O runs a second time over TLS (``test_seed_example_over_tls``):
the seeds' ``https://`` URLs then go to TLS terminators (tests/servers/tls.py) in front of
the same local servers, ``/path/to/ca-bundle.pem`` is the test CA, and ``HTTPR_CA_BUNDLE``
points at the test CA so that the examples' default clients trust it.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import pathlib
import re

import httpr
import pytest
import pytest_httpbin.certs

SEEDS = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "seeds"

# A client certificate path has no local stand-in; a CA bundle path and a proxy URL run with
# local stand-ins (see _localize).
NEEDS_TLS_OR_PROXY = re.compile(r"\b(client_pem|client_pem_data)\s*=")


def _blocks() -> list:
    out = []
    if not SEEDS.is_dir():
        return [pytest.param(None, None, None, id="no-seeds", marks=pytest.mark.skip(
            reason=f"seed documentation not found at {SEEDS}"))]  # fmt: skip
    for md in sorted(SEEDS.glob("*.md")):
        heading = "top"
        in_block = False
        lines: list[str] = []
        index = 0
        for line in md.read_text(encoding="utf-8").splitlines():
            if not in_block:
                if line.startswith("#"):
                    heading = line.lstrip("#").strip()
                elif line.strip() in ("```python", "```py"):
                    in_block = True
                    lines = []
                continue
            if line.strip() == "```":
                in_block = False
                index += 1
                code = "\n".join(lines) + "\n"
                slug = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")
                ident = f"{md.stem}-{index:02d}-{slug}"
                marks = []
                if NEEDS_TLS_OR_PROXY.search(code):
                    marks.append(pytest.mark.skip(
                        reason="needs a client certificate (client_pem) with no local stand-in"
                    ))  # fmt: skip
                out.append(pytest.param(md.name, heading, code, id=ident, marks=marks))
                continue
            lines.append(line)
    return out


def _signature(heading: str, code: str) -> ast.FunctionDef | None:
    """The block as a ``def`` if it is just the signature of the member named by its heading."""
    line = code.strip()
    if "\n" in line or not line.startswith(heading + "("):
        return None
    try:
        tree = ast.parse(f"def {line}: pass")
    except SyntaxError:
        return None
    node = tree.body[0]
    return node if isinstance(node, ast.FunctionDef) else None


def _check_signature(source: str, heading: str, node: ast.FunctionDef) -> None:
    owner = httpr if source.startswith("module") else httpr.AsyncClient
    target = owner if heading == owner.__name__ else getattr(owner, heading)
    if inspect.isclass(target):
        actual = inspect.signature(target.__init__)
    else:
        actual = inspect.signature(target)
    names = [p.name for p in actual.parameters.values() if p.name != "self"]
    documented = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
    assert [n for n in names if n in documented] == documented, (documented, names)
    if node.args.kwarg is not None:
        kinds = {p.kind for p in actual.parameters.values()}
        assert inspect.Parameter.VAR_KEYWORD in kinds or heading == owner.__name__
    if heading in ("aclose",) or heading in ("request", "get", "head", "options", "delete",
                                              "post", "put", "patch"):  # fmt: skip
        assert inspect.iscoroutinefunction(target), f"{heading} must be a coroutine function"


def _localize(
    code: str, httpbin, http_server, closed_port: int, ca_bundle: str | None = None
) -> str:
    """Point the example at local servers (``httpbin``/``http_server`` may be TLS fronts)."""
    scheme = "https" if httpbin.url.startswith("https:") else "http"
    mapping = {
        "https://jsonplaceholder.typicode.com": http_server.url + "/jsonplaceholder",
        "https://invalid.url.example": f"{scheme}://127.0.0.1:{closed_port}",
        "https://httpbin.org": httpbin.url,
        "https://example.com": http_server.url,
        # a real CA bundle (the test CA over TLS), and a proxy that is never dialled
        "/path/to/ca-bundle.pem": ca_bundle or pytest_httpbin.certs.where(),
        "http://proxy:8080": f"http://127.0.0.1:{closed_port}",
    }
    for remote, local in mapping.items():
        code = code.replace(remote, local)
    leftover = re.findall(r"\b(?:https?|wss?)://(?!127\.0\.0\.1[:/])[^\s\"')]+", code)
    assert not leftover, f"seed example uses a URL with no local stand-in: {leftover}"
    return code


def _is_fragment(code: str) -> bool:
    try:
        compile(code, "<seed>", "exec")
    except SyntaxError:
        compile(code, "<seed>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        return True
    return False


# Output checks, keyed by a piece of the example's code: (code marker, expected output).
EXPECTED_OUTPUT = [
    ('print(f"Successful: {len(successful)}/{len(urls)}")', "Successful: 1/3"),
    ('print(f"Fetched {len(results)} URLs")', "Fetched 20 URLs"),
    ("print(f\"{user['name']}: {len(posts)} posts\")", "User 3: 3 posts"),
    ("print(f\"Completed: {result['url']}\")", "/delay/1"),
    ('print(f"Sync: {time.time() - start:.2f}s")', "Async: "),
    ("print(response.status_code)", "200"),
    ("print(response.json())", "'url': "),
]


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("source", "heading", "code"), _blocks())
def test_seed_example(source, heading, code, httpbin, http_server, closed_port):
    sig = _signature(heading, code)
    if sig is not None:
        _check_signature(source, heading, sig)
        return
    _run_example(source, _localize(code, httpbin, http_server, closed_port))


def _io_blocks() -> list:
    """The blocks that do I/O (not the signature-only ones)."""
    out = []
    for p in _blocks():
        _source, heading, code = p.values
        if code is None or _signature(heading, code) is None:
            out.append(p)
    return out


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("source", "heading", "code"), _io_blocks())
def test_seed_example_over_tls(
    source, heading, code, https_httpbin, https_server, closed_port, tls_certs, monkeypatch
):
    monkeypatch.setenv("HTTPR_CA_BUNDLE", tls_certs.ca_pem)  # the examples' default clients
    code = _localize(code, https_httpbin, https_server, closed_port, tls_certs.ca_pem)
    _run_example(source, code)
    fronts = [f for f in (https_httpbin, https_server) if f.url in code]
    if fronts:  # the requests really went over TLS, through verified handshakes
        conns = [c for f in fronts for c in f.connections]
        assert conns, "no TLS connection reached the local servers"
        assert all(c.handshake_error is None for c in conns if c.handshake_done.is_set())
        assert any(c.requests or c.received for c in conns)


def _run_example(source: str, code: str) -> None:
    out = io.StringIO()
    received: list[int] = []
    if _is_fragment(code):
        compiled = compile(code, f"<{source}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)

        async def run_fragment() -> None:
            client = httpr.AsyncClient()
            ns = {
                "__name__": "__seed__",
                "httpr": httpr,
                "asyncio": asyncio,
                "client": client,
                "process": lambda chunk: received.append(len(chunk)),
            }
            try:
                result = eval(compiled, ns)  # the seed's own code
                if asyncio.iscoroutine(result):
                    await result
            finally:
                await client.aclose()

        with contextlib.redirect_stdout(out):
            asyncio.run(run_fragment())
    else:
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"<{source}>", "exec"), {"__name__": "__seed__"})  # noqa: S102
    printed = out.getvalue()
    for marker, expected in EXPECTED_OUTPUT:
        if marker in code:
            assert expected in printed, f"expected {expected!r} in the output:\n{printed}"
    if "process(chunk)" in code:
        assert sum(received) == 2 << 20  # http_server's /large-file, every byte processed
