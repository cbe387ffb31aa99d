"""The house as drawn in docs/architecture.md: one installed package, rooms that import only what
their rule allows, formats registered through the same entry-point group a plugin uses."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGE_DIRS: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]  # "twin.ingest" -> "ingest"
ROOMS = {"twin": "core", **{name.split(".")[1]: folder for name, folder in PACKAGE_DIRS.items() if name != "twin"}}

# What each room may import besides itself (docs/architecture.md says why). `twin` is core/.
ALLOWED = {
    "core": {"core"},
    "ingest": {"core"},
    "retrieval": {"core"},
    "finetune": {"core", "retrieval"},  # memory-grounded samples query the memory store
    "service": {"core", "retrieval", "ingest"},  # retrieval's query side; ingest for the live feed
    "eval": {"core", "ingest", "retrieval", "finetune"},
}
# The composition root: `twin` dispatches to each stage's commands by module name.
EXEMPT = {"core/cli.py"}
OLD_NAMES = {"core", "ingest", "finetune", "retrieval", "service", "eval", "bench"}
NEVER_IN_INGEST = {"torch", "transformers", "peft", "sentence_transformers"}


def _room_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "twin":
        return None
    if len(parts) > 1 and parts[1] in ROOMS and parts[1] != "twin":
        return ROOMS[parts[1]]
    return "core"


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every imported module name in a file, function-level imports included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _source_files() -> list[tuple[str, Path]]:
    return [(folder, path) for folder in ROOMS.values() for path in sorted((REPO / folder).rglob("*.py"))]


def test_each_room_imports_only_what_its_rule_allows():
    broken = []
    for folder, path in _source_files():
        rel = path.relative_to(REPO).as_posix()
        if rel in EXEMPT:
            continue
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in OLD_NAMES:
                broken.append(f"{rel}:{line} imports {module!r}: the installed name is twin.*")
                continue
            room = _room_of(module)
            if room is not None and room != folder and room not in ALLOWED[folder]:
                broken.append(f"{rel}:{line} imports {module} ({room}/), which {folder}/ may not import")
            if folder == "ingest" and top in NEVER_IN_INGEST:
                broken.append(f"{rel}:{line} imports {module}: ingest never needs a model library")
    assert not broken, "\n".join(broken)


def test_every_package_folder_is_installed():
    """A folder with an __init__.py under a mapped room must be listed in [tool.setuptools] packages,
    or a pip install silently leaves it out."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    expected = set()
    for package, folder in PACKAGE_DIRS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            expected.add(".".join([package, *rel.parts]))
    # core/ holds the stage folders' mapping only by name: its own subfolders are twin.<sub>
    assert expected == listed


def test_builtin_formats_are_the_entry_points_pyproject_registers():
    from twin.ingest import registry

    assert PYPROJECT["project"]["entry-points"]["twin.formats"] == registry.BUILTIN
    assert set(registry.formats()) >= set(registry.BUILTIN)
    assert {entry.origin for name, entry in registry.formats().items() if name in registry.BUILTIN} == {"built-in"}


def _pip(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", *args],
                   cwd=cwd, check=True, capture_output=True, text=True)


@pytest.mark.slow
def test_pip_install_claims_one_top_level_name(tmp_path):
    """`pip install .` into an empty target: the `twin` package, its dist-info and the script."""
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "__pycache__",
                                                                ".pytest_cache", "reports", ".twin"))
    target = tmp_path / "site"
    _pip("--target", str(target), ".", cwd=source)
    names = sorted(p.name for p in target.iterdir())
    assert [n for n in names if not n.endswith(".dist-info")] == ["bin", "twin"], names
    assert len([n for n in names if n.endswith(".dist-info")]) == 1
    assert (target / "bin" / "twin").is_file()
    installed = target / "twin"
    for module in ("corpus.py", "ingest/formats/wechat.py", "service/static/index.html", "eval/locomo.py"):
        assert (installed / module).is_file(), module
    # the installed copy imports from itself, not from this checkout
    code = "import twin.ingest.registry as r, twin; print(twin.__file__); print(len(r.formats()))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"})
    path, count = out.stdout.split()
    assert path.startswith(str(target)) and int(count) >= len(PYPROJECT["project"]["entry-points"]["twin.formats"])


PLUGIN_PARSER = '''
from twin.ingest.base import CERTAIN, ParseContext, Parser
from twin.records import ChatKind, Message

class PipeChat(Parser):
    """Lines of 'unix time|sender|text', first line '#pipechat <chat name>'."""
    name = "pipechat"
    description = "PipeChat test exporter (#pipechat header)"

    @classmethod
    def detect(cls, path, head):
        return CERTAIN if head.startswith("#pipechat ") else 0.0

    def parse(self, path, ctx: ParseContext):
        from datetime import datetime, timezone
        lines = path.read_text(encoding="utf-8").splitlines()
        chat = lines[0].split(" ", 1)[1]
        for n, line in enumerate(lines[1:], start=2):
            ts, sender, text = line.split("|", 2)
            yield Message("pipechat", f"pipechat:{n}", f"pipechat:{chat}", chat, ChatKind.PRIVATE, sender, sender,
                          ctx.owner.is_owner(sender, sender), datetime.fromtimestamp(int(ts), timezone.utc), text)
'''


@pytest.mark.slow
def test_a_format_plugin_installed_from_a_folder_is_used_by_twin_ingest(tmp_path):
    plugin = tmp_path / "twin-pipechat"
    (plugin / "twin_pipechat").mkdir(parents=True)
    (plugin / "twin_pipechat" / "__init__.py").write_text(textwrap.dedent(PLUGIN_PARSER), encoding="utf-8")
    (plugin / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "twin-pipechat"
        version = "0.3"
        [project.entry-points."twin.formats"]
        pipechat = "twin_pipechat:PipeChat"
        [tool.setuptools]
        packages = ["twin_pipechat"]
    '''), encoding="utf-8")
    site = tmp_path / "site"
    _pip("--target", str(site), ".", cwd=plugin)

    work = tmp_path / "me"
    work.mkdir()
    (work / "twin.toml").write_text('[owner]\nnames = ["Lin"]\n', encoding="utf-8")
    export = work / "chat.txt"  # .txt: documents would take it, but the plugin is more confident
    export.write_text("#pipechat Ana\n1700000000|Ana|are you coming tonight?\n1700000060|Lin|yes, at eight\n",
                      encoding="utf-8")
    twin = [sys.executable, "-c", "from twin.cli import main; main()"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}

    listed = subprocess.run([*twin, "ingest", "--list-formats"], cwd=work, env=env, capture_output=True, text=True, check=True)
    assert any(line.startswith("pipechat") and "[twin-pipechat 0.3]" in line for line in listed.stdout.splitlines()), listed.stdout

    subprocess.run([*twin, "ingest", str(export)], cwd=work, env=env, capture_output=True, text=True, check=True)
    from twin.corpus import CorpusStore

    with CorpusStore.open_existing(work / ".twin" / "corpus.sqlite") as corpus:
        messages = list(corpus.messages())
    assert [(m.source_id, m.sender_name, m.is_owner) for m in messages] == [
        ("pipechat:2", "Ana", False), ("pipechat:3", "Lin", True)]
    assert corpus_has_no_documents(work)


def corpus_has_no_documents(work: Path) -> bool:
    from twin.corpus import CorpusStore

    with CorpusStore.open_existing(work / ".twin" / "corpus.sqlite") as corpus:
        return not list(corpus.documents())
