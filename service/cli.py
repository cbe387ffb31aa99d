"""`twin serve` (run the OpenAI-compatible service), `twin serve hash-key`, `twin serve log`, and
`twin watch` (feed new chats into the running service)."""

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
    app = create_app(cfg, announce=lambda text: console.print(text, markup=False), warm_memory=True)
    now = cfg.service.now()
    clock = cfg.service.timezone or f"this machine's zone, UTC{now.strftime('%z')}; set service.timezone to change it"
    console.print(f"twin serving [bold]{cfg.service.model_name}[/bold] on http://{cfg.service.host}:{cfg.service.port} "
                  f"(backend {cfg.service.backend}); chat page at /")
    console.print(f"the twin's clock: today is {now.date().isoformat()} ({clock})", highlight=False)
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


@handle_errors
def watch(
    url: Annotated[str, typer.Argument(help="WeFlow's API (http://127.0.0.1:5031), a ChatLab pull endpoint, or chatlog's server")],
    session: Annotated[list[str] | None, typer.Option("--session", "-s", help="only this session id (repeatable; default: all)")] = None,
    interval: Annotated[float, typer.Option("--interval", help="seconds between rounds")] = 60.0,
    once: Annotated[bool, typer.Option("--once", help="one round, then exit")] = False,
    token: Annotated[str | None, typer.Option("--token", envvar="WEFLOW_TOKEN", help="the source's access token")] = None,
    twin_url: Annotated[str | None, typer.Option("--twin", help="the running twin (default: http://service.host:service.port)")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="TWIN_API_KEY", help="the twin's API key")] = None,
    config: ConfigOption = None,
) -> None:
    """Feed new chats into the running twin: pull WeFlow/ChatLab pages since a saved cursor, or
    print how to point chatlog's webhook at POST /v1/ingest."""
    import time

    from twin.errors import UnavailableError
    from twin.service.watch import Cursors, PullSource, TwinSink, chatlog_instructions, is_chatlog, pull_once

    cfg = get_config(config)
    target = twin_url or f"http://{cfg.service.host}:{cfg.service.port}"
    if is_chatlog(url):
        typer.echo(chatlog_instructions(target))
        return
    cursors = Cursors(cfg.path("data_dir") / "watch.json")
    source, sink = PullSource(url, token), TwinSink(target, api_key)
    try:
        while True:
            try:
                report = pull_once(source, sink, cursors, sessions=session or None)
            except UnavailableError as exc:  # the source or the twin is down: the cursors stay, try again
                if once:
                    raise
                console.print(f"[yellow]{time.strftime('%H:%M:%S')} skipped this round:[/yellow] {exc}", highlight=False)
            else:
                console.print(f"{time.strftime('%H:%M:%S')} {report.pages} pages from {len(report.sessions)} sessions: "
                              f"{report.messages} messages, {report.new} new, {report.memories_added} memories added")
            if once:
                return
            time.sleep(interval)
    finally:
        source.close()
        sink.close()


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(serve_app, name="serve")
    app.command("watch")(watch)
