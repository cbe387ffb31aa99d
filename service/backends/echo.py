"""A backend with no model: it answers with the user's latest message, word by word.

Used by tests and by bench/service.py to measure what the service itself adds. It remembers the
last prompt it was given so tests can check what the model would have seen."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from twin.service.backends.base import Backend, Delta, GenerationParams


class EchoBackend(Backend):
    name = "echo"
    prefix = "echo: "
    delay_s = 0.0  # per piece; > 0 makes streaming visible in the browser test

    def __init__(self, config):
        super().__init__(config)
        # No model, so no window of its own: tests and benches set the one to model (2k, 32k...).
        self.max_context = config.service.echo_context_tokens
        self._lock = threading.Lock()
        self.last_messages: list[dict[str, str]] = []

    def model_context(self) -> tuple[int | None, str]:
        return self.max_context, "service.echo_context_tokens"

    def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> Iterator[Delta]:
        with self._lock:
            self.last_messages = [dict(m) for m in messages]
        latest = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        words = (self.prefix + latest).split(" ")
        finish = "stop"
        if len(words) > params.max_tokens:  # one "token" per word
            words, finish = words[: params.max_tokens], "length"
        for i, word in enumerate(words):
            if self.delay_s:
                time.sleep(self.delay_s)
            yield Delta(word if i == 0 else " " + word)
        prompt = sum(self.count_tokens(m["content"]) for m in messages)
        yield Delta(finish_reason=finish, usage={"prompt_tokens": prompt, "completion_tokens": len(words)})
