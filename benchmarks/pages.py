"""Server-side time of each page of the app: a first run and a rerun after moving its main slider.

    python benchmarks/pages.py                    # every page, a table
    python benchmarks/pages.py --only forward     # one page (repeatable: --only a --only b)
    python benchmarks/pages.py --json             # one JSON object on stdout

In process, with Streamlit's `AppTest` (no browser, no websocket: the time of the script itself).
For each page, on default settings:

    first   the page's first run in a new session with cold caches: `diffviz.app`'s run caches (RUNS
            and the other BoundedCaches) and every `st.cache_data` cleared. What a server does
            once per process is done before, untimed: the page runs once to warm up (imports,
            data files), and the model is loaded (timed apart as load_s)
    rerun   after moving the page's main slider one step (`.set_value(...)` then `.run()`), each
            time to a value not seen yet; the median of --repeats reruns

Targets: rerun <= 150 ms, first run <= 2 s; the table gives each time as a ratio to its target.
The numbers depend on the machine and on what else runs on it: read them as a comparison between
pages and between versions on one machine, not as absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FIRST_TARGET_S = 2.0
RERUN_TARGET_S = 0.150

# The widget (query-parameter name) a student moves most on each page; a page not listed uses its
# first slider in the main area (then select-slider, segmented control, select box, radio).
MAIN_WIDGET = {
    "overview": "block",
    "forward": "t",
    "denoise": "step",
    "inside": "step",
    "skips": "step",
    "attention": "step",
    "timestep": "step",
    "ablation": "step",            # the step scrubber; a knob (e.g. a_skip0) is a new sampling run instead
}


def app_pages() -> list[tuple[str, str]]:
    """(url_path, script path relative to app.py) for every st.Page in app.py, in order."""
    text = (ROOT / "app.py").read_text()
    out = []
    for m in re.finditer(r"st\.Page\(\s*[\"']([^\"']+)[\"'](.*?)\)", text, re.DOTALL):
        url = re.search(r"url_path\s*=\s*[\"']([^\"']+)[\"']", m.group(2))
        out.append((url.group(1) if url else Path(m.group(1)).stem, m.group(1)))
    return out


def clear_caches() -> None:
    """Forget every computed result (not the loaded models)."""
    import streamlit as st

    from diffviz.app import quality, runs
    from diffviz.app.cache import BoundedCache
    for value in [*vars(runs).values(), *vars(quality).values()]:
        if isinstance(value, BoundedCache):
            value.clear()
    st.cache_data.clear()


KINDS = ("slider", "select_slider", "button_group", "selectbox", "radio")   # in order of preference


def _main_widgets(at) -> list:
    """The main area's sliders, select-sliders, segmented controls, select boxes and radios."""
    return [w for kind in KINDS for w in getattr(at.main, kind)]


def _same(a, b) -> bool:
    return a.type == b.type and (a.key == b.key if a.key else a.label == b.label)


def main_widget(at, name: str):
    """The widget to move on this page: MAIN_WIDGET's, else the first slider (or select-slider) in
    the main area, else the first segmented control, select box or radio. None when there is none."""
    ws = _main_widgets(at)
    key = MAIN_WIDGET.get(name)
    chosen = [w for w in ws if key is not None and (w.key or "").endswith(f"_{key}")] or ws   # p_t, p_unet_step
    return chosen[0] if chosen else None


def start_of(w):
    """Where a widget starts: its value (slider) or the index of its option (the others)."""
    if w.type == "slider":
        return w.value
    if w.type == "select_slider":
        return list(w.options).index(str(w.format_func(w.value)))
    if w.type == "button_group":
        return w.indices[0] if w.indices else 0
    return w.index or 0


def move(at, like, start, k: int) -> None:
    """Set the widget that looks ``like`` to its k-th value away from ``start``, where it began."""
    w = next(x for x in _main_widgets(at) if _same(x, like))
    if w.type == "slider":
        lo, hi, step = w.min, w.max, w.step or 1
        v = start + k * step if start + k * step <= hi else start - k * step
        v = min(max(v, lo), hi)
        w.set_value(round(float(v), 6) if isinstance(start, float) else int(v))
        return
    opts = list(w.options)
    i = (start + k if start + k < len(opts) else start - k) % len(opts)
    if w.type == "selectbox":
        w.select_index(i)
    else:
        w.set_value(_option_value(w, opts[i]))


def _option_value(w, shown: str):
    """The option value a widget shows as ``shown`` (AppTest knows only the shown strings)."""
    for conv in (int, float, str):
        try:
            v = conv(shown)
        except ValueError:
            continue
        try:
            if str(w.format_func(v)) == shown:
                return v
        except Exception:                              # a format_func for another type
            continue
    raise ValueError(f"cannot tell which value {w.key or w.label} shows as {shown!r}")


