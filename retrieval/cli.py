"""`twin memory index | search | stats`."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.clikit import ConfigOption, console, get_config, handle_errors, print_json


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    memory = typer.Typer(help="Build and query the memory store.", no_args_is_help=True)
    app.add_typer(memory, name="memory")

    @memory.command("index")
    @handle_errors
    def index(
        config: ConfigOption = None,
        rebuild: Annotated[bool, typer.Option("--rebuild", help="empty the embedded store first and index everything again, notes included (e.g. after changing memory.embedder); refused while `twin serve` has the store open")] = False,
        json_out: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    ) -> None:
        """Chunk the corpus into memories, embed only new ones, and build the search index."""
        from twin.retrieval.memory import index_corpus

        report = index_corpus(get_config(config), progress=not json_out, rebuild=rebuild)
        if json_out:
            print_json(report)
        else:
            console.print(f"{report['memories']} memories ({report['new']} new, {report['removed']} removed) in "
                          f"{report['location']}; {report['messages_per_memory']} messages / "
                          f"{report['tokens_per_memory']} tokens per chat memory; embedder {report['embedder']}")

    @memory.command("search")
    @handle_errors
    def search(
        query: Annotated[str, typer.Argument(help="a question or keywords, any language")],
        k: Annotated[int | None, typer.Option("--k", help="how many memories (default memory.top_k)")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="print hits as JSON")] = False,
        config: ConfigOption = None,
    ) -> None:
        """Search the memories the way the twin does."""
        from twin.retrieval.memory import MemoryIndex

        cfg = get_config(config)
        with MemoryIndex.open(cfg) as idx:
            hits = idx.search(query, k or cfg.memory.top_k)
        if json_out:
            print_json([{"id": h.id, "score": round(h.score, 5), "text": h.memory.text, "kind": h.memory.kind,
                         "start": h.memory.start, "end": h.memory.end, "source_ids": list(h.memory.source_ids)}
                        for h in hits])
            return
        for rank, hit in enumerate(hits, 1):
            console.print(f"[bold]{rank}.[/bold] score {hit.score:.4f}  ({len(hit.memory.source_ids)} messages)",
                          highlight=False)
            console.print(hit.memory.text, markup=False, highlight=False)
        if not hits:
            console.print("no memories matched")

    @memory.command("compact")
    @handle_errors
    def compact(config: ConfigOption = None) -> None:
        """Rewrite the embedded store so the text of deleted memories is gone from its files
        (forgetting does this already; for a store edited by other means), and rebuild its search
        graph with the current settings (`twin memory stats` says when an older store needs it)."""
        from twin.retrieval.memory import MemoryIndex

        with MemoryIndex.open(get_config(config)) as idx:
            before = idx.count()
            idx.compact()
        console.print(f"compacted {before} memories")

    @memory.command("stats")
    @handle_errors
    def stats(
        json_out: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
        config: ConfigOption = None,
    ) -> None:
        """Size of the store: memories, messages and tokens per memory, embedder, backend."""
        from twin.retrieval.memory import MemoryIndex

        with MemoryIndex.open(get_config(config)) as idx:
            data = idx.stats()
        if json_out:
            print_json(data)
        else:
            for key, value in data.items():
                console.print(f"{key}: {value}", highlight=False)
