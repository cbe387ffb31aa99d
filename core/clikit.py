"""Helpers every stage's CLI uses: the --config option, one console, errors as one line."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Callable, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from twin.config import TwinConfig, load_config
from twin.errors import TwinError

console = Console(stderr=True)  # progress and tables go to stderr; --json output alone on stdout

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="twin.toml to use (default: ./twin.toml)", show_default=False),
]

F = TypeVar("F", bound=Callable)


def get_config(path: Path | None) -> TwinConfig:
    from twin.private import tighten_data_dir

    config = load_config(path)
    tighten_data_dir(config.path("data_dir"))
    return config


def handle_errors(func: F) -> F:
    """Translate the project's typed errors into one red line and the error's exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except TwinError as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: object) -> None:
    import json

    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
