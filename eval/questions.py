"""Question sets: the project's own JSONL format and LoCoMo, as one `Question` record.

Own format, one JSON object a line:
    {"id": "q1", "question": "...", "answer": "...", "evidence": ["wechat:123", ...], "category": "temporal"}
`evidence` holds source message ids (what `twin eval make-questions` writes); `category` is a
name (single-hop, multi-hop, temporal, open-domain, adversarial) or a LoCoMo number 1-5.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from twin.errors import InputError
from twin.private import private_dir, touch_private

# LoCoMo's own numbering (checked against the paper's counts; Mem0 relabels these, we do not).
LOCOMO_CATEGORIES = {"1": "multi-hop", "2": "temporal", "3": "open-domain", "4": "single-hop", "5": "adversarial"}
CATEGORY_NAMES = frozenset(LOCOMO_CATEGORIES.values())


def category_kind(category: str | int | None) -> str | None:
    """The category's name, whether given as a LoCoMo number or a name; None if unknown."""
    if category is None:
        return None
    key = str(category).strip().lower()
    return LOCOMO_CATEGORIES.get(key, key if key in CATEGORY_NAMES else None)


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: str
    evidence: tuple[str, ...] = ()
    category: str | None = None  # as written in the set: "2" for LoCoMo, "temporal" for own sets
    conversation: str | None = None  # LoCoMo sample id: the store this question is asked against
    extra: dict = field(default_factory=dict)

    @property
    def kind(self) -> str | None:
        return category_kind(self.category)

    def to_json(self) -> dict:
        data = asdict(self)
        data["evidence"] = list(self.evidence)
        return {k: v for k, v in data.items() if v not in (None, {}, ())}


_REQUIRED = ("id", "question", "answer")


def load_questions(path: Path) -> list[Question]:
    """Read an own-format JSONL set; a bad line raises InputError naming the line and field."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such question file")
    questions: list[Question] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(path, f"not valid JSON ({exc.msg})", line=number) from None
            questions.append(_question_from_row(row, path, number))
            if questions[-1].id in seen:
                raise InputError(path, f"duplicate id {questions[-1].id!r}", line=number, field="id")
            seen.add(questions[-1].id)
    if not questions:
        raise InputError(path, "no questions in the file")
    return questions


def _question_from_row(row: object, path: Path, number: int) -> Question:
    if not isinstance(row, dict):
        raise InputError(path, "each line must be a JSON object", line=number)
    for key in _REQUIRED:
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key == "answer":
            continue
        if not isinstance(value, str) or not value.strip():
            raise InputError(path, "missing or empty (must be a non-empty string)", line=number, field=key)
    evidence = row.get("evidence", [])
    if not isinstance(evidence, list) or not all(isinstance(e, str) and e for e in evidence):
        raise InputError(path, "must be a list of source message ids", line=number, field="evidence")
    category = row.get("category")
    if category is not None and category_kind(category) is None:
        raise InputError(
            path, f"unknown category {category!r}; use one of {sorted(CATEGORY_NAMES)} or 1-5",
            line=number, field="category",
        )
    known = {"id", "question", "answer", "evidence", "category", "conversation"}
    return Question(
        id=row["id"].strip(),
        question=row["question"].strip(),
        answer=str(row["answer"]).strip(),
        evidence=tuple(evidence),
        category=None if category is None else str(category),
        conversation=row.get("conversation"),
        extra={k: v for k, v in row.items() if k not in known},
    )


def write_questions(path: Path, questions: Iterable[Question | dict]) -> int:
    """Write a JSONL set atomically (temp file + rename); returns how many lines."""
    path = Path(path)
    private_dir(path.parent)
    tmp = touch_private(path.with_suffix(path.suffix + ".tmp"))
    count = 0
    with open(tmp, "w", encoding="utf-8") as handle:
        for q in questions:
            handle.write(json.dumps(q.to_json() if isinstance(q, Question) else q, ensure_ascii=False) + "\n")
            count += 1
    tmp.replace(path)
    return count


def load_locomo_questions(path: Path, samples: list[str] | None = None) -> list[Question]:
    """LoCoMo questions through core.locomo; evidence ids are the loader's `locomo:<sample>:<dia>`."""
    from twin.eval.locomo import load_locomo

    return locomo_questions(load_locomo(Path(path), samples))


def locomo_questions(conversations: Iterable) -> list[Question]:
    """The questions of already loaded LoCoMo conversations (core.locomo.LocomoConversation).

    Adversarial questions (category 5) have no answer in the conversation, so their gold answer
    is "not mentioned"; LoCoMo's misleading `adversarial_answer` is kept in `extra`."""
    questions: list[Question] = []
    for conv in conversations:
        for qa in conv.questions:
            adversarial = category_kind(qa.category) == "adversarial"
            questions.append(Question(
                id=f"{qa.sample_id}:q{qa.index}",
                question=qa.question,
                answer="Not mentioned in the conversation" if adversarial else str(qa.answer),
                evidence=tuple(qa.evidence),
                category=str(qa.category),
                conversation=qa.sample_id,
                extra={"adversarial_answer": qa.adversarial_answer} if qa.adversarial_answer else {},
            ))
    return questions
