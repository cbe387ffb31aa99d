"""core.models: resolving base models, chat templates, adapters on the wrong base."""

from __future__ import annotations

import json

import pytest
from tests.finetune.tiny import build_tokenizer, save_tiny_base

from twin.errors import ModelError
from twin.models import (
    CHATML_TEMPLATE,
    SMOLLM2_GGUF,
    base_fingerprint,
    ensure_chat_template,
    load_model_and_tokenizer,
    resolve_base_model,
)


def test_smollm2_resolves_to_packaged_gguf():
    ref = resolve_base_model("smollm2")
    assert ref.gguf_file == SMOLLM2_GGUF and ref.local
    assert ref.hf_id == "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.mark.parametrize("spec", ["", "not-a-model", "./missing/folder", "a/b/c"])
def test_unknown_base_model_is_a_clear_error(spec):
    with pytest.raises(ModelError, match="base.model|not found"):
        resolve_base_model(spec)


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(ModelError, match="config.json"):
        resolve_base_model(str(tmp_path))


def test_chatml_fallback_when_tokenizer_has_none():
    tokenizer = build_tokenizer(with_template=False)
    assert ensure_chat_template(tokenizer) is True
    assert tokenizer.chat_template == CHATML_TEMPLATE
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    # A tokenizer that has one keeps it.
    assert ensure_chat_template(tokenizer) is False


def test_load_local_model_and_adapter_mismatch(tiny_base, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model

    ref = resolve_base_model(str(tiny_base))
    model, tokenizer = load_model_and_tokenizer(ref, device="cpu")
    assert model.dtype == torch.float32 and tokenizer.chat_template

    # An adapter for a wider base: refused by the recorded fingerprint before PEFT sees it.
    wide = save_tiny_base(tmp_path / "wide", hidden=48)
    wide_ref = resolve_base_model(str(wide))
    wide_model, _ = load_model_and_tokenizer(wide_ref, device="cpu")
    peft_model = get_peft_model(wide_model, LoraConfig(r=2, target_modules="all-linear"))
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    with pytest.raises(ModelError, match="does not fit"):  # no manifest: PEFT's shape check, translated
        load_model_and_tokenizer(ref, adapter=adapter, device="cpu")
    manifest = {"base_model": {**wide_ref.to_dict(), "fingerprint": base_fingerprint(wide_model.config)}}
    (adapter / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="hidden_size 48 vs 32"):
        load_model_and_tokenizer(ref, adapter=adapter, device="cpu")
    # The right base loads it.
    loaded, _ = load_model_and_tokenizer(wide_ref, adapter=adapter, device="cpu")
    from peft import PeftModel

    assert isinstance(loaded, PeftModel) and not loaded.training
