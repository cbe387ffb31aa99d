"""Question sets: own JSONL format (good and bad lines) and LoCoMo through core.locomo."""

import json

import pytest

from twin.errors import InputError
from twin.eval.questions import Question, category_kind, load_locomo_questions, load_questions, write_questions
from tests.conftest import LOCOMO, needs_shared
from tests.eval.conftest import FIXTURES


def test_fixture_set_loads():
    questions = load_questions(FIXTURES / "questions.jsonl")
    assert [q.id for q in questions] == ["q1", "q2", "q3", "q4"]
    assert questions[1].evidence == ("wechat:1", "wechat:3") and questions[1].kind == "multi-hop"
    assert questions[3].evidence == ()


def test_category_numbers_and_names():
    assert category_kind("1") == "multi-hop" and category_kind(4) == "single-hop"
    assert category_kind("Temporal") == "temporal"
    assert category_kind("weird") is None and category_kind(None) is None


@pytest.mark.parametrize("line,field", [
    ('{"id": "a", "question": "", "answer": "x"}', "question"),
    ('{"id": "a", "question": "q?", "answer": "x", "evidence": "wechat:1"}', "evidence"),
    ('{"id": "a", "question": "q?", "answer": "x", "category": "gossip"}', "category"),
    ('{"question": "q?", "answer": "x"}', "id"),
])
def test_bad_line_names_line_and_field(tmp_path, line, field):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "ok", "question": "q?", "answer": "a"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_questions(path)
    assert err.value.line == 2 and err.value.field == field and str(path) in str(err.value)


def test_not_json_and_duplicates(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(InputError, match=":1: not valid JSON"):
        load_questions(path)
    row = json.dumps({"id": "same", "question": "q?", "answer": 3})
    path.write_text(f"{row}\n{row}\n", encoding="utf-8")
    with pytest.raises(InputError, match="duplicate id"):
        load_questions(path)


def test_write_then_load_round_trip(tmp_path):
    original = [Question("a", "去哪了？", "杭州", ("wechat:1",), "single-hop"), Question("b", "When?", "May", (), "2")]
    write_questions(tmp_path / "set.jsonl", original)
    assert load_questions(tmp_path / "set.jsonl") == original


@needs_shared(LOCOMO)
def test_locomo_questions_keep_numbers_evidence_ids_and_mark_adversarial():
    questions = load_locomo_questions(LOCOMO, ["conv-26"])
    assert len(questions) == 199  # conv-26's qa list
    first = questions[0]
    assert first.category == "2" and first.conversation == "conv-26"
    assert first.evidence == ("locomo:conv-26:D1:3",) and first.answer == "7 May 2023"
    adversarial = [q for q in questions if q.category == "5"]
    assert adversarial and all(q.answer.startswith("Not mentioned") for q in adversarial)
    assert adversarial[0].extra["adversarial_answer"]
