"""LoRA fine-tuning with transformers' Trainer and peft, loss on the owner's turns only.

`twin train` runs this on one device. The same command runs data-parallel when started by a
launcher, because Trainer reads the launcher's environment (RANK, WORLD_SIZE...):

    torchrun --nproc_per_node 8 --no-python twin train              # 8 GPUs, NCCL
    accelerate launch --num_processes 8 --no_python twin train      # the same through accelerate
    torchrun --nproc_per_node 2 --no-python twin train              # 2 CPU processes, gloo (tested)

Each process takes its share of every batch; only the first one writes the adapter folder.
The effective batch is batch_size x grad_accum x processes.

The adapter folder (see finetune.adapter_folder) describes itself: PEFT files, tokenizer with
its chat template, persona prompt, training config, dataset hash, base model, library versions
and the loss curve. Checkpoints for `--resume` live in `<folder>/checkpoints` until the run
finishes.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from twin.config import TrainConfig, TwinConfig
from twin.errors import ModelError, StoreError
from twin.manifest import read_manifest
from twin.models import BaseModelRef, load_base_model, load_tokenizer, pick_device, resolve_base_model


@dataclass
class TrainResult:
    folder: Path
    steps: int
    first_loss: float
    last_loss: float
    seconds: float
    is_main_process: bool
    dropped: dict
    model: Any = field(default=None, repr=False)  # the trained PeftModel, for callers that go on using it


def default_output(cfg: TwinConfig, dataset: str) -> Path:
    return cfg.path("adapters") / f"{Path(dataset).name}-{datetime.now():%Y%m%d-%H%M%S}"


def check_qlora(tcfg: TrainConfig, device: str) -> None:
    if not tcfg.qlora:
        return
    if not device.startswith("cuda"):
        raise ModelError("train.qlora needs a CUDA GPU; none is visible (set train.qlora = false or use --no-qlora)")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelError("train.qlora needs bitsandbytes: pip install bitsandbytes (or use --no-qlora)")


def load_for_training(ref: BaseModelRef, tcfg: TrainConfig, tokenizer, device: str):
    """Base model (4-bit for QLoRA), embeddings grown if the chat template added tokens, LoRA on top."""
    kwargs: dict[str, Any] = {"attn_implementation": tcfg.attn_implementation}
    if tcfg.qlora:
        import torch
        from transformers import BitsAndBytesConfig

        kwargs.update(quantization_config=BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True,
        ), device_map={"": 0})
    model = load_base_model(ref, device=device, dense=not tcfg.qlora, **kwargs)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    return add_lora(model, tcfg, ref.display)


def add_lora(model, tcfg: TrainConfig, display: str = "the base model"):
    """LoRA adapters on a loaded base, the way every `twin train` run sets them up (also used by
    bench/gpu_check.py on random-weight models, so the benchmark measures this code)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if tcfg.qlora:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=tcfg.gradient_checkpointing)
    elif tcfg.gradient_checkpointing:
        model.enable_input_require_grads()  # checkpointed blocks need a grad path from the (frozen) inputs
    lora = LoraConfig(
        r=tcfg.lora_rank, lora_alpha=tcfg.lora_alpha, lora_dropout=tcfg.lora_dropout,
        target_modules=tcfg.target_modules, task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, lora)
    except ValueError as exc:
        raise ModelError(f"train.target_modules {tcfg.target_modules!r} do not fit {display}: {exc}") from None


def build_trainer(model, tcfg: TrainConfig, pad_token_id: int, train_features: list, eval_features: list,
                  checkpoints: Path, device: str, callbacks: list | None = None):
    """transformers.Trainer over token features (see twin.finetune.collate), as `twin train` runs it."""
    from datasets import Dataset
    from transformers import EarlyStoppingCallback, Trainer

    from twin.finetune.collate import PadCollator
    from twin.finetune.config import training_arguments

    args = training_arguments(tcfg, checkpoints, on_gpu=device.startswith("cuda"), has_eval=bool(eval_features))
    callbacks = list(callbacks or [])
    if eval_features and tcfg.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=tcfg.early_stopping_patience))
    return Trainer(
        model=model, args=args, data_collator=PadCollator(pad_token_id),
        train_dataset=Dataset.from_list(train_features),
        eval_dataset=Dataset.from_list(eval_features) if eval_features else None,
        callbacks=callbacks,
    )


