"""Mutation check of the core invariants: plant realistic bugs one at a time, see the suite catch each.

    python tools/mutation_check.py                # every mutant, a Markdown table (a few minutes)
    python tools/mutation_check.py --only guidance --json

Each mutant is a text substitution in the model or the diffusion maths (a schedule off by one step,
ᾱ where √ᾱ belongs, a skip dropped or swapped, the time embedding ignored, capture keys shifted, an
intervention on the wrong level, DDIM's η term, the guidance sign, ...). The repository's tracked
files are copied once to a temporary folder; every mutant is planted there, never in the work tree,
and the fast tests that guard these parts run against it (``pytest -x -q``: the first failure is
enough). A mutant is *caught* when pytest fails; the table names the first failing test. Not part of
CI (it runs the same files many times); the README's "Testing" section shows its last table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The fast tests that guard the maths, the one that pins the trained models' numbers first.
TESTS = ["tests/test_recorded_trajectory.py", "tests/test_schedulers.py", "tests/test_sampling.py",
         "tests/test_unet.py", "tests/test_capture.py"]


@dataclass(frozen=True)
class Mutant:
    name: str            # short id (for --only)
    bug: str             # what a reviewer would call it
    path: str            # file, relative to the repository
    old: str             # text to replace (must occur at least ``nth`` times)
    new: str
    nth: int = 1         # which occurrence (1 = the first)


MUTANTS = [
    Mutant("timesteps-off-by-one", "sampling timesteps off by one step (T, ..., not T-1, ...)",
           "diffviz/diffusion/schedulers.py", ".astype(np.int64) - 1", ".astype(np.int64) - 2"),
    Mutant("ddim-prev-off-by-one", "DDIM steps to t-Δ-1 instead of t-Δ",
           "diffviz/diffusion/schedulers.py", "prev_t = t - self.T // self.num_inference_steps",
           "prev_t = t - self.T // self.num_inference_steps - 1"),
    Mutant("forward-alphabar", "forward process uses ᾱ instead of √ᾱ for x0",
           "diffviz/diffusion/schedulers.py", "return ab.sqrt() * x0 + (1 - ab).sqrt() * noise",
           "return ab * x0 + (1 - ab).sqrt() * noise"),
    Mutant("ddim-x0-alphabar", "DDIM's x̂0 divides by ᾱ_t instead of √ᾱ_t",
           "diffviz/diffusion/schedulers.py", "pred_x0 = (x_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()",
           "pred_x0 = (x_t - (1 - ab_t).sqrt() * eps) / ab_t", nth=2),
    Mutant("ddim-eta", "DDIM's direction term forgets σ_t² (the η term)",
           "diffviz/diffusion/schedulers.py", "(1 - ab_prev - std ** 2).sqrt() * eps", "(1 - ab_prev).sqrt() * eps"),
    Mutant("ddpm-variance", "DDPM adds β̃_t·z instead of √β̃_t·z",
           "diffviz/diffusion/schedulers.py", "prev = prev + var.sqrt() * noise", "prev = prev + var * noise"),
    Mutant("ddpm-posterior", "DDPM posterior mean uses α_t instead of √α_t for x_t",
           "diffviz/diffusion/schedulers.py", "ct = (1 - beta_t).sqrt() * (1 - ab_prev)", "ct = (1 - beta_t) * (1 - ab_prev)"),
    Mutant("cosine-offset", "cosine schedule without its small offset s = 0.008",
           "diffviz/diffusion/schedulers.py", "math.cos((s + 0.008) / 1.008 * math.pi / 2)",
           "math.cos(s * math.pi / 2)"),
    Mutant("guidance-sign", "classifier-free guidance pushes away from the condition",
           "diffviz/diffusion/sampling.py", "out = e_u + guidance * (e_c - e_u)", "out = e_u + guidance * (e_u - e_c)"),
    Mutant("guidance-halves", "guidance mixes up the conditional and unconditional halves",
           "diffviz/diffusion/sampling.py", "e_c, e_u = out[:B], out[B:]", "e_u, e_c = out[:B], out[B:]"),
    Mutant("skip-dropped", "decoder drops the skip connection (zeros instead)",
           "diffviz/model/unet.py", "h = torch.cat([h, self.skip(skip)], dim=1)",
           "h = torch.cat([h, 0 * self.skip(skip)], dim=1)"),
    Mutant("skip-swapped", "decoder concatenates skip and backbone in the wrong order",
           "diffviz/model/unet.py", "h = torch.cat([h, self.skip(skip)], dim=1)",
           "h = torch.cat([self.skip(skip), h], dim=1)"),
    Mutant("time-ignored", "the time embedding ignores t",
           "diffviz/model/unet.py", "emb = self.time_embedding(t) if cfg.use_time",
           "emb = self.time_embedding(0 * t) if cfg.use_time"),
    Mutant("film-scale", "FiLM multiplies by scale instead of (1 + scale)",
           "diffviz/model/layers.py", "h = self.norm2(h) * (1 + scale[:, :, None, None])",
           "h = self.norm2(h) * (scale[:, :, None, None])"),
    Mutant("capture-keys-shifted", "capture stores each tensor under the next module's key",
           "diffviz/model/capture.py", "handles.append(modules[k].register_forward_hook(make_hook(k)))",
           "handles.append(modules[k].register_forward_hook(make_hook(keys[(keys.index(k) + 1) % len(keys)])))"),
    Mutant("capture-uncond-half", "capture keeps the unconditional half of the guided batch",
           "diffviz/diffusion/sampling.py", "batch=slice(0, B)", "batch=slice(B, 2 * B)"),
    Mutant("skip-scale-level", "a skip intervention scales the next level's skip",
           "diffviz/model/unet.py", "scale = interventions.skip_scale(self.level)",
           "scale = interventions.skip_scale(self.level + 1)"),
    Mutant("backbone-scale-level", "a backbone intervention scales the wrong level",
           "diffviz/model/unet.py", "scale = interventions.backbone_scale(self.level)",
           "scale = interventions.backbone_scale(self.level - 1)"),
    Mutant("attention-off-level", "switching attention off at one level switches off another",
           "diffviz/model/layers.py", "if interventions.attention_is_off(self.level):",
           "if interventions.attention_is_off(self.level + 1):"),
    Mutant("intervention-window", "interventions act outside their t window",
           "diffviz/diffusion/sampling.py", "iv = interventions if interventions is not None and interventions.active_at(t_true) else None",
           "iv = interventions"),
]


def copy_repo(dest: Path) -> None:
    """The work tree's tracked files (as they are now, edits included) under ``dest``."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def plant(text: str, m: Mutant) -> str:
    """``text`` with the ``m.nth`` occurrence of ``m.old`` replaced (an error when it is not there)."""
    starts = [i.start() for i in re.finditer(re.escape(m.old), text)]
    if len(starts) < m.nth:
        raise SystemExit(f"{m.name}: {m.old!r} occurs {len(starts)} time(s) in {m.path}; the code moved")
    i = starts[m.nth - 1]
    return text[:i] + m.new + text[i + len(m.old):]


