"""`twin serve` (run the OpenAI-compatible service), `twin serve hash-key`, `twin serve log`."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.clikit import ConfigOption, console, get_config, handle_errors, print_json

serve_app = typer.Typer(help="Serve the twin over an OpenAI-compatible API with a web chat page.",
                        invoke_without_command=True)


@serve_app.callback()
@handle_errors
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="interface to bind (default: service.host)")] = None,
    port: Annotated[int | None, typer.Option("--port", "-p", help="port (default: service.port)")] = None,
    backend: Annotated[str | None, typer.Option("--backend", help="transformers | openai | echo (default: service.backend)")] = None,
    config: ConfigOption = None,
) -> None:
    """Start the service (flags override [service] in twin.toml)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from twin.service.app import create_app

    cfg = get_config(config)
    overrides = {k: v for k, v in {"host": host, "port": port, "backend": backend}.items() if v is not None}
    if overrides:
        cfg = cfg.model_copy(update={"service": cfg.service.model_validate({**cfg.service.model_dump(), **overrides})})
    app = create_app(cfg)
    console.print(f"twin serving [bold]{cfg.service.model_name}[/bold] on http://{cfg.service.host}:{cfg.service.port} "
                  f"(backend {cfg.service.backend}); chat page at /")
    uvicorn.run(app, host=cfg.service.host, port=cfg.service.port, log_level="info")


@serve_app.command("hash-key")
def hash_key_command(key: Annotated[str, typer.Argument(help="the API key clients will send")]) -> None:
    """Print the sha256 of KEY for service.api_key_hashes (the key itself is never stored)."""
    from twin.service.auth import hash_key

    if len(key) < 16:
        console.print("[yellow]warning:[/yellow] keys shorter than 16 characters are easy to guess")
    typer.echo(hash_key(key))


@serve_app.command("log")
@handle_errors
def show_log(
    limit: Annotated[int, typer.Option("--limit", "-n", help="how many recent requests")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    config: ConfigOption = None,
) -> None:
    """Show recent requests from the request log (time, mode, memories used, latency)."""
    from rich.table import Table

    from twin.errors import StoreError
    from twin.service.request_log import RequestLog

    cfg = get_config(config)
    path = cfg.path("request_log")
    if not path.is_file():
        raise StoreError(f"{path}: no request log yet (start `twin serve` and send a request)")
    rows = RequestLog(path).recent(limit)
    if as_json:
        print_json(rows)
        return
    table = Table("time", "route", "mode", "status", "backend", "memories", "retrieval ms", "latency ms")
    for row in rows:
        table.add_row(row["time"], row["route"], row["mode"] or "-", str(row["status"]), row["backend"] or "-",
                      str(len(row["memory_ids"])), f"{row['retrieval_ms'] or 0:.1f}", f"{row['latency_ms']:.1f}")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(serve_app, name="serve")
