"""CI mode (ci_mode.py): under a truthy CI a skip fails the run; elsewhere it stays a skip.

Two cases run pytest in a subprocess on small generated test files with only the ci_mode plugin
loaded (no diffviz, no torch: a second or so each).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ci_mode import in_ci

HERE = Path(__file__).resolve().parent

SAMPLE = '''
import pytest

def test_passes():
    assert True

def test_skips_itself():
    pytest.skip("no widget to move")

@pytest.mark.skipif(True, reason="tool missing")
def test_skipped_by_mark():
    pass

@pytest.mark.xfail(reason="a declared expectation", strict=True)
def test_expected_failure():
    assert False
'''


MODULE_SKIP = 'import pytest\npytest.importorskip("no_such_module_anywhere")\n\ndef test_x():\n    pass\n'


def run_sample(tmp_path: Path, ci: str | None) -> tuple[int, str]:
    """pytest's exit status and output on the two sample files (a second or two)."""
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")          # keep the repository's settings out
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(HERE)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "ci_mode", "-p", "no:cacheprovider", "-q", "-rA",
                           "--continue-on-collection-errors"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("value, expected", [
    ("1", True), ("true", True), ("TRUE", True), ("yes", True), (" True ", True),
    ("false", False), ("0", False), ("", False), ("no", False), (None, False),
])
def test_truthy_values(value, expected):
    env = {} if value is None else {"CI": value}
    assert in_ci(env) is expected


def test_under_ci_a_skip_fails_the_run_with_its_reason(tmp_path):
    rc, out = run_sample(tmp_path, "Yes")
    assert rc == 1, out
    # a skip in the call fails the test; a skip mark (evaluated in setup) and a module skipped while
    # collecting are errors
    assert "1 failed, 1 passed, 1 xfailed, 2 errors" in out, out
    for reason in ("no widget to move", "tool missing", "could not import 'no_such_module_anywhere'"):
        assert f"skipped under CI (CI='Yes'), which counts as a failure: Skipped: {reason}" in out, (reason, out)


def test_outside_ci_a_skip_is_a_skip(tmp_path):
    rc, out = run_sample(tmp_path, "false")
    assert rc == 0, out
    assert "1 passed, 3 skipped, 1 xfailed" in out, out


def test_under_ci_a_run_that_changes_the_work_tree_fails(tmp_path):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    (tmp_path / "picture.png").write_bytes(b"committed")
    (tmp_path / "test_writes.py").write_text(
        "from pathlib import Path\n\ndef test_rewrites_a_tracked_file():\n"
        "    Path(__file__).with_name('picture.png').write_bytes(b'rewritten')\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / ".gitignore").write_text("__pycache__/\n")
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "start"]):
        subprocess.run([*git, *cmd], cwd=tmp_path, check=True, capture_output=True)
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(HERE), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "ci_mode", "-p", "no:cacheprovider", "-q"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "1 passed" in out, out
    assert "the test run changed the work tree" in out and "M picture.png" in out, out