def run_tests(repo: Path, tests: list[str], timeout: float) -> tuple[int, str, float]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")
    t0 = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                              cwd=repo, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - t0
    except subprocess.TimeoutExpired:
        return -1, "timeout", time.monotonic() - t0


def first_failure(output: str) -> str:
    m = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.M)
    return m.group(1).removeprefix("tests/") if m else ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", help="a mutant's name (repeatable)")
    ap.add_argument("--tests", nargs="+", default=TESTS, help="test files to run against each mutant")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per mutant")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    if not chosen:
        raise SystemExit(f"no mutant named {args.only}; have {[m.name for m in MUTANTS]}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="diffviz-mutants-") as tmp:
        repo = Path(tmp)
        copy_repo(repo)
        rc, out, secs = run_tests(repo, args.tests, args.timeout)
        if rc != 0:
            print(out[-3000:], file=sys.stderr)
            raise SystemExit("the unmutated tests do not pass; fix them first")
        print(f"baseline: {' '.join(args.tests)} pass ({secs:.0f} s)", file=sys.stderr)
        for m in chosen:
            path = repo / m.path
            original = path.read_text()
            path.write_text(plant(original, m))
            try:
                rc, out, secs = run_tests(repo, args.tests, args.timeout)
            finally:
                path.write_text(original)
            row = {"mutant": m.name, "bug": m.bug, "file": m.path, "caught": rc != 0,
                   "first_failing_test": first_failure(out) or ("(timeout)" if rc == -1 else ""),
                   "seconds": round(secs, 1)}
            rows.append(row)
            print(f"{m.name}: {'caught by ' + row['first_failing_test'] if row['caught'] else 'SURVIVED'} "
                  f"({secs:.0f} s)", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print("| bug | file | caught | first failing test |")
        print("|---|---|---|---|")
        for r in rows:
            print(f"| {r['bug']} | `{r['file'].removeprefix('diffviz/')}` | {'yes' if r['caught'] else '**no**'} "
                  f"| `{r['first_failing_test']}` |")
        n = sum(r["caught"] for r in rows)
        print(f"\n{n} of {len(rows)} mutants caught.")
    return 0 if all(r["caught"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
