"""A tiny twin for the eval tests: corpus, memory store (hash embedder), holdout dataset, a
2-layer random Llama with a tokenizer trained here, and a LoRA adapter on it."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eval"
TZ = timezone(timedelta(hours=8))

# (sender is owner, text): a short bilingual chat with facts the questions ask about
CHAT = [
    (False, "周末去哪儿玩了？"),
    (True, "去杭州西湖骑车了[旺柴]"),
    (False, "Nice! Who went with you?"),
    (True, "和小王一起，还吃了片儿川！！"),
    (False, "你的新工作怎么样"),
    (True, "挺好的～在字节做推荐算法"),
    (False, "When is your sister's wedding?"),
    (True, "下个月十号，in Chengdu"),
    (False, "猫还好吗"),
    (True, "橘子胖了两斤 哈哈哈"),
]


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from twin.models import CHATML_TEMPLATE

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator([text for _, text in CHAT] * 10, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<|im_end|>",
                                        bos_token="<|im_start|>")
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory) -> tuple[Path, Path]:
    """(base model folder, adapter folder) — the adapter's LoRA B matrices are non-zero so it
    really changes the model's predictions."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("tiny")
    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=False, pad_token_id=0)
    base = root / "base"
    LlamaForCausalLM(config).save_pretrained(base)
    tokenizer.save_pretrained(base)
    peft_model = get_peft_model(LlamaForCausalLM.from_pretrained(base),
                                LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    adapter = root / "adapter"
    peft_model.save_pretrained(adapter)
    return base, adapter


def write_corpus(path: Path) -> list[str]:
    """The CHAT above as one WeChat-like private chat; returns the messages' source ids."""
    from twin.records import ChatKind, Message
    from twin.corpus import CorpusStore

    start = datetime(2024, 5, 4, 20, 0, tzinfo=TZ)
    messages = [
        Message(source="wechat", source_id=f"wechat:{i}", conversation_id="wechat:friend", conversation_name="Friend",
                chat_kind=ChatKind.PRIVATE, sender_id="me_wxid" if mine else "friend", sender_name="Lin" if mine else "Friend",
                is_owner=mine, timestamp=start + timedelta(minutes=3 * i), text=text)
        for i, (mine, text) in enumerate(CHAT)
    ]
    with CorpusStore(path) as store, store.transaction():
        store.add_messages(messages)
    return [m.source_id for m in messages]


TINY_SETTINGS = {
    "TWIN_MEMORY__EMBEDDER": "hash", "TWIN_MEMORY__CHUNK_TURNS": "2", "TWIN_MEMORY__CHUNK_OVERLAP": "0",
    "TWIN_EVAL__STYLE_SAMPLES": "4", "TWIN_EVAL__ANSWER_TOKENS": "8", "TWIN_EVAL__STYLE_REPLY_TOKENS": "8",
}


@pytest.fixture
def tiny_twin(twin_dir, tiny_model_dirs, monkeypatch):
    """A twin folder with corpus, memory store, holdout dataset and adapter; base = the tiny model.
    Settings go through TWIN_* variables, so the CLI run inside the test sees them too."""
    from twin.config import load_config
    from twin.retrieval.memory import index_corpus

    base, adapter = tiny_model_dirs
    for key, value in {**TINY_SETTINGS, "TWIN_TRAIN__BASE_MODEL": str(base)}.items():
        monkeypatch.setenv(key, value)
    cfg = load_config()
    write_corpus(cfg.path("corpus"))
    index_corpus(cfg, progress=False)
    shutil.copytree(adapter, cfg.path("adapters") / "run1")
    shutil.copytree(FIXTURES / "dataset", cfg.path("datasets") / "style")
    return cfg
