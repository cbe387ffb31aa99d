"""QQ: message-manager TXT (GB18030, CRLF, sections, repeated chats, ids in brackets) and
QQ-Chat-Exporter JSON (selfUid owner, replies, recalls); the real qq-chat-history sample."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from twin.errors import InputError
from twin.records import ChatKind, MessageKind
from twin.ingest.formats.qq import QQChatExporterJson, QQTxt, split_sender
from twin.ingest.formats.wechat import WeChatMsgTxt
from twin.ingest.textio import head
from tests.conftest import FORMATS, needs_shared, shared_files
from tests.ingest.formats.run_parser import run_parser

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ingest" / "qq"
TXT = FIXTURES / "全部消息记录.txt"
QCE = FIXTURES / "qce_摄影交流群.json"
SAMPLES = FORMATS / "qq_txt"
UTC8 = timezone(timedelta(hours=8))


def by_source_id(records):
    return {m.source_id: m for m in records}


def test_txt_sections_owner_ids_and_placeholders():
    assert TXT.read_bytes()[:2] != b"\xef\xbb" and b"\r\n" in TXT.read_bytes()  # GB18030 with CRLF
    fmt, records, ctx = run_parser(TXT, names=["林"], tz="Asia/Shanghai")
    assert fmt == "qq-txt" and len(records) == 9
    # the '最近联系人' copy of 小明's chat is left out, so is 林's empty message
    assert ctx.skipped == {"chat repeated in another group": 1, "empty message": 1}
    m = by_source_id(records)
    first = m["qq:小明:1"]
    assert first.timestamp == datetime(2012, 3, 4, 9, 5, 7, tzinfo=UTC8)  # unpadded hour
    assert first.text == "周六去看电影吗？\n2006-01-02 15:04:05 这行只是正文"  # a date-like body line stays
    assert first.chat_kind is ChatKind.PRIVATE and first.conversation_id == "qq:小明" and not first.is_owner
    assert m["qq:小明:2"].is_owner and m["qq:小明:2"].text == "好啊[微笑]\n几点？"
    assert m["qq:小明:3"].kind is MessageKind.IMAGE
    admin = m["qq:摄影交流群:1"]
    assert (admin.sender_id, admin.sender_name) == ("10001", "Alice")  # title prefix dropped
    assert admin.text == "欢迎新人[图片]2" and admin.kind is MessageKind.TEXT  # glued placeholder is text
    assert admin.chat_kind is ChatKind.GROUP
    odd = m["qq:摄影交流群:2"]
    assert (odd.sender_id, odd.sender_name, odd.kind) == ("123123", "(B", MessageKind.STICKER)  # last bracket = id
    assert m["qq:摄影交流群:3"].sender_id == "victor@example.com"
    assert m["qq:摄影交流群:3"].text == "http://example.com/album\n记得点赞"
    mine = m["qq:摄影交流群:4"]
    assert mine.is_owner and mine.kind is MessageKind.IMAGE  # '[图片][图片]'
    assert m["qq:摄影交流群:5"].kind is MessageKind.RECALLED and m["qq:摄影交流群:5"].sender_id == "system"
    assert m["qq:摄影交流群:6"].timestamp == datetime(2019, 9, 23, 20, 43, 38, tzinfo=UTC8)  # 8:43:38 PM


def test_txt_owner_by_qq_number():
    _, records, _ = run_parser(TXT, ids=["20001"])
    assert [m.source_id for m in records if m.is_owner] == ["qq:摄影交流群:4"]


@needs_shared(SAMPLES)
def test_real_sample_values():
    fmt, records, _ = run_parser(SAMPLES / "qq-chat-history__tests_file.txt", ids=["123123"], tz="Asia/Shanghai")
    assert fmt == "qq-txt"
    assert [(m.source_id, m.sender_id, m.sender_name, m.is_owner, m.text) for m in records] == [
        ("qq:qq-chat-history__tests_file:1", "123123", "A", True, "A"),
        ("qq:qq-chat-history__tests_file:2", "456456", "B", False, "B"),
    ]
    assert records[1].timestamp.replace(tzinfo=None) == datetime(1883, 3, 7, 12, 34, 56)
    assert records[1].timestamp.tzinfo is not None


@pytest.mark.parametrize("path", shared_files(SAMPLES), ids=lambda p: p.name)
def test_every_real_sample_is_detected_and_parsed(path):
    fmt, records, _ = run_parser(path)
    assert fmt == "qq-txt" and len(records) > 0


def test_sender_forms():
    assert split_sender("【管理员】【活跃】Alice(10001)") == ("10001", "Alice")
    assert split_sender("Bob（1234567）") == ("1234567", "Bob")
    assert split_sender("此消彼长，云过有痕<qq_g@163.com>") == ("qq_g@163.com", "此消彼长，云过有痕")
    assert split_sender("Victor.Woo") == (None, "Victor.Woo")


def test_qce_json_owner_reply_recall_and_media():
    fmt, records, _ = run_parser(QCE, tz="Asia/Shanghai")
    assert fmt == "qq-qce-json" and len(records) == 7
    m = by_source_id(records)
    first = m["qq:88880000:7600000000000000001"]
    assert first.text == "新年快乐[/捂脸]" and first.sender_id == "10001" and not first.is_owner
    assert first.timestamp == datetime(2025, 12, 31, 23, 5, 17, tzinfo=UTC8)  # epoch milliseconds
    assert first.chat_kind is ChatKind.GROUP and first.conversation_name == "摄影交流群"
    reply = m["qq:88880000:7600000000000000002"]
    assert reply.is_owner and reply.reply_to == "qq:88880000:7600000000000000001"  # selfUid matched
    assert reply.text == "同乐！明年一起去拍雪景"
    assert m["qq:88880000:7600000000000000003"].kind is MessageKind.IMAGE
    recalled = m["qq:88880000:7600000000000000004"]
    assert recalled.kind is MessageKind.RECALLED and "撤回" not in recalled.text and "这条" not in recalled.text
    system = m["qq:88880000:7600000000000000005"]
    assert system.kind is MessageKind.SYSTEM and system.sender_id == "system"
    assert m["qq:88880000:7600000000000000006"].kind is MessageKind.STICKER
    assert m["qq:88880000:7600000000000000007"].text == "@Bob 欢迎！" and m["qq:88880000:7600000000000000007"].is_owner


def test_detection_is_specific():
    assert QQTxt.detect(TXT, head(TXT)) and not QQChatExporterJson.detect(TXT, head(TXT))
    assert QQChatExporterJson.detect(QCE, head(QCE)) and not QQTxt.detect(QCE, head(QCE))
    wechat_txt = TXT.parents[1] / "wechat" / "周末爬山群.txt"
    assert not QQTxt.detect(wechat_txt, head(wechat_txt))


@needs_shared(FORMATS)
def test_other_real_samples_are_not_claimed():
    for path in sorted(p for p in FORMATS.rglob("*") if p.is_file() and p.parent != SAMPLES and p.suffix != ".md"):
        text = head(path)
        assert not QQTxt.detect(path, text) and not QQChatExporterJson.detect(path, text), path


def test_headerless_txt_told_apart_from_wechat(tmp_path):
    qq = tmp_path / "qq.txt"
    qq.write_text("2013-06-23 15:52:32 Alice(10001)\n你好\n", encoding="utf-8")
    assert QQTxt.detect(qq, head(qq))
    wechat = tmp_path / "wechat.txt"
    wechat.write_text("2013-06-23 15:52:32 Alice\n你好\n", encoding="utf-8")
    assert not QQTxt.detect(wechat, head(wechat)) and WeChatMsgTxt.detect(wechat, head(wechat))


def test_truncated_qce_json_names_the_line(tmp_path):
    path = tmp_path / "cut.json"
    text = QCE.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(path, fmt="qq-qce-json")
    assert err.value.path == str(path) and err.value.line is not None and err.value.line > 10


def test_qce_bad_timestamp_names_the_field(tmp_path):
    data = json.loads(QCE.read_text(encoding="utf-8"))
    data["messages"][2]["timestamp"] = "yesterday"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(path)
    assert err.value.field == "messages[2].timestamp"


def test_qce_without_messages_list(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text('{"metadata": {"name": "QQChatExporter V5"}, "chatInfo": {"selfUid": "u"}, "messages": {}}', encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(path)
    assert err.value.field == "messages"


def test_txt_impossible_date_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("消息记录（此消息记录为文本格式，不支持重新导入）\n\n====\n\n2013-02-30 15:52:32 A(10001)\nhi\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(path)
    assert err.value.line == 5 and str(path) in str(err.value)


def test_qce_v4_shape(tmp_path):
    """Older QCE files: messageId, ISO timestamp strings, isRecalled/isSystemMessage, content.reply."""
    data = {
        "chatInfo": {"name": "小明", "type": "private", "selfUid": "u_self"},
        "messages": [
            {"messageId": "11", "timestamp": "2024-05-01T10:00:00.000Z", "sender": {"uid": "u_ming", "uin": "10002", "name": "小明"},
             "messageType": 2, "isSystemMessage": False, "isRecalled": False, "content": {"text": "五一去哪玩"}},
            {"messageId": "12", "timestamp": "2024-05-01T10:01:00.000Z", "sender": {"uid": "u_self", "uin": "20001", "name": "林"},
             "messageType": 2, "isSystemMessage": False, "isRecalled": False,
             "content": {"text": "去海边", "reply": {"messageId": "11"}}},
            {"messageId": "13", "timestamp": "2024-05-01T10:02:00.000Z", "sender": {"uid": "u_ming", "uin": "10002", "name": "小明"},
             "messageType": 2, "isSystemMessage": False, "isRecalled": True, "content": {"text": "算了"}},
        ],
    }
    path = tmp_path / "v4.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    fmt, records, _ = run_parser(path, tz="Asia/Shanghai")
    assert fmt == "qq-qce-json"
    assert [(r.source_id, r.is_owner, r.kind) for r in records] == [
        ("qq:小明:11", False, MessageKind.TEXT),
        ("qq:小明:12", True, MessageKind.TEXT),
        ("qq:小明:13", False, MessageKind.RECALLED),
    ]
    assert records[1].reply_to == "qq:小明:11" and records[0].chat_kind is ChatKind.PRIVATE
    assert records[0].timestamp == datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
    assert records[2].text != "算了"
