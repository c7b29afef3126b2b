"""CI mode: under CI, a skipped test is a failed test (a pytest plugin; conftest.py loads its hooks).

A skip is how a test says "I did not check anything". On a developer's machine that is fine (no
Chromium, no diffusers); in CI it would let half the suite pass without running, so when the ``CI``
variable is truthy every skip (a ``pytest.skip`` call, a ``skip``/``skipif`` mark, a module skipped at
collection) is reported as a failure with its reason and pytest exits non-zero. ``xfail`` is left
alone (it is a declared expectation, not a missing check).

Truthy means ``1``, ``true`` or ``yes`` (any case); ``CI=false``, ``CI=0`` and ``CI=`` are not CI.

Also under CI: a test run must leave the work tree as it found it. ``git status --porcelain`` is read
when the session starts and when it ends; a difference (a test that rewrote a tracked file or left a
new one behind) fails the run, naming the files. Outside a git work tree this check does nothing.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

import pytest

TRUTHY = frozenset({"1", "true", "yes"})


def in_ci(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``CI`` in ``env`` (default: the process environment) is set to a truthy value."""
    env = os.environ if env is None else env
    return env.get("CI", "").strip().lower() in TRUTHY


def _skip_reason(longrepr) -> str:
    # A skip's longrepr is (path, line, "Skipped: reason"); anything else is shown as it is.
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        path, line, reason = longrepr
        return f"{reason} ({path}:{line})"
    return str(longrepr)


def _fail_skip(report) -> None:
    """Turn a skipped report into a failed one whose text is the skip's reason."""
    reason = _skip_reason(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI (CI={os.environ.get('CI')!r}), which counts as a failure: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI, a test skipped in setup, call or teardown fails instead."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and in_ci():
        _fail_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """Under CI, a module skipped while collecting (``pytest.skip(allow_module_level=True)``,
    ``importorskip``) is a collection error instead."""
    report = yield
    if report.skipped and in_ci():
        _fail_skip(report)
    return report


def git_status(root) -> set[str] | None:
    """``git status --porcelain`` lines of the work tree at ``root`` (None outside a git work tree)."""
    try:
        proc = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root,
                              capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return set(proc.stdout.splitlines()) if proc.returncode == 0 else None


_STATUS_KEY = pytest.StashKey[set]()


def _is_worker(session) -> bool:
    """A pytest-xdist worker (the controller alone compares the work tree, once, around the whole run)."""
    return hasattr(session.config, "workerinput")


def pytest_sessionstart(session):
    if in_ci() and not _is_worker(session):
        status = git_status(session.config.rootpath)
        if status is not None:
            session.stash[_STATUS_KEY] = status


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """Under CI, fail the run when the tests changed what ``git status`` shows."""
    before = session.stash.get(_STATUS_KEY, None)
    if before is None:
        return
    after = git_status(session.config.rootpath) or set()
    changed = sorted(after ^ before)
    if changed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "the test run changed the work tree (CI)", red=True)
            for line in changed:
                reporter.write_line(f"  {line}")
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
