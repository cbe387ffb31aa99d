"""Samples -> token batches: render with the loss mask, optional packing, padding."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from twin.finetune.render import IGNORE_INDEX, render_with_mask


def tokenize_rows(tokenizer, rows, max_len: int, stats: Counter) -> list[dict[str, list[int]]]:
    """Render every sample; drop (and count) those whose owner tokens were all cut off by max_len."""
    out = []
    for row in rows:
        features = render_with_mask(tokenizer, row["messages"], max_len)
        if all(label == IGNORE_INDEX for label in features["labels"]):
            stats["no_owner_tokens_within_max_seq_len"] += 1
            continue
        out.append(features)
    return out


def pack(features: list[dict[str, list[int]]], max_len: int) -> list[dict[str, list[int]]]:
    """Concatenate whole samples into sequences of at most max_len tokens (samples are never split).

    Attention is not reset at sample borders (that needs a varlen attention kernel), so a
    packed sample can see the one before it; fine for style data, and fewer pad tokens.
    """
    packed: list[dict[str, list[int]]] = []
    current: dict[str, list[int]] = {"input_ids": [], "attention_mask": [], "labels": []}
    for item in features:
        if current["input_ids"] and len(current["input_ids"]) + len(item["input_ids"]) > max_len:
            packed.append(current)
            current = {"input_ids": [], "attention_mask": [], "labels": []}
        for key in current:
            current[key].extend(item[key])
    if current["input_ids"]:
        packed.append(current)
    return packed


@dataclass
class PadCollator:
    """Right-pads a batch; padded positions get label -100 and attention 0."""

    pad_token_id: int

    def __call__(self, batch: list[dict[str, list[int]]]):
        import torch

        width = max(len(item["input_ids"]) for item in batch)

        def padded(key: str, fill: int):
            return torch.tensor([item[key] + [fill] * (width - len(item[key])) for item in batch], dtype=torch.long)

        return {
            "input_ids": padded("input_ids", self.pad_token_id),
            "attention_mask": padded("attention_mask", 0),
            "labels": padded("labels", IGNORE_INDEX),
        }
