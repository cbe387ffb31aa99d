"""Perplexity of the owner's real replies under a model, given the conversation before them.

Only the reply's tokens are scored (the context is conditioning), the same tokens the LoRA was
trained on. Lower under base + adapter than under the base alone means the adapter learned the
owner's way of replying, measured on holdout conversations it never saw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from twin.eval.chat import Messages, render_chat


def reply_perplexity(model: Any, tokenizer: Any, pairs: Sequence[tuple[Messages, str]], max_tokens: int = 1024) -> dict:
    """Token-weighted perplexity over (context, reply) pairs; also the mean NLL per token."""
    import torch

    total_nll, total_tokens = 0.0, 0
    device = next(model.parameters()).device
    for context, reply in pairs:
        prompt = render_chat(tokenizer, context, add_generation_prompt=True)
        full = render_chat(tokenizer, [*context, {"role": "assistant", "content": reply}], add_generation_prompt=False)
        prompt_len = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        reply_len = len(full_ids) - prompt_len  # reply tokens plus the template's end-of-turn
        if reply_len <= 0:
            continue
        full_ids = full_ids[-max_tokens:]  # keep the reply; drop the oldest context if too long
        start = max(len(full_ids) - reply_len, 1)
        ids = torch.tensor([full_ids], device=device)
        labels = ids.clone()
        labels[:, :start] = -100
        with torch.no_grad():
            logits = model(input_ids=ids).logits.float()
        # token t is predicted from position t-1
        loss = torch.nn.functional.cross_entropy(
            logits[0, :-1], labels[0, 1:], ignore_index=-100, reduction="sum"
        )
        scored = int((labels[0, 1:] != -100).sum())
        total_nll += float(loss)
        total_tokens += scored
    if total_tokens == 0:
        return {"perplexity": math.nan, "nll_per_token": math.nan, "tokens": 0, "replies": len(pairs)}
    nll = total_nll / total_tokens
    return {"perplexity": math.exp(nll), "nll_per_token": nll, "tokens": total_tokens, "replies": len(pairs)}
