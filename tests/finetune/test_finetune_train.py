"""LoRA training on a tiny random Llama: loss falls, only LoRA moves, the folder describes itself,
reloading and merging give the same logits, and the same command runs data-parallel (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twin.config import TwinConfig
from twin.errors import ConfigError, ModelError, StoreError
from twin.finetune.config import apply_overrides
from twin.finetune.dataset import build_dataset
from tests.finetune.tiny import fixture_corpus

EXPECTED_FILES = {
    "adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json",
    "chat_template.jinja", "system_prompt.txt", "manifest.json", "loss.json", "loss.png",
}
TRAIN = {"max_steps": 16, "batch_size": 2, "grad_accum": 1, "learning_rate": 2e-2, "logging_steps": 1,
         "eval_steps": 8, "lora_rank": 8, "lora_alpha": 16, "lora_dropout": 0.0, "max_seq_len": 384}


def make_twin(root: Path, base: Path) -> TwinConfig:
    cfg = TwinConfig(root=root, train={"base_model": str(base), **TRAIN},
                     dataset={"tokenizer": "approx", "split": (0.6, 0.2, 0.2)})
    fixture_corpus(cfg.path("corpus"))
    build_dataset(cfg, "style")
    return cfg


@pytest.fixture(scope="module")
def trained(tiny_base, tmp_path_factory):
    from twin.finetune.train import train

    root = tmp_path_factory.mktemp("twin")
    cfg = make_twin(root, tiny_base)
    result = train(cfg, cfg.train, dataset="style", output=root / "adapter", log=lambda *_: None)
    return cfg, result


def test_loss_is_logged_and_falls(trained):
    _, result = trained
    curve = json.loads((result.folder / "loss.json").read_text())
    losses = [loss for _, loss in curve["train"]]
    assert len(losses) >= 16 and [s for s, _ in curve["train"]][:2] == [1, 2]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.2  # a clear drop, not noise
    assert curve["eval"], "validation loss was computed"
    assert result.steps == 16


def test_only_lora_weights_change(trained, tiny_base):
    import torch
    from transformers import AutoModelForCausalLM

    _, result = trained
    fresh = AutoModelForCausalLM.from_pretrained(tiny_base).state_dict()
    trained_base = result.model.get_base_model().state_dict()
    lora = {k: v for k, v in trained_base.items() if "lora_" in k}
    assert lora and any("lora_B" in k and v.abs().sum() > 0 for k, v in lora.items())  # B starts at zero
    for key, value in trained_base.items():
        if "lora_" in key:
            continue
        original = key.replace(".base_layer", "")
        assert torch.equal(value, fresh[original]), f"base weight {original} changed"
    trainable = {n for n, p in result.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)


def test_adapter_folder_describes_itself(trained):
    cfg, result = trained
    assert {p.name for p in result.folder.iterdir()} == EXPECTED_FILES
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert manifest["base_model"]["location"] == cfg.train.base_model
    assert manifest["base_model"]["fingerprint"]["hidden_size"] == 32
    dataset_manifest = cfg.path("datasets") / "style" / "manifest.json"
    from twin.manifest import file_sha256

    assert manifest["dataset"]["manifest_sha256"] == file_sha256(dataset_manifest)
    assert manifest["train_config"]["lora_rank"] == 8
    assert {"torch", "transformers", "peft"} <= set(manifest["libraries"])
    assert "--lora-modules twin=" in manifest["serve"]["vllm"]
    assert (result.folder / "system_prompt.txt").read_text().strip() == json.loads(
        dataset_manifest.read_text())["system_prompt"]
    adapter_config = json.loads((result.folder / "adapter_config.json").read_text())
    assert adapter_config["r"] == 8 and adapter_config["peft_type"] == "LORA"


def test_reload_and_merge_give_the_same_logits(trained, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from twin.models import load_model_and_tokenizer, resolve_base_model
    from twin.finetune.merge import merge_adapter

    cfg, result = trained
    model, tokenizer = load_model_and_tokenizer(resolve_base_model(cfg.train.base_model), adapter=result.folder, device="cpu")
    ids = tokenizer("你吃饭了吗 see you tomorrow", return_tensors="pt")["input_ids"]
    result.model.eval()
    with torch.no_grad():
        expected = result.model(input_ids=ids).logits
        assert torch.allclose(model(input_ids=ids).logits, expected, atol=1e-5)
        merged_folder = merge_adapter(result.folder, tmp_path / "merged")
        merged = AutoModelForCausalLM.from_pretrained(merged_folder)
        assert torch.allclose(merged(input_ids=ids).logits, expected, atol=1e-4)
    assert (merged_folder / "system_prompt.txt").is_file()


def test_clear_errors(tiny_base, tmp_path):
    from twin.finetune.train import train

    with pytest.raises(ConfigError, match="--lora-rank"):
        apply_overrides(TwinConfig().train, {"lora_rank": 0})
    cfg = TwinConfig(root=tmp_path, train={"base_model": str(tmp_path / "nope"), **TRAIN},
                     dataset={"tokenizer": "approx"})
    with pytest.raises(StoreError, match="twin dataset build"):
        train(cfg, cfg.train, dataset="style", output=tmp_path / "a")
    fixture_corpus(cfg.path("corpus"))
    build_dataset(cfg, "style")
    with pytest.raises(ModelError, match="base model folder not found"):
        train(cfg, cfg.train, dataset="style", output=tmp_path / "a")
    qlora = apply_overrides(cfg.train, {"base_model": str(tiny_base), "qlora": True})
    with pytest.raises(ModelError, match="qlora needs a CUDA GPU"):
        train(cfg, qlora, dataset="style", output=tmp_path / "a")


def free_port() -> int:
    """A port nobody listens on now (a fixed one collides with other test runs on the machine)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_same_entry_point_runs_data_parallel_on_two_cpu_processes(tiny_base, tmp_path):
    """torchrun starts two processes of `twin train`; Trainer joins them with gloo."""
    cfg = make_twin(tmp_path, tiny_base)
    (tmp_path / "twin.toml").write_text(
        f'[train]\nbase_model = "{tiny_base}"\nmax_steps = 2\nbatch_size = 1\ngrad_accum = 1\n'
        'logging_steps = 1\nlora_rank = 4\nmax_seq_len = 256\n\n[dataset]\ntokenizer = "approx"\n',
        encoding="utf-8",
    )
    twin = Path(sys.executable).with_name("twin")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "ddp-adapter"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
         "--no-python", str(twin), "train", "--config", str(tmp_path / "twin.toml"), "--output", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run"]["world_size"] == 2 and manifest["run"]["steps"] == 2
    assert {p.name for p in out.iterdir()} == EXPECTED_FILES
    assert cfg.path("datasets").is_dir()
