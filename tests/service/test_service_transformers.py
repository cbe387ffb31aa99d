"""The in-process transformers + peft backend on a tiny random Llama (built here) with a LoRA
adapter found as the newest run under paths.adapters, served and streamed over HTTP."""

from __future__ import annotations

import json
import os
import time

import openai

from service_helpers import API_KEY, serve

CORPUS = ["hello how are you", "I am fine thanks", "the hike at Yellow Mountain", "cello lessons with Mrs. Zhou"] * 30


def make_tiny_base(folder):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<pad>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<|im_end|>")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=1024, pad_token_id=0))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)  # no chat template: the backend must install the ChatML fallback


def make_adapter(base_dir, run_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    peft_model = get_peft_model(LlamaForCausalLM.from_pretrained(base_dir), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(run_dir)
    (run_dir / "manifest.json").write_text(json.dumps({"base_model": {"spec": str(base_dir)}}), encoding="utf-8")


def test_transformers_backend_serves_newest_adapter(indexed_twin, tmp_path):
    from peft import PeftModel

    from twin.service.app import create_app

    base_dir = tmp_path / "base"
    make_tiny_base(base_dir)
    adapters = tmp_path / "adapters"
    make_adapter(base_dir, adapters / "run-old")
    make_adapter(base_dir, adapters / "run-new")
    old = time.time() - 3600
    os.utime(adapters / "run-old" / "adapter_config.json", (old, old))

    config = indexed_twin.model_copy(deep=True)
    config.service.backend = "transformers"
    config.service.device = "cpu"
    config.service.context_tokens = 1000
    config.paths.adapters = adapters
    config.paths.request_log = tmp_path / "requests.sqlite"
    app = create_app(config)
    with serve(app) as url:
        backend = app.state.twin.backend
        assert backend.adapter == adapters / "run-new"
        assert isinstance(backend.model, PeftModel)
        assert backend.context_budget() == 1000  # min(config, model's 1024 positions)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0)
        reply = client.chat.completions.create(
            model="twin", max_tokens=6, temperature=0, messages=[{"role": "user", "content": "hello how are you"}])
        assert reply.choices[0].finish_reason in ("length", "stop")
        assert 0 < reply.usage.completion_tokens <= 6
        assert reply.usage.prompt_tokens > 20  # persona + memories, counted by the real tokenizer
        pieces = [c.choices[0].delta.content for c in client.chat.completions.create(
            model="twin", max_tokens=6, temperature=0, stream=True,
            messages=[{"role": "user", "content": "hello how are you"}]) if c.choices and c.choices[0].delta.content]
        assert "".join(pieces) == reply.choices[0].message.content  # greedy: same text streamed or not
