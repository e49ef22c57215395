"""Layer 6: lifecycle — close/reopen, garbage collection, fork, Ctrl-C, interpreter exit."""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import httpr
import pytest
from servers.helpers import fd_count, wait_for_fds, wait_until
from servers.httpserver import HELLO
from servers.scripted import READ, STALL, serve


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def run_python(code: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
    )


def wait_child(pid: int, timeout: float) -> int:
    """waitpid with a timeout; kills the child (this test's own) if it overruns."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return status
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"forked child {pid} did not finish within {timeout}s")


# -- close / reopen ---------------------------------------------------------------------------


def test_close_releases_idle_connections(scripted_server, http_server):
    httpr.get(http_server.url + "/hello")  # the reactor exists before the baseline
    baseline = fd_count()
    client = httpr.Client(timeout=5)
    assert client.get(scripted_server.url + "/").content == b"ok"
    conn = scripted_server.connections[0]
    assert not conn.closed.wait(0.3), "the connection was not kept alive"
    assert not client.is_closed
    client.close()
    assert client.is_closed
    assert conn.closed.wait(2), "close() left the idle connection open"
    assert wait_for_fds(baseline) <= baseline
    client.close()  # idempotent
    assert client.is_closed


def test_context_manager_closes(scripted_server):
    with httpr.Client(timeout=5) as client:
        assert client.get(scripted_server.url + "/").content == b"ok"
    assert client.is_closed
    assert scripted_server.connections[0].closed.wait(2)


def test_garbage_collected_client_releases_sockets(scripted_server):
    client = httpr.Client(timeout=5)
    assert client.get(scripted_server.url + "/").content == b"ok"
    del client
    gc.collect()
    assert scripted_server.connections[0].closed.wait(5), "a dropped client kept its socket"


def test_request_after_close_reopens_with_warning(scripted_server):
    client = httpr.Client(timeout=5)
    client.get(scripted_server.url + "/a")
    client.close()
    with pytest.warns(httpr.ClientReopenedWarning, match="closed httpr client"):
        r = client.get(scripted_server.url + "/b")
    assert r.content == b"ok"
    assert not client.is_closed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert client.get(scripted_server.url + "/c").content == b"ok"  # only the reopen warns
    client.close()
    assert issubclass(httpr.ClientReopenedWarning, ResourceWarning)


def test_reopen_refused_under_warnings_as_errors_sends_nothing(scripted_server):
    client = httpr.Client(timeout=5)
    client.get(scripted_server.url + "/a")
    client.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(httpr.ClientReopenedWarning):
            client.get(scripted_server.url + "/b")
    time.sleep(0.3)
    assert [r.target for r in scripted_server.requests] == ["/a"]


def test_close_does_not_abort_requests_in_flight(http_server, run_in_threads):
    client = httpr.Client(timeout=10)
    started = threading.Event()

    def slow():
        started.set()
        return client.get(http_server.url + "/slow-head?delay=0.5").content

    def closer():
        started.wait(5)
        time.sleep(0.15)
        client.close()

    body, _ = run_in_threads([slow, closer], timeout=20)
    assert body == HELLO


@pytest.mark.asyncio
async def test_async_aclose_and_reopen(scripted_server):
    client = httpr.AsyncClient(timeout=5)
    assert (await client.get(scripted_server.url + "/a")).content == b"ok"
    await client.aclose()
    assert client.is_closed
    assert await asyncio.to_thread(scripted_server.connections[0].closed.wait, 2)
    with pytest.warns(httpr.ClientReopenedWarning):
        assert (await client.get(scripted_server.url + "/b")).content == b"ok"
    await client.aclose()


def test_debug_stats_return_to_zero_after_close(http_server, scripted_server):
    native = importlib.import_module("httpr._httpr")
    stats = getattr(native, "_debug_stats", None)
    if stats is None:
        pytest.skip("httpr._httpr._debug_stats is not available")
    httpr.get(http_server.url + "/hello")
    gc.collect()
    before = stats()
    scripted_server.set_script([READ, STALL], [serve()])
    with httpr.Client(timeout=0.3) as client:
        for _ in range(5):
            client.get(http_server.url + "/hello")
        with pytest.raises(httpr.ReadTimeout):
            client.get(scripted_server.url + "/stall")
        client.get(scripted_server.url + "/ok")
    gc.collect()

    def settled():
        now = stats()
        return all(now.get(k, 0) <= v for k, v in before.items())

    assert wait_until(settled, 5), (before, stats())


# -- the reactor's polling --------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_reactor_sleeps_when_sequential_requests_stop(http_server):
    """A lone sync request makes the reactor poll for a moment instead of sleeping (the answer
    and the next request need no wake-up); it must go back to sleep: when the caller stops, and
    while an answer is slow in coming. The reactor lives in this process: its CPU time counts."""
    with httpr.Client(timeout=10) as client:
        for _ in range(300):
            assert client.get(http_server.url + "/hello").content == HELLO
        time.sleep(0.05)
        cpu = time.process_time()
        time.sleep(0.5)
        idle = time.process_time() - cpu
        assert idle < 0.1, f"{idle:.3f} s of CPU in 0.5 s without requests"
        cpu = time.process_time()
        r = client.get(http_server.url + "/slow-head?delay=0.5")
        slow = time.process_time() - cpu
        assert r.status_code == 200
        assert slow < 0.15, f"{slow:.3f} s of CPU while one answer took 0.5 s"


@pytest.mark.timeout(30)
async def test_reactor_sleeps_when_sequential_async_requests_stop(http_server):
    """The same for awaited requests one after another."""
    async with httpr.AsyncClient(timeout=10) as client:
        for _ in range(300):
            assert (await client.get(http_server.url + "/hello")).content == HELLO
        await asyncio.sleep(0.05)
        cpu = time.process_time()
        await asyncio.sleep(0.5)
        idle = time.process_time() - cpu
        assert idle < 0.1, f"{idle:.3f} s of CPU in 0.5 s without requests"
        cpu = time.process_time()
        r = await client.get(http_server.url + "/slow-head?delay=0.5")
        slow = time.process_time() - cpu
        assert r.status_code == 200
        assert slow < 0.15, f"{slow:.3f} s of CPU while one answer took 0.5 s"


@pytest.mark.timeout(30)
async def test_drain_stops_lingering_when_completions_stop(http_server):
    """A drain that delivered completions runs again on the loop's next iteration, so that what
    completes while the loop is busy needs no wake-up of the poster and the loop. It must stop
    at the first drain that finds nothing (or the loop never sleeps again), and a completion
    after that must still reach the loop (through the poster)."""
    url = http_server.url + "/hello"
    async with httpr.AsyncClient(timeout=10) as client:
        for _ in range(5):
            rs = await asyncio.gather(*(client.get(url) for _ in range(64)))
            assert [r.content for r in rs] == [HELLO] * 64
        await asyncio.sleep(0.05)
        cpu = time.process_time()
        await asyncio.sleep(0.5)
        idle = time.process_time() - cpu
        assert idle < 0.1, f"{idle:.3f} s of CPU in 0.5 s without requests"
        for _ in range(3):
            r = await asyncio.wait_for(client.get(url), 5)
            assert r.content == HELLO
            await asyncio.sleep(0.1)  # the linger ends before the next completion


# -- fork ------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_forked_child_can_make_requests(http_server):
    client = httpr.Client(timeout=10)
    try:
        parent_conn = client.get(http_server.url + "/echo").json()["conn_id"]
        pid = os.fork()
        if pid == 0:  # child: never return into pytest
            code = 1
            try:
                data = client.get(http_server.url + "/echo").json()
                if data["conn_id"] == parent_conn:
                    code = 2  # reused the parent's socket
                elif httpr.get(http_server.url + "/hello").content != HELLO:
                    code = 3
                else:
                    code = 0
            except BaseException:  # noqa: BLE001 - any failure is exit code 1
                code = 1
            finally:
                os._exit(code)
        status = wait_child(pid, 30)
        assert os.WIFEXITED(status), status
        assert os.WEXITSTATUS(status) == 0, {
            1: "request failed in the child",
            2: "the child reused the parent's pooled connection",
            3: "module-level get failed in the child",
        }.get(os.WEXITSTATUS(status))
        # the parent keeps working, on its own untouched connection
        assert client.get(http_server.url + "/echo").json()["conn_id"] == parent_conn
    finally:
        client.close()


@pytest.mark.timeout(60)
def test_forked_child_async_client(http_server):
    client = httpr.AsyncClient(timeout=10)
    try:
        assert asyncio.run(client.get(http_server.url + "/hello")).content == HELLO
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                r = asyncio.run(client.get(http_server.url + "/hello"))
                code = 0 if r.content == HELLO else 3
            except BaseException:  # noqa: BLE001 - any failure is exit code 1
                code = 1
            finally:
                os._exit(code)
        status = wait_child(pid, 30)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        assert asyncio.run(client.get(http_server.url + "/hello")).content == HELLO
    finally:
        client.close()


# -- signals and interpreter exit ------------------------------------------------------------


def test_ctrl_c_interrupts_blocking_request(scripted_server):
    scripted_server.set_script([READ, STALL], [serve()])
    code = """
        import os, signal, sys, threading, time
        import httpr
        url = sys.argv[1]
        client = httpr.Client(timeout=30)

        def interrupt():
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt, daemon=True).start()
        t0 = time.monotonic()
        try:
            client.get(url + "/stall")
            print("NO-INTERRUPT")
        except KeyboardInterrupt:
            print("INTERRUPTED %.3f" % (time.monotonic() - t0))
        r = client.get(url + "/after")
        print("AFTER", r.content.decode())
        client.close()
    """
    proc = run_python(code, scripted_server.url, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert "INTERRUPTED" in lines, proc.stdout + proc.stderr
    elapsed = float(lines[lines.index("INTERRUPTED") + 1])
    assert elapsed < 1.5, elapsed
    assert "AFTER" in lines and lines[lines.index("AFTER") + 1] == "ok"
    assert scripted_server.connections[0].closed.wait(5)


def test_interpreter_exit_with_live_clients(http_server, scripted_server):
    """Exit while a client is open and a request is stuck in a daemon thread: no crash, no hang."""
    scripted_server.set_script([READ, STALL])
    code = """
        import asyncio, sys, threading, time
        import httpr
        base, stall = sys.argv[1], sys.argv[2]
        c = httpr.Client(timeout=30)
        assert c.get(base + "/hello").status_code == 200
        a = httpr.AsyncClient(timeout=30)
        assert asyncio.run(a.get(base + "/hello")).status_code == 200
        threading.Thread(target=lambda: c.get(stall + "/stall"), daemon=True).start()
        time.sleep(0.3)
        print("EXITING")
    """
    t0 = time.monotonic()
    proc = run_python(code, http_server.url, scripted_server.url, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "EXITING" in proc.stdout
    assert time.monotonic() - t0 < 10
    assert "Fatal Python error" not in proc.stderr
    assert scripted_server.connections[0].closed.wait(5)
