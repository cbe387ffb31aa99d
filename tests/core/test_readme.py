"""The README's configuration reference matches core/config.py (regenerate it with
`python scripts/config_reference.py --write`), and its test command is what CI runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location("config_reference", REPO / "scripts" / "config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_reference_in_readme_is_current():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert load_script().with_reference(readme) == readme, "run: python scripts/config_reference.py --write"


def test_readme_test_command_is_what_ci_runs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make test" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
