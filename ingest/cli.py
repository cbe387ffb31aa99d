"""`twin ingest` and `twin corpus`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.markup import escape
from rich.table import Table

from twin.clikit import ConfigOption, console, get_config, handle_errors, print_json

corpus_app = typer.Typer(help="Inspect the corpus.", no_args_is_help=True)


@handle_errors
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="export files or folders")] = None,
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="force a format (see --list-formats)")] = None,
    list_formats: Annotated[bool, typer.Option("--list-formats", help="list known formats and exit")] = False,
    config: ConfigOption = None,
) -> None:
    """Read chat exports, posts and articles into the corpus (PII scrubbed, idempotent)."""
    from twin.ingest import registry
    from twin.ingest.pipeline import ingest_paths
    from twin.corpus import CorpusStore

    if list_formats:
        # The listing is this command's output (stdout, so it can be piped); plugins name their package.
        for name, entry in registry.formats().items():
            origin = "" if entry.origin == "built-in" else f"  [{entry.origin}]"
            typer.echo(f"{name:28} {registry.get_parser(name).description}{origin}")
        return
    if not paths:
        raise typer.BadParameter("give at least one PATH")
    cfg = get_config(config)
    with CorpusStore(cfg.path("corpus")) as store, Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} files"),
        TextColumn("{task.fields[records]} records"), TimeElapsedColumn(), console=console, transient=True,
    ) as progress:
        inputs = registry.expand(paths)
        task = progress.add_task("ingesting", total=len(inputs), records=0)
        done: dict[Path, int] = {}

        def on_progress(path: Path, records: int) -> None:
            done[path] = records
            progress.update(task, description=f"ingesting {path.name}", records=sum(done.values()))

        reports = []
        for path in inputs:
            reports.extend(ingest_paths([path], cfg, store, fmt=fmt, on_progress=on_progress))
            progress.advance(task)
    _print_summary(reports)
    if reports and not any(r.ok for r in reports):
        raise typer.Exit(1)


def _print_summary(reports) -> None:
    table = Table(title="ingest summary")
    table.add_column("file", overflow="fold", max_width=24)
    table.add_column("format", overflow="fold")
    for col in ("msgs", "docs", "new"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("skipped, PII scrubbed", overflow="fold", min_width=20)
    for r in reports:
        notes = [f"{k} {v}" for k, v in sorted(r.skipped.items())]
        notes += [f"{k.strip('<>')} {v}" for k, v in sorted(r.pii.items())]
        table.add_row(
            escape(r.path.name), r.format, str(r.messages), str(r.documents), str(r.new),
            "[red]failed (see below)[/red]" if r.error else escape(", ".join(notes)) or "-",
        )
    console.print(table)
    for r in reports:
        if r.error:  # full text below the table, where a narrow terminal cannot cut it
            console.print(f"[red]error:[/red] {escape(r.error)}", highlight=False)
        for warning in r.warnings:
            console.print(f"[yellow]warning:[/yellow] {escape(r.path.name)}: {escape(warning)}", highlight=False)
    new = sum(r.new for r in reports)
    parsed = sum(r.messages + r.documents for r in reports)
    if reports and not any(r.ok for r in reports):
        console.print("nothing ingested: every input failed")
    elif parsed and not new:
        console.print("nothing new: every record was already in the corpus")
    else:
        console.print(f"{new} new records stored")


@corpus_app.command("stats")
@handle_errors
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON on stdout")] = False,
    config: ConfigOption = None,
) -> None:
    """Counts per source and message kind, and the owner's text messages."""
    from twin.corpus import CorpusStore

    cfg = get_config(config)
    with CorpusStore.open_existing(cfg.path("corpus")) as store:
        data = store.stats()
    if as_json:
        print_json(data)
        return
    table = Table(title=f"corpus {cfg.path('corpus')}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key in ("messages", "documents", "conversations", "owner_text_messages", "files"):
        table.add_row(key, str(data[key]))
    for source, n in sorted(data["by_source"].items()):
        table.add_row(f"source {source}", str(n))
    for kind, n in sorted(data["by_kind"].items()):
        table.add_row(f"kind {kind}", str(n))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.add_typer(corpus_app, name="corpus")