def run_app_py_every_time() -> None:
    """Make every AppTest run execute app.py (then the page), as the server does once any session
    has called st.navigation. Without this, because app.py sits beside a ``pages/`` folder, AppTest
    (which resets the flag before each run) runs a non-default page's script alone, in Streamlit's
    old pages-folder mode: no set_page_config, no shared sidebar from app.py, no notices. A no-op
    when there is no ``pages/`` folder."""
    from streamlit.runtime.pages_manager import PagesManager
    if getattr(PagesManager, "_diffviz_v2", False):
        return
    init = PagesManager.__init__

    def __init__(self, *a, **kw):
        init(self, *a, **kw)
        PagesManager.uses_pages_directory = False
    PagesManager.__init__ = __init__
    PagesManager._diffviz_v2 = True


def bench_page(name: str, script: str, repeats: int) -> dict:
    from streamlit.testing.v1 import AppTest

    run_app_py_every_time()

    warm = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    warm.switch_page(script).run()                     # once untimed: imports, data files, first kernels
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page(script)
    clear_caches()
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    res = {"page": name, "first_s": round(first, 4), "rerun_s": None, "reruns": [], "widget": None,
           "exceptions": [str(e.message)[:300] for e in at.exception]}
    if at.exception:
        return res
    w = main_widget(at, name)
    if w is None:
        return res
    res["widget"] = (w.key or w.label).removeprefix("p_")
    times, start = [], start_of(w)
    for k in range(1, repeats + 1):
        move(at, w, start, k)
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        if at.exception:
            res["exceptions"] = [str(e.message)[:300] for e in at.exception]
            break
    res["reruns"] = [round(t, 4) for t in times]
    res["rerun_s"] = round(statistics.median(times), 4) if times else None
    return res


def _fmt_s(v, target):
    if v is None:
        return f"{'—':>9} {'':>6}"
    unit = f"{v * 1000:7.0f} ms" if v < 1 else f"{v:7.2f} s "
    return f"{unit} {v / target:5.2f}×" + ("!" if v > target else " ")


def table(results: list[dict], meta: dict) -> str:
    lines = [f"diffviz page timings ({meta['threads']} torch threads, {os.cpu_count()} CPUs, "
             f"load average {meta['loadavg']}; model load {meta['load_s']:.2f} s)",
             f"targets: first run <= {FIRST_TARGET_S:g} s, rerun <= {RERUN_TARGET_S * 1000:g} ms "
             f"(median of {meta['repeats']}); × = time / target, ! = over it",
             "",
             f"{'page':<11} {'first run':>9} {'/target':>7}  {'rerun':>9} {'/target':>7} widget moved"]
    for r in results:
        note = r["widget"] or "(no slider)"
        if r["exceptions"]:
            note = "EXCEPTION: " + r["exceptions"][0].splitlines()[0][:80]
        lines.append(f"{r['page']:<11} {_fmt_s(r['first_s'], FIRST_TARGET_S)}  "
                     f"{_fmt_s(r['rerun_s'], RERUN_TARGET_S)} {note}")
    over = [r["page"] for r in results if r["first_s"] > FIRST_TARGET_S
            or (r["rerun_s"] or 0) > RERUN_TARGET_S]
    lines += ["", f"over target: {', '.join(over) if over else 'none'}"]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", metavar="PAGE", help="only this page (url path); repeatable")
    ap.add_argument("--repeats", type=int, default=5, help="reruns per page (the median is reported)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args(argv)

    import streamlit.logger
    import torch
    from streamlit import config
    config.set_option("client.showErrorDetails", "full")   # an exception's own message, not "redacted"
    config.set_option("logger.level", "error")         # no "missing ScriptRunContext" noise (re-read
    streamlit.logger.set_log_level("error")            # whenever the config is parsed again)
    os.chdir(ROOT)

    pages = app_pages()
    if args.only:
        unknown = sorted(set(args.only) - {n for n, _ in pages})
        if unknown:
            ap.error(f"unknown page(s) {unknown}; app.py has {[n for n, _ in pages]}")
        pages = [p for p in pages if p[0] in args.only]

    from diffviz.app import settings
    from diffviz.model import zoo
    settings.init_torch()
    t0 = time.perf_counter()
    # The default model, loaded once per server -- in a worker thread, as a server's script thread does
    # (loaded in the main thread, the script threads' forward passes ran ~2x slower here).
    loader = threading.Thread(target=lambda: [zoo.load(n) for n in zoo.available()[:1]])
    loader.start()
    loader.join()
    load_s = time.perf_counter() - t0

    results = [bench_page(name, script, args.repeats) for name, script in pages]
    meta = {"threads": torch.get_num_threads(), "cpus": os.cpu_count(), "repeats": args.repeats,
            "loadavg": " ".join(f"{x:.1f}" for x in os.getloadavg()), "load_s": round(load_s, 3),
            "targets": {"first_s": FIRST_TARGET_S, "rerun_s": RERUN_TARGET_S}}
    for r in results:
        r["first_ratio"] = round(r["first_s"] / FIRST_TARGET_S, 3)
        r["rerun_ratio"] = round(r["rerun_s"] / RERUN_TARGET_S, 3) if r["rerun_s"] is not None else None
    if args.json:
        print(json.dumps({**meta, "pages": results}))
    else:
        print(table(results, meta))
    return 1 if any(r["exceptions"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
