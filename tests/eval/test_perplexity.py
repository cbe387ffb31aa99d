"""Reply perplexity scores only the reply's tokens, matching the model's own loss."""

import math

import torch

from twin.eval.chat import render_chat
from twin.eval.perplexity import reply_perplexity
from tests.eval.conftest import build_tokenizer


def test_reply_perplexity_equals_masked_loss():
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
    context = [{"role": "user", "content": "明天吃啥"}]
    reply = "火锅！！[旺柴]"
    result = reply_perplexity(model, tokenizer, [(context, reply)])

    prompt_ids = tokenizer(render_chat(tokenizer, context, add_generation_prompt=True), add_special_tokens=False)["input_ids"]
    full = render_chat(tokenizer, [*context, {"role": "assistant", "content": reply}], add_generation_prompt=False)
    ids = torch.tensor([tokenizer(full, add_special_tokens=False)["input_ids"]])
    labels = ids.clone()
    labels[:, : len(prompt_ids)] = -100
    with torch.no_grad():
        expected = model(input_ids=ids, labels=labels).loss.item()
    assert result["tokens"] == ids.shape[1] - len(prompt_ids)
    assert math.isclose(result["nll_per_token"], expected, rel_tol=1e-4)
    assert math.isclose(result["perplexity"], math.exp(expected), rel_tol=1e-4)
