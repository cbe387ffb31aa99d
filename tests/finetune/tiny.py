"""Helpers for the finetune tests (imported as tests.finetune.tiny; fixtures in conftest.py): tiny models: a byte-level BPE tokenizer trained here and a 2-layer
random Llama, saved as an ordinary transformers folder so the real loading code reads them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from twin.records import ChatKind, Document, DocumentKind, Message, MessageKind

FIXTURE = Path(__file__).parents[1] / "fixtures" / "finetune" / "chats.json"
TZ = timezone(timedelta(hours=8))

TRAIN_TEXT = [
    "hello how are you", "I am fine thanks", "see you tomorrow", "what time is dinner",
    "好的 明天见", "你吃饭了吗", "哈哈哈 [旺柴]", "我们周末去爬山吧", "Write a post about spring",
] * 20

SPECIALS = ["<pad>", "<|im_start|>", "<|im_end|>"]


def build_tokenizer(with_template: bool = True):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    core.train_from_iterator(TRAIN_TEXT, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<|im_end|>", bos_token="<|im_start|>"
    )
    if with_template:
        from twin.models import CHATML_TEMPLATE

        tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def build_model(vocab_size: int, hidden: int = 32, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=False,
        pad_token_id=0, initializer_range=0.2,  # large enough that LoRA updates reach the logits
    )
    return LlamaForCausalLM(config)


def save_tiny_base(folder: Path, hidden: int = 32, with_template: bool = True) -> Path:
    tokenizer = build_tokenizer(with_template)
    model = build_model(len(tokenizer), hidden)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def fixture_corpus(path: Path) -> None:
    """The hand-written chats (and one article) of tests/fixtures/finetune/chats.json, as a corpus."""
    from twin.corpus import CorpusStore

    rows = json.loads(FIXTURE.read_text(encoding="utf-8"))["messages"]
    with CorpusStore(path) as store, store.transaction():
        store.add_messages(
            Message(source="wechat", source_id=f"wechat:{i}", conversation_id=conv, conversation_name=conv,
                    chat_kind=ChatKind(chat), sender_id=sender, sender_name=sender, is_owner=owner,
                    timestamp=datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=TZ), text=text,
                    kind=MessageKind(kind))
            for i, (conv, chat, sender, owner, when, kind, text) in enumerate(rows)
        )
        store.add_documents([Document(source="doc", source_id="doc:trip.md", kind=DocumentKind.ARTICLE,
                                      title="Our trip to Yantai", text="We rode around the island.\n\nIt was windy.")])
