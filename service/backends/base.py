"""The one interface every model backend implements.

A backend subclass writes `stream()` (yield the reply as text pieces, then a final Delta with the
finish reason); everything else - whole-reply generation, stop strings, token counting - is
derived here so a new backend stays small."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from twin.budget import MemoryBudget, memory_budget
from twin.config import TwinConfig
from twin.prompt import approx_tokens


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int
    temperature: float = 0.7
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class Delta:
    text: str = ""
    finish_reason: str | None = None  # "stop" | "length" on the last delta
    usage: dict | None = None  # {"prompt_tokens", "completion_tokens"} when the backend knows them


@dataclass
class Generation:
    text: str
    finish_reason: str
    usage: dict = field(default_factory=dict)


class Backend(ABC):
    """Turns chat messages into a reply. Subclasses set `name` and implement `stream`."""

    name: ClassVar[str]
    # What the backend can do, read by the service and shown at /ready.
    handles_stop: ClassVar[bool] = False  # True: stop strings are applied by the model server
    max_context: int | None = None  # the model's own limit, when known

    def __init__(self, config: TwinConfig):
        self.config = config

    @abstractmethod
    def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> Iterator[Delta]:
        """Yield the reply in pieces; the last Delta carries finish_reason.

        Raise core.errors.UnavailableError when the model (server) cannot be reached right now,
        ModelError when it refuses the request for a reason retrying will not fix."""

    # --- conveniences built on stream() -------------------------------------------------------

    def stream_text(self, messages: list[dict[str, str]], params: GenerationParams) -> Iterator[Delta]:
        """`stream()` with stop strings applied, for backends that cannot apply them."""
        if self.handles_stop or not params.stop:
            yield from self.stream(messages, params)
            return
        yield from _cut_at_stop(self.stream(messages, params), params.stop)

    def generate(self, messages: list[dict[str, str]], params: GenerationParams) -> Generation:
        pieces: list[str] = []
        finish, usage = "stop", {}
        for delta in self.stream_text(messages, params):
            pieces.append(delta.text)
            finish = delta.finish_reason or finish
            usage = delta.usage or usage
        return Generation("".join(pieces), finish, usage)

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)

    def special_tokens(self) -> tuple[str, ...]:
        """Control tokens of this backend's tokenizer, beyond the known chat-template families
        (twin.prompt.CONTROL_TOKENS): broken up wherever they appear in text from outside."""
        return ()

    def model_context(self) -> tuple[int | None, str]:
        """The model's own context window and where it was read; (None, why) when unknown."""
        return self.max_context, f"{self.name} model"

    def memory_budget(self, tokens_per_memory: float | None = None) -> MemoryBudget:
        """Context window, memory block and retrieval depth for this model (twin.budget), over a
        store whose memories average `tokens_per_memory` (MemoryGateway.tokens_per_memory)."""
        window, source = self.model_context()
        return memory_budget(self.config, window, source, tokens_per_memory)

    def context_budget(self) -> int:
        """Tokens the prompt plus the reply may use: the model's window, capped by the config."""
        return self.memory_budget().context_tokens

    def check(self) -> None:
        """Raise UnavailableError if the backend cannot serve right now (readiness probe)."""

    def describe(self) -> dict:
        return {"backend": self.name}

    def close(self) -> None:
        """Release what the backend holds (HTTP pools, model memory)."""


def _cut_at_stop(deltas: Iterator[Delta], stops: tuple[str, ...]) -> Iterator[Delta]:
    """Hold back just enough text to recognise a stop string split across pieces."""
    keep = max(len(s) for s in stops) - 1
    pending = ""
    for delta in deltas:
        pending += delta.text
        hit = min((i for i in (pending.find(s) for s in stops) if i >= 0), default=-1)
        if hit >= 0:
            if pending[:hit]:
                yield Delta(pending[:hit])
            yield Delta(finish_reason="stop", usage=delta.usage)
            close = getattr(deltas, "close", None)
            if close is not None:
                close()  # a generator: stop the model early
            return
        if delta.finish_reason:
            yield Delta(pending, delta.finish_reason, delta.usage)
            return
        if len(pending) > keep:
            cut = len(pending) - keep
            yield Delta(pending[:cut])
            pending = pending[cut:]
    if pending:
        yield Delta(pending, "stop")
