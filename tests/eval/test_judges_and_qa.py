"""Judges parse their model's verdicts; the QA runner builds the service's prompt and scores."""

import math

from twin.config import TwinConfig
from twin.records import Memory, MemoryHit
from twin.eval.chat import ChatModel, EchoChatModel
from twin.eval.judge import AnswerJudge, StyleJudge
from twin.eval.qa import run_ablation, run_qa
from twin.eval.questions import Question


class ScriptedModel(ChatModel):
    """Replies from a fixed list in turn and records what it was sent."""

    id = "scripted"

    def __init__(self, replies):
        self.replies, self.sent = list(replies), []

    def complete(self, messages, *, max_tokens=128):
        self.sent.append(messages)
        return self.replies.pop(0)


def test_answer_judge_reads_the_last_verdict():
    model = ScriptedModel(["The answer matches, so it is CORRECT", "Not the same. WRONG", "no idea"])
    judge = AnswerJudge(model)
    assert judge.grade("q", "gold", "a").label == "CORRECT"
    assert judge.grade("q", "gold", "a").label == "WRONG"
    assert judge.grade("q", "gold", "a").label is None
    assert "Reference answer: gold" in model.sent[0][0]["content"]


def test_style_judge_maps_letters_back_to_owner():
    class PicksReplyWithEmoji(ChatModel):
        id = "emoji-picker"

        def complete(self, messages, *, max_tokens=128):
            text = messages[0]["content"]
            a = text.split("Candidate A: ")[1].split("\n")[0]
            return "A" if "[旺柴]" in a else "B"

    judge = StyleJudge(PicksReplyWithEmoji(), seed=1)
    picks = [judge.pick_owner("Other: 吃了吗", "吃了[旺柴]", "Yes I have eaten.") for _ in range(10)]
    assert picks == [True] * 10  # found the owner whichever side it was shown on


def _hit(text, *source_ids):
    return MemoryHit(Memory(text=text, source_ids=source_ids, start=None, end=None), score=1.0)


def test_run_qa_puts_memories_in_the_prompt_and_scores():
    cfg = TwinConfig()
    questions = [Question("q1", "周末去哪儿了？", "杭州", ("wechat:1",), "single-hop"),
                 Question("q2", "去过巴黎吗？", "Not mentioned", (), "adversarial")]
    memories = {"q1": [_hit("去杭州西湖骑车了", "wechat:1")], "q2": []}
    echo = EchoChatModel()
    result = run_qa(questions, echo, cfg, retrieve=lambda q: memories[q.id])
    first, second = result["answers"]
    assert first["memories"] == ["wechat:1"] and "去杭州西湖骑车了" in first["answer"]
    assert first["f1"] > 0  # the echoed memory contains 杭 and 州
    assert second["f1"] == 0.0  # echo never says "not mentioned"
    assert result["by_category"]["single-hop"]["n"] == 1
    assert result["overall_without_adversarial"]["n"] == 1
    assert math.isclose(result["overall"]["f1"], (first["f1"] + second["f1"]) / 2)


def test_ablation_table_and_judge_accuracy():
    cfg = TwinConfig()
    questions = [Question("q1", "Where?", "Hangzhou", ("wechat:1",), "4")]
    judge = AnswerJudge(ScriptedModel(["CORRECT", "WRONG", "CORRECT", "CORRECT"]))
    result = run_ablation(questions, {"base": EchoChatModel(), "adapter": EchoChatModel()}, cfg,
                          lambda q: [_hit("went to Hangzhou", "wechat:1")], judge=judge)
    rows = {r["condition"]: r for r in result["table"]}
    assert list(rows) == ["no memory / base", "memory / base", "no memory / adapter", "memory / adapter"]
    assert rows["memory / base"]["f1"] > rows["no memory / base"]["f1"]  # memory brings "Hangzhou"
    assert [rows[c]["judge_accuracy"] for c in rows] == [1.0, 0.0, 1.0, 1.0]
    assert result["judge"] == "scripted"
