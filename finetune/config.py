"""Training settings: the [train] section with command-line overrides, turned into TrainingArguments.

Precedence: TrainConfig defaults < twin.toml [train] (and TWIN_TRAIN__* environment) < flags.
A flag left unset (None) changes nothing; a set one is validated like the file, so
`--lora-rank 0` fails with the same message as `lora_rank = 0` would.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from twin.config import TrainConfig
from twin.errors import ConfigError


def apply_overrides(base: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    values = {k: v for k, v in overrides.items() if v is not None}
    try:
        return TrainConfig.model_validate({**base.model_dump(), **values})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"train.{key} (flag --{key.replace('_', '-')}): {first['msg']}") from None


def launched_distributed() -> bool:
    """True under torchrun / accelerate launch with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def training_arguments(cfg: TrainConfig, checkpoints: Path, *, on_gpu: bool, has_eval: bool):
    """transformers.TrainingArguments for one run. Checkpoints go to their own folder so the
    adapter folder holds only the final files."""
    from transformers import TrainingArguments

    evaluate = "steps" if has_eval else "no"
    early_stop = has_eval and cfg.early_stopping_patience is not None
    return TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_steps,
        weight_decay=0.0,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        eval_strategy=evaluate,
        eval_steps=cfg.eval_steps if has_eval else None,
        save_strategy="steps",
        save_steps=cfg.eval_steps,
        save_total_limit=2,
        load_best_model_at_end=early_stop,
        metric_for_best_model="eval_loss" if early_stop else None,
        greater_is_better=False if early_stop else None,
        bf16=on_gpu,  # bf16 autocast on GPU; fp32 on CPU, where bf16 matmuls are slow
        use_cpu=not on_gpu,
        gradient_checkpointing=cfg.gradient_checkpointing,
        # Data-parallel under torchrun / accelerate launch: NCCL on GPUs, gloo on CPUs.
        ddp_backend="gloo" if not on_gpu and launched_distributed() else None,
        ddp_find_unused_parameters=False,
        remove_unused_columns=False,  # our collator needs the label column the model does not declare
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        disable_tqdm=True,
    )
