"""Reports under `reports/<run>/`: report.json, summary.md and PNG plots; and run comparison.

report.json is the record (numbers, per-question answers, which adapter/store/embedder made
them); summary.md is for people; the PNGs are drawn from report.json alone, so any run can be
re-plotted. Writing goes through a temp folder renamed into place, so a crash never leaves
half a report and an existing run is never overwritten.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from twin.errors import InputError, StoreError
from twin.private import private_dir, private_tree
from twin.eval.questions import category_kind

REPORT_JSON = "report.json"
SUMMARY_MD = "summary.md"


def new_run_name() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def write_report(report: dict, reports_dir: Path, run: str) -> Path:
    target = Path(reports_dir) / run
    if target.exists():
        raise StoreError(f"{target} exists; pick another --name (reports are never overwritten)")
    tmp = Path(reports_dir) / f".{run}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    private_dir(tmp)
    report = {"run": run, "created": datetime.now(UTC).isoformat(timespec="seconds"), **report}
    plots = draw_plots(report, tmp)
    report["plots"] = plots
    (tmp / REPORT_JSON).write_text(json.dumps(_clean(report), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (tmp / SUMMARY_MD).write_text(render_markdown(report), encoding="utf-8")
    private_tree(tmp)
    tmp.rename(target)
    return target


def _clean(value: Any) -> Any:
    """NaN is not JSON: written as null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def load_report(path: Path) -> dict:
    path = Path(path)
    file = path / REPORT_JSON if path.is_dir() else path
    if not file.is_file():
        raise InputError(file, "no report here (expected a reports/<run> folder or its report.json)")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(file, f"not valid JSON ({exc.msg})", line=exc.lineno) from None


# --- Markdown ---------------------------------------------------------------------------------

def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def category_label(category: str) -> str:
    kind = category_kind(category)
    return f"{category} ({kind})" if kind and kind != category else category


# report key -> section title: the own question set's ablation and LoCoMo's
ABLATIONS = {"ablation": "Ablation", "locomo_ablation": "LoCoMo ablation"}


def render_markdown(report: dict) -> str:
    lines = [f"# Twin eval report `{report['run']}`", "", f"Created {report.get('created', '')}."]
    prov = report.get("provenance") or {}
    if prov:
        lines += ["", "| made by | id |", "|---|---|"]
        for key in ("base_model", "adapter", "memory_store", "embedder", "persona"):
            item = prov.get(key)
            if isinstance(item, dict):
                item = f"{item.get('id') or '–'} ({item.get('path')})"
            lines.append(f"| {key} | {_fmt(item)} |")
    for name, result in (report.get("recall") or {}).items():
        lines += _recall_markdown(name, result)
    if report.get("qa"):
        lines += _qa_markdown(report["qa"])
    for key, title in ABLATIONS.items():
        if report.get(key):
            lines += _ablation_markdown(report[key], title)
    if report.get("style"):
        lines += _style_markdown(report["style"])
    if report.get("plots"):
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in report["plots"]]
    return "\n".join(lines) + "\n"


