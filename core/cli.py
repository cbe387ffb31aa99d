"""The `twin` command. Each stage owns its commands in `<stage>/cli.py` with a `register(app)`;
this module only assembles them, importing each by name so no stage depends on another."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated

import typer

from twin.clikit import console, handle_errors
from twin.config import CONFIG_FILE, load_config
from twin.errors import ConfigError
from twin.init_template import render
from twin.private import OWNER_ONLY_UMASK, write_private_text

STAGE_CLIS = ("twin.ingest.cli", "twin.finetune.cli", "twin.retrieval.cli", "twin.service.cli", "twin.eval.cli")

app = typer.Typer(
    name="twin",
    help="Make an AI twin from your own chats, posts and articles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command()
@handle_errors
def init(
    owner: Annotated[list[str] | None, typer.Option("--owner", help="your id or display name in the exports (repeatable)")] = None,
    tz: Annotated[str, typer.Option("--tz", help="timezone of local-time exports, e.g. Asia/Shanghai")] = "UTC",
    name: Annotated[str | None, typer.Option("--name", help="the persona's name (default: first owner name)")] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing twin.toml")] = False,
) -> None:
    """Write a commented twin.toml in the current folder."""
    target = Path.cwd() / CONFIG_FILE
    if target.exists() and not force:
        raise ConfigError(f"{target} exists; pass --force to overwrite it")
    write_private_text(target, render(owner or [], tz, name))  # 0600: it may hold API keys
    load_config(target)  # what we write must load
    console.print(f"wrote {target}")
    if not owner:
        console.print("[yellow]no --owner given:[/yellow] edit [owner] so your messages can be told apart")


_registered = False


def build_app() -> typer.Typer:
    global _registered
    if not _registered:
        for module in STAGE_CLIS:
            importlib.import_module(module).register(app)
        _registered = True
    return app


def main() -> None:
    import os

    os.umask(OWNER_ONLY_UMASK)  # what libraries create for us (shards, SQLite journals, weights) is owner-only too
    build_app()()
