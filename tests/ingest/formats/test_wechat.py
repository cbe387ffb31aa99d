"""WeChat: WeChatMsg/MemoTrace v1 CSV (12 and 9 columns), v2 CSV (Chinese header), TXT, and the
real PyWxDump/WeClone samples; malformed files name the file, line and field."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from twin.errors import InputError
from twin.records import ChatKind, MessageKind
from twin.ingest.formats.qq import QQTxt
from twin.ingest.formats.wechat import WeChatMsgCsv, WeChatMsgCsvV2, WeChatMsgTxt
from twin.ingest.textio import head
from tests.conftest import FORMATS, needs_shared, shared_files
from tests.ingest.formats.run_parser import run_parser

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ingest" / "wechat"
SAMPLES = FORMATS / "wechat_weclone_pywxdump_csv"
UTC8 = timezone(timedelta(hours=8))
WECHATMSG = (WeChatMsgCsv, WeChatMsgCsvV2, WeChatMsgTxt)


def by_source_id(records):
    return {m.source_id: m for m in records}


def test_v1_csv_owner_flag_epochs_types_and_quotes():
    fmt, records, ctx = run_parser(FIXTURES / "张三_utf8.csv", tz="Asia/Shanghai")
    assert fmt == "wechat-wechatmsg-csv" and len(records) == 9 and not ctx.skipped
    m = by_source_id(records)
    first = m["wechat:101"]
    assert first.text == "在吗？明天一起吃饭" and not first.is_owner
    assert first.timestamp == datetime(2023, 5, 1, 12, 0, 0, tzinfo=UTC8)  # from the CreateTime epoch
    assert first.sender_id == "wxid_zhangsan" and first.sender_name == "张三"  # remark wins over nickname
    assert first.conversation_id == "wechat:wxid_zhangsan" and first.conversation_name == "张三"
    assert first.chat_kind is ChatKind.PRIVATE
    mine = m["wechat:102"]
    assert mine.is_owner and mine.text == "好啊[旺柴]\n几点？"  # IsSender flag; emoji code kept
    assert m["wechat:103"].kind is MessageKind.IMAGE and m["wechat:103"].text == "[图片]"  # XML not kept
    assert m["wechat:104"].kind is MessageKind.STICKER
    assert m["wechat:105"].kind is MessageKind.TEXT and m["wechat:105"].text == "八点吧，老地方"  # 49/57 title
    recall = m["wechat:106"]
    assert recall.kind is MessageKind.RECALLED and recall.text == "你撤回了一条消息"  # CDATA and link removed
    assert m["wechat:107"].kind is MessageKind.LINK and m["wechat:107"].text == "[链接] 老地方 & 新菜单"
    pat = m["wechat:108"]
    assert pat.kind is MessageKind.SYSTEM and not pat.is_owner and pat.text == '"张三" 拍了拍我'
    assert m["wechat:109"].kind is MessageKind.VOICE


def test_v1_csv_nine_column_variant():
    fmt, records, _ = run_parser(FIXTURES / "李四.csv", tz="Asia/Shanghai")
    assert fmt == "wechat-wechatmsg-csv"
    assert [(m.source_id, m.is_owner, m.kind) for m in records] == [
        ("wechat:1", False, MessageKind.TEXT),
        ("wechat:2", True, MessageKind.TEXT),
        ("wechat:3", False, MessageKind.VIDEO),
    ]
    assert records[0].sender_id == "李四" and records[1].sender_id == "me"
    assert records[0].conversation_id == "wechat:李四"
    assert records[1].text == "新年快乐[爱心]"
    assert records[2].timestamp == datetime(2022, 1, 2, 8, 32, tzinfo=UTC8)


def test_v2_csv_owner_from_configured_name():
    fmt, records, _ = run_parser(FIXTURES / "王五.csv", names=["林"], tz="Asia/Shanghai")
    assert fmt == "wechat-wechatmsg-csv-v2" and len(records) == 7
    m = by_source_id(records)
    assert not m["wechat:8866001122334455001"].is_owner
    assert m["wechat:8866001122334455002"].is_owner and m["wechat:8866001122334455002"].text == "去！带上相机[耶]"
    assert m["wechat:8866001122334455003"].text == "那早上七点出发"  # quoted message cut off
    assert m["wechat:8866001122334455003"].timestamp == datetime(2024, 12, 1, 12, 1, 10, tzinfo=UTC8)
    assert m["wechat:8866001122334455004"].kind is MessageKind.IMAGE
    sticker = m["wechat:8866001122334455005"]
    assert sticker.kind is MessageKind.STICKER and sticker.text == "【表情包】 狗头" and sticker.is_owner
    assert m["wechat:8866001122334455006"].kind is MessageKind.RECALLED
    assert m["wechat:8866001122334455007"].kind is MessageKind.SYSTEM
    assert {r.conversation_id for r in records} == {"wechat:王五"}
    assert all(r.chat_kind is ChatKind.PRIVATE for r in records)


def test_v2_csv_without_configured_owner_marks_nobody():
    _, records, _ = run_parser(FIXTURES / "王五.csv")
    assert not any(r.is_owner for r in records)


def test_txt_blocks_system_lines_placeholders_and_escaped_names():
    fmt, records, ctx = run_parser(FIXTURES / "周末爬山群.txt", names=["林"], tz="Asia/Shanghai")
    assert fmt == "wechat-wechatmsg-txt" and len(records) == 9
    m = by_source_id(records)
    assert set(m) == {f"wechat:周末爬山群:{n}" for n in range(1, 10)}
    assert all(r.chat_kind is ChatKind.GROUP and r.conversation_id == "wechat:周末爬山群" for r in records)
    assert m["wechat:周末爬山群:1"].sender_name == "阿杰"
    assert m["wechat:周末爬山群:1"].timestamp == datetime(2023, 6, 10, 9, 0, tzinfo=UTC8)
    mine = m["wechat:周末爬山群:2"]
    assert mine.is_owner and mine.text == "八点半，南门\n记得带水\n\n别迟到[旺柴]"  # blank line inside kept
    image = m["wechat:周末爬山群:3"]
    assert image.sender_name == "Tom & Jerry" and image.kind is MessageKind.IMAGE  # &amp; unescaped
    assert m["wechat:周末爬山群:4"].text == "收到"  # '引用:林:...' dropped
    assert m["wechat:周末爬山群:5"].kind is MessageKind.STICKER and m["wechat:周末爬山群:5"].is_owner
    recall = m["wechat:周末爬山群:6"]
    assert recall.kind is MessageKind.RECALLED and recall.sender_id == "system" and recall.text == "阿杰撤回了一条消息"
    pat = m["wechat:周末爬山群:7"]  # v2 layout: time alone, the notice on the next line
    assert pat.kind is MessageKind.SYSTEM and pat.text == '"小美" 拍了拍 "林"'
    assert m["wechat:周末爬山群:8"].kind is MessageKind.LINK and m["wechat:周末爬山群:8"].text == "[链接]:山顶日出攻略"
    emoji = m["wechat:周末爬山群:9"]
    assert emoji.kind is MessageKind.TEXT and emoji.text == "[捂脸]"  # an emoji code is text, not media


@needs_shared(SAMPLES)
def test_real_pywxdump_sample_values():
    fmt, records, _ = run_parser(SAMPLES / "test_person__test_0_730.csv", tz="Asia/Shanghai")
    assert fmt == "wechat-pywxdump-csv" and len(records) == 96  # 99 lines: a header and one row over three lines
    m = by_source_id(records)
    first = m["wechat:4073926741244663531"]
    assert first.is_owner and first.text == "小马尔代夫"
    assert first.timestamp == datetime(2024, 10, 4, 11, 43, tzinfo=UTC8)
    other = m["wechat:2122553892045962801"]
    assert not other.is_owner and other.text == "我去 好可爱啊" and other.conversation_id == "wechat:test_person"
    assert m["wechat:7437267147299592543"].kind is MessageKind.IMAGE
    assert m["wechat:7646558619446387721"].kind is MessageKind.RECALLED


@pytest.mark.parametrize("path", shared_files(SAMPLES, "*.csv"), ids=lambda p: p.name)
def test_every_real_sample_is_detected_and_parsed(path):
    fmt, records, _ = run_parser(path, tz="Asia/Shanghai")
    assert fmt == "wechat-pywxdump-csv" and len(records) > 0
    assert any(r.is_owner for r in records) and any(not r.is_owner for r in records)


def test_fixtures_detected_as_their_own_layout_only():
    expected = {"张三_utf8.csv": WeChatMsgCsv, "李四.csv": WeChatMsgCsv, "王五.csv": WeChatMsgCsvV2, "周末爬山群.txt": WeChatMsgTxt}
    for name, parser in expected.items():
        path = FIXTURES / name
        text = head(path)
        assert [p for p in WECHATMSG if p.detect(path, text)] == [parser], name
        assert not QQTxt.detect(path, text)


@needs_shared(FORMATS)
def test_wechatmsg_parsers_never_claim_other_samples():
    for path in sorted(p for p in FORMATS.rglob("*") if p.is_file() and p.suffix != ".md"):
        text = head(path)
        assert not any(p.detect(path, text) for p in WECHATMSG), path


def test_missing_columns_name_the_file_and_line(tmp_path):
    path = tmp_path / "坏的.csv"
    path.write_text("localId,TalkerId,Type,SubType,IsSender,CreateTime,Status\n1,2,1,0,0,1628863886,2\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(path)
    assert err.value.path == str(path) and err.value.line == 1 and "StrContent" in str(err.value)


def test_bad_epoch_names_line_and_field(tmp_path):
    path = tmp_path / "x_utf8.csv"
    path.write_text(
        "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime\r\n"
        "1,2,1,0,0,1628863886,2,ok,2021-08-13 22:11:26\r\n"
        "2,2,1,0,0,2021-08-13,2,bad,2021-08-13 22:11:26\r\n",
        encoding="utf-8-sig",
    )
    with pytest.raises(InputError) as err:
        run_parser(path)
    assert (err.value.line, err.value.field) == (3, "CreateTime") and str(path) in str(err.value)


def test_v2_unreadable_time_names_line_and_field(tmp_path):
    path = tmp_path / "y.csv"
    path.write_text("消息ID,类型,发送人,时间,内容,备注,昵称,更多信息\n1,文本,王五,昨天,hi,,,more\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(path)
    assert (err.value.line, err.value.field) == (2, "时间")


def test_txt_with_a_stray_first_line_is_refused(tmp_path):
    path = tmp_path / "z.txt"
    path.write_text("聊天记录\n2023-06-10 09:00:00 阿杰\n早\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(path, fmt="wechat-wechatmsg-txt")
    assert err.value.line == 1


def test_v1_group_chat_keyed_by_file_name(tmp_path):
    path = tmp_path / "老同学群_utf8.csv"
    path.write_text(
        "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender\r\n"
        "1,9,1,0,0,1628863886,2,周末聚餐？,2021-08-13 22:11:26,,阿杰,wxid_jie\r\n"
        "2,9,1,0,0,1628863890,2,好,2021-08-13 22:11:30,小美备注,小美,wxid_mei\r\n"
        "3,9,49,57,1,1628863899,2,\"我也去\n引用:阿杰:周末聚餐？\",2021-08-13 22:11:39,,林,wxid_lin\r\n",
        encoding="utf-8-sig",
    )
    _, records, _ = run_parser(path)
    assert {r.conversation_id for r in records} == {"wechat:老同学群"}
    assert all(r.chat_kind is ChatKind.GROUP for r in records)
    assert [r.sender_name for r in records] == ["阿杰", "小美备注", "林"]
    assert records[2].is_owner and records[2].text == "我也去"  # plain-text quote, quoted part dropped


def test_txt_two_people_is_a_private_chat(tmp_path):
    path = tmp_path / "阿杰.txt"
    path.write_text("2023-06-10 09:00:00 阿杰\n早\n\n2023-06-10 09:00:30 林\n早啊\n", encoding="utf-8")
    fmt, records, _ = run_parser(path, names=["林"])
    assert fmt == "wechat-wechatmsg-txt" and [r.is_owner for r in records] == [False, True]
    assert all(r.chat_kind is ChatKind.PRIVATE and r.conversation_name == "阿杰" for r in records)
