"""Chat models the eval harness talks to: one method, `complete(messages) -> str`.

- `OpenAIChatModel`: any OpenAI-compatible endpoint — the twin service itself (model "twin"),
  vLLM with a LoRA adapter, or a hosted model used as a judge.
- `TransformersChatModel`: a model loaded in this process (base, or base + adapter), greedy.
- `EchoChatModel`: replies with what it was asked plus the context it was given; deterministic,
  for wiring checks and tests. Registered like the others.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from twin.errors import ModelError, UnavailableError

Messages = list[dict[str, str]]


class ChatModel(ABC):
    id: str = "unknown"  # recorded in reports: which model produced the answers

    @abstractmethod
    def complete(self, messages: Messages, *, max_tokens: int = 128) -> str:
        """The assistant's reply to `messages` (system/user/assistant dicts)."""


class EchoChatModel(ChatModel):
    """Replies "<last user message> | <system prompt>" so tests can see what reached the model."""

    id = "echo"

    def complete(self, messages: Messages, *, max_tokens: int = 128) -> str:
        user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        return f"{user} | {system}".strip(" |")


class OpenAIChatModel(ChatModel):
    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, timeout: float = 120.0,
                 extra_body: dict[str, Any] | None = None):
        from openai import OpenAI

        self.client = OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=1)
        self.model, self.base_url, self.extra_body = model, base_url, extra_body or {}
        self.id = f"{model}@{base_url}"

    def complete(self, messages: Messages, *, max_tokens: int = 128) -> str:
        import openai

        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=max_tokens, temperature=0.0,
                extra_body=self.extra_body or None,
            )
        except openai.APIConnectionError as exc:
            raise UnavailableError(f"{self.base_url}: cannot reach the chat endpoint ({exc})") from None
        except openai.APIStatusError as exc:
            raise ModelError(f"{self.base_url}: model {self.model!r} answered {exc.status_code}: {exc.message}") from None
        return response.choices[0].message.content or ""


class TransformersChatModel(ChatModel):
    """Greedy generation with a model already loaded (so base and adapter can share loading code)."""

    def __init__(self, model: Any, tokenizer: Any, model_id: str):
        self.model, self.tokenizer, self.id = model, tokenizer, model_id

    def complete(self, messages: Messages, *, max_tokens: int = 128) -> str:
        import torch

        prompt = render_chat(self.tokenizer, messages, add_generation_prompt=True)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            output = self.model.generate(
                **inputs, max_new_tokens=max_tokens, do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()


def render_chat(tokenizer: Any, messages: Messages, *, add_generation_prompt: bool) -> str:
    """The tokenizer's chat template, or a plain "role: text" layout when it has none."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    text = "".join(f"{m['role']}: {m['content']}\n" for m in messages)
    return text + ("assistant: " if add_generation_prompt else "")


def load_transformers_chat(ref: Any, adapter: Any = None) -> TransformersChatModel:
    """A base model (a core.models.BaseModelRef) with an optional adapter folder, via core.models."""
    from twin.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(ref, adapter=adapter)
    label = ref.spec + (f" + adapter {Path(adapter).name}" if adapter is not None else "")
    return TransformersChatModel(model, tokenizer, label)
