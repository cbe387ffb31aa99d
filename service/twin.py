"""What makes the model answer as the owner: pick the mode from the model name, retrieve the
memories for the latest user turn, and build the prompt within the backend's context budget."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial

from twin.budget import TWIN, WRITER, served_prompt
from twin.config import TwinConfig
from twin.prompt import PromptTooLongError, conversation_language, disclosure, neutralise_control_tokens
from twin.records import MemoryHit
from twin.service.backends import Backend, GenerationParams
from twin.service.errors import APIError
from twin.service.memory import MemoryGateway
from twin.service.schemas import ChatCompletionRequest



@dataclass
class ReplyPlan:
    mode: str
    messages: list[dict[str, str]]
    memories: list[MemoryHit]
    params: GenerationParams
    prefix: str = ""  # the AI disclosure line, sent before the model's words
    dropped_turns: int = 0
    prompt_tokens: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # ms


class Twin:
    def __init__(self, config: TwinConfig, backend: Backend, memory: MemoryGateway):
        self.config, self.backend, self.memory = config, backend, memory

    def models(self) -> dict[str, str]:
        """Model ids clients can ask for, and the mode each selects."""
        name = self.config.service.model_name
        return {name: TWIN, f"{name}-writer": WRITER}

    def mode_of(self, model: str) -> str:
        modes = self.models()
        if model not in modes:
            raise APIError(404, f"model {model!r} does not exist; this twin serves {', '.join(modes)}",
                           "invalid_request_error", "model_not_found", "model")
        return modes[model]

    def plan(self, request: ChatCompletionRequest) -> ReplyPlan:
        svc = self.config.service
        mode = self.mode_of(request.model)
        if len(request.messages) > svc.max_messages:
            raise APIError(400, f"{len(request.messages)} messages; at most {svc.max_messages} (service.max_messages)",
                           code="too_many_messages", param="messages")
        if request.n not in (None, 1):
            raise APIError(400, "only n = 1 is supported", code="unsupported_parameter", param="n")
        max_tokens = request.max_completion_tokens or request.max_tokens or svc.default_max_tokens
        if max_tokens > svc.max_tokens_limit:
            raise APIError(400, f"max_tokens {max_tokens} exceeds this service's limit of {svc.max_tokens_limit} "
                           "(service.max_tokens_limit)", code="max_tokens_too_large", param="max_tokens")
        app_notes, history = split_conversation(request)
        budget = self.backend.memory_budget(self.memory.tokens_per_memory())  # top_k by the store's memory size
        refuse_if_latest_cannot_fit(history[-1]["content"], budget.context_tokens, max_tokens, self.backend.count_tokens)
        timings: dict[str, float] = {}
        now = svc.now()  # "today" in the prompt and "yesterday" in a question: the twin's own clock
        prompt = served_prompt(self.config.persona, budget, partial(self.memory.search, now=now), history,
                               mode=mode, reply_tokens=max_tokens, count_tokens=self.backend.count_tokens,
                               app_notes=app_notes, today=now.date(), timings=timings,
                               special_tokens=self.backend.special_tokens())
        params = GenerationParams(
            max_tokens=max_tokens,
            temperature=0.7 if request.temperature is None else request.temperature,
            top_p=1.0 if request.top_p is None else request.top_p,
            stop=request.stop_list(),
            seed=request.seed,
        )
        first_reply = not any(turn["role"] == "assistant" for turn in history)
        persona = self.config.persona
        language = conversation_language(t["content"] for t in history if t["role"] == "user")
        return ReplyPlan(
            mode=mode,
            # memories were quoted with the known families broken; this adds the tokenizer's own
            messages=[{**m, "content": neutralise_control_tokens(m["content"], self.backend.special_tokens())}
                      for m in prompt.messages],
            memories=prompt.memories,
            params=params,
            prefix=disclosure(persona, language) + "\n\n" if persona.disclose_ai and first_reply else "",
            dropped_turns=prompt.dropped_turns,
            prompt_tokens=prompt.prompt_tokens,
            timings=timings,
        )


# A message longer than this many characters per token of the context is first judged by its
# head alone: a real tokenizer spends about a second on 1 MB, and the head already shows that
# such a message cannot fit. English runs ~4 characters a token, CJK ~1.
HEAD_CHARS_PER_TOKEN = 8
HEAD_CUT_SLACK = 16  # cutting the text mid-token can add a few tokens to the head's count


def refuse_if_latest_cannot_fit(latest: str, context_tokens: int, reply_tokens: int, count_tokens) -> None:
    """PromptTooLongError before any retrieval when the latest message alone, with the reply,
    exceeds the context: embedding and searching a huge message would be wasted work (seconds
    for a 50 kB message), and the prompt builder would refuse it afterwards anyway."""
    head_chars = context_tokens * HEAD_CHARS_PER_TOKEN
    if len(latest) > head_chars:
        head = count_tokens(latest[:head_chars]) - HEAD_CUT_SLACK + 4
        if head + reply_tokens > context_tokens:
            raise PromptTooLongError(
                f"the latest message is over {head} tokens; with {reply_tokens} reply tokens it exceeds "
                f"the {context_tokens}-token context")
    cost = count_tokens(latest) + 4  # + the role markers, as the prompt builder counts them
    if cost + reply_tokens > context_tokens:
        raise PromptTooLongError(
            f"the latest message is about {cost} tokens; with {reply_tokens} reply tokens it exceeds "
            f"the {context_tokens}-token context")


def split_conversation(request: ChatCompletionRequest) -> tuple[str, list[dict[str, str]]]:
    """(the calling app's system notes, user/assistant turns ending with the user's).

    Consecutive turns of one role are merged (several bot messages in a row are one turn to a
    chat template); tool messages are left out."""
    notes: list[str] = []
    turns: list[dict[str, str]] = []
    for message in request.messages:
        text = message.text()
        if message.role in ("system", "developer"):
            if text.strip():
                notes.append(text.strip())
            continue
        if message.role not in ("user", "assistant"):
            continue
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n" + text
        else:
            turns.append({"role": message.role, "content": text})
    if not turns or turns[-1]["role"] != "user" or not turns[-1]["content"].strip():
        raise APIError(400, "the last message must be a non-empty user message", code="invalid_messages", param="messages")
    return "\n\n".join(notes), turns
