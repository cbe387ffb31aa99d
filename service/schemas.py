"""Request and response bodies on the wire (OpenAI's chat completions format, plus memory routes).

Requests accept unknown fields (clients send many: logprobs, tools, user...); the ones that matter
are validated here. `twin_include_memories` is the one field of our own."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator


def lone_surrogate_at(value: Any, path: str = "") -> str | None:
    """Where in a decoded JSON value a lone UTF-16 surrogate sits ("messages[0].content"), or None.

    JSON's \\ud800 escapes decode to such characters; they are not text, cannot be encoded as
    UTF-8 and would fail deep inside (embedder, tokenizer, log, response)."""
    if isinstance(value, str):
        return None if _encodes(value) else path or "value"
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and lone_surrogate_at(key):
                return f"a key in {path}" if path else "a key"
            found = lone_surrogate_at(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = lone_surrogate_at(item, f"{path}[{i}]")
            if found:
                return found
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")  # C speed; only lone surrogates fail
    except UnicodeEncodeError:
        return False
    return True


class WireModel(BaseModel):
    """A request body: any string in it, known field or not, must be real Unicode."""

    @model_validator(mode="before")
    @classmethod
    def _no_lone_surrogates(cls, data: Any) -> Any:
        where = lone_surrogate_at(data)
        if where:
            raise ValueError(f"{where} holds a lone surrogate (an unpaired \\ud800-\\udfff escape), which is not text")
        return data


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        """The text of the message; image and audio parts are ignored (the twin reads text)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text for p in self.content if p.type == "text" and p.text)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionRequest(WireModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, gt=0)
    max_completion_tokens: int | None = Field(None, gt=0)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    n: int | None = Field(None, ge=1)
    seed: int | None = None
    twin_include_memories: bool = Field(False, description="add the memories used to the response")

    def stop_list(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return tuple(s for s in ([self.stop] if isinstance(self.stop, str) else self.stop) if s)


class MemoryOut(BaseModel):
    id: str
    score: float
    date: str
    kind: str
    source: str | None
    conversation_id: str | None
    participants: list[str]
    start: datetime | None
    end: datetime | None
    source_ids: list[str]
    text: str


class MemorySearchRequest(WireModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=4000)
    k: int | None = Field(None, ge=1, le=100)
    kinds: list[str] | None = None
    sources: list[str] | None = None
    conversation_id: str | None = None
    participants: list[str] | None = None
    start: AwareDatetime | None = Field(None, description="ISO 8601 with a timezone offset")
    end: AwareDatetime | None = Field(None, description="ISO 8601 with a timezone offset")


class NoteRequest(WireModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20_000)
    # A time without an offset is ambiguous (whose 10:00?): refused rather than guessed.
    when: AwareDatetime | None = Field(None, description="when it happened, ISO 8601 with a timezone offset; default now")


def memory_out(hit: Any) -> MemoryOut:
    from twin.prompt import memory_date

    m = hit.memory
    return MemoryOut(
        id=hit.id or m.id,
        score=float(hit.score),
        date=memory_date(m),
        kind=m.kind,
        source=m.source,
        conversation_id=m.conversation_id,
        participants=list(m.participants),
        start=m.start,
        end=m.end,
        source_ids=list(m.source_ids),
        text=m.text,
    )
