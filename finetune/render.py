"""Render a sample with the model's chat template and mark which tokens carry loss.

Only the owner's words are supervised: the tokens of each assistant message (and the
end-of-turn marker after it, so the model learns to stop). Everything else (system prompt,
other people's turns, role headers) gets label -100.

The assistant spans are found by rendering prefixes: the text before assistant message i is
`render(messages[:i], add_generation_prompt=True)` and the text through it is
`render(messages[:i+1])`. That needs a template whose render of a prefix is a prefix of the
full render; ChatML, Qwen2.5 and SmolLM2 templates are. A template that rewrites earlier turns
(some reasoning templates drop old <think> blocks) is refused with a ModelError rather than
training on a wrong mask.
"""

from __future__ import annotations

from twin.errors import ModelError

IGNORE_INDEX = -100


def _render(tokenizer, messages, generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def assistant_spans(tokenizer, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The full rendered text and the character spans of the assistant messages in it."""
    text = _render(tokenizer, messages)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], generation_prompt=True)
        through = _render(tokenizer, messages[: i + 1])
        if not (text.startswith(through) and through.startswith(before)):
            raise ModelError(
                "the chat template does not render conversations prefix by prefix, so the loss mask "
                "cannot be computed; use a model with a ChatML-style template"
            )
        spans.append((len(before), len(through)))
    return text, spans


def render_with_mask(tokenizer, messages: list[dict[str, str]], max_len: int | None = None) -> dict[str, list[int]]:
    """input_ids, attention_mask and labels (-100 outside the owner's turns), cut to max_len."""
    text, spans = assistant_spans(tokenizer, messages)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoded["input_ids"]
    labels = []
    for token, (start, end) in zip(ids, encoded["offset_mapping"]):
        # A token is supervised when it overlaps an assistant span (a merge across the boundary
        # still teaches the owner's first character).
        inside = any(start < span_end and end > span_start for span_start, span_end in spans)
        labels.append(token if inside else IGNORE_INDEX)
    if max_len is not None and len(ids) > max_len:
        ids, labels = ids[:max_len], labels[:max_len]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def supervised_text(tokenizer, features: dict[str, list[int]]) -> str:
    """What the loss sees, decoded: for tests and `twin dataset show`."""
    kept = [t for t, label in zip(features["input_ids"], features["labels"]) if label != IGNORE_INDEX]
    return tokenizer.decode(kept)
