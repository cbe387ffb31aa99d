"""Answer quality on LoCoMo: questions picked across categories, each answered from its own
conversation's store by that conversation's first speaker, in the memory x model ablation."""

import json

import pytest
from typer.testing import CliRunner

from twin.cli import build_app
from twin.config import TwinConfig
from twin.eval.chat import ChatModel, EchoChatModel
from twin.eval.locomo_qa import locomo_ablation, pick_questions
from twin.eval.questions import Question
from tests.conftest import LOCOMO, needs_shared

pytestmark = needs_shared(LOCOMO)


def _q(conv: str, index: int, category: str) -> Question:
    return Question(id=f"{conv}:q{index}", question=f"q{index}", answer="a", category=category, conversation=conv)


def test_pick_questions_takes_categories_in_turn_per_conversation():
    questions = [_q("c1", i, cat) for i, cat in enumerate("1112223345")] + [_q("c2", i, "4") for i in range(4)]
    picked = pick_questions(questions, 5)
    # c1: first of categories 1..5, kept in the set's order; c2 has only category 4
    assert [q.id for q in picked if q.conversation == "c1"] == ["c1:q0", "c1:q3", "c1:q6", "c1:q8", "c1:q9"]
    assert [q.id for q in picked if q.conversation == "c2"] == ["c2:q0", "c2:q1", "c2:q2", "c2:q3"]


def test_pick_questions_covers_every_category_when_asking_fewer():
    questions = [_q(f"c{c}", i, cat) for c in range(5) for i, cat in enumerate("12345")]
    picked = pick_questions(questions, 2)
    assert len(picked) == 10
    # each conversation starts one category further on: two per conversation still reach all five
    assert sorted({q.category for q in picked}) == ["1", "2", "3", "4", "5"]
    assert [q.category for q in picked if q.conversation == "c1"] == ["2", "3"]


class RecordingEcho(ChatModel):
    """The echo model, keeping every prompt it was sent."""

    id = "echo"

    def __init__(self):
        self.prompts = []

    def complete(self, messages, *, max_tokens=128):
        self.prompts.append(messages)
        return EchoChatModel().complete(messages, max_tokens=max_tokens)


def test_locomo_ablation_answers_from_the_right_conversation(tmp_path):
    cfg = TwinConfig(root=tmp_path, memory={"embedder": "hash"})
    model = RecordingEcho()
    result = locomo_ablation(LOCOMO, cfg, {"base": model}, per_conversation=5, samples=["conv-26", "conv-41"])

    assert result["samples"] == ["conv-26", "conv-41"]
    table = {row["condition"]: row for row in result["table"]}
    assert set(table) == {"no memory / base", "memory / base"} and all(r["n"] == 10 for r in table.values())
    with_memory = result["conditions"]["memory / base"]["answers"]
    # five questions per conversation cover all five LoCoMo categories
    assert sorted(a["category"] for a in with_memory) == sorted(["1", "2", "3", "4", "5"] * 2)
    for answer in with_memory:  # memories come only from the question's own conversation
        sample = answer["id"].split(":")[0]
        assert answer["memories"] and all(sid.startswith(f"locomo:{sample}:") for sid in answer["memories"])
    # the persona is the conversation's first speaker (conv-26: Caroline, conv-41: John)
    systems = [m[0]["content"] for m in model.prompts]
    assert any(s.startswith("You are Caroline.") for s in systems) and any(s.startswith("You are John.") for s in systems)
    # the echo repeats its prompt, so memories carrying the answers raise F1 over no memory
    assert table["memory / base"]["f1_without_adversarial"] > table["no memory / base"]["f1_without_adversarial"]


def test_eval_run_locomo_qa_with_in_process_models(tiny_twin):
    result = CliRunner().invoke(build_app(), ["eval", "run", "--locomo", str(LOCOMO), "--sample", "conv-26",
                                              "--locomo-qa", "2", "--name", "loco"])
    assert result.exit_code == 0, result.output
    folder = tiny_twin.path("reports") / "loco"
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    rows = report["locomo_ablation"]["table"]
    assert [(r["memory"], r["model"]) for r in rows] == [(False, "base"), (True, "base"), (False, "adapter"), (True, "adapter")]
    assert all(r["n"] == 2 for r in rows)
    assert report["recall"]["locomo"]["samples"] == ["conv-26"]
    assert (folder / "locomo_ablation.png").read_bytes()[:4] == b"\x89PNG"
    assert "## LoCoMo ablation" in (folder / "summary.md").read_text(encoding="utf-8")


def test_locomo_qa_needs_locomo(tiny_twin):
    result = CliRunner().invoke(build_app(), ["eval", "run", "--dataset", "style", "--locomo-qa", "2"])
    assert result.exit_code != 0 and "--locomo-qa needs --locomo" in result.output


def test_locomo_qa_through_a_url_needs_both_model_names(tiny_twin):
    result = CliRunner().invoke(build_app(), ["eval", "run", "--locomo", str(LOCOMO), "--locomo-qa", "2",
                                              "--url", "http://127.0.0.1:9/v1"])
    assert result.exit_code != 0 and "--base-model" in result.output


def test_style_through_a_twin_service_is_refused_because_its_store_holds_the_holdout(tiny_twin):
    result = CliRunner().invoke(build_app(), ["eval", "run", "--dataset", "style", "--url", "http://127.0.0.1:9/v1"])
    assert result.exit_code != 0 and "holdout sessions" in result.output and "--base-model" in result.output
