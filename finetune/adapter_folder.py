"""The adapter folder `twin train` writes, and what each file is for.

    adapter_config.json, adapter_model.safetensors   PEFT LoRA weights (PeftModel and vLLM load these)
    tokenizer.json, tokenizer_config.json,
    chat_template.jinja                               the tokenizer with the chat template used in training
    system_prompt.txt                                 the persona prompt every sample carried
    manifest.json                                     base model (spec, location, gguf file, HF id, shape
                                                      fingerprint), dataset name + manifest sha256 + corpus
                                                      hash, [train] config, run facts, library versions,
                                                      and the vLLM command line
    loss.json, loss.png                               training (and validation) loss per step

vLLM: it cannot use a GGUF as the base of a LoRA, so for the packaged SmolLM2 it serves the bf16
original recorded in `manifest.json` (`base_model.hf_id`), which `adapter_config.json` names as
`base_model_name_or_path`. That is not the exact base the adapter was trained on (the GGUF is a
Q4_1 quantisation of it): close enough for the demo; for a real twin, train on the safetensors
model you serve. `twin adapter check <folder>` says so and prints the vllm command that fits.
"""

from __future__ import annotations

import json
from pathlib import Path

from twin.config import TrainConfig, TwinConfig
from twin.manifest import file_sha256, library_versions, write_manifest
from twin.models import BaseModelRef, base_fingerprint
from twin.finetune.vllm_compat import vllm_max_lora_rank
from twin.private import private_dir, private_tree
from twin.prompt import system_prompt

LIBRARIES = ("torch", "transformers", "peft", "accelerate", "datasets", "tokenizers", "twin")


def write_adapter_folder(
    output: Path, *, model, tokenizer, ref: BaseModelRef, cfg: TwinConfig, tcfg: TrainConfig,
    dataset_folder: Path, dataset_manifest: dict, history: list[dict], run: dict,
) -> None:
    private_dir(output)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    _point_adapter_config_at_hub_id(output, ref)
    for stray in ("README.md",):  # PEFT's model-card stub: the manifest is the description
        (output / stray).unlink(missing_ok=True)
    (output / "system_prompt.txt").write_text(system_prompt(cfg.persona) + "\n", encoding="utf-8")
    write_loss_curve(output, history)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    vllm_base = ref.hf_id or ref.location
    write_manifest(output, {
        "kind": "twin-adapter",
        "base_model": {**ref.to_dict(), "fingerprint": base_fingerprint(base.config)},
        "dataset": {
            "name": dataset_folder.name, "manifest_sha256": file_sha256(dataset_folder / "manifest.json"),
            "corpus_hash": dataset_manifest.get("corpus_hash"), "splits": dataset_manifest.get("splits"),
        },
        "train_config": tcfg.model_dump(mode="json"),
        "run": run,
        "libraries": library_versions(*LIBRARIES),
        "serve": {
            "vllm": f"vllm serve {vllm_base} --enable-lora --max-lora-rank {vllm_max_lora_rank(tcfg.lora_rank)} "
                    f"--lora-modules twin={output.resolve()}",
            "note": "vLLM needs the safetensors base (base_model.hf_id), not the GGUF this adapter was trained on; "
                    "the two differ by the GGUF's quantisation error" if ref.gguf_file else "",
        },
    })
    private_tree(output)  # weights and tokenizer files written by PEFT/transformers: owner-only


def _point_adapter_config_at_hub_id(output: Path, ref: BaseModelRef) -> None:
    """Record the Hub id (not this machine's site-packages path) as the adapter's base."""
    if not ref.hf_id:
        return
    path = output / "adapter_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = ref.hf_id
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_loss_curve(output: Path, history: list[dict]) -> None:
    train = [[e["step"], e["loss"]] for e in history if "loss" in e]
    evals = [[e["step"], e["eval_loss"]] for e in history if "eval_loss" in e]
    (output / "loss.json").write_text(json.dumps({"train": train, "eval": evals}, indent=1) + "\n", encoding="utf-8")
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    if train:
        ax.plot(*zip(*train), label="train")
    if evals:
        ax.plot(*zip(*evals), marker="o", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (owner tokens)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(output / "loss.png", dpi=100)
    plt.close(fig)
