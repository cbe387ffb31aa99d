"""`twin dataset ...`, `twin train`, `twin adapter ...`: the finetune stage's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from twin.clikit import ConfigOption, console, get_config, handle_errors, print_json

dataset_app = typer.Typer(help="Build and inspect the style dataset.", no_args_is_help=True)
adapter_app = typer.Typer(help="Work with trained adapters.", no_args_is_help=True)


@dataset_app.command("build")
@handle_errors
def dataset_build(
    name: Annotated[str, typer.Option("--name", "-n", help="folder under paths.datasets")] = "style",
    tokenizer: Annotated[
        str | None, typer.Option("--tokenizer", help="tokenizer for windows/stats: model id, path, or 'approx'")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON on stdout")] = False,
    config: ConfigOption = None,
) -> None:
    """Turn the corpus into SFT samples (train / validation / holdout) with a manifest."""
    from twin.finetune.dataset import build_dataset

    cfg = get_config(config)
    with Progress(
        TextColumn("building dataset"), BarColumn(), TextColumn("{task.completed} sessions"),
        TimeElapsedColumn(), console=console, transient=True,
    ) as progress:
        task = progress.add_task("build", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done)

        report = build_dataset(cfg, name, tokenizer=tokenizer, on_progress=on_progress)
    if as_json:
        print_json({"folder": str(report.folder), **report.to_json()})
    console.print(_stats_table(report))
    store = report.memory_store or {}
    if not store.get("used"):
        console.print(f"plain samples only (no memories in the system messages): {store.get('why')}")
    console.print(f"wrote {report.folder}")


def _stats_table(report) -> Table:
    table = Table(title=f"dataset {report.folder.name} (tokens: {report.tokenizer})")
    table.add_column("what")
    table.add_column("count", justify="right")
    counts = report.counts
    for key in ("sessions", "documents", "samples_before_filters", "chat_samples", "post_samples",
                "openers_kept", "media_placeholders", "pii_messages_kept", "late_replies_opened"):
        table.add_row(key, str(counts.get(key, 0)))
    pairs = counts.get("pairs", 0)
    for key in ("cross_exchange_pairs", "pairs_reply_over_5min"):
        share = f" ({counts.get(key, 0) / pairs:.1%})" if pairs else ""
        table.add_row(f"{key} (of {pairs} pairs)", f"{counts.get(key, 0)}{share}")
    coverage = report.coverage or {}
    if coverage.get("distinctive_owner_messages"):
        table.add_row("owner's distinctive messages reaching a reply",
                      f"{coverage['reached_assistant_turn']} / {coverage['distinctive_owner_messages']} "
                      f"({coverage['share']:.1%})")
    store = report.memory_store or {}
    if store.get("used"):
        table.add_row("memory store", f"{store['memories']} memories, {store['embedder']}, id {store['store_id']}")
        for key, value in sorted(report.memory.items()):
            table.add_row(key, str(value))
        table.add_row("samples quoting their own session or later", str(report.leak_check.get("leaking_samples")))
    else:
        table.add_row("memory-grounded samples", f"none: {store.get('why', 'no memory store')}")
    for key, value in sorted(report.filters.items()):
        table.add_row(f"dropped: {key}", str(value))
    for split, stats in report.tokens.items():
        detail = f"{stats['samples']} samples, {stats['tokens']} tokens ({stats['owner_tokens']} owner)"
        if stats["samples"]:
            detail += f", p50 {stats['p50']} / p95 {stats['p95']} / max {stats['max']} per sample"
        table.add_row(f"split: {split}", detail)
    return table


@dataset_app.command("show")
@handle_errors
def dataset_show(
    name: Annotated[str, typer.Argument(help="dataset name or folder")] = "style",
    split: Annotated[str, typer.Option("--split")] = "train",
    limit: Annotated[int, typer.Option("--limit", "-n")] = 3,
    config: ConfigOption = None,
) -> None:
    """Print a few samples of a split."""
    from twin.finetune.dataset import dataset_folder, read_split

    cfg = get_config(config)
    rows = read_split(dataset_folder(cfg, name), split)
    for row in rows[:limit]:
        console.rule(f"{row.get('kind')} {row.get('conversation_id')} window {row.get('window')}")
        for message in row["messages"]:
            style = "bold green" if message["role"] == "assistant" else "dim" if message["role"] == "system" else ""
            console.print(f"[{style}]{message['role']}:[/{style}] " if style else f"{message['role']}: ", end="")
            console.print(message["content"], markup=False, highlight=False)


@handle_errors
def train(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="dataset name or folder")] = "style",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="adapter folder (default: paths.adapters/<run>)")] = None,
    base_model: Annotated[str | None, typer.Option("--base-model", help="override train.base_model")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps")] = None,
    epochs: Annotated[float | None, typer.Option("--epochs")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size")] = None,
    grad_accum: Annotated[int | None, typer.Option("--grad-accum")] = None,
    max_seq_len: Annotated[int | None, typer.Option("--max-seq-len")] = None,
    lora_rank: Annotated[int | None, typer.Option("--lora-rank")] = None,
    packing: Annotated[bool | None, typer.Option("--packing/--no-packing")] = None,
    gradient_checkpointing: Annotated[bool | None, typer.Option("--gradient-checkpointing/--no-gradient-checkpointing")] = None,
    qlora: Annotated[bool | None, typer.Option("--qlora/--no-qlora")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue from the newest checkpoint in --output")] = False,
    config: ConfigOption = None,
) -> None:
    """LoRA fine-tune the base model on the dataset; writes a self-describing adapter folder."""
    from twin.finetune.config import apply_overrides
    from twin.finetune.train import train as run_training

    cfg = get_config(config)
    overrides = {
        "base_model": base_model, "max_steps": max_steps, "epochs": epochs, "learning_rate": learning_rate,
        "batch_size": batch_size, "grad_accum": grad_accum, "max_seq_len": max_seq_len, "lora_rank": lora_rank,
        "packing": packing, "gradient_checkpointing": gradient_checkpointing, "qlora": qlora,
    }
    train_cfg = apply_overrides(cfg.train, overrides)
    result = run_training(cfg, train_cfg, dataset=dataset, output=output, resume=resume, log=console.print)
    if result.is_main_process:
        console.print(
            f"adapter written to {result.folder} ({result.steps} steps, "
            f"loss {result.first_loss:.3f} -> {result.last_loss:.3f}, {result.seconds:.0f} s)"
        )


@adapter_app.command("merge")
@handle_errors
def adapter_merge(
    adapter: Annotated[Path, typer.Argument(help="adapter folder made by `twin train`")],
    output: Annotated[Path, typer.Option("--output", "-o", help="folder for the merged model")],
    config: ConfigOption = None,
) -> None:
    """Fold the LoRA weights into the base model and save a full transformers model."""
    from twin.finetune.merge import merge_adapter

    folder = merge_adapter(adapter, output)
    console.print(f"merged model written to {folder}")


@adapter_app.command("info")
@handle_errors
def adapter_info(adapter: Annotated[Path, typer.Argument(help="adapter folder")]) -> None:
    """Print an adapter folder's manifest."""
    from twin.manifest import read_manifest

    print_json(read_manifest(adapter))


