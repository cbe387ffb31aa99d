"""Answer quality on LoCoMo: the same {no memory, memory} x models ablation as an own question set.

Each conversation is indexed into its own temporary store (eval.recall.chat_searcher,
the code recall uses) and its questions are answered by the twin of the conversation's first
speaker: the persona prompt of twin.toml with that speaker's name, the memories retrieved from
that conversation only. Answering is slow with a real model, so a run takes a few questions per
conversation, spread over the categories (`pick_questions`); LoCoMo's own gold answers are
scored by eval.scoring (adversarial: right when the reply says it is not mentioned).
Answers come from in-process models or a plain OpenAI-compatible model server (vLLM), never from
a twin service: it would add its owner's persona and memories to LoCoMo's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

from twin.config import TwinConfig
from twin.eval.chat import ChatModel
from twin.eval.judge import AnswerJudge
from twin.eval.qa import run_ablation
from twin.eval.questions import Question, locomo_questions


def pick_questions(questions: Sequence[Question], per_conversation: int) -> list[Question]:
    """Up to `per_conversation` questions of each conversation, taking its categories in turn
    (first of each, then second of each, ...). Each conversation starts one category further
    on, so even a run with fewer questions than categories covers all of them over the set."""
    by_conversation: dict[str | None, dict[str | None, list[Question]]] = defaultdict(lambda: defaultdict(list))
    position = {q.id: i for i, q in enumerate(questions)}
    for q in questions:
        by_conversation[q.conversation][q.category].append(q)
    picked: list[Question] = []
    for offset, groups in enumerate(by_conversation.values()):
        queues = [list(qs) for _, qs in sorted(groups.items(), key=lambda item: str(item[0]))]
        start = offset % len(queues)
        queues = queues[start:] + queues[:start]
        taken: list[Question] = []
        while len(taken) < per_conversation and any(queues):
            for queue in queues:
                if queue and len(taken) < per_conversation:
                    taken.append(queue.pop(0))
        picked.extend(sorted(taken, key=lambda q: position[q.id]))  # back in the set's order
    return picked


def locomo_ablation(
    path: Path,
    cfg: TwinConfig,
    models: dict[str, ChatModel],
    *,
    per_conversation: int,
    samples: Sequence[str] | None = None,
    judge: AnswerJudge | None = None,
    say: Callable[[str], None] = lambda _: None,
    on_answer: Callable[[str, int, int], None] | None = None,
) -> dict:
    """{no memory, memory} x `models` on LoCoMo questions, each retrieved from its own conversation."""
    from twin.eval.locomo import load_locomo
    from twin.eval.recall import cached_embedder, chat_searcher
    from twin.retrieval.lexical import LexicalEncoder

    conversations = {c.sample_id: c for c in load_locomo(path, list(samples) if samples else None)}
    questions = pick_questions(locomo_questions(conversations.values()), per_conversation)
    embedder = cached_embedder(cfg.memory.embedder)
    lexical = LexicalEncoder(cfg.memory.lexical)
    searchers, personas = {}, {}
    with ExitStack() as stack:
        for sample_id, conv in conversations.items():
            say(f"LoCoMo {sample_id}: indexing {len(conv.messages)} turns")
            searchers[sample_id] = stack.enter_context(chat_searcher(conv.messages, cfg.memory, embedder, lexical, cfg.sessions.gap_minutes))
            personas[sample_id] = cfg.persona.model_copy(update={"name": conv.speakers[0], "description": ""})

        def retrieve(q: Question):
            searcher, _, now = searchers[q.conversation]
            return searcher.search(q.question, k=cfg.memory.top_k, now=now)

        result = run_ablation(questions, models, cfg, retrieve, judge=judge, persona=lambda q: personas[q.conversation],
                              progress=lambda name: say(f"LoCoMo QA: {name} ({len(questions)} questions)"),
                              on_answer=on_answer)
    result.update({"samples": list(conversations), "questions_per_conversation": per_conversation})
    return result
