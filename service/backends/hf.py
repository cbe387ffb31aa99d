"""The model in this process: transformers + peft, on CPU by default.

Base model: service.base_model, else the base the adapter was trained on (its manifest), else
train.base_model ('smollm2' = the packaged SmolLM2-135M GGUF). Adapter: service.adapter, else
the newest run under paths.adapters; none found means the base model alone."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

from twin.budget import model_window
from twin.config import TwinConfig
from twin.errors import ModelError
from twin.models import choose_adapter, choose_base, configured_window, newest_adapter  # noqa: F401 (re-exported)
from twin.service.backends.base import Backend, Delta, GenerationParams


def tokenizer_special_tokens(tokenizer) -> tuple[str, ...]:
    """Every string this tokenizer maps to a special id: its named special tokens and the added
    tokens marked special (chat markers such as <|im_start|> are usually the latter)."""
    found = set(getattr(tokenizer, "all_special_tokens", ()) or ())
    for token in (getattr(tokenizer, "added_tokens_decoder", None) or {}).values():
        if getattr(token, "special", False):
            found.add(str(token))
    return tuple(sorted(t for t in found if len(t.strip()) >= 2))


def base_mismatch(config: TwinConfig, adapter: Path | None) -> str | None:
    """A warning when service.base_model is not the base the adapter was trained on. Shapes are
    checked on load (a misfit is refused); equal shapes with other weights still serve, but the
    adapter then corrects a model it never saw."""
    served = config.service.base_model
    if not served or adapter is None or not (adapter / "manifest.json").is_file():
        return None
    try:
        recorded = json.loads((adapter / "manifest.json").read_text(encoding="utf-8")).get("base_model") or {}
    except json.JSONDecodeError:
        return None  # choose_base reports the broken manifest
    trained = {recorded.get("spec"), recorded.get("location"), recorded.get("hf_id")} - {None}
    if served in trained:
        return None
    return (f"service.base_model {served!r} is not the base adapter {adapter.name} was trained on "
            f"({recorded.get('spec') or recorded.get('location')}): it loads if the shapes match, but the "
            "adapter was fitted to other weights")


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(self, config: TwinConfig):
        super().__init__(config)
        from twin.models import load_model_and_tokenizer, resolve_base_model

        self.adapter = choose_adapter(config)
        spec, gguf_file = choose_base(config, self.adapter)
        self.base = resolve_base_model(spec, gguf_file=gguf_file)
        self.warning = base_mismatch(config, self.adapter)
        if self.warning:
            logging.getLogger("twin.service").warning(self.warning)
        self.model, self.tokenizer = load_model_and_tokenizer(self.base, adapter=self.adapter, device=config.service.device)
        self.device = str(next(self.model.parameters()).device)
        self.max_context, self._context_source = model_window(self.model.config, self.tokenizer)
        self.repetition_penalty = config.service.repetition_penalty
        self._special = tokenizer_special_tokens(self.tokenizer)
        self._lock = threading.Lock()  # one generation at a time: a CPU has nothing to spare

    def model_context(self) -> tuple[int | None, str]:
        return self.max_context, self._context_source

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def special_tokens(self) -> tuple[str, ...]:
        return self._special

    def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> Iterator[Delta]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        cancelled = threading.Event()

        class _Cancel(StoppingCriteria):  # lets a client that hangs up stop the generation
            def __call__(self, input_ids, scores, **kwargs):
                return cancelled.is_set()

        input_ids = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )["input_ids"].to(self.device)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        sampling = params.temperature > 0
        kwargs = dict(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=params.max_tokens,
            do_sample=sampling,
            streamer=streamer,
            stopping_criteria=StoppingCriteriaList([_Cancel()]),
            pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            repetition_penalty=self.repetition_penalty,  # small models loop under greedy decoding
        )
        if sampling:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
        result: dict = {}

        def run() -> None:
            try:
                if params.seed is not None:
                    torch.manual_seed(params.seed)
                with torch.inference_mode():
                    result["output"] = self.model.generate(**kwargs)
            except Exception as exc:  # handed to the consumer thread below, not swallowed
                result["error"] = exc
                streamer.end()

        with self._lock:
            worker = threading.Thread(target=run, name="twin-generate", daemon=True)
            worker.start()
            try:
                for text in streamer:
                    # The final flush can end inside a multi-byte character cut by max_tokens.
                    text = text.rstrip("\ufffd")
                    if text:
                        yield Delta(text)
            finally:
                cancelled.set()
                worker.join()
        if "error" in result:
            raise ModelError(f"generation failed: {result['error']}") from result["error"]
        produced = int(result["output"].shape[-1] - input_ids.shape[-1])
        finish = "length" if produced >= params.max_tokens else "stop"
        yield Delta(finish_reason=finish, usage={"prompt_tokens": int(input_ids.shape[-1]), "completion_tokens": produced})

    def describe(self) -> dict:
        return {
            "backend": self.name,
            "base_model": self.base.display,
            "adapter": str(self.adapter) if self.adapter else None,
            "device": self.device,
            **({"warning": self.warning} if self.warning else {}),
        }

    def close(self) -> None:
        self.model = None
