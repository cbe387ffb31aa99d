"""How much of the style data should quote memories? A small ablation of dataset.memory_share.

Run in a twin folder whose corpus and memory store are built (e.g. `make demo`'s build/demo):

    python bench/memory_share_ablation.py --shares 0 0.5 1 --steps 8

For each share: build the dataset with that share (same seed, so the same sessions land in each
split), train a LoRA adapter for --steps steps with the folder's [train] settings, then score the
owner's tokens (mean cross-entropy, lower is better) on the validation + holdout sessions in two
renderings: with memory blocks (as served when the store has memories) and without (plain).
Prints one table. On a CPU this is a taste, not a verdict: a 135M model, a few steps, a few
hundred scored tokens; report the numbers with that caveat.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path


def owner_loss(model, tokenizer, rows, max_len: int) -> tuple[float, int]:
    import torch

    from twin.finetune.render import IGNORE_INDEX, render_with_mask

    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for row in rows:
            features = render_with_mask(tokenizer, row["messages"], max_len)
            labels = torch.tensor([features["labels"]])
            n = int((labels[:, 1:] != IGNORE_INDEX).sum())
            if n == 0:
                continue
            out = model(input_ids=torch.tensor([features["input_ids"]]), labels=labels)
            total += float(out.loss) * n
            count += n
    return (total / count if count else math.nan), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()

    from twin.config import load_config
    from twin.finetune.config import apply_overrides
    from twin.finetune.dataset import build_dataset, read_split
    from twin.finetune.train import train
    from twin.models import load_tokenizer, resolve_base_model

    cfg = load_config(args.config)
    tcfg = apply_overrides(cfg.train, {"max_steps": args.steps})
    names = {share: f"ablation-memory-{share:g}" for share in {0.0, 1.0, *args.shares}}
    for share, name in names.items():
        build_dataset(cfg.model_copy(update={"dataset": cfg.dataset.model_copy(update={"memory_share": share})}), name)
    folder = cfg.path("datasets")
    scored = {label: [r for split in ("validation", "holdout") for r in read_split(folder / names[share], split)]
              for label, share in (("with memories", 1.0), ("plain", 0.0))}
    ref = resolve_base_model(tcfg.base_model, tcfg.gguf_file, tcfg.revision)
    tokenizer = load_tokenizer(ref)
    print(f"scored: {', '.join(f'{k} {len(v)} samples' for k, v in scored.items())}; {args.steps} steps, "
          f"base {ref.display}, max_seq_len {tcfg.max_seq_len}")
    print("| memory_share | train samples with memories | owner loss, with memories | owner loss, plain | train s |")
    print("|---|---|---|---|---|")
    for share in args.shares:
        rows = read_split(folder / names[share], "train")
        grounded = sum(1 for r in rows if r.get("memory", {}).get("ids"))
        started = time.perf_counter()
        result = train(cfg, tcfg, dataset=names[share], output=cfg.path("adapters") / f"{names[share]}-{int(time.time())}",
                       log=lambda *_: None)
        seconds = time.perf_counter() - started
        losses = {label: owner_loss(result.model, tokenizer, rows_, tcfg.max_seq_len) for label, rows_ in scored.items()}
        print(f"| {share:g} | {grounded} / {len(rows)} | {losses['with memories'][0]:.4f} ({losses['with memories'][1]} tokens) "
              f"| {losses['plain'][0]:.4f} ({losses['plain'][1]} tokens) | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
