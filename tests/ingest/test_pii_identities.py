"""An unsaved contact is known by their phone number: as sender id and name, chat id and name,
message id. Those are scrubbed too, to keyed pseudonyms that keep two contacts two people and one
contact the same person in every chat, file and run; memories built from them carry the same."""

from __future__ import annotations

import sqlite3
import stat

import pytest

from twin.config import PiiConfig, load_config
from twin.corpus import CorpusStore
from twin.ingest.pii import KEY_FILE, Scrubber
from twin.ingest.pipeline import ingest_paths
from twin.retrieval.chunking import chat_memories

ALICE, BOB = "+86 139 0013 9000", "+86 139 0013 9001"


def write_chats(folder):
    folder.mkdir()
    (folder / "WhatsApp Chat with 爬山群.txt").write_text(
        f"1/2/24, 10:00 - {ALICE}: 周末去爬山吗\n"
        f"1/2/24, 10:01 - {BOB}: 好啊 我的新号 139.0013.9002\n"
        "1/2/24, 10:02 - Lin: 几点？\n"
        f"1/2/24, 10:03 - {ALICE}: 八点\n", encoding="utf-8")
    (folder / f"WhatsApp Chat with {ALICE}.txt").write_text(
        f"1/3/24, 09:00 - {ALICE}: 到了吗\n"
        "1/3/24, 09:05 - Lin: 马上\n", encoding="utf-8")
    return folder


def ingest(folder):
    cfg = load_config()
    cfg.owner.names = ["Lin"]
    with CorpusStore(cfg.path("corpus")) as store:
        reports = ingest_paths([folder], cfg, store)
        return cfg, reports, list(store.messages())


def test_phone_number_identities_become_stable_distinct_pseudonyms(twin_dir, tmp_path):
    cfg, reports, messages = ingest(write_chats(tmp_path / "chats"))
    assert all(r.ok for r in reports) and len(messages) == 6
    # Nothing of the numbers is left anywhere in the corpus file.
    dump = "\n".join(sqlite3.connect(cfg.path("corpus")).iterdump())
    assert "0013" not in dump and "139 " not in dump
    senders = {m.sender_id for m in messages if not m.is_owner}
    assert len(senders) == 2 and all(s.startswith("<PHONE:") and len(s) == len("<PHONE:12345678>") for s in senders)
    by_text = {m.text: m for m in messages}
    alice = by_text["周末去爬山吗"].sender_id
    assert by_text["八点"].sender_id == alice != by_text["好啊 我的新号 <PHONE>"].sender_id
    private = by_text["到了吗"]
    # Alice's private chat is named by her number: the same pseudonym as her sender id.
    assert private.sender_id == private.sender_name == private.conversation_name == alice
    assert private.conversation_id == f"whatsapp:{alice}" and private.source_id == f"whatsapp:{alice}:1"
    assert by_text["马上"].conversation_id == private.conversation_id  # still one chat
    assert reports[0].pii["<PHONE id>"] + reports[1].pii["<PHONE id>"] >= 2


def test_memories_carry_the_pseudonyms(twin_dir, tmp_path):
    cfg, _, messages = ingest(write_chats(tmp_path / "chats"))
    memories = list(chat_memories(messages, turns=8, overlap=0, gap_minutes=cfg.sessions.gap_minutes))
    alice = next(m.sender_id for m in messages if m.text == "到了吗")
    group = next(m for m in memories if "爬山群" in m.text)
    assert alice in group.participants and len(group.participants) == 3
    assert f"{alice}: 周末去爬山吗" in group.text
    assert not any("0013" in m.text or any("0013" in p for p in m.participants) for m in memories)


def test_same_pseudonyms_on_the_next_run_so_reingest_adds_nothing(twin_dir, tmp_path):
    folder = write_chats(tmp_path / "chats")
    cfg, first, before = ingest(folder)
    _, second, after = ingest(folder)
    assert sum(r.new for r in first) == 6 and sum(r.new for r in second) == 0
    assert sorted(m.source_id for m in before) == sorted(m.source_id for m in after)
    key = cfg.path("corpus").parent / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_one_number_one_pseudonym_whatever_its_spelling_and_key_matters():
    scrub = Scrubber(PiiConfig(), key=b"k" * 32)
    spellings = ["+86 139 0013 9000", "13900139000", "139-0013-9000", "139.0013.9000", "１３９００１３９０００"]
    assert len({scrub.identity(s) for s in spellings}) == 1
    assert scrub.identity("13900139001") != scrub.identity("13900139000")
    assert Scrubber(PiiConfig(), key=b"j" * 32).identity("13900139000") != scrub.identity("13900139000")
    assert scrub.identity("QQ_G@163.com") == scrub.identity("qq_g@163.com")
    assert scrub.identity("qq_g@163.com").startswith("<EMAIL:")
    assert scrub.identity("wxid_friend0001") == "wxid_friend0001"  # ordinary ids stay as they are
    assert scrub.message_id("wechat:6000000000000000001") == "wechat:6000000000000000001"
    assert scrub.message_id(None) is None
    assert Scrubber(PiiConfig(enabled=False)).identity("13900139000") == "13900139000"


@pytest.mark.parametrize("in_worker", [False, True], ids=["in-process", "forked-worker"])
def test_numbers_are_scrubbed_whichever_process_parses(twin_dir, tmp_path, monkeypatch, in_worker):
    """Big files are parsed in a worker and their rows scrubbed by the storing process; warnings
    about a chat with no owner message name it by its pseudonym too."""
    import twin.ingest.pipeline as pipeline

    monkeypatch.setattr(pipeline, "WORKER_MIN_BYTES", 0 if in_worker else 1 << 40)
    folder = tmp_path / "chats"
    folder.mkdir()
    (folder / f"WhatsApp Chat with {ALICE}.txt").write_text(  # Alice writes, the owner never answers
        f"1/3/24, 09:00 - {ALICE}: 到了吗\n1/3/24, 09:05 - {ALICE}: 打我电话 13900139003\n", encoding="utf-8")
    cfg, reports, messages = ingest(folder)
    assert reports[0].ok and len(messages) == 2
    dump = "\n".join(sqlite3.connect(cfg.path("corpus")).iterdump())
    assert "0013" not in dump
    assert {m.sender_id for m in messages} == {messages[0].sender_name} and messages[0].sender_id.startswith("<PHONE:")
    assert "打我电话 <PHONE>" in {m.text for m in messages}
    warning = next(w for w in reports[0].warnings if "none of these messages is the owner's" in w)
    assert "0013" not in warning and "<PHONE:" in warning
    assert reports[0].pii["<PHONE>"] == 1 and reports[0].pii["<PHONE id>"] >= 1