def _recall_markdown(name: str, result: dict) -> list[str]:
    ks = list(result["overall"])
    lines = ["", f"## Memory recall ({name}, {result.get('questions', '?')} questions with evidence)", "",
             "Share of questions whose top-k memories hold all evidence messages.", "",
             "| category | " + " | ".join(f"R@{k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    for category, row in result.get("by_category", {}).items():
        lines.append(f"| {category_label(category)} | " + " | ".join(_fmt(row.get(k)) for k in ks) + " |")
    lines.append("| **overall** | " + " | ".join(f"**{_fmt(result['overall'][k])}**" for k in ks) + " |")
    if result.get("overall_any"):
        lines.append("| overall, any evidence | " + " | ".join(_fmt(result["overall_any"].get(k)) for k in ks) + " |")
    extras = {k: v for k, v in result.items() if k in ("messages_per_memory", "tokens_per_memory", "memories", "embedder", "budget")}
    if extras:
        lines += ["", "; ".join(f"{k}: {_fmt(v) if not isinstance(v, dict) else json.dumps(v)}" for k, v in extras.items())]
    return lines


def _qa_markdown(qa: dict) -> list[str]:
    lines = ["", f"## Answer quality ({qa['model']}{', served' if qa.get('served') else ''}, "
             f"memory {'on' if qa.get('memory') else 'off'}, judge {qa.get('judge') or 'none'})", "",
             "| category | n | token F1 | judge accuracy |", "|---|---|---|---|"]
    for category, row in qa["by_category"].items():
        lines.append(f"| {category_label(category)} | {row['n']} | {_fmt(row['f1'])} | {_fmt(row.get('judge_accuracy'))} |")
    for label, key in (("**overall**", "overall"), ("overall without adversarial", "overall_without_adversarial")):
        row = qa[key]
        lines.append(f"| {label} | {row['n']} | {_fmt(row['f1'])} | {_fmt(row.get('judge_accuracy'))} |")
    return lines


def _ablation_markdown(ablation: dict, title: str = "Ablation") -> list[str]:
    scope = ""
    if ablation.get("samples"):
        scope = f", {ablation['questions_per_conversation']} questions from each of {', '.join(ablation['samples'])}"
    lines = ["", f"## {title} (judge {ablation.get('judge') or 'none'}{scope})", "",
             "| condition | model | n | token F1 | F1 without adversarial | judge accuracy |", "|---|---|---|---|---|---|"]
    for row in ablation["table"]:
        lines.append(f"| {row['condition']} | {row['model_id']} | {row['n']} | {_fmt(row['f1'])} | "
                     f"{_fmt(row['f1_without_adversarial'])} | {_fmt(row.get('judge_accuracy'))} |")
    return lines


def _style_markdown(style: dict) -> list[str]:
    lines = ["", f"## Style fidelity ({style['replies']} holdout replies)"]
    if style.get("perplexity"):
        lines += ["", "Perplexity of the owner's real replies (lower = the model expects them more):", "",
                  "| model | perplexity | tokens |", "|---|---|---|"]
        for label, row in style["perplexity"].items():
            lines.append(f"| {label} | {_fmt(row['perplexity'], 2)} | {row['tokens']} |")
    if style.get("features"):
        lines += ["", f"Owner vs twin ({style.get('twin_model')}) replies:", "",
                  "| feature | owner mean | twin mean | Wasserstein | total variation |", "|---|---|---|---|---|"]
        for name, row in style["features"].items():
            lines.append(f"| {row['label']} | {_fmt(row['owner_mean'], 2)} | {_fmt(row['twin_mean'], 2)} | "
                         f"{_fmt(row['wasserstein'], 2)} | {_fmt(row['total_variation'], 2)} |")
    if style.get("judge"):
        j = style["judge"]
        lines += ["", f"Judge {j['model']} picked the owner's reply in {_fmt(j['owner_identified'])} of {j['n']} "
                  "pairs (0.5 = cannot tell the twin from the owner)."]
    return lines


# --- Plots ------------------------------------------------------------------------------------

def draw_plots(report: dict, folder: Path) -> list[str]:
    """PNG files (names relative to the run folder) for whatever sections the report has."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, result in (report.get("recall") or {}).items():
        fig, ax = plt.subplots(figsize=(6, 4))
        ks = [int(k) for k in result["overall"]]
        for category, row in result.get("by_category", {}).items():
            ax.plot(ks, [row.get(str(k), math.nan) for k in ks], marker="o", label=category_label(category))
        ax.plot(ks, [result["overall"][str(k)] for k in ks], marker="s", color="black", linewidth=2.5, label="overall")
        ax.set(xlabel="k (memories retrieved)", ylabel="evidence recall@k", ylim=(0, 1.02), title=f"Memory recall: {name}")
        ax.set_xscale("log")
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.legend(fontsize=8)
        written.append(_save(fig, folder, f"recall_{name}.png"))
    for key, title in ABLATIONS.items():
        if not report.get(key):
            continue
        table = report[key]["table"]
        fig, ax = plt.subplots(figsize=(7, 4))
        labels = [row["condition"] for row in table]
        ax.bar(labels, [row["f1"] for row in table], color=["#9ecae1" if not r["memory"] else "#3182bd" for r in table])
        if any(row.get("judge_accuracy") is not None for row in table):
            ax.plot(labels, [row.get("judge_accuracy") or math.nan for row in table], "D", color="darkred", label="judge accuracy")
            ax.legend()
        ax.set(ylabel="token F1", ylim=(0, 1), title=f"{title}: memory x adapter")
        ax.tick_params(axis="x", labelrotation=15)
        written.append(_save(fig, folder, f"{key}.png"))
    features = (report.get("style") or {}).get("features")
    if features:
        fig, axes = plt.subplots(1, len(features), figsize=(4 * len(features), 3.5))
        for ax, (name, row) in zip(axes, features.items()):
            values = row["owner_values"] + row["twin_values"]
            edges = _bin_edges(values)
            for who in ("owner", "twin"):
                if row[f"{who}_values"]:  # an empty side (e.g. no letters at all) has no histogram
                    ax.hist(row[f"{who}_values"], bins=edges, alpha=0.6, label=who)
            ax.set_title(name, fontsize=9)  # the key, not the label: DejaVu has no full-width glyphs
        axes[0].legend()
        fig.suptitle("Style: owner vs twin replies")
        written.append(_save(fig, folder, "style_histograms.png"))
    return written


def _bin_edges(values: list[float], bins: int = 12) -> list[float] | int:
    if not values or min(values) == max(values):
        return 1
    low, high = min(values), max(values)
    return [low + (high - low) * i / bins for i in range(bins + 1)]


def _save(fig, folder: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(folder / name, dpi=110)
    plt.close(fig)
    return name


# --- Comparison -------------------------------------------------------------------------------

_SKIP = {"answers", "owner_values", "twin_values", "examples", "plots", "provenance", "created", "run"}


def flatten_numbers(data: Any, prefix: str = "") -> dict[str, float]:
    """Numeric leaves keyed by their path ("recall.locomo.overall.10"); per-item lists left out."""
    out: dict[str, float] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            if key in _SKIP:
                continue
            out.update(flatten_numbers(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list) and all(isinstance(v, dict) and "condition" in v for v in data):
        for row in data:  # ablation table rows, keyed by condition name
            out.update(flatten_numbers({k: v for k, v in row.items() if k != "condition"}, f"{prefix}[{row['condition']}]"))
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        out[prefix] = float(data)
    return out


def compare_reports(a: dict, b: dict) -> list[dict]:
    """Rows {metric, a, b, delta} for every number present in either report."""
    fa, fb = flatten_numbers(a), flatten_numbers(b)
    rows = []
    for key in sorted(set(fa) | set(fb)):
        va, vb = fa.get(key), fb.get(key)
        delta = vb - va if va is not None and vb is not None else None
        rows.append({"metric": key, "a": va, "b": vb, "delta": delta})
    return rows
