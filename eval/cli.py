"""`twin eval` commands: recall, qa, style, run (full report), make-questions, compare."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from twin.clikit import ConfigOption, console, get_config, handle_errors, print_json
from twin.errors import ConfigError, InputError

eval_app = typer.Typer(help="Measure the twin: memory recall, answer quality, style fidelity; write reports.",
                       no_args_is_help=True)

KOption = Annotated[str | None, typer.Option("--k", help="comma-separated cut-offs, e.g. 5,10,25 (default: eval.k)")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")]
NameOption = Annotated[str | None, typer.Option("--name", help="report folder name under paths.reports (default: a timestamp)")]
AdapterOption = Annotated[Path | None, typer.Option("--adapter", help="adapter folder (default: newest under paths.adapters)")]
NoAdapterOption = Annotated[bool, typer.Option("--no-adapter", help="base model only")]
UrlOption = Annotated[str | None, typer.Option("--url", help="OpenAI-compatible base URL to ask instead of loading models (e.g. http://127.0.0.1:8000/v1)")]
ModelOption = Annotated[str, typer.Option("--model", help="model name at --url")]
BaseModelOption = Annotated[str | None, typer.Option("--base-model", help="model name at --url for the base arm of the ablation (e.g. vLLM's base model)")]
ApiKeyOption = Annotated[str | None, typer.Option("--api-key", envvar="TWIN_EVAL_API_KEY", help="key for --url")]
JudgeOption = Annotated[bool, typer.Option("--judge", help="also grade with the LLM judge in eval.judge_url / eval.judge_model")]


def parse_ks(text: str | None, default: list[int]) -> list[int]:
    if text is None:
        return default
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ConfigError(f"--k {text!r}: expected comma-separated whole numbers like 5,10,25") from None
    if not ks or ks[0] <= 0:
        raise ConfigError(f"--k {text!r}: cut-offs must be positive")
    return ks


@eval_app.command()
@handle_errors
def recall(
    qa: Annotated[Path | None, typer.Option("--qa", help="own-format question set (JSONL), against this twin's memory store")] = None,
    locomo: Annotated[Path | None, typer.Option("--locomo", help="LoCoMo JSON; each conversation gets its own store")] = None,
    sample: Annotated[list[str] | None, typer.Option("--sample", help="LoCoMo sample id to use (repeatable; default all)")] = None,
    k: KOption = None,
    context: Annotated[list[int] | None, typer.Option("--context", help="also measure served recall for a model with this context window in tokens (repeatable; LoCoMo default: 2048 and 32768)")] = None,
    as_json: JsonOption = False,
    name: Annotated[str | None, typer.Option("--report", help="also write a report folder with this name")] = None,
    config: ConfigOption = None,
) -> None:
    """Evidence recall@k per category and overall (all evidence ids in the top k; also 'any'),
    recall within token budgets, and served recall: the evidence in the prompt the service would
    build (its memory budget for the configured backend, and for each --context window)."""
    from twin.eval.report import write_report
    from twin.config import load_config

    if (qa is None) == (locomo is None):
        raise ConfigError("give exactly one of --qa FILE or --locomo FILE")
    # LoCoMo needs no twin: without a twin.toml the default memory settings are used.
    cfg = load_config(config, required=qa is not None)
    ks = parse_ks(k, cfg.eval.k)
    if locomo is not None:
        from twin.eval.recall import SERVED_WINDOWS, locomo_recall

        if not locomo.is_file():
            raise InputError(locomo, "no such LoCoMo file")
        windows = context or SERVED_WINDOWS
        result = locomo_recall(locomo, ks, cfg, samples=sample or None, progress=not as_json, windows=windows)
        section = "locomo"
    else:
        from twin.eval.questions import load_questions
        from twin.eval.recall import index_recall, served_budgets, service_budget
        from twin.retrieval.memory import MemoryIndex

        questions = load_questions(qa)
        with MemoryIndex.open(cfg) as index:
            size = index.tokens_per_memory()  # top_k follows the store's memory size, as in the service
            served = {"service": service_budget(cfg, size), **served_budgets(cfg, context or [], size)}
            result = index_recall(index, questions, ks, config=cfg, served=served)
        section = "qa"
    if name:
        from twin.eval.provenance import provenance

        folder = write_report({"recall": {section: result}, "provenance": provenance(cfg, None, result.get("embedder"))},
                              cfg.path("reports"), name)
        console.print(f"report: {folder}")
    if as_json:
        print_json(result)
    else:
        _print_recall(result)


def _print_recall(result: dict) -> None:
    from rich.table import Table

    from twin.eval.report import category_label

    ks = list(result["overall"])
    table = Table(title=f"evidence recall@k ({result['questions']} questions)")
    table.add_column("category")
    for key in ks:
        table.add_column(f"R@{key}", justify="right")
    for category, row in result.get("by_category", {}).items():
        table.add_row(category_label(category), *(f"{row[key]:.3f}" for key in ks))
    table.add_row("overall", *(f"{result['overall'][key]:.3f}" for key in ks), style="bold")
    if result.get("overall_any"):
        table.add_row("overall (any evidence)", *(f"{result['overall_any'][key]:.3f}" for key in ks))
    console.print(table)
    if "messages_per_memory" in result:
        console.print(f"{result.get('memories')} memories, {result['messages_per_memory']} messages and "
                      f"{result.get('tokens_per_memory')} tokens per memory; embedder {result.get('embedder')}")
    if result.get("budget"):
        console.print("recall within a memory block of N tokens (packed like the service): "
                      + ", ".join(f"{b} tokens {v:.3f}" for b, v in result["budget"].items()))
    for label, value in (result.get("served") or {}).items():
        b = result["served_budgets"][label]
        console.print(f"served recall ({label}: {b['memory_tokens']} memory tokens of a {b['context_tokens']}-token "
                      f"context, {b['source']}): [bold]{value:.3f}[/bold], "
                      f"{result['memories_served'][label]:.1f} memories in the prompt")


@contextmanager
def answer_progress():
    """(say, on_answer) for run_sections: messages above a progress bar of answered questions."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("answering", total=None, visible=False)

        def on_answer(condition: str, done: int, total: int) -> None:
            bar.update(task, description=f"answering: {condition}", completed=done, total=total, visible=True)

        yield bar.console.print, on_answer


