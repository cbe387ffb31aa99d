"""The style dataset: sessions, merges, windows, group chats, filters, split, exports, loss mask."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from tests.finetune.tiny import fixture_corpus

from twin.config import TwinConfig
from twin.prompt import system_prompt
from twin.records import ChatKind, Document, DocumentKind, Message, MessageKind
from twin.finetune.dataset import assign_splits, build_dataset, load_split, read_split
from twin.finetune.render import IGNORE_INDEX, render_with_mask, supervised_text
from twin.finetune.samples import document_sample, group_stretches, session_samples, windows
from twin.finetune.sessions import MessageFilter, build_sessions, merge_turns
from twin.corpus import CorpusStore

TZ = timezone(timedelta(hours=8))
T0 = datetime(2024, 10, 4, 12, 0, tzinfo=TZ)
_counter = iter(range(10**6))


def msg(sender: str, text: str, minutes: float = 0, *, owner: bool | None = None, kind=MessageKind.TEXT,
        conv: str = "wechat:c", chat=ChatKind.PRIVATE) -> Message:
    return Message(
        source="wechat", source_id=f"wechat:{next(_counter)}", conversation_id=conv, conversation_name=conv,
        chat_kind=chat, sender_id=sender, sender_name=sender, is_owner=(sender == "me") if owner is None else owner,
        timestamp=T0 + timedelta(minutes=minutes), text=text, kind=kind,
    )


def one_session(messages, **kw):
    sessions = list(build_sessions(messages, 60, "\n", MessageFilter()))
    assert len(sessions) == 1
    stats = Counter()
    args = dict(budget=2048, overlap=2, group_context_turns=6, joiner="\n", count=len, stats=stats) | kw
    return session_samples(sessions[0], "SYS", **args), stats


def test_consecutive_messages_merge_and_a_dropped_sticker_does_not_split_a_turn():
    keep = MessageFilter(media="drop")
    kept = [m for m in [msg("a", "hi"), msg("a", "you there?"), msg("me", "yes"),
                        msg("me", "[动画表情]", kind=MessageKind.STICKER), msg("me", "what's up")] if keep.keep(m)]
    turns = merge_turns(kept, " / ")
    assert [(t.sender_id, t.text) for t in turns] == [("a", "hi / you there?"), ("me", "yes / what's up")]
    assert keep.dropped == {"non_text": 1}
    assert len(turns[1].source_ids) == 2


def test_sessions_cut_at_gaps_longer_than_the_threshold():
    messages = [msg("a", "1", 0), msg("me", "2", 60), msg("a", "3", 121), msg("me", "4", 122),
                msg("a", "x", 0, conv="wechat:d")]
    sessions = list(build_sessions(messages, 60, "\n", MessageFilter()))
    # 0 -> 60 is exactly the gap (same session), 60 -> 121 is longer (new session); new chat, new session.
    assert [[t.text for t in s.turns] for s in sessions] == [["1", "2"], ["3", "4"], ["x"]]
    assert [s.index for s in sessions] == [0, 1, 0]
    assert len({s.id for s in sessions}) == 3


def test_samples_start_on_user_end_on_owner_and_carry_the_persona_prompt():
    samples, stats = one_session([msg("me", "hey!"), msg("a", "hello"), msg("me", "how are you"),
                                  msg("a", "fine"), msg("a", "and you?")])
    assert len(samples) == 1
    roles = [m["role"] for m in samples[0].messages]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert samples[0].messages[0]["content"] == "SYS"
    assert samples[0].messages[1]["content"].startswith("[Chat with wechat:c · Fri 2024-10-04 12:00")
    assert samples[0].messages[-1]["content"] == "how are you"
    assert stats["openers_kept"] == 1 and stats["unanswered_turns"] == 1


def test_long_sessions_are_windowed_with_overlap_within_budget():
    messages = []
    for i in range(10):
        messages += [msg("a", f"q{i:02d}" * 5, 2 * i), msg("me", f"a{i:02d}" * 5, 2 * i + 1)]
    budget = 200  # each message costs 15 chars + 4 overhead = 19; system "SYS" 3 + 4 = 7
    samples, _ = one_session(messages, budget=budget)
    assert len(samples) > 1
    for sample in samples:
        assert sum(len(m["content"]) + 4 for m in sample.messages) <= budget
        assert sample.messages[1]["role"] == "user" and sample.messages[-1]["role"] == "assistant"
    for earlier, later in zip(samples, samples[1:]):
        assert later.messages[1:3] == earlier.messages[-2:]  # last exchange repeated as context
    covered = {m["content"] for s in samples for m in s.messages[1:]}
    assert covered == {m.text for m in messages}  # no turn lost between windows
    assert [s.window for s in samples] == list(range(len(samples)))


def test_an_exchange_over_budget_is_dropped_and_counted():
    stats = Counter()
    msgs = [{"role": "user", "content": "x" * 50}, {"role": "assistant", "content": "y"},
            {"role": "user", "content": "ok"}, {"role": "assistant", "content": "fine"}]
    out = windows(msgs, 20, 2, len, stats)
    assert out == [(2, 4)] and stats["too_long"] == 1


def test_group_chats_name_speakers_and_keep_only_stretches_with_the_owner():
    group = dict(conv="wechat:g@chatroom", chat=ChatKind.GROUP)
    chatter = [msg(f"p{i % 3}", f"chatter {i}", i * 0.1, **group) for i in range(10)]
    messages = chatter + [msg("me", "I'm in", 2, **group), msg("p1", "great", 3, **group)]
    messages += [msg("p2", f"later {i}", 4 + i * 0.1, **group) for i in range(9)]  # owner silent: no sample
    samples, _ = one_session(messages, group_context_turns=3)
    assert len(samples) == 1
    user = samples[0].messages[1]["content"]
    assert user == "p1: chatter 7\np2: chatter 8\np0: chatter 9"  # names, and only the last 3 turns
    assert samples[0].messages[2] == {"role": "assistant", "content": "I'm in"}
    assert samples[0].extra["chat_kind"] == "group"


def test_group_stretches_split_on_long_owner_silence():
    keep = MessageFilter()
    turns = merge_turns([m for m in [msg("me", "a"), *[msg(f"p{i % 2}", str(i)) for i in range(5)], msg("me", "b")]
                         if keep.keep(m)], "\n")
    stretches = group_stretches(turns, context_turns=2)
    assert [[t.text for t in s] for s in stretches] == [["a"], ["3", "4", "b"]]


def test_posts_become_instruction_samples_with_pii_paragraphs_only_when_asked_to_drop():
    doc = Document(source="x", source_id="x:1", kind=DocumentKind.POST, title="",
                   text="Spring is here. The park is green.\n\nCall me at <PHONE>.\n\nSee you there.")
    stats = Counter()
    keep = MessageFilter(pii="drop")
    sample = document_sample(doc, "SYS", budget=500, count=len, keep=keep, stats=stats)
    assert sample.kind == "post" and sample.extra["doc_kind"] == "post"
    assert sample.messages[1]["content"] == "Write a post about Spring is here."
    assert sample.messages[2]["content"] == "Spring is here. The park is green.\n\nSee you there."
    assert keep.dropped["pii_placeholder"] == 1
    kept = document_sample(doc, "SYS", budget=500, count=len, keep=MessageFilter(), stats=stats)
    assert "Call me at <PHONE>." in kept.messages[2]["content"]


def test_split_keeps_every_session_in_one_split_and_is_deterministic():
    samples = []
    for c in range(40):
        messages = [msg("a", f"q{i}{c}", i * 2, conv=f"wechat:{c}") for i in range(0, 12, 2)]
        messages += [msg("me", f"answer {i} in chat {c}", i * 2 + 1, conv=f"wechat:{c}") for i in range(0, 12, 2)]
        messages.sort(key=lambda m: m.timestamp)
        part, _ = one_session(messages, budget=60)
        samples += part
    first = assign_splits(samples, (0.8, 0.1, 0.1), seed=0)
    again = assign_splits(list(reversed(samples)), (0.8, 0.1, 0.1), seed=0)
    sessions = {name: {s.session_id for s in part} for name, part in first.items()}
    assert not (sessions["train"] & sessions["validation"] or sessions["train"] & sessions["holdout"]
                or sessions["validation"] & sessions["holdout"])
    assert all(sessions.values())
    assert {k: {s.id for s in v} for k, v in first.items()} == {k: {s.id for s in v} for k, v in again.items()}
    other_seed = assign_splits(samples, (0.8, 0.1, 0.1), seed=1)
    assert {s.session_id for s in other_seed["holdout"]} != sessions["holdout"]


def test_build_on_fixture_counts_every_filter_and_writes_all_exports(tmp_path):
    cfg = TwinConfig(root=tmp_path, dataset={"blocked_words": ["secretproject"], "tokenizer": "approx"})
    fixture_corpus(cfg.path("corpus"))
    report = build_dataset(cfg, "style")
    assert report.filters == {
        "system_or_recalled": 2, "blocked_word": 2, "unanswered_turns": 1, "short_owner": 1, "near_duplicate": 1,
    }
    assert report.counts["media_placeholders"] == 1 and report.counts["pii_messages_kept"] == 1
    assert report.counts["sessions"] == 6
    assert report.counts["chat_samples"] == 4 and report.counts["post_samples"] == 1
    assert report.memory_store["used"] is False and "twin memory index" in report.memory_store["why"]
    folder = cfg.path("datasets") / "style"
    rows = [row for split in ("train", "validation", "holdout") for row in read_split(folder, split)]
    assert len(rows) == sum(report.splits.values()) == 5
    by_conv = {r["conversation_id"]: r for r in rows if r["window"] == 0 and r["kind"] == "chat"}
    first_alice = next(r for r in rows if r["messages"][1]["content"] == "你到哪了")
    # the sticker is a placeholder in the chat's language; the message with a phone number stays
    assert [m["content"] for m in first_alice["messages"][1:]] == [
        "你到哪了", "刚下车\n[表情]\n马上到 [旺柴]", "好的 我在南门等你\n我电话 <PHONE>", "收到收到"]
    assert by_conv["wechat:team@chatroom"]["messages"][1]["content"] == "Carol: 周末聚餐去哪\nDave: 火锅吧"
    # every sample states its session's date the way the service states today's
    assert all(r["messages"][0]["content"] == system_prompt(cfg.persona) + "\n\nToday is 2024-10-04."
               for r in rows if r["conversation_id"] == "wechat:alice")
    holdout = read_split(folder, "holdout")
    assert holdout and set(holdout[0]) >= {"messages", "kind", "conversation_id", "session_id"}

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["corpus_hash"] == CorpusStore(cfg.path("corpus")).content_hash()
    assert manifest["splits"] == report.splits and manifest["tokens"]["train"]["samples"] == report.splits["train"]
    info = json.loads((folder / "dataset_info.json").read_text())
    assert info["twin_style_train"]["formatting"] == "sharegpt"
    share = [json.loads(line) for line in (folder / "sharegpt" / "train.jsonl").read_text().splitlines()]
    assert share[0]["conversations"][0]["from"] == "human" and share[0]["conversations"][-1]["from"] == "gpt"
    openai = [json.loads(line) for line in (folder / "openai" / "train.jsonl").read_text().splitlines()]
    assert list(openai[0]) == ["messages"] and len(openai) == report.splits["train"]
    assert len(load_split(folder, "train")) == report.splits["train"]

    # Rebuilding gives the same files: deterministic.
    before = (folder / "train.jsonl").read_bytes()
    build_dataset(cfg, "style")
    assert (folder / "train.jsonl").read_bytes() == before


def test_missing_or_empty_corpus_is_a_clear_error(tmp_path):
    from twin.errors import StoreError

    cfg = TwinConfig(root=tmp_path, dataset={"tokenizer": "approx"})
    with pytest.raises(StoreError, match="no corpus yet"):
        build_dataset(cfg)
    CorpusStore(cfg.path("corpus")).close()
    with pytest.raises(StoreError, match="no training samples"):
        build_dataset(cfg)


def test_loss_mask_covers_exactly_the_owner_tokens(tiny_tokenizer):
    messages = [
        {"role": "system", "content": "You are me."},
        {"role": "user", "content": "你吃饭了吗"},
        {"role": "assistant", "content": "好的 明天见 [旺柴]"},
        {"role": "user", "content": "what time is dinner"},
        {"role": "assistant", "content": "see you tomorrow"},
    ]
    features = render_with_mask(tiny_tokenizer, messages)
    ids, labels = features["input_ids"], features["labels"]
    assert len(ids) == len(labels) == len(features["attention_mask"])
    # Supervised runs, decoded, are each owner message plus its end-of-turn marker, nothing else.
    runs, current = [], []
    for token, label in zip(ids, labels):
        if label == IGNORE_INDEX:
            if current:
                runs.append(current)
                current = []
        else:
            assert label == token
            current.append(token)
    if current:
        runs.append(current)
    decoded = [tiny_tokenizer.decode(run) for run in runs]
    assert decoded == ["好的 明天见 [旺柴]<|im_end|>\n", "see you tomorrow<|im_end|>\n"]
    assert supervised_text(tiny_tokenizer, features) == "".join(decoded)
    # The whole render decodes back to the template text: no tokens invented or lost.
    assert tiny_tokenizer.decode(ids) == tiny_tokenizer.apply_chat_template(messages, tokenize=False)
