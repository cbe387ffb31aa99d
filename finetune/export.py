"""Exports of a built dataset for other tools.

- `openai/<split>.jsonl`: `{"messages": [...]}` per line, the OpenAI chat fine-tuning format.
- `sharegpt/<split>.jsonl` + `dataset_info.json`: ShareGPT rows
  (`{"conversations": [{"from": "human"|"gpt", "value": ...}], "system": ...}`) and the
  LLaMA-Factory entries `twin_<name>_<split>` describing them; point LLaMA-Factory's
  `dataset_dir` at the dataset folder and use `dataset: twin_<name>_train`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from twin.finetune.samples import Sample

_SHAREGPT_ROLE = {"user": "human", "assistant": "gpt"}


def sharegpt_row(sample: Sample) -> dict:
    system, *turns = sample.messages
    return {
        "conversations": [{"from": _SHAREGPT_ROLE[m["role"]], "value": m["content"]} for m in turns],
        "system": system["content"],
        "kind": sample.kind,
    }


def llamafactory_entry(file_name: str) -> dict:
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
    }


def write_exports(
    folder: Path, name: str, splits: dict[str, list[Sample]], write_jsonl: Callable[[Path, Iterable[dict]], None]
) -> None:
    info = {}
    for split, samples in splits.items():
        write_jsonl(folder / "openai" / f"{split}.jsonl", ({"messages": s.messages} for s in samples))
        write_jsonl(folder / "sharegpt" / f"{split}.jsonl", (sharegpt_row(s) for s in samples))
        info[f"twin_{name}_{split}"] = llamafactory_entry(f"sharegpt/{split}.jsonl")
    (folder / "dataset_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