@adapter_app.command("check")
@handle_errors
def adapter_check(
    adapter: Annotated[Path, typer.Argument(help="adapter folder made by `twin train` (or any PEFT LoRA folder)")],
    max_lora_rank: Annotated[
        int | None, typer.Option("--max-lora-rank", help="the value a running vLLM server uses, to check against it")
    ] = None,
    max_model_len: Annotated[int | None, typer.Option("--max-model-len", help="added to the printed vllm command")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON on stdout")] = False,
) -> None:
    """Check that vLLM will load this adapter, and print the `vllm serve` command that fits it."""
    from twin.finetune.vllm_compat import check_adapter

    result = check_adapter(adapter, max_lora_rank=max_lora_rank)
    command = result.vllm_command(max_model_len=max_model_len)
    if as_json:
        print_json({"ok": result.ok, "rank": result.rank, "base_model": result.base_model,
                    "model_type": result.model_type, "target_modules": result.target_modules,
                    "max_lora_rank": result.max_lora_rank, "errors": result.errors, "warnings": result.warnings,
                    "vllm_command": command, "compose_env": f"TWIN_MAX_LORA_RANK={result.max_lora_rank}"})
    else:
        console.print(f"adapter {adapter}: rank {result.rank}, base {result.base_model or '?'} "
                      f"({result.model_type or 'unknown architecture'})", markup=False, highlight=False)
        for error in result.errors:
            console.print(f"  error: {error}", style="red", markup=False, highlight=False)
        for warning in result.warnings:
            console.print(f"  warning: {warning}", style="yellow", markup=False, highlight=False)
        if result.ok:
            console.print("vLLM can load it. Serve it with:", markup=False)
            typer.echo(command)
            console.print(f"or with docker/compose.yaml: TWIN_MAX_LORA_RANK={result.max_lora_rank} "
                          f"TWIN_BASE_MODEL={result.base_model} TWIN_ADAPTER_RUN={Path(adapter).name} ...",
                          markup=False, highlight=False)
    if not result.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(dataset_app, name="dataset")
    app.command("train")(train)
    app.add_typer(adapter_app, name="adapter")