@eval_app.command()
@handle_errors
def run(
    qa: Annotated[Path | None, typer.Option("--qa", help="own-format question set: recall + QA ablation")] = None,
    locomo: Annotated[Path | None, typer.Option("--locomo", help="LoCoMo JSON: recall with a store per conversation")] = None,
    sample: Annotated[list[str] | None, typer.Option("--sample", help="LoCoMo sample id (repeatable)")] = None,
    locomo_qa: Annotated[int, typer.Option("--locomo-qa", min=0, help="also answer N LoCoMo questions per conversation (all categories) in the ablation")] = 0,
    dataset: Annotated[str | None, typer.Option("--dataset", help="dataset name under paths.datasets: style fidelity on its holdout")] = None,
    adapter: AdapterOption = None,
    no_adapter: NoAdapterOption = False,
    url: UrlOption = None,
    model: ModelOption = "twin",
    base_model: BaseModelOption = None,
    api_key: ApiKeyOption = None,
    judge: JudgeOption = False,
    no_ablation: Annotated[bool, typer.Option("--no-ablation", help="answer with the best model only, memory on")] = False,
    name: NameOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Full report: recall, {no memory, memory} x {base, adapter} QA, style fidelity."""
    from twin.eval.report import new_run_name, write_report
    from twin.eval.runner import ModelChoice, run_sections

    if not (qa or locomo or dataset):
        raise ConfigError("nothing to run: give --qa, --locomo and/or --dataset")
    cfg = get_config(config)
    choice = ModelChoice(adapter=adapter, no_adapter=no_adapter, url=url, model=model, base_model=base_model, api_key=api_key)
    if locomo_qa and locomo is None:
        raise ConfigError("--locomo-qa needs --locomo FILE")
    if locomo_qa and url and not base_model:
        # LoCoMo prompts carry their own persona and memories; a twin service would add the
        # owner's on top. A plain model server (vLLM) with both arms named is what fits.
        raise ConfigError("--locomo-qa with --url asks a plain model server (e.g. vLLM): name its base model "
                          "with --base-model and the adapter with --model, not a twin service")
    with answer_progress() as (say, on_answer):
        report = run_sections(cfg, qa_file=qa, locomo_file=locomo, locomo_samples=sample or None, locomo_qa=locomo_qa,
                              dataset=dataset, choice=choice, judge=judge, ablation=not no_ablation, say=say,
                              on_answer=on_answer)
    folder = write_report(report, cfg.path("reports"), name or new_run_name())
    console.print(f"report: {folder}")
    if as_json:
        print_json(json.loads((folder / "report.json").read_text(encoding="utf-8")))
    else:
        console.print((folder / "summary.md").read_text(encoding="utf-8"), markup=False, highlight=False)


@eval_app.command()
@handle_errors
def qa(
    qa_file: Annotated[Path, typer.Option("--qa", help="own-format question set (JSONL)")],
    url: UrlOption = None,
    model: ModelOption = "twin",
    api_key: ApiKeyOption = None,
    adapter: AdapterOption = None,
    no_adapter: NoAdapterOption = False,
    no_memory: Annotated[bool, typer.Option("--no-memory", help="in-process only: ask without retrieved memories")] = False,
    judge: JudgeOption = False,
    name: NameOption = None,
    config: ConfigOption = None,
) -> None:
    """Answer quality only: token F1 (and judge) of one model. --url asks a running twin service as is."""
    from twin.eval.qa import run_qa
    from twin.eval.questions import load_questions
    from twin.eval.report import new_run_name, write_report
    from twin.eval.runner import ModelChoice, load_judges, load_models, open_retriever
    from twin.eval.provenance import provenance

    cfg = get_config(config)
    questions = load_questions(qa_file)
    models = load_models(cfg, ModelChoice(adapter=adapter, no_adapter=no_adapter, url=url, model=model, api_key=api_key), console.print)
    answer_judge, _ = load_judges(cfg, judge)
    if url:
        result = run_qa(questions, models.best(), cfg, served=True, judge=answer_judge)
    elif no_memory:
        result = run_qa(questions, models.best(), cfg, judge=answer_judge)
    else:
        retrieve, index = open_retriever(cfg)
        with index:
            result = run_qa(questions, models.best(), cfg, retrieve=retrieve, judge=answer_judge)
    report = {"qa": result, "provenance": provenance(cfg, models.adapter_path)}
    folder = write_report(report, cfg.path("reports"), name or new_run_name())
    console.print((folder / "summary.md").read_text(encoding="utf-8"), markup=False, highlight=False)
    console.print(f"report: {folder}")


@eval_app.command("make-questions")
@handle_errors
def make_questions(
    out: Annotated[Path, typer.Option("--out", help="question set to write (appended to when it exists)")],
    count: Annotated[int, typer.Option("--count", "-n", help="messages to pick")] = 10,
    search: Annotated[str | None, typer.Option("--search", help="pick messages containing this text (any sender)")] = None,
    template: Annotated[bool, typer.Option("--template", help="write lines to fill in instead of asking here")] = False,
    context: Annotated[int, typer.Option("--context", help="messages shown before and after each pick")] = 3,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    config: ConfigOption = None,
) -> None:
    """Write your own question set from your corpus, with evidence ids kept for recall."""
    from twin.eval.make_questions import interview, pick_messages, template_row
    from twin.eval.questions import load_questions, write_questions

    cfg = get_config(config)
    existing: list = []
    if out.is_file() and out.stat().st_size:
        existing = [q.to_json() for q in load_questions(out)] if not template else _raw_lines(out)
    used = {sid for row in existing for sid in row.get("evidence", [])}
    picks = pick_messages(cfg.path("corpus"), count=count, search=search, seed=seed, context=context, exclude=used)
    first = len(existing) + 1
    if template:
        rows = [template_row(p, first + i) for i, p in enumerate(picks)]
    else:
        rows = interview(picks, lambda text, default: typer.prompt(text, default=default, show_default=bool(default)),
                         lambda text: console.print(text, markup=False, highlight=False), first)
    write_questions(out, existing + rows)
    console.print(f"{len(rows)} {'template lines' if template else 'questions'} added to {out}"
                  + (" — fill in question/answer, then run `twin eval recall --qa`" if template else ""))


def _raw_lines(path: Path) -> list[dict]:
    """Template files may hold unfilled lines; keep them as they are."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(path, f"not valid JSON ({exc.msg})", line=number) from None
    return rows


@eval_app.command()
@handle_errors
def compare(
    a: Annotated[Path, typer.Argument(help="first report (reports/<run> folder, run name, or report.json)")],
    b: Annotated[Path, typer.Argument(help="second report")],
    all_rows: Annotated[bool, typer.Option("--all", help="also rows that did not change")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Difference between two eval runs, metric by metric (B - A)."""
    from twin.config import load_config
    from twin.eval.report import compare_reports, load_report

    cfg = load_config(config, required=False)

    def locate(path: Path) -> Path:
        return path if path.exists() else cfg.path("reports") / path

    rows = compare_reports(load_report(locate(a)), load_report(locate(b)))
    if not all_rows:
        rows = [r for r in rows if r["delta"] is None or abs(r["delta"]) > 1e-12]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"{a} -> {b}")
    for column in ("metric", "A", "B", "B - A"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for r in rows:
        delta = r["delta"]
        style = None if delta is None else ("green" if delta > 0 else "red")
        table.add_row(r["metric"], _num(r["a"]), _num(r["b"]), "–" if delta is None else f"{delta:+.4f}", style=style)
    console.print(table)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(eval_app, name="eval")
