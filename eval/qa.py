"""Answer quality: ask each question, score the reply (token F1, optionally an LLM judge).

Two ways to ask:
- eval builds the prompt exactly as the service does (`core.prompt.build_chat_messages`: persona +
  retrieved memories within the memory budget) and sends it to any `ChatModel`. This is what the
  ablation uses, since it can switch memory and adapter independently.
- `served=True`: the question goes alone to a running twin service, which adds persona and
  memories itself; this checks the deployed system end to end.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from twin.config import PersonaConfig, TwinConfig
from twin.prompt import build_chat_messages
from twin.records import MemoryHit
from twin.eval.chat import ChatModel
from twin.eval.judge import AnswerJudge
from twin.eval.questions import Question
from twin.eval.scoring import score_answer

Retrieve = Callable[[Question], Sequence[MemoryHit]]
Persona = Callable[[Question], PersonaConfig]  # who answers a question (LoCoMo: its conversation's first speaker)


@dataclass
class QAOptions:
    max_tokens: int = 64
    context_tokens: int = 2048
    memory_tokens: int = 600

    @classmethod
    def from_config(cls, cfg: TwinConfig) -> QAOptions:
        """The service's budget for a model of unknown window (service.context_tokens, else
        service.fallback_context_tokens): eval models are small and loaded in-process."""
        from twin.budget import memory_budget

        budget = memory_budget(cfg, None)
        return cls(max_tokens=cfg.eval.answer_tokens, context_tokens=budget.context_tokens,
                   memory_tokens=budget.memory_tokens)


def run_qa(
    questions: Sequence[Question],
    model: ChatModel,
    cfg: TwinConfig,
    *,
    retrieve: Retrieve | None = None,
    served: bool = False,
    judge: AnswerJudge | None = None,
    options: QAOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    persona: Persona | None = None,
) -> dict:
    options = options or QAOptions.from_config(cfg)
    answers = []
    for index, q in enumerate(questions):
        hits = list(retrieve(q)) if retrieve is not None else []
        history = [{"role": "user", "content": q.question}]
        if served:
            messages, used = history, []
        else:
            prompt = build_chat_messages(
                persona(q) if persona else cfg.persona, hits, history, context_tokens=options.context_tokens,
                reply_tokens=options.max_tokens, memory_tokens=options.memory_tokens,
            )
            messages, used = prompt.messages, prompt.memories
        reply = model.complete(messages, max_tokens=options.max_tokens)
        row = {
            "id": q.id, "category": q.category, "question": q.question, "gold": q.answer, "answer": reply,
            "f1": score_answer(reply, q.answer, q.category),
            "memories": [sid for hit in used for sid in hit.memory.source_ids],
        }
        if judge is not None:
            verdict = judge.grade(q.question, q.answer, reply)
            row["verdict"] = verdict.label
        answers.append(row)
        if progress:
            progress(index + 1, len(questions))
    return {
        "model": model.id,
        "memory": retrieve is not None or served,
        "served": served,
        "judge": judge.model.id if judge else None,
        **summarise_answers(answers),
        "answers": answers,
    }


def summarise_answers(answers: Sequence[dict]) -> dict:
    """Mean F1 (and judge accuracy when judged) overall, without adversarial, and per category."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in answers:
        groups[str(row["category"]) if row["category"] is not None else "uncategorised"].append(row)
    from twin.eval.questions import category_kind

    no_adv = [r for r in answers if category_kind(r["category"]) != "adversarial"]
    return {
        "overall": _summary(answers),
        "overall_without_adversarial": _summary(no_adv),
        "by_category": {cat: _summary(rows) for cat, rows in sorted(groups.items())},
    }


def _summary(rows: Sequence[dict]) -> dict:
    result = {"n": len(rows), "f1": sum(r["f1"] for r in rows) / len(rows) if rows else math.nan}
    judged = [r["verdict"] for r in rows if "verdict" in r]
    if judged:
        readable = [v for v in judged if v is not None]
        result["judge_accuracy"] = sum(v == "CORRECT" for v in readable) / len(readable) if readable else math.nan
        result["judge_unreadable"] = len(judged) - len(readable)
    return result


def run_ablation(
    questions: Sequence[Question],
    models: dict[str, ChatModel],
    cfg: TwinConfig,
    retrieve: Retrieve,
    *,
    judge: AnswerJudge | None = None,
    options: QAOptions | None = None,
    progress: Callable[[str], None] | None = None,
    persona: Persona | None = None,
    on_answer: Callable[[str, int, int], None] | None = None,
) -> dict:
    """{no memory, memory} x models (e.g. base, adapter) on the same questions: one table.

    `progress(condition)` is called as each condition starts, `on_answer(condition, done, total)`
    after every answer."""
    conditions, table = {}, []
    for label, model in models.items():
        for with_memory in (False, True):
            name = f"{'memory' if with_memory else 'no memory'} / {label}"
            if progress:
                progress(name)
            step = (lambda done, total, name=name: on_answer(name, done, total)) if on_answer else None
            result = run_qa(questions, model, cfg, retrieve=retrieve if with_memory else None, judge=judge,
                            options=options, persona=persona, progress=step)
            conditions[name] = result
            table.append({
                "condition": name, "memory": with_memory, "model": label, "model_id": model.id,
                "f1": result["overall"]["f1"],
                "f1_without_adversarial": result["overall_without_adversarial"]["f1"],
                "judge_accuracy": result["overall"].get("judge_accuracy"),
                "n": result["overall"]["n"],
            })
    return {"table": table, "conditions": conditions, "judge": judge.model.id if judge else None}
