"""The real-model path on whatever GPU is here, in one command (random weights, nothing downloaded).

    python bench/gpu_check.py                           # a CUDA GPU: Qwen2.5 1.5B and 7B shapes (< 8 min)
    python bench/gpu_check.py --device cpu --tiny       # the same checks on tiny shapes (the test suite runs it)

Three parts, one JSON file (--out) and a table:
1. LoRA training throughput through `twin train`'s own code (twin.finetune.train.add_lora and
   build_trainer: transformers Trainer, bf16 on a GPU, SDPA attention, packed samples), for each
   shape x sequence length x gradient checkpointing off/on: tokens/s, peak GPU memory, MFU.
   MFU counts model FLOPs per token as 4N for LoRA (forward 2N + gradients to the activations 2N;
   the frozen base gets no weight gradients; N = base parameters; attention and recomputation under
   checkpointing not counted), against the GPU's dense bf16 peak from PEAK_BF16_TFLOPS (stated in the
   output); `mfu_6n` uses the full fine-tuning convention 6N for comparison with published figures.
2. Generation throughput of the in-process transformers backend's model (PEFT adapter attached, as
   twin.service.backends.hf serves it, vs. the adapter merged into the weights) at batch 1 and 8:
   greedy, new tokens forced to a fixed length, KV cache on.
3. End to end: a random-weight Qwen2-architecture base with a byte-level BPE tokenizer trained here on
   the sample persona, then `twin ingest`, `twin dataset build`, `twin train` (bf16 on a GPU) as
   subprocesses, the adapter reloaded with PeftModel (twin.models.load_model_and_tokenizer) to
   generate, and `twin adapter check` (will vLLM load it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from train_throughput import SHAPES  # bench/ is on sys.path when this runs as a script

REPO = Path(__file__).resolve().parents[1]
PERSONA = REPO / "examples" / "sample_persona"

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) from NVIDIA's data sheets, by device name.
PEAK_BF16_TFLOPS = {
    "H200": 989.4, "H100 SXM": 989.4, "H100 80GB HBM3": 989.4, "H100 NVL": 835.0, "H100 PCIe": 756.0,
    "A100": 312.0, "L40S": 362.1, "L4": 121.0, "A10": 125.0, "RTX 4090": 165.2, "RTX 3090": 71.0,
}
TINY_SHAPE = dict(hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=2048, tie_word_embeddings=True)
CHATML = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def peak_tflops(device: str, override: float | None) -> tuple[float | None, str]:
    import torch

    if override:
        return override, f"{override} TFLOP/s (--peak-tflops)"
    if device == "cuda":
        name = torch.cuda.get_device_name()
        for key, value in PEAK_BF16_TFLOPS.items():
            if key.lower() in name.lower():
                return value, f"{value} TFLOP/s dense bf16 ({key} data sheet)"
        return None, f"unknown peak for {name}: pass --peak-tflops"
    value = (os.cpu_count() or 1) * 2.5 * 32 / 1000  # cores x 2.5 GHz x 32 fp32 FLOP/cycle (AVX2, 2 FMA)
    return value, f"{value:.3f} TFLOP/s fp32 (CPU: cores x 2.5 GHz x 32 FLOP/cycle)"


# --- 1. training throughput ------------------------------------------------------------------

def random_model(shape: dict, device: str, seq: int):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    config = Qwen2Config(**shape, max_position_embeddings=max(32768, seq), attn_implementation="sdpa")
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(dtype)
    return model, sum(p.numel() for p in model.parameters())


def packed_features(vocab: int, seq: int, rows: int, seed: int = 0) -> list[dict[str, list[int]]]:
    """Chat-sized samples (64-512 tokens, the owner's half supervised) packed like `train.packing`."""
    import random

    from twin.finetune.collate import pack
    from twin.finetune.render import IGNORE_INDEX

    rng = random.Random(seed)
    samples, total = [], 0
    while total < rows * seq:
        n = rng.randint(64, 512)
        ids = [rng.randrange(3, vocab) for _ in range(n)]
        labels = [IGNORE_INDEX] * (n // 2) + ids[n // 2:]
        samples.append({"input_ids": ids, "attention_mask": [1] * n, "labels": labels})
        total += n
    return [f for f in pack(samples, seq) if len(f["input_ids"]) > seq // 2][:rows]


def train_row(name: str, shape: dict, seq: int, checkpointing: bool, device: str, steps: int, warmup: int,
              batch: int, peak: float | None) -> dict:
    import torch
    from transformers import TrainerCallback

    from twin.config import TrainConfig
    from twin.finetune.train import add_lora, build_trainer

    row = {"model": name, "seq": seq, "batch": batch, "gradient_checkpointing": checkpointing}
    tcfg = TrainConfig(lora_rank=16, lora_alpha=32, gradient_checkpointing=checkpointing, batch_size=batch,
                       grad_accum=1, max_steps=warmup + steps, logging_steps=1, eval_steps=10**6, packing=True,
                       max_seq_len=seq, learning_rate=1e-4)

    class StepClock(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            if device == "cuda":
                torch.cuda.synchronize()
            self.times.append(time.perf_counter())

    model = None
    try:
        model, n_params = random_model(shape, device, seq)
        model = add_lora(model, tcfg, name)
        features = packed_features(shape["vocab_size"], seq, (warmup + steps) * batch)
        clock = StepClock()
        with tempfile.TemporaryDirectory() as folder:
            trainer = build_trainer(model, tcfg, 0, features, [], Path(folder) / "checkpoints", device, [clock])
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            trainer.train()
        timed = clock.times[warmup - 1:] if warmup else clock.times
        seconds = timed[-1] - timed[0] if len(timed) > 1 else float("nan")
        measured = features[warmup * batch:(warmup + steps) * batch]
        tokens = sum(len(f["input_ids"]) for f in measured)
        tokens_per_s = tokens / seconds
        row.update(params=n_params, tokens_per_s=round(tokens_per_s, 1), seconds_per_step=round(seconds / steps, 3),
                   peak_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda"
                   else round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2))
        if peak:
            row["mfu"] = float(f"{4 * n_params * tokens_per_s / (peak * 1e12):.4g}")
            row["mfu_6n"] = float(f"{6 * n_params * tokens_per_s / (peak * 1e12):.4g}")
    except torch.OutOfMemoryError:
        row["error"] = "out of memory"
    finally:
        del model
        if device == "cuda":
            torch.cuda.empty_cache()
    return row


# --- 2. generation throughput ----------------------------------------------------------------

def generation_rows(name: str, shape: dict, device: str, new_tokens: int, prompt_tokens: int) -> list[dict]:
    import torch
    from peft import LoraConfig, get_peft_model

    model, _ = random_model(shape, device, prompt_tokens + new_tokens)
    model.eval()
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    for module in peft_model.modules():  # a trained adapter is non-zero; B starts at zero
        if hasattr(module, "lora_B"):
            for linear in module.lora_B.values():
                torch.nn.init.normal_(linear.weight, std=0.02)
    rows = []
    for merged in (False, True):
        served = peft_model.merge_and_unload() if merged else peft_model
        for batch in (1, 8):
            ids = torch.randint(3, shape["vocab_size"], (batch, prompt_tokens), device=device)
            kwargs = dict(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                          min_new_tokens=new_tokens, do_sample=False, pad_token_id=0, repetition_penalty=1.1)
            with torch.inference_mode():
                served.generate(**{**kwargs, "max_new_tokens": 4, "min_new_tokens": 4})  # warm-up
                if device == "cuda":
                    torch.cuda.synchronize()
                started = time.perf_counter()
                out = served.generate(**kwargs)
                if device == "cuda":
                    torch.cuda.synchronize()
            seconds = time.perf_counter() - started
            produced = (out.shape[-1] - prompt_tokens) * batch
            rows.append({"model": name, "adapter": "merged" if merged else "attached (PEFT)", "batch": batch,
                         "new_tokens": new_tokens, "tokens_per_s": round(produced / seconds, 1)})
    del model, peft_model
    if device == "cuda":
        torch.cuda.empty_cache()
    return rows


# --- 3. end to end ---------------------------------------------------------------------------

def persona_text() -> list[str]:
    import csv

    lines = []
    for path in sorted((PERSONA / "exports" / "wechat").glob("*.csv")):
        with path.open(encoding="utf-8") as handle:
            lines += [row.get("msg", "") for row in csv.DictReader(handle)]
    data = json.loads((PERSONA / "exports" / "telegram" / "result.json").read_text(encoding="utf-8"))
    for chat in data.get("chats", {}).get("list", [data]):
        lines += [m["text"] for m in chat.get("messages", []) if isinstance(m.get("text"), str)]
    return [line for line in lines if line] + [p.read_text(encoding="utf-8") for p in (PERSONA / "posts").glob("*.md")]


def build_base(folder: Path, shape: dict) -> Path:
    """A Qwen2-architecture model with random weights and a BPE tokenizer trained on the persona,
    saved as an ordinary transformers folder (config.json, safetensors, tokenizer with ChatML)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from twin.models import CHATML_TEMPLATE

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=shape["vocab_size"], special_tokens=CHATML,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(persona_text(), trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = CHATML_TEMPLATE
    model, _ = random_model({**shape, "vocab_size": len(tokenizer)}, "cpu", 2048)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def end_to_end(shape: dict, device: str, steps: int, work: Path) -> dict:
    import torch

    from twin.finetune.vllm_compat import check_adapter
    from twin.models import load_model_and_tokenizer, resolve_base_model

    started = time.perf_counter()
    base = build_base(work / "base", shape)
    twin = work / "twin"
    twin.mkdir()
    toml = (PERSONA / "twin.toml").read_text(encoding="utf-8")
    toml = toml.replace('base_model = "smollm2"', f'base_model = "{base}"').replace("max_steps = 12", f"max_steps = {steps}")
    (twin / "twin.toml").write_text(toml, encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # `twin train` picks CUDA whenever it sees one
    twin_cli = [sys.executable, "-c", "from twin.cli import main; main()"]
    commands = [["ingest", str(PERSONA / "exports"), str(PERSONA / "posts")], ["dataset", "build"],
                ["train", "--output", str(twin / "adapter")]]
    for args in commands:
        result = subprocess.run([*twin_cli, *args], cwd=twin, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            return {"ok": False, "failed": "twin " + " ".join(args[:2]), "stderr": result.stderr[-2000:]}
    adapter = twin / "adapter"
    manifest = json.loads((adapter / "manifest.json").read_text(encoding="utf-8"))
    model, tokenizer = load_model_and_tokenizer(resolve_base_model(str(base)), adapter=adapter, device=device)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "周末去哪儿玩了？"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        out = model.generate(**{k: v.to(device) for k, v in prompt.items()}, max_new_tokens=12, min_new_tokens=12,
                             do_sample=False, pad_token_id=tokenizer.pad_token_id)
    check = check_adapter(adapter)
    return {
        "ok": check.ok and type(model).__name__ == "PeftModelForCausalLM",
        "train_device": manifest["run"]["device"], "steps": manifest["run"]["steps"],
        "dtype": str(next(model.parameters()).dtype), "generated_tokens": int(out.shape[-1] - prompt["input_ids"].shape[-1]),
        "vllm_check": {"ok": check.ok, "errors": check.errors, "warnings": check.warnings,
                       "command": check.vllm_command()},
        "seconds": round(time.perf_counter() - started, 1),
    }


# --- driver ----------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default=None, help="default: cuda when visible")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes and few steps (a smoke run, e.g. on CPU)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the peak to compute MFU against")
    parser.add_argument("--parts", default="train,generate,e2e", help="which parts to run (comma-separated)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default reports/gpu_check-<time>.json)")
    args = parser.parse_args()

    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA GPU visible: run with --device cpu --tiny")
    parts = set(args.parts.split(","))
    peak, peak_note = peak_tflops(device, args.peak_tflops)
    if args.tiny:
        shapes = {"tiny-qwen2": TINY_SHAPE}
        grid, gen_shape, steps, warmup, batch, new_tokens = [128], ("tiny-qwen2", TINY_SHAPE), 2, 1, 2, 16
    else:
        shapes = {"qwen2.5-1.5b": SHAPES["qwen2.5-1.5b"], "qwen2.5-7b": SHAPES["qwen2.5-7b"]}
        grid, gen_shape, steps, warmup, batch, new_tokens = [2048, 4096], ("qwen2.5-1.5b", SHAPES["qwen2.5-1.5b"]), 6, 2, 1, 128
    started = time.perf_counter()
    report: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name() if device == "cuda" else f"CPU x{os.cpu_count()}",
        "peak": peak_note, "torch": torch.__version__, "tiny": args.tiny, "train": [], "generate": [],
    }
    if "train" in parts:
        for name, shape in shapes.items():
            for seq in grid:
                for checkpointing in (False, True):
                    row = train_row(name, shape, seq, checkpointing, device, steps, warmup, batch, peak)
                    report["train"].append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
    if "generate" in parts:
        report["generate"] = generation_rows(*gen_shape, device, new_tokens, prompt_tokens=128 if not args.tiny else 32)
    if "e2e" in parts:
        work = Path(tempfile.mkdtemp(prefix="twin-gpu-check-"))
        try:
            report["end_to_end"] = end_to_end(TINY_SHAPE, device, steps=2 if args.tiny else 8, work=work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    report["seconds"] = round(time.perf_counter() - started, 1)

    out = args.out or REPO / "reports" / f"gpu_check-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(report)
    print(f"\nJSON: {out}")


def print_table(report: dict) -> None:
    print(f"device {report['device']} | peak {report['peak']} | torch {report['torch']} | {report['seconds']} s")
    print(f"\n{'LoRA training':<16}{'seq':>6}{'ckpt':>6}{'tokens/s':>12}{'s/step':>9}{'peak GiB':>10}{'MFU 4N':>8}{'MFU 6N':>8}")
    for r in report["train"]:
        if "error" in r:
            print(f"{r['model']:<16}{r['seq']:>6}{'on' if r['gradient_checkpointing'] else 'off':>6}  {r['error']}")
            continue
        mfu = f"{100 * r['mfu']:.3g}%" if "mfu" in r else "-"
        mfu6 = f"{100 * r['mfu_6n']:.3g}%" if "mfu_6n" in r else "-"
        print(f"{r['model']:<16}{r['seq']:>6}{'on' if r['gradient_checkpointing'] else 'off':>6}"
              f"{r['tokens_per_s']:>12,.1f}{r['seconds_per_step']:>9.3f}{r['peak_gib']:>10.2f}{mfu:>8}{mfu6:>8}")
    if report["generate"]:
        print(f"\n{'generation':<16}{'adapter':>18}{'batch':>7}{'tokens/s':>12}")
        for r in report["generate"]:
            print(f"{r['model']:<16}{r['adapter']:>18}{r['batch']:>7}{r['tokens_per_s']:>12,.1f}")
    e2e = report.get("end_to_end")
    if e2e:
        status = "ok" if e2e["ok"] else f"FAILED ({e2e.get('failed') or e2e.get('vllm_check', {}).get('errors')})"
        print(f"\nend to end (ingest, dataset, train, PeftModel reload + generate, vLLM check): {status}"
              + (f" on {e2e['train_device']}, {e2e['steps']} steps, {e2e['dtype']}, {e2e['seconds']} s" if e2e.get("steps") else ""))


if __name__ == "__main__":
    main()
