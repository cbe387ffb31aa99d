"""LoCoMo (snap-research/LoCoMo, `locomo10.json`) as core records.

Each sample is one long two-person conversation in numbered sessions, each with a date, plus
questions whose `evidence` names the turns (`dia_id`, e.g. "D1:3") that answer them.
  - turns -> Message with source id `locomo:<sample_id>:<dia_id>`, the speaker as sender, the
    session's date_time (e.g. "1:56 pm on 8 May, 2023", read as UTC) plus one minute per turn
    so order and session boundaries survive; a shared photo's caption is kept in the text as
    "[shares a photo: ...]", since the caption is the only trace of the photo in the data.
  - questions -> LocomoQuestion with evidence mapped to the same source ids and LoCoMo's
    category numbers: 1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop, 5 adversarial.
A few evidence entries in the file are malformed ("D8:6; D9:17", "D:11:26", "D30:05"):
they are split and normalised; ids that name no turn are dropped and counted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from twin.errors import InputError
from twin.records import ChatKind, Message

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
_DIA = re.compile(r"D\s*:?\s*(\d+)\s*:\s*(\d+)")
_SESSION = re.compile(r"session_(\d+)$")


@dataclass(frozen=True)
class LocomoQuestion:
    sample_id: str
    index: int  # position in the sample's qa list
    question: str
    answer: str
    category: int
    evidence: tuple[str, ...]  # source ids of the turns that answer it
    adversarial_answer: str | None = None

    @property
    def category_name(self) -> str:
        return CATEGORIES.get(self.category, str(self.category))


@dataclass
class LocomoConversation:
    sample_id: str
    speakers: tuple[str, str]
    messages: list[Message]
    questions: list[LocomoQuestion]
    dropped_evidence: list[str] = field(default_factory=list)  # evidence ids naming no turn

    @property
    def conversation_id(self) -> str:
        return f"locomo:{self.sample_id}"


def parse_session_time(text: str) -> datetime:
    """'1:56 pm on 8 May, 2023' -> tz-aware datetime (UTC; LoCoMo gives no zone)."""
    cleaned = re.sub(r"\s+", " ", text.strip())
    for fmt in ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y", "%I:%M %p on %B %d, %Y"):
        try:
            return datetime.strptime(cleaned, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"unrecognised session date_time {text!r}")


def source_id(sample_id: str, dia_id: str) -> str:
    return f"locomo:{sample_id}:{dia_id}"


def normalise_dia_ids(raw: str) -> list[str]:
    """'D8:6; D9:17' -> ['D8:6', 'D9:17']; 'D:11:26' -> ['D11:26']; 'D30:05' -> ['D30:5']."""
    return [f"D{int(a)}:{int(b)}" for a, b in _DIA.findall(raw)]


def turn_text(turn: dict) -> str:
    text = str(turn.get("text") or "").strip()
    caption = str(turn.get("blip_caption") or "").strip()
    if caption:
        text = f"{text} [shares a photo: {caption}]".strip()
    return text


def load_locomo(path: Path | str, samples: list[str] | None = None) -> list[LocomoConversation]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "no such file (LoCoMo is expected at ../shared/data/locomo/locomo10.json)") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg})", line=exc.lineno) from None
    if not isinstance(data, list):
        raise InputError(path, "expected a list of samples")
    out = []
    for position, sample in enumerate(data):
        sample_id = sample.get("sample_id") if isinstance(sample, dict) else None
        if not sample_id:
            raise InputError(path, "sample without sample_id", field=f"[{position}].sample_id")
        if samples is not None and sample_id not in samples:
            continue
        out.append(_conversation(path, position, sample))
    return out


def _conversation(path: Path, position: int, sample: dict) -> LocomoConversation:
    sample_id = sample["sample_id"]
    where = f"[{position}]"
    conv = sample.get("conversation")
    if not isinstance(conv, dict) or "speaker_a" not in conv or "speaker_b" not in conv:
        raise InputError(path, "missing conversation with speaker_a/speaker_b", field=f"{where}.conversation")
    speakers = (conv["speaker_a"], conv["speaker_b"])
    numbers = sorted(int(m.group(1)) for key in conv if (m := _SESSION.match(key)))
    messages: list[Message] = []
    for number in numbers:
        turns = conv[f"session_{number}"]
        key = f"session_{number}_date_time"
        try:
            start = parse_session_time(conv[key])
        except (KeyError, ValueError) as exc:
            raise InputError(path, str(exc), field=f"{where}.conversation.{key}") from None
        for i, turn in enumerate(turns):
            text = turn_text(turn)
            if not text:
                continue
            try:
                dia_id = normalise_dia_ids(turn["dia_id"])[0]
                speaker = turn["speaker"]
            except (KeyError, IndexError):
                raise InputError(path, "turn without speaker or dia_id",
                                 field=f"{where}.conversation.session_{number}[{i}]") from None
            messages.append(Message(
                source="locomo", source_id=source_id(sample_id, dia_id), conversation_id=f"locomo:{sample_id}",
                conversation_name=f"{speakers[0]} & {speakers[1]}", chat_kind=ChatKind.PRIVATE,
                sender_id=speaker, sender_name=speaker, is_owner=speaker == speakers[0],
                timestamp=start + timedelta(minutes=i), text=text,
            ))
    known = {m.source_id for m in messages}
    questions, dropped = [], []
    for index, qa in enumerate(sample.get("qa") or []):
        evidence: list[str] = []
        for raw in qa.get("evidence") or []:
            for dia_id in normalise_dia_ids(str(raw)) or [str(raw)]:
                sid = source_id(sample_id, dia_id)
                if sid in known:
                    evidence.append(sid)
                else:
                    dropped.append(sid)
        try:
            category = int(qa["category"])
            question = str(qa["question"])
        except (KeyError, ValueError, TypeError):
            raise InputError(path, "question without question/category", field=f"{where}.qa[{index}]") from None
        questions.append(LocomoQuestion(
            sample_id=sample_id, index=index, question=question, answer=str(qa.get("answer", "")),
            category=category, evidence=tuple(dict.fromkeys(evidence)),
            adversarial_answer=qa.get("adversarial_answer"),
        ))
    return LocomoConversation(sample_id, speakers, messages, questions, dropped)
