"""`twin adapter check`: a PEFT folder vLLM will load passes; each thing vLLM refuses is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import build_app
from twin.finetune.vllm_compat import MAX_LORA_RANKS, check_adapter, vllm_max_lora_rank

BASE_ID = "Qwen/Qwen2.5-1.5B-Instruct"


def save_adapter(folder: Path, *, rank: int = 8, targets="all-linear", resize: bool = False, **extra) -> Path:
    """A real PEFT LoRA folder on a 2-layer random Qwen2, as `save_pretrained` writes it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, vocab_size=128))
    if resize:
        model.resize_token_embeddings(130)  # what adding chat tokens to a tokenizer does
    peft = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets, task_type="CAUSAL_LM"))
    # With a resized vocabulary PEFT saves the embedding layers too (it does so by itself when it can
    # compare with the base's config on the Hub; offline here, so it is asked to).
    peft.save_pretrained(folder, save_embedding_layers=resize)
    config = json.loads((folder / "adapter_config.json").read_text())
    config.update({"base_model_name_or_path": BASE_ID, **extra})
    (folder / "adapter_config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return save_adapter(tmp_path_factory.mktemp("good"))


def test_a_plain_lora_on_the_linear_layers_passes_and_gets_a_serve_command(good):
    check = check_adapter(good)
    assert check.ok, check.errors
    assert check.rank == 8 and check.model_type is None  # no manifest, base on the Hub: the common rules apply
    assert set(check.target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert check.vllm_command() == (f"vllm serve {BASE_ID} --enable-lora --max-lora-rank 16 "
                                    f"--lora-modules twin={good.resolve()}")


@pytest.mark.parametrize(("rank", "flag"), [(8, 16), (16, 16), (17, 32), (64, 64), (100, 128), (512, 512), (513, 0)])
def test_max_lora_rank_is_the_smallest_value_vllm_accepts(rank, flag):
    assert vllm_max_lora_rank(rank) == flag
    assert flag == 0 or flag in MAX_LORA_RANKS


def test_rank_above_the_servers_max_lora_rank_is_refused(tmp_path, good):
    big = save_adapter(tmp_path / "r32", rank=32)
    assert check_adapter(big).ok and check_adapter(big).max_lora_rank == 32
    refused = check_adapter(big, max_lora_rank=16)
    assert not refused.ok and "greater than the server's --max-lora-rank 16" in refused.errors[0]
    assert "--max-lora-rank 32" in refused.errors[0]
    assert "not a value vLLM accepts" in check_adapter(good, max_lora_rank=48).errors[0]


@pytest.mark.parametrize(("extra", "message"), [
    ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
    ({"use_dora": True}, "DoRA"),
])
def test_config_features_vllm_does_not_load_are_refused(tmp_path, extra, message):
    check = check_adapter(save_adapter(tmp_path / "a", **extra))
    assert not check.ok and any(message in e for e in check.errors)


def test_lora_on_embeddings_or_a_resized_vocabulary_is_refused(tmp_path):
    on_embeddings = check_adapter(save_adapter(tmp_path / "emb", targets=["q_proj", "v_proj", "embed_tokens"]))
    assert not on_embeddings.ok and any("embed_tokens" in e for e in on_embeddings.errors)
    resized = check_adapter(save_adapter(tmp_path / "resized", resize=True))
    assert not resized.ok and any("resized vocabulary" in e for e in resized.errors)


def test_modules_without_vllm_lora_support_are_named(tmp_path):
    folder = save_adapter(tmp_path / "a", targets=["q_proj", "v_proj"])
    config = json.loads((folder / "adapter_config.json").read_text())
    config["target_modules"] = ["q_proj", "v_proj", "rotary_emb"]
    (folder / "adapter_config.json").write_text(json.dumps(config))
    check = check_adapter(folder)
    assert not check.ok and len(check.errors) == 1
    assert "rotary_emb" in check.errors[0] and "q_proj" not in check.errors[0].split("(supported")[0]


def test_a_gguf_base_or_no_base_is_refused(tmp_path):
    gguf = check_adapter(save_adapter(tmp_path / "gguf", base_model_name_or_path="/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    assert not gguf.ok and any("GGUF" in e for e in gguf.errors)
    nobase = check_adapter(save_adapter(tmp_path / "nobase", base_model_name_or_path=""))
    assert not nobase.ok and any("base_model_name_or_path" in e for e in nobase.errors)


def test_trained_on_a_gguf_warns_that_the_served_base_differs(tmp_path, good):
    (good / "manifest.json").write_text(json.dumps({"base_model": {
        "spec": "smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf", "hf_id": BASE_ID,
        "fingerprint": {"model_type": "qwen2"}}}))
    try:
        check = check_adapter(good)
        assert check.ok and check.model_type == "qwen2"
        assert any("quantisation error" in w for w in check.warnings)
    finally:
        (good / "manifest.json").unlink()


def test_cli_prints_the_command_and_exits_non_zero_on_errors(tmp_path, good):
    runner, app = CliRunner(), build_app()
    ok = runner.invoke(app, ["adapter", "check", str(good)])
    assert ok.exit_code == 0, ok.output
    assert f"vllm serve {BASE_ID} --enable-lora --max-lora-rank 16" in ok.stdout
    as_json = runner.invoke(app, ["adapter", "check", str(good), "--json", "--max-model-len", "8192"])
    data = json.loads(as_json.stdout)
    assert data["ok"] and data["compose_env"] == "TWIN_MAX_LORA_RANK=16" and data["vllm_command"].endswith("--max-model-len 8192")
    bad = runner.invoke(app, ["adapter", "check", str(save_adapter(tmp_path / "dora", use_dora=True))])
    assert bad.exit_code == 1 and "DoRA" in bad.output
    missing = runner.invoke(app, ["adapter", "check", str(tmp_path / "nowhere")])
    assert missing.exit_code != 0 and "adapter_config.json: not found" in missing.output.replace("\n", "")
