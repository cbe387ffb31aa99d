"""Style fidelity on a dataset's holdout split: does the twin reply the way the owner does?

From each holdout sample we take owner turns (assistant role) with the conversation before them.
Three measurements, each optional on what is available:
- perplexity of the owner's real replies under the base model and under base + adapter;
- feature distributions (length, emoji, punctuation, CJK share) of the owner's replies vs the
  replies the twin generates for the same contexts, with a distance per feature;
- an LLM judge shown both replies, asked which is the owner's (0.5 = cannot tell them apart).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twin.errors import InputError, StoreError
from twin.eval.chat import ChatModel, Messages
from twin.eval.judge import StyleJudge
from twin.eval.style import compare_styles

ROLES = {"system", "user", "assistant"}


def holdout_pairs(dataset_dir: Path, limit: int, seed: int = 0, split: str = "holdout") -> list[tuple[Messages, str]]:
    """(context, owner reply) pairs from `<dataset>/<split>.jsonl`, a seeded sample of `limit`."""
    path = Path(dataset_dir) / f"{split}.jsonl"
    if not path.is_file():
        raise StoreError(f"{path}: no {split} split; build the dataset first (`twin dataset build`)")
    pairs: list[tuple[Messages, str]] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            messages = _sample_messages(line, path, number)
            for i, message in enumerate(messages):
                if message["role"] == "assistant" and i > 0 and message["content"].strip():
                    pairs.append((messages[:i], message["content"]))
    if not pairs:
        raise StoreError(f"{path}: no owner replies to evaluate")
    if len(pairs) > limit:
        pairs = random.Random(seed).sample(pairs, limit)
    return pairs


def _sample_messages(line: str, path: Path, number: int) -> Messages:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg})", line=number) from None
    messages = row.get("messages") if isinstance(row, dict) else None
    if not isinstance(messages, list):
        raise InputError(path, "must be a list of messages", line=number, field="messages")
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise InputError(path, "each message needs role (system/user/assistant) and content", line=number, field="messages")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def run_style(
    pairs: list[tuple[Messages, str]],
    twin: ChatModel | None,
    *,
    perplexity_models: dict[str, tuple[Any, Any]] | None = None,
    judge: StyleJudge | None = None,
    reply_tokens: int = 64,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """`perplexity_models`: label -> (model, tokenizer), e.g. {"base": ..., "adapter": ...}."""
    result: dict[str, Any] = {"replies": len(pairs)}
    if perplexity_models:
        from twin.eval.perplexity import reply_perplexity

        result["perplexity"] = {}
        for label, (model, tokenizer) in perplexity_models.items():
            if progress:
                progress(f"perplexity under {label}")
            result["perplexity"][label] = reply_perplexity(model, tokenizer, pairs)
    if twin is not None:
        if progress:
            progress(f"generating {len(pairs)} replies with {twin.id}")
        generated = [twin.complete(context, max_tokens=reply_tokens) for context, _ in pairs]
        owner = [reply for _, reply in pairs]
        result["twin_model"] = twin.id
        result["features"] = compare_styles(owner, generated)
        result["examples"] = [
            {"context": context[-1]["content"] if context else "", "owner": o, "twin": g}
            for (context, o), g in list(zip(pairs, generated))[:5]
        ]
        if judge is not None:
            picks = [
                judge.pick_owner(_render_context(context), o, g)
                for (context, o), g in zip(pairs, generated)
            ]
            readable = [p for p in picks if p is not None]
            result["judge"] = {
                "model": judge.model.id,
                "owner_identified": sum(readable) / len(readable) if readable else math.nan,
                "unreadable": len(picks) - len(readable),
                "n": len(picks),
            }
    return result


def _render_context(context: Messages, turns: int = 6) -> str:
    lines = [f"{'Owner' if m['role'] == 'assistant' else 'Other'}: {m['content']}" for m in context if m["role"] != "system"]
    return "\n".join(lines[-turns:]) or "(start of the chat)"
