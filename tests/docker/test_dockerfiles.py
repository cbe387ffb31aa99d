"""The images build on what their base images really ship, and every `twin ...` command the README
and the docker files tell a user to run exists (its `--help` works)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from twin.cli import build_app

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO / "docker").glob("*Dockerfile"))
DOCUMENTS = [REPO / "README.md", *DOCKERFILES, REPO / "docker" / "compose.yaml", REPO / "scripts" / "demo.sh"]

# What `python3` is on each base image family (from the images' own release notes): a Dockerfile
# that installs `python3.X` on a base whose distribution does not package X fails at build time.
BASE_PYTHON = {
    r"^python:(3\.\d+)": None,  # the official Python images: the tag is the version
    r"ubuntu24\.04$|^ubuntu:24\.04": "3.12",
    r"ubuntu22\.04$|^ubuntu:22\.04": "3.10",
    r"ubuntu20\.04$|^ubuntu:20\.04": "3.8",
    r"^debian:bookworm|^debian:12": "3.11",
}
REQUIRES_PYTHON = (3, 11)


def base_python(image: str) -> str:
    for pattern, version in BASE_PYTHON.items():
        match = re.search(pattern, image)
        if match:
            return version or match.group(1)
    raise AssertionError(f"{image}: add its Python version to BASE_PYTHON")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_each_image_installs_the_python_its_base_ships(dockerfile):
    text = dockerfile.read_text(encoding="utf-8")
    image = re.search(r"^FROM\s+(\S+)", text, re.M).group(1)
    shipped = base_python(image)
    assert tuple(map(int, shipped.split("."))) >= REQUIRES_PYTHON, f"{image} ships Python {shipped}; Twin needs 3.11+"
    asked = set(re.findall(r"\bpython(3\.\d+)\b", text))
    assert asked <= {shipped}, f"{dockerfile.name} uses python{'/'.join(sorted(asked))} but {image} ships {shipped}"


def test_no_document_runs_a_module_path_that_is_not_installed():
    """`-m finetune.train` and friends name folders, not the installed package (twin.*)."""
    for path in DOCUMENTS:
        stale = re.findall(r"-m\s+((?:core|ingest|finetune|retrieval|service|eval)\.\w+)", path.read_text(encoding="utf-8"))
        assert not stale, f"{path.name}: {stale}"


def _command_lines(path: Path) -> list[str]:
    """Where a user is told to type something: code spans and blocks in Markdown; other files'
    lines with their comment marks taken off (commands in comments are examples to type too)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".md":
        lines = [re.sub(r"^\s*#\s?", "", line) for line in text.splitlines()]
        # an exec-form CMD ["twin", "serve", "--port", "8000"] reads as the shell line it stands for
        return [" ".join(re.findall(r'"([^"]*)"', line)) if line.startswith(("CMD [", "ENTRYPOINT [")) else line
                for line in lines]
    blocks = re.findall(r"```[^\n]*\n(.*?)```", text, re.S)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return [line for block in blocks for line in block.splitlines()] + spans


# `twin` where a shell would run it: first on the line (after a prompt or VAR=value settings), after
# && ; | $( or a launcher that runs a program (accelerate, torchrun, an image in `docker run`).
_RUNS_TWIN = re.compile(
    r"(?:^\s*(?:\$\s+)?(?:[A-Z_]+=\S*\s+)*|&&\s*|;\s*|\|\s*|\$\(|--no[_-]python\s+|\btwin-(?:train|service)\S*\s+)"
    r"twin((?:\s+[a-z][a-z0-9-]*)+)")


def documented_commands() -> set[tuple[str, ...]]:
    root = typer.main.get_command(build_app())
    found = set()
    for path in DOCUMENTS:
        for line in _command_lines(path):
            for match in _RUNS_TWIN.finditer(line):
                node, words = root, []
                for word in match.group(1).split():
                    commands = getattr(node, "commands", None)
                    if commands is None:  # a leaf command: the rest are its arguments
                        break
                    words.append(word)
                    if word not in commands:
                        break
                    node = commands[word]
                found.add((path.name, *words))
    return found


def test_every_documented_twin_command_exists():
    runner, app = CliRunner(), build_app()
    commands = documented_commands()
    assert {("README.md", "train"), ("train.Dockerfile", "train"), ("train.Dockerfile", "adapter", "check")} <= commands
    broken = []
    for where, *words in sorted(commands):
        result = runner.invoke(app, [*words, "--help"])
        if result.exit_code != 0:
            broken.append(f"{where}: twin {' '.join(words)}: {result.output.strip().splitlines()[-2:]}")
    assert not broken, "\n".join(broken)