def train(
    cfg: TwinConfig, tcfg: TrainConfig, *, dataset: str = "style", output: Path | None = None,
    resume: bool = False, log: Callable[[str], None] = print,
) -> TrainResult:
    import torch

    from twin.finetune.adapter_folder import write_adapter_folder
    from twin.finetune.collate import pack, tokenize_rows
    from twin.finetune.dataset import dataset_folder, read_split

    folder = dataset_folder(cfg, dataset)
    data_manifest = read_manifest(folder)
    train_rows = read_split(folder, "train")
    if not train_rows:
        raise StoreError(f"{folder}/train.jsonl: the dataset is empty; rebuild it with `twin dataset build`")
    eval_rows = read_split(folder, "validation")

    output = Path(output) if output else default_output(cfg, dataset)
    if output.exists() and any(output.iterdir()) and not resume:
        raise StoreError(f"{output}: exists and is not empty; pick another --output or pass --resume")
    device = pick_device("auto")
    check_qlora(tcfg, device)
    ref = resolve_base_model(tcfg.base_model, tcfg.gguf_file, tcfg.revision)
    log(f"base model {ref.display} on {device}")
    tokenizer = load_tokenizer(ref)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token

    dropped: Counter = Counter()
    train_features = tokenize_rows(tokenizer, train_rows, tcfg.max_seq_len, dropped)
    eval_features = tokenize_rows(tokenizer, eval_rows, tcfg.max_seq_len, dropped)
    if not train_features:
        raise StoreError(f"{folder}: no training sample keeps an owner token within train.max_seq_len={tcfg.max_seq_len}")
    if tcfg.packing:
        train_features = pack(train_features, tcfg.max_seq_len)

    model = load_for_training(ref, tcfg, tokenizer, device)
    checkpoints = output / "checkpoints"
    trainer = build_trainer(model, tcfg, tokenizer.pad_token_id, train_features, eval_features, checkpoints, device)
    args = trainer.args
    has_checkpoint = checkpoints.is_dir() and any(checkpoints.glob("checkpoint-*"))
    if resume and not has_checkpoint:
        raise StoreError(f"{checkpoints}: no checkpoint to resume from")
    started = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=True if resume else None)
    except torch.OutOfMemoryError:
        raise ModelError(
            f"out of memory at batch_size={tcfg.batch_size}, max_seq_len={tcfg.max_seq_len}: lower "
            "train.batch_size (--batch-size) and raise train.grad_accum, lower --max-seq-len, or turn on "
            "--gradient-checkpointing / --qlora"
        ) from None
    seconds = time.perf_counter() - started

    history = trainer.state.log_history
    losses = [entry["loss"] for entry in history if "loss" in entry]
    main = trainer.is_world_process_zero()
    if main:
        write_adapter_folder(
            output, model=trainer.model, tokenizer=tokenizer, ref=ref, cfg=cfg, tcfg=tcfg,
            dataset_folder=folder, dataset_manifest=data_manifest, history=history,
            run={"steps": trainer.state.global_step, "seconds": round(seconds, 1),
                 "world_size": args.world_size, "device": device, "dropped": dict(dropped),
                 "train_samples": len(train_rows), "validation_samples": len(eval_rows),
                 "resumed": resume},
        )
        shutil.rmtree(checkpoints, ignore_errors=True)
    if args.world_size > 1:
        torch.distributed.barrier()  # the others wait until the folder is complete
    return TrainResult(
        folder=output, steps=trainer.state.global_step, first_loss=losses[0] if losses else float("nan"),
        last_loss=losses[-1] if losses else float("nan"), seconds=seconds, is_main_process=main,
        dropped=dict(dropped), model=trainer.model,
    )
