"""A class on one server: N students at once, each speaking Streamlit's own websocket protocol.

    python benchmarks/classroom.py --quick                          # every load, small and short
    python benchmarks/classroom.py same distinct scrub cold         # the issue's loads at full size
    python benchmarks/classroom.py memory --rounds 16               # Inside page, 25 × 16 = 400 runs
    python benchmarks/classroom.py same --url http://127.0.0.1:8501 # an already running server (or proxy)
    python benchmarks/classroom.py profile --page denoise            # where one rerun's time goes

A student is a websocket to ``/_stcore/stream`` (subprotocol ``streamlit``), as the browser opens it:
it sends a ``rerun_script`` BackMsg naming the page and the link's query string, and the page is
finished when the ``script_finished`` ForwardMsg arrives (a run ended early for a rerun does not
count). Moving a slider is another ``rerun_script`` carrying the slider's widget state and, when
the slider sits in an ``st.fragment``, its fragment id: exactly what the browser sends.

Loads (each reports p50/p95/max seconds to a finished page, exceptions, unfinished pages, the
server's memory (RSS of all its processes, from /proc) and the CPU seconds it used (``server_cpu_s``:
less changed by other jobs on the machine than the times) in every round, and the sampling runs it
started, stopped (nobody waited any more), resumed and finished):
    same      N students open the same denoising link at the same moment, for --rounds rounds
    distinct  N students, N different seeds per round (never seen before: each one is sampled)
    scrub     N students each move the step slider every 2 s for --seconds (on --page, denoise)
    cold      N students arrive at a fresh server that has loaded nothing (the model is loaded once)
    memory    N students × --rounds rounds of distinct seeds on the Inside page
    bad       distinct seeds while one client floods reruns, one disconnects mid-run, one never reads

Loopback only; bounded: at most 64 clients, 40 rounds, 300 s of scrubbing, 180 s per page.
Prints one JSON object. Timings depend on what else runs on the machine: ``uptime``'s load is
reported with every figure. Targets are never asserted here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import websockets

from benchmarks.students import RunEvents, Server, Student, cpu_s, load_avg, rerun_message, rss_mb, summary

MAX_CLIENTS, MAX_ROUNDS, MAX_SCRUB_S = 64, 40, 300


# ---------------------------------------------------------------- the loads

class Seeds:
    """Seeds never used before in this benchmark run (each one is a new sampling run)."""

    def __init__(self, start: int):
        self.next = start

    def take(self, n: int) -> list[int]:
        self.next += n
        return list(range(self.next - n, self.next))


async def open_together(url: str, page: str, queries: list[str]) -> tuple[list, list[Student]]:
    """Connect one student per query, then have all of them open the page at the same moment."""
    students = [Student(url, page, q) for q in queries]
    await asyncio.gather(*(s.connect() for s in students))
    times = await asyncio.gather(*(s.run() for s in students))
    return list(times), students


async def rounds(url: str, pid, page: str, queries_of_round, n_rounds: int) -> dict:
    """Fresh students each round; per round and overall: times, exceptions, memory."""
    per_round, all_times, exceptions, payload = [], [], [], []
    for r in range(n_rounds):
        cpu0 = cpu_s(pid)
        times, students = await open_together(url, page, queries_of_round(r))
        cpu = cpu_s(pid)
        all_times += times
        exceptions += [e for s in students for e in s.exceptions]
        payload += [s.bytes for s in students]
        await asyncio.gather(*(s.close() for s in students))
        per_round.append({**summary(times, len(times)), "rss_mb": rss_mb(pid), "load": load_avg(),
                          "server_cpu_s": round(cpu - cpu0, 2) if cpu is not None else None})
    return {**summary(all_times, len(all_times)), "exceptions": len(exceptions), "first_exceptions": exceptions[:3],
            "payload_kb_per_page": round(statistics.mean(payload) / 1024, 1), "rounds": per_round}


async def scrub(url: str, pid, page: str, n: int, seconds: float, query: str, label: str = "Show step") -> dict:
    """Every student opens the same link, then moves the step slider every 2 s (staggered).

    The slider is the one whose label starts with ``label`` (the sidebar's "Steps in the run" also
    holds "step": moving it asked for a new sampling run each time, a whole page run)."""
    _, students = await open_together(url, page, [query] * n)
    times, exceptions, cpu0 = [], [], cpu_s(pid)

    async def one(k: int, s: Student):
        found = [(lab, v) for lab, v in s.sliders.items() if lab.lower().startswith(label.lower())]
        if not found:
            raise RuntimeError(f"no slider labelled like “{label}” on page {page}: {list(s.sliders)}")
        wid, frag = found[0][1]
        await asyncio.sleep(2.0 * k / n)
        end, v = time.perf_counter() + seconds, k
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            v = (v + 7) % 20                               # a step not just shown (the runs have >= 20)
            times.append(await s.run((wid, frag, v), timeout=30))
            await asyncio.sleep(max(0.0, 2.0 - (time.perf_counter() - t0)))
    await asyncio.gather(*(one(k, s) for k, s in enumerate(students)))
    exceptions = [e for s in students for e in s.exceptions]
    cpu = cpu_s(pid)
    fragment = any(frag for s in students[:1] for _, frag in s.sliders.values())
    await asyncio.gather(*(s.close() for s in students))
    return {**summary(times, len(times)), "exceptions": len(exceptions), "first_exceptions": exceptions[:3],
            "slider_in_fragment": fragment, "rss_mb": rss_mb(pid), "load": load_avg(),
            "server_cpu_s": round(cpu - cpu0, 2) if cpu is not None else None}


async def bad_load(url: str, pid, page: str, n: int, seeds: Seeds, n_rounds: int) -> dict:
    """Distinct seeds for the class while a flooder, a quitter and a non-reader misbehave beside it."""
    stop = asyncio.Event()

    async def flooder():                                   # a rerun every 50 ms, never waiting
        s = Student(url, page, f"seed={seeds.take(1)[0]}")
        await s.connect()
        while not stop.is_set() and s.ws is not None:
            await s.ws.send(rerun_message(s))
            await asyncio.sleep(0.05)
            for _ in range(500):                           # drain whatever came, without blocking
                try:
                    await asyncio.wait_for(s.ws.recv(), 0.001)
                except (TimeoutError, websockets.ConnectionClosed):
                    break
        await s.close()

    async def quitter():                                   # asks for a new run, leaves mid-run, again
        while not stop.is_set():
            s = Student(url, page, f"seed={seeds.take(1)[0]}")
            await s.connect()
            if s.ws is not None:
                await s.ws.send(rerun_message(s))
                await asyncio.sleep(0.3)
                await s.close()

    async def non_reader():                                # opens pages and never reads an answer
        s = Student(url, page, "seed=1")
        await s.connect()
        while not stop.is_set() and s.ws is not None:
            await s.ws.send(rerun_message(s))
            await asyncio.sleep(1.0)
        if s.ws is not None:
            s.ws.transport.abort()

    bad = [asyncio.create_task(f()) for f in (flooder, quitter, non_reader)]
    await asyncio.sleep(1.0)
    out = await rounds(url, pid, page, lambda r: [f"seed={x}" for x in seeds.take(n)], n_rounds)
    stop.set()
    _, late = await asyncio.wait(bad, timeout=70)
    for task in late:
        task.cancel()
    return out


# ---------------------------------------------------------------- where one rerun's time goes

def profile(page: str, top: int = 22) -> dict:
    """cProfile of one page run in-process (AppTest): a new seed (sampling) and the same seed again.

    The script runs in AppTest's script thread, so the profiler wraps Streamlit's call that executes
    the script (``exec_func_with_error_handling``) in that thread.
    """
    import cProfile
    import pstats

    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.testing.v1 import AppTest

    from benchmarks.pages import run_app_py_every_time
    run_app_py_every_time()
    inner, prof = script_runner.exec_func_with_error_handling, [None]

    def profiled(*a, **kw):
        return prof[0].runcall(inner, *a, **kw) if prof[0] is not None else inner(*a, **kw)
    script_runner.exec_func_with_error_handling = profiled

    def one(seed: int):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
        at.query_params["seed"] = str(seed)
        at.switch_page(f"pages/{page}.py")
        return at

    one(1).run()                                             # imports, data files and the model: untimed
    out = {}
    for name, seed in (("new_seed", 4242), ("same_seed", 4242)):
        at, prof[0] = one(seed), cProfile.Profile()
        t0 = time.perf_counter()
        at.run()
        total = time.perf_counter() - t0
        stats = pstats.Stats(prof[0])
        prof[0] = None
        rows = sorted(((v[3], f"{Path(k[0]).name}:{k[1]}({k[2]})") for k, v in stats.stats.items()), reverse=True)
        out[name] = {"total_s": round(total, 3), "top_cumulative_s": [[f, round(c, 3)] for c, f in rows[:top]]}
    return out


# ---------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("loads", nargs="*", choices=["same", "distinct", "scrub", "cold", "memory", "bad", "profile"],
                    help="which loads to run (default: same distinct scrub cold)")
    ap.add_argument("--clients", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3, help="rounds for same/distinct/bad (memory: --memory-rounds)")
    ap.add_argument("--memory-rounds", type=int, default=16, help="Inside-page rounds of distinct seeds")
    ap.add_argument("--memory-clients", type=int, default=25)
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the class scrubs")
    ap.add_argument("--page", default="denoise", help="url path of the page for same/distinct/scrub/cold/bad")
    ap.add_argument("--url", help="an already running server (or proxy) instead of starting one")
    ap.add_argument("--pid", type=int, help="with --url: the server's process id, for its memory")
    ap.add_argument("--quick", action="store_true", help="6 clients, 2 rounds, 10 s of scrubbing")
    ap.add_argument("--out", help="also write the report to this file after every load (a long run's progress)")
    a = ap.parse_args(argv)
    loads = a.loads or ["same", "distinct", "scrub", "cold"]
    if a.quick:
        a.clients, a.rounds, a.seconds = 6, 2, 10.0
        a.memory_clients, a.memory_rounds = 6, 2
    a.clients = max(1, min(a.clients, MAX_CLIENTS))
    a.memory_clients = max(1, min(a.memory_clients, MAX_CLIENTS))
    a.rounds, a.memory_rounds = max(1, min(a.rounds, MAX_ROUNDS)), max(1, min(a.memory_rounds, MAX_ROUNDS))
    a.seconds = max(1.0, min(a.seconds, MAX_SCRUB_S))
    if a.url and not a.url.startswith(("http://127.0.0.1", "http://localhost")):
        ap.error("loopback only: --url must be http://127.0.0.1:PORT or http://localhost:PORT")
    report = {"machine": {"cpus": os.cpu_count(), "load_before": load_avg()},
              "clients": a.clients, "page": a.page, "results": {}}
    seeds = Seeds(5000 + int(time.time()) % 1000 * 4)
    if "profile" in loads:
        report["results"]["profile"] = profile(a.page)
    warm_loads = [x for x in loads if x not in ("cold", "profile")]
    if warm_loads:
        with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
            os.environ["CLASSROOM_LOG"], os.environ["DIFFVIZ_TRACE_RUNS"] = log.name, "1"
            server = None if a.url else Server()
            del os.environ["CLASSROOM_LOG"], os.environ["DIFFVIZ_TRACE_RUNS"]
            url, pid = (a.url, a.pid) if a.url else (server.url, server.proc.pid)
            events = RunEvents(None if a.url else log.name)       # runs started, stopped, resumed, finished
            try:
                asyncio.run(_warm(url, a.page))                   # the model loaded, as in a class under way
                report["rss_mb_warm"], _ = rss_mb(pid), events.since_last()
                for load in warm_loads:
                    report["results"][load] = asyncio.run(_one(load, url, pid, a, seeds))
                    report["results"][load]["runs"] = events.since_last()
                    if a.out:
                        Path(a.out).write_text(json.dumps(report, indent=1))
            finally:
                if server:
                    server.close()
    if "cold" in loads:
        report["results"]["cold"] = cold(a, seeds)
    report["machine"]["load_after"] = load_avg()
    print(json.dumps(report, indent=1))
    return 0


async def _warm(url: str, page: str) -> None:
    for p in dict.fromkeys((page, "inside")):
        _, students = await open_together(url, p, ["seed=1"])
        await students[0].close()


async def _one(load: str, url: str, pid, a, seeds: Seeds) -> dict:
    n, link = a.clients, f"seed={seeds.take(1)[0]}"
    if load == "same":
        return await rounds(url, pid, a.page, lambda r: [link] * n, a.rounds)
    if load == "distinct":
        return await rounds(url, pid, a.page, lambda r: [f"seed={x}" for x in seeds.take(n)], a.rounds)
    if load == "scrub":
        return await scrub(url, pid, a.page, n, a.seconds, link)
    if load == "memory":
        return await rounds(url, pid, "inside", lambda r: [f"seed={x}" for x in seeds.take(a.memory_clients)],
                            a.memory_rounds)
    return await bad_load(url, pid, a.page, max(1, n - 3), seeds, a.rounds)


def cold(a, seeds: Seeds) -> dict:
    """A fresh server, the whole class at once on one link; how many times each model was loaded."""
    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        os.environ["CLASSROOM_LOG"], os.environ["DIFFVIZ_TRACE_LOADS"] = log.name, "1"
        server = Server()
        try:
            link = f"seed={seeds.take(1)[0]}"
            out = asyncio.run(rounds(server.url, server.proc.pid, a.page, lambda r: [link] * a.clients, 1))
        finally:
            server.close()
            del os.environ["CLASSROOM_LOG"], os.environ["DIFFVIZ_TRACE_LOADS"]
        loads = [line.split()[1] for line in Path(log.name).read_text().splitlines() if line.startswith("diffviz-load ")]
    return {**out, "model_loads": {m: loads.count(m) for m in sorted(set(loads))}}


if __name__ == "__main__":
    sys.exit(main())
