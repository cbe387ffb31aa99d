"""Live ingest re-chunks only the sessions new messages touch, reading only those sessions, and
the store it leaves equals a full `twin memory index` of the same corpus."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from twin.config import TwinConfig
from twin.corpus import CorpusStore
from twin.records import ChatKind, Message
from twin.retrieval.memory import corpus_memories, session_changes

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)
CHAT = "wechat:wxid_mia"


def message(n: int, minutes: float, text: str | None = None, kind: str = "text") -> Message:
    owner = n % 2 == 0
    return Message(source="wechat", source_id=f"wechat:{n}", conversation_id=CHAT, conversation_name="Mia",
                   chat_kind=ChatKind.PRIVATE, sender_id="me" if owner else "wxid_mia",
                   sender_name="Lin" if owner else "Mia", is_owner=owner,
                   timestamp=T0 + timedelta(minutes=minutes), text=text or f"message number {n}", kind=kind)


def five_sessions() -> list[Message]:
    """Five sessions of 7 messages, 3 minutes apart inside one, 3 hours between sessions."""
    return [message(100 * s + i, s * 180 + 3 * i) for s in range(5) for i in range(7)]


def live_then_full(tmp_path, existing: list[Message], arriving: list[Message]):
    config = TwinConfig(root=tmp_path)
    with CorpusStore(config.path("corpus")) as corpus:
        with corpus.transaction():
            corpus.add_messages(existing)
    before = {m.id for m in corpus_memories(config)}
    with CorpusStore(config.path("corpus")) as corpus:
        since = corpus.last_rowid()
        with corpus.transaction():
            corpus.add_messages(arriving)
        fresh, stale = session_changes(corpus, since, config)
    after_live = (before - set(stale)) | {m.id for m in fresh}
    return before, fresh, stale, after_live, {m.id for m in corpus_memories(config)}


def test_a_message_inside_one_session_changes_that_session_only(tmp_path):
    existing = five_sessions()
    before, fresh, stale, after_live, full = live_then_full(tmp_path, existing, [message(999, 2 * 180 + 10)])
    assert after_live == full
    assert stale and set(stale) <= before
    session_2 = {m.source_id for m in existing if 200 <= int(m.source_id.split(":")[1]) < 300} | {"wechat:999"}
    assert {sid for m in fresh for sid in m.source_ids} <= session_2  # nothing of the other sessions


def test_a_message_that_bridges_two_sessions_merges_them(tmp_path):
    existing = five_sessions()
    # 3h apart at 1*180+18 and 2*180: two messages 58 and 60 minutes from each side join them
    bridge = [message(998, 180 + 18 + 58), message(997, 180 + 18 + 58 + 60)]
    before, fresh, stale, after_live, full = live_then_full(tmp_path, existing, bridge)
    assert after_live == full
    sources = {sid for m in fresh for sid in m.source_ids}
    assert "wechat:100" in sources and "wechat:200" in sources  # both old sessions re-chunked as one
    assert "wechat:0" not in sources and "wechat:300" not in sources


def test_new_sessions_at_both_ends_and_non_text_messages(tmp_path):
    existing = five_sessions()
    arriving = [message(996, -600), message(995, 5 * 180 + 500),
                message(994, 3 * 180 + 4, text="[图片]", kind="image"),  # not text: changes no session
                message(993, 4 * 180 + 5, text="   ")]  # blank: not text either
    before, fresh, stale, after_live, full = live_then_full(tmp_path, existing, arriving)
    assert after_live == full
    assert not stale  # the old sessions are untouched
    assert {sid for m in fresh for sid in m.source_ids} == {"wechat:996", "wechat:995"}


def test_only_the_touched_span_of_a_long_chat_is_read(tmp_path, monkeypatch):
    existing = [message(i, 150 * i) for i in range(2000)]  # 2,000 sessions of one message each
    config = TwinConfig(root=tmp_path)
    with CorpusStore(config.path("corpus")) as corpus:
        with corpus.transaction():
            corpus.add_messages(existing)
        since = corpus.last_rowid()
        with corpus.transaction():
            corpus.add_messages([message(5000, 150 * 1000 + 30)])
        read: list[int] = []
        original = CorpusStore.messages

        def counting(self, *args, **kwargs):
            for m in original(self, *args, **kwargs):
                read.append(1)
                yield m

        monkeypatch.setattr(CorpusStore, "messages", counting)
        fresh, stale = session_changes(corpus, since, config)
    assert len(read) == 2  # message 1000 and the new one, 30 minutes later: one session
    assert {sid for m in fresh for sid in m.source_ids} == {"wechat:1000", "wechat:5000"}
    assert len(stale) == 1
