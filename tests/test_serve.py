"""diffviz-serve: replicas behind HAProxy, one session on one replica for its whole life, a clean end."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from diffviz.cli.serve import COOKIE, HEADER, free_port, haproxy_config

ROOT = Path(__file__).resolve().parents[1]


def _haproxy_or_skip():
    if not (Path("/usr/sbin/haproxy").exists() or any(
            Path(d, "haproxy").exists() for d in os.environ.get("PATH", "").split(":"))):
        if os.environ.get("CI"):
            pytest.fail("haproxy is required in CI (apt-get install -y haproxy)")
        pytest.skip("haproxy is not installed")


def test_config_is_sticky_by_cookie_and_never_marks_a_busy_replica_down():
    cfg = haproxy_config("127.0.0.1", 9000, [("r0", 9001), ("r1", 9002)])
    assert "bind 127.0.0.1:9000" in cfg
    assert f"cookie {COOKIE} insert" in cfg
    assert "server r0 127.0.0.1:9001 cookie r0\n" in cfg and "server r1 127.0.0.1:9002 cookie r1\n" in cfg
    assert " check" not in cfg and f"set-header {HEADER}" in cfg


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
def test_serve_routes_a_session_to_one_replica_and_ends_cleanly():
    _haproxy_or_skip()
    import websockets
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "diffviz.cli.serve", "--port", str(port), "--replicas", "2"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        head = [proc.stdout.readline() for _ in range(4)]             # url, two replicas, haproxy
        pids = [int(x) for x in re.findall(r"pid (\d+)", "".join(head))]
        assert len(pids) == 3, head
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2).close()
                break
            except OSError:
                assert time.time() < deadline, "the proxy never answered"
                time.sleep(0.2)

        jar = CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        seen = [browser.open(url + path, timeout=10).headers[HEADER] for path in ("/", "/_stcore/health",
                                                                                 "/_stcore/host-config", "/")]
        sticky = {c.name: c.value for c in jar}
        assert sticky.get(COOKIE) in ("r0", "r1"), sticky
        assert seen == [sticky[COOKIE]] * 4                            # every request of the session: one replica
        other = "r1" if sticky[COOKIE] == "r0" else "r0"
        fresh = urllib.request.build_opener().open(urllib.request.Request(
            url + "/", headers={"Cookie": f"{COOKIE}={other}"}), timeout=10)
        assert fresh.headers[HEADER] == other                          # the cookie alone picks the replica

        async def websocket_replica():
            async with websockets.connect(url.replace("http", "ws") + "/_stcore/stream", subprotocols=["streamlit"],
                                          additional_headers={"Cookie": f"{COOKIE}={sticky[COOKIE]}"}) as ws:
                return ws.response.headers.get(HEADER)
        assert asyncio.run(websocket_replica()) == sticky[COOKIE]      # the session's websocket too
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
    assert rc == 0
    deadline = time.time() + 10
    while any(_alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)


def test_one_server_runs_a_batchs_passes_on_every_core_and_a_replica_on_its_own(monkeypatch):
    """`streamlit run` alone: one pass worker per core (at most 4); a diffviz-serve replica: one, unless
    DIFFVIZ_PASS_WORKERS says otherwise (its cores are its torch threads)."""
    from diffviz.app import runs
    from diffviz.cli import serve
    monkeypatch.delenv("DIFFVIZ_PASS_WORKERS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert runs.pass_workers() == 2
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert runs.pass_workers() == 4
    assert serve._replica_env("s", 1)["DIFFVIZ_PASS_WORKERS"] == "1"
    monkeypatch.setenv("DIFFVIZ_PASS_WORKERS", "3")
    assert runs.pass_workers() == 3 and serve._replica_env("s", 1)["DIFFVIZ_PASS_WORKERS"] == "3"
