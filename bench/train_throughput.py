"""LoRA training throughput on Qwen2.5-shaped models (random weights, nothing downloaded).

    python bench/train_throughput.py --model qwen2.5-0.5b --seq 128 --batch 1          # CPU
    python bench/train_throughput.py --model qwen2.5-7b --seq 4096 --batch 2           # one H100

One training step = forward + backward + AdamW on the LoRA weights (rank 16, all linear layers,
the same setup `twin train` uses). Prints tokens/s, peak memory and MFU, where model FLOPs are
counted as 4 * N * tokens for LoRA (forward 2N, backward to activations 2N, no weight gradients
for the frozen base; N = base parameters, attention term left out) against a stated peak:
989 TFLOP/s for an H100 SXM in bf16 (dense), or for a CPU `cores x GHz x FLOP/cycle` (AVX2 with
two FMA units: 32 fp32 FLOP/cycle) unless --peak-tflops is given.

Anchor: NVIDIA NeMo AutoModel measured 14,110 tokens/s/GPU, 42.8% MFU for Qwen2.5-7B LoRA
(r=16, seq 4096) on one H100 (docs/performance-summary.mdx, 2025-10-02).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

SHAPES = {  # from the models' config.json files on the Hub
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "qwen2.5-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                         num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "qwen2.5-7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                       num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
}
H100_BF16_TFLOPS = 989.0
ANCHOR = ("NeMo AutoModel, Qwen2.5-7B LoRA r16, seq 4096, 1x H100", 14110.0, 0.428)


def cpu_peak_tflops(ghz: float) -> float:
    return (os.cpu_count() or 1) * ghz * 32 / 1000


def build(name: str, device: str, rank: int):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    config = Qwen2Config(**SHAPES[name], max_position_embeddings=32768)
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(dtype)
    base_params = sum(p.numel() for p in model.parameters())
    model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear", task_type="CAUSAL_LM"))
    return model, base_params


def run(args) -> dict:
    import torch

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model, n_params = build(args.model, device, args.rank)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    vocab = SHAPES[args.model]["vocab_size"]
    batch = torch.randint(0, vocab, (args.batch, args.seq), device=device)

    def step() -> None:
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    tokens_per_s = args.batch * args.seq * args.steps / seconds
    if device == "cuda":
        peak_gb = torch.cuda.max_memory_allocated() / 2**30
        peak_tflops = args.peak_tflops or H100_BF16_TFLOPS
        hardware = torch.cuda.get_device_name()
    else:
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (process RSS)
        peak_tflops = args.peak_tflops or cpu_peak_tflops(args.cpu_ghz)
        hardware = f"CPU x{os.cpu_count()} (peak {peak_tflops:.3f} TFLOP/s = cores x {args.cpu_ghz} GHz x 32 FLOP/cycle)"
    mfu = 4 * n_params * tokens_per_s / (peak_tflops * 1e12)
    return {"model": args.model, "params": n_params, "device": hardware, "seq": args.seq, "batch": args.batch,
            "steps": args.steps, "tokens_per_s": tokens_per_s, "peak_gb": peak_gb, "mfu": mfu,
            "seconds_per_step": seconds / args.steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(SHAPES), default="qwen2.5-0.5b")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the peak used for MFU")
    parser.add_argument("--cpu-ghz", type=float, default=2.5, help="CPU clock for the stated CPU peak")
    args = parser.parse_args()
    r = run(args)
    rows = [
        ("setup", f"{r['model']} ({r['params'] / 1e9:.2f}B), LoRA r{args.rank} all-linear, seq {r['seq']} x batch {r['batch']}, {r['steps']} timed steps"),
        ("device", r["device"]),
        ("tokens/s", f"{r['tokens_per_s']:,.1f}"),
        ("s/step", f"{r['seconds_per_step']:.2f}"),
        ("peak memory", f"{r['peak_gb']:.2f} GiB"),
        ("MFU (4*N*tokens)", f"{100 * r['mfu']:.1f}%"),
        ("anchor", f"{ANCHOR[0]}: {ANCHOR[1]:,.0f} tokens/s, {100 * ANCHOR[2]:.1f}% MFU"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
