"""Serve a class: N Streamlit replicas of the app behind HAProxy, with sticky sessions.

    diffviz-serve --port 8501 --replicas 2            # also: python -m diffviz.cli.serve ...

One Streamlit process runs one Python interpreter: its scripts take turns on one core. Several
replicas use every core. HAProxy (Debian's ``haproxy`` package) listens on ADDRESS:PORT and sends
each browser to one replica for the whole life of its session: the first response sets the
cookie ``diffviz_replica``; the page's websocket, its media files and its uploads carry that
cookie and reach the replica that holds the session. Every response names its replica in the
header ``X-Diffviz-Replica``. All replicas share one ``server.cookieSecret`` (made here, passed in
the environment, never on a command line), so a cookie signed by one is valid on every one.

Replicas listen on 127.0.0.1 only, on free ports. Each is its own process group; all of them and
the proxy end when this command ends (Ctrl-C, SIGTERM), and when it dies they get SIGTERM from
the kernel (PR_SET_PDEATHSIG). The sampling runs are deterministic, so replicas share nothing:
each computes what its students ask for (docs/deploy.md). This module never imports Streamlit.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COOKIE = "diffviz_replica"
HEADER = "X-Diffviz-Replica"


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def haproxy_config(address: str, port: int, replicas: list[tuple[str, int]]) -> str:
    """The proxy's configuration: one frontend, one backend of replicas, cookie stickiness."""
    # No health checks: a replica busy sampling for thirty students answers a check late, and marking
    # it down sends its students' requests to a replica that does not hold their sessions. A replica
    # that dies ends diffviz-serve (and with it the others), so there is never a dead one to avoid.
    servers = "\n".join(f"    server {name} 127.0.0.1:{p} cookie {name}" for name, p in replicas)
    return f"""global
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout http-request 30s

frontend class
    bind {address}:{port}
    default_backend replicas

backend replicas
    balance leastconn
    cookie {COOKIE} insert indirect nocache httponly
    http-response set-header {HEADER} %[srv_name]
{servers}
"""


def _die_with_parent() -> None:
    """In the child before exec: its own process group, and SIGTERM when this command dies."""
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)      # PR_SET_PDEATHSIG
    except OSError:
        pass


def _replica_env(secret: str, threads: int) -> dict:
    env = dict(os.environ)
    env.update(STREAMLIT_SERVER_COOKIE_SECRET=secret, DIFFVIZ_TORCH_THREADS=str(threads), MALLOC_ARENA_MAX="2",
               DIFFVIZ_PASS_WORKERS=os.environ.get("DIFFVIZ_PASS_WORKERS", "1"),   # its cores: its torch threads
               STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    return env


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


class Class:
    """The replicas and the proxy, started together and ended together."""

    def __init__(self, address: str, port: int, replicas: int, threads: int | None):
        self.address, self.port, self.threads = address, port, threads or max(1, (os.cpu_count() or 1) // replicas)
        self.replicas = [(f"r{k}", free_port()) for k in range(replicas)]
        self.procs: list[subprocess.Popen] = []
        self.cfg = None
        self.url = f"http://{address}:{port}"

    def start(self) -> None:
        """Start the replicas, wait until each answers its health check, then start the proxy."""
        haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
        if haproxy is None:
            raise SystemExit("diffviz-serve needs HAProxy: apt-get install -y haproxy")
        env = _replica_env(secrets.token_hex(32), self.threads)
        for _name, p in self.replicas:
            cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                   "--server.address", "127.0.0.1", "--server.port", str(p), "--server.fileWatcherType", "none"]
            self.procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, preexec_fn=_die_with_parent,  # noqa: PLW1509 (no threads here)
                                               stdout=subprocess.DEVNULL))
        deadline = time.time() + 120
        while not all(_healthy(p) for _, p in self.replicas):
            if time.time() > deadline or any(pr.poll() is not None for pr in self.procs):
                self.stop()
                raise SystemExit("a replica did not start (see its messages above)")
            time.sleep(0.3)
        self.cfg = tempfile.NamedTemporaryFile("w", suffix=".cfg", prefix="diffviz-haproxy-")  # noqa: SIM115
        self.cfg.write(haproxy_config(self.address, self.port, self.replicas))
        self.cfg.flush()
        self.procs.append(subprocess.Popen([haproxy, "-db", "-f", self.cfg.name], preexec_fn=_die_with_parent))  # noqa: PLW1509

    def describe(self) -> str:
        lines = [f"diffviz-serve: {self.url}  ({len(self.replicas)} replicas behind HAProxy, sticky cookie {COOKIE})"]
        lines += [f"  replica {name} pid {pr.pid} port {p}" for (name, p), pr in zip(self.replicas, self.procs)]
        lines.append(f"  haproxy pid {self.procs[-1].pid}")
        return "\n".join(lines)

    def wait(self) -> int:
        """Block until a process ends (then end the rest); the exit status of the one that ended."""
        while True:
            for pr in self.procs:
                if pr.poll() is not None:
                    return pr.returncode
            time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM to every process group, SIGKILL to any still there after 10 s."""
        for pr in self.procs:
            if pr.poll() is None:
                _signal_group(pr.pid, signal.SIGTERM)
        deadline = time.time() + 10
        for pr in self.procs:
            try:
                pr.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                _signal_group(pr.pid, signal.SIGKILL)
                pr.wait(5)
        if self.cfg is not None:
            self.cfg.close()
            self.cfg = None


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def main(argv=None) -> int:
    """diffviz-serve: N app replicas behind HAProxy with sticky sessions, on 127.0.0.1:PORT, until stopped."""
    p = argparse.ArgumentParser(prog="diffviz-serve", description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=8501, help="where the proxy listens (default 8501)")
    p.add_argument("--address", default="127.0.0.1", help="the proxy's address (default 127.0.0.1)")
    p.add_argument("--replicas", type=int, default=os.cpu_count() or 1, help="Streamlit processes (default: cores)")
    p.add_argument("--threads", type=int, help="torch threads per replica (default: cores / replicas)")
    a = p.parse_args(argv)
    if not 1 <= a.replicas <= 64:
        p.error("--replicas must be between 1 and 64")
    def on_signal(_signum, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    cls = Class(a.address, a.port, a.replicas, a.threads)
    try:
        cls.start()
        print(cls.describe(), flush=True)
        rc = cls.wait()
        print(f"diffviz-serve: a process ended (status {rc}); stopping the others", file=sys.stderr, flush=True)
        return rc or 1
    except KeyboardInterrupt:
        return 0
    finally:
        cls.stop()


if __name__ == "__main__":
    sys.exit(main())
