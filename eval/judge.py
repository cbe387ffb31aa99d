"""LLM judges through any OpenAI-compatible endpoint: answer correctness and "which is the owner?".

The answer judge follows the generous CORRECT/WRONG grading popularised by Mem0's LoCoMo runs
(the prompt here is our own wording): an answer is right when it refers to the same fact as the
gold answer, however it is phrased; dates in another format count. Every verdict records which
model judged, since judges disagree and scores are only comparable under the same judge.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from twin.eval.chat import ChatModel

ANSWER_JUDGE_PROMPT = """You are grading a memory test. Someone was asked a question about past \
conversations; compare their answer with the reference answer.

Question: {question}
Reference answer: {gold}
Their answer: {answer}

Grade leniently on form and strictly on substance: the answer is CORRECT if it states the same \
fact as the reference, even if it is longer, worded differently, or writes a date or time in \
another format that points to the same day or period. It is WRONG if it states a different fact, \
misses the point, or only says it does not know (unless the reference says the information is \
not available).

Reply with one word on the last line: CORRECT or WRONG."""

STYLE_JUDGE_PROMPT = """Below is the end of a chat and two candidate next messages. One was \
written by the real person, the other by an imitation. Judge by tone, length, punctuation, emoji \
and language habits, not by which one is more polite or helpful.

Chat so far:
{context}

Candidate A: {a}
Candidate B: {b}

Which candidate did the real person write? Reply with one letter on the last line: A or B."""

_VERDICT = re.compile(r"\b(CORRECT|WRONG)\b")
_LETTER = re.compile(r"\b([AB])\b")


@dataclass
class Verdict:
    label: str | None  # "CORRECT" | "WRONG", or None when the judge's reply had neither
    raw: str


class AnswerJudge:
    def __init__(self, model: ChatModel):
        self.model = model

    def grade(self, question: str, gold: str, answer: str) -> Verdict:
        prompt = ANSWER_JUDGE_PROMPT.format(question=question, gold=gold, answer=answer or "(no answer)")
        raw = self.model.complete([{"role": "user", "content": prompt}], max_tokens=64)
        found = _VERDICT.findall(raw.upper())
        return Verdict(found[-1] if found else None, raw)


class StyleJudge:
    """Shows the owner's real reply and the twin's in random order; counts how often it finds the owner."""

    def __init__(self, model: ChatModel, seed: int = 0):
        self.model, self.rng = model, random.Random(seed)

    def pick_owner(self, context: str, owner_reply: str, twin_reply: str) -> bool | None:
        """True if the judge picked the owner's reply, None if its answer was unreadable."""
        owner_first = self.rng.random() < 0.5
        a, b = (owner_reply, twin_reply) if owner_first else (twin_reply, owner_reply)
        prompt = STYLE_JUDGE_PROMPT.format(context=context, a=a, b=b)
        raw = self.model.complete([{"role": "user", "content": prompt}], max_tokens=16)
        letters = _LETTER.findall(raw.strip().upper())
        if not letters:
            return None
        return (letters[-1] == "A") == owner_first
