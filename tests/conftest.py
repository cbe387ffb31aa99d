"""Shared test helpers: paths to the shared samples, markers for what a bare clone lacks, and a
fresh twin folder per test.

A user's clone has no ../shared beside it and maybe no Chromium: tests that need them are marked
`needs_shared(...)` / `needs_binary(...)` and skip with a one-line reason. CI has everything and
sets TWIN_REQUIRE_ALL=1, which turns every skip into a failure, so nothing is silently left out.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FORMATS = SHARED / "data" / "formats"
LOCOMO = SHARED / "data" / "locomo" / "locomo10.json"
REQUIRE_ALL = os.environ.get("TWIN_REQUIRE_ALL", "") not in ("", "0")


def needs_shared(path: Path = SHARED) -> pytest.MarkDecorator:
    """Skip unless `path` (under ../shared) exists; a failure under TWIN_REQUIRE_ALL=1."""
    return pytest.mark.skipif(not path.exists(), reason=f"needs {path.relative_to(REPO.parent)} (../shared beside the clone)")


def needs_binary(*names: str) -> pytest.MarkDecorator:
    missing = [n for n in names if shutil.which(n) is None and not Path(n).is_file()]
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} (e.g. apt-get install chromium chromium-driver docker-compose)")


def shared_files(folder: Path, pattern: str = "*") -> list:
    """Files under a ../shared folder for parametrising (recursive `pattern`).

    When none are there, one placeholder parameter that skips with a reason naming the folder:
    pytest reports an empty parameter list only as "got empty parameter set", which says nothing
    about what is missing (and a list built from a missing folder must not crash collection).
    """
    found = sorted(p for p in folder.rglob(pattern) if p.is_file()) if folder.is_dir() else []
    return found or no_shared_files(folder, f"{pattern} files")


def no_shared_files(folder: Path, what: str = "files", arity: int = 1) -> list:
    """The parameter list to use when a list built from ../shared came out empty: one parameter
    (`arity` values) that skips with a reason naming the folder."""
    where = folder.relative_to(REPO.parent) if folder.is_relative_to(REPO.parent) else folder
    reason = f"needs {where} (../shared beside the clone)" if not folder.exists() else f"no {what} in {where}"
    return [pytest.param(*[folder] * arity, marks=pytest.mark.skip(reason=reason), id="missing")]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped under TWIN_REQUIRE_ALL=1 (CI runs everything): {reason}"


@pytest.fixture
def twin_dir(tmp_path, monkeypatch):
    """An empty folder with a twin.toml (owner 'me_wxid', Asia/Shanghai), as the current folder."""
    from twin.init_template import render

    (tmp_path / "twin.toml").write_text(render(["me_wxid", "Lin"], "Asia/Shanghai"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("TWIN_")]:
        monkeypatch.delenv(key)
    return tmp_path
