"""How much of the style data should quote memories? A small ablation of dataset.memory_share.

Run in a twin folder whose corpus and memory store are built (e.g. `make demo`'s build/demo):

    python bench/memory_share_ablation.py --shares 0 0.5 1 --steps 8

For each share: build the dataset with that share (same seed, so the same sessions land in each
split), train a LoRA adapter for --steps steps with the folder's [train] settings, then score the
owner's tokens (mean cross-entropy, lower is better) on the validation + holdout sessions in two
renderings: with memory blocks (as served when the store has memories) and without (plain).
Prints one table. On a CPU this is a taste, not a verdict: a 135M model, a few steps, a few
hundred scored tokens; report the numbers with that caveat.

    python bench/memory_share_ablation.py --paired DATASET [--limit 40]

No training: the base model scores the owner's tokens of each sample of DATASET that quotes
memories twice, with its memory block and with the block removed (the same system message the
sample would have had as a plain one), by memory mode (grounded / distractor). Does the block
carry information about what the owner said?
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


def without_memories(system: str) -> str:
    """The plain system message a memory sample would have had (persona, date, writer task)."""
    from twin.prompt import MEMORY_PREAMBLE

    head, _, rest = system.partition("\n\n" + MEMORY_PREAMBLE)
    tail = rest.split("</memories>", 1)[1] if "</memories>" in rest else ""
    return head + tail


def paired(cfg, dataset: str, limit: int) -> None:
    from twin.finetune.dataset import read_split
    from twin.models import load_base_model, load_tokenizer, resolve_base_model

    folder = cfg.path("datasets") / dataset
    rows = [r for split in ("train", "validation", "holdout") for r in read_split(folder, split)
            if r.get("memory", {}).get("ids")][:limit]
    ref = resolve_base_model(cfg.train.base_model, cfg.train.gguf_file, cfg.train.revision)
    tokenizer = load_tokenizer(ref)
    model = load_base_model(ref, device="cpu")
    print(f"{len(rows)} samples quoting memories from {folder}; base {ref.display}, no training")
    print("| memory mode | samples | owner tokens | owner loss with the block | without | difference |")
    print("|---|---|---|---|---|---|")
    for mode in ("grounded", "distractor"):
        chosen = [r for r in rows if r["memory"]["mode"] == mode]
        if not chosen:
            continue
        plain = [{**r, "messages": [{"role": "system", "content": without_memories(r["messages"][0]["content"])},
                                    *r["messages"][1:]]} for r in chosen]
        with_block, n = owner_loss(model, tokenizer, chosen, cfg.train.max_seq_len)
        without, _ = owner_loss(model, tokenizer, plain, cfg.train.max_seq_len)
        print(f"| {mode} | {len(chosen)} | {n} | {with_block:.4f} | {without:.4f} | {with_block - without:+.4f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--paired", metavar="DATASET", help="no training: score DATASET's memory samples with and without their block")
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args()
    if args.paired:
        from twin.config import load_config

        paired(load_config(args.config), args.paired, args.limit)
        return

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
