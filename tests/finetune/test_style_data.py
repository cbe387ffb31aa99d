"""Style data v2: openers with the context cue, placeholders kept in order, pairing that follows
the exchange (merge and exchange windows)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from twin.prompt import context_cue
from twin.records import ChatKind, Message, MessageKind
from twin.finetune.samples import session_samples
from twin.finetune.sessions import MessageFilter, build_sessions, link_title

TZ = timezone(timedelta(hours=8))
T0 = datetime(2023, 10, 12, 19, 40, tzinfo=TZ)  # a Thursday
LABELS = {"zh": {"image": "图片", "link": "链接", "sticker": "表情", "other": "消息"},
          "en": {"image": "photo", "link": "link", "other": "message"}}
_ids = iter(range(10**6))


def msg(sender, text, minutes=0.0, *, kind=MessageKind.TEXT, conv="wechat:mom", name="妈妈",
        chat=ChatKind.PRIVATE) -> Message:
    return Message(source="wechat", source_id=f"wechat:{next(_ids)}", conversation_id=conv, conversation_name=name,
                   chat_kind=chat, sender_id=sender, sender_name=sender, is_owner=sender == "me",
                   timestamp=T0 + timedelta(minutes=minutes), text=text, kind=kind)


def build(messages, *, merge=5.0, exchange=30.0, gap=60.0, keep=None):
    keep = keep or MessageFilter(labels=LABELS)
    stats: Counter = Counter()
    samples = []
    for session in build_sessions(messages, gap, "\n", keep, merge):
        samples += session_samples(session, "SYS", budget=4096, overlap=2, group_context_turns=6, joiner="\n",
                                   count=len, stats=stats, exchange_minutes=exchange)
    return samples, stats, keep


def turns(sample):
    return [(m["role"], m["content"]) for m in sample.messages[1:]]


def test_context_cue_names_the_chat_the_local_time_and_the_silence():
    assert context_cue("妈妈", T0, timedelta(days=3), language="zh") == "[与 妈妈 的对话 · 2023-10-12 周四 19:40 · 上次聊天 3 天前]"
    assert context_cue("Sam", T0, timedelta(minutes=1), language="en") == "[Chat with Sam · Thu 2023-10-12 19:40 · last message 1 minute ago]"
    assert context_cue("Family", T0, timedelta(hours=5), language="en", group=True) == "[Group chat Family · Thu 2023-10-12 19:40 · last message 5 hours ago]"
    assert context_cue("相亲相爱一家人", T0, None, language="zh", group=True) == "[群聊 相亲相爱一家人 · 2023-10-12 周四 19:40]"
    assert context_cue("a]b", T0, timedelta(days=400), language="zh").endswith("· 上次聊天 13 个月前]")
    assert context_cue("a]b", T0, language="en") == "[Chat with a)b · Thu 2023-10-12 19:40]"  # cannot close early


def test_an_opener_becomes_a_sample_with_the_context_cue_as_the_user_turn():
    earlier = msg("妈妈", "早点睡", -3 * 24 * 60)
    news = [msg("me", "告诉你们个好消息，我拿到offer了！"), msg("妈妈", "太好了！哪家？", 1), msg("me", "就是上次面试的那家", 2)]
    samples, stats, _ = build([earlier, *news])
    assert stats["openers_kept"] == 1
    opener = next(s for s in samples if any("offer" in c for _, c in turns(s)))
    assert turns(opener) == [
        ("user", "[与 妈妈 的对话 · 2023-10-12 周四 19:40 · 上次聊天 3 天前]"),
        ("assistant", "告诉你们个好消息，我拿到offer了！"),
        ("user", "太好了！哪家？"),
        ("assistant", "就是上次面试的那家"),
    ]
    assert opener.owner_ids == {news[0].source_id, news[2].source_id}


def test_an_english_group_opener_gets_the_english_group_cue():
    group = dict(conv="telegram:g", name="Hiking crew", chat=ChatKind.GROUP)
    samples, stats, _ = build([msg("me", "Guess what, I finally passed my driving test", **group),
                               msg("ann", "congrats!!", 1, **group), msg("me", "thanks haha", 2, **group)])
    assert turns(samples[0])[0] == ("user", "[Group chat Hiking crew · Thu 2023-10-12 19:40]")
    assert turns(samples[0])[2] == ("user", "ann: congrats!!")


def test_a_message_with_a_pii_placeholder_stays_and_its_neighbours_keep_their_order():
    chat = [msg("妈妈", "你的新号码是多少"), msg("me", "<PHONE> 记一下", 1), msg("妈妈", "好的 存了", 2), msg("me", "嗯嗯", 3)]
    samples, _, keep = build(chat)
    assert turns(samples[0]) == [("user", "你的新号码是多少"), ("assistant", "<PHONE> 记一下"),
                                 ("user", "好的 存了"), ("assistant", "嗯嗯")]
    assert keep.kept["pii_messages_kept"] == 1
    dropped, _, keep = build(chat, keep=MessageFilter(pii="drop", labels=LABELS))
    assert keep.dropped["pii_placeholder"] == 1
    assert "<PHONE>" not in str(turns(dropped[0]))


def test_blocked_words_still_drop_the_message():
    samples, _, keep = build([msg("妈妈", "项目代号 bluebird 怎么样"), msg("妈妈", "在吗", 1), msg("me", "在", 2)],
                             keep=MessageFilter(["bluebird"], labels=LABELS))
    assert keep.dropped["blocked_word"] == 1
    assert turns(samples[0]) == [("user", "在吗"), ("assistant", "在")]


def test_a_reply_to_a_photo_is_paired_with_the_photo_placeholder_never_the_raw_path():
    chat = [msg("妈妈", "今天降温了", 0), msg("me", "知道啦", 1),
            msg("妈妈", r"File\dd0e\Image\2024-10\01c1.dat", 2, kind=MessageKind.IMAGE),
            msg("me", "哇 年糕好胖", 3),
            msg("妈妈", '<msg><appmsg><title>秋季养生指南</title><url>http://x.cn/a?b=1</url></appmsg></msg>', 4,
                kind=MessageKind.LINK),
            msg("me", "看了 有道理", 5)]
    samples, _, keep = build(chat)
    assert turns(samples[0])[2:] == [("user", "[图片]"), ("assistant", "哇 年糕好胖"),
                                     ("user", "[链接: 秋季养生指南]"), ("assistant", "看了 有道理")]
    assert keep.kept["media_placeholders"] == 2
    assert link_title("[链接] 周末去哪玩 http://mp.weixin.qq.com/s?x=1") == "周末去哪玩"
    assert link_title(r"C:\Users\me\a.png") == ""


def test_a_pause_longer_than_the_merge_window_splits_the_owners_turn_with_a_cue():
    chat = [msg("妈妈", "吃了吗"), msg("me", "吃了", 1), msg("me", "今天吃的饺子", 3), msg("me", "对了 周末我回家", 20)]
    samples, stats, _ = build(chat, merge=5)
    assert turns(samples[0]) == [("user", "吃了吗"), ("assistant", "吃了\n今天吃的饺子"),
                                 ("user", "[与 妈妈 的对话 · 2023-10-12 周四 20:00 · 上次聊天 17 分钟前]"),
                                 ("assistant", "对了 周末我回家")]
    assert stats["openers_kept"] == 1
    merged, _, _ = build(chat, merge=30)
    assert turns(merged[0])[1] == ("assistant", "吃了\n今天吃的饺子\n对了 周末我回家")


def test_a_late_reply_opens_a_new_exchange_instead_of_answering_a_stale_message():
    chat = [msg("妈妈", "明天降温 多穿点"), msg("me", "好的", 1), msg("妈妈", "你爸问你周末回不回", 2),
            msg("me", "刚开完会！今天项目上线了", 50), msg("妈妈", "辛苦了", 51), msg("me", "周末回", 52)]
    samples, stats, _ = build(chat, exchange=30, gap=60)
    assert [turns(s) for s in samples] == [
        [("user", "明天降温 多穿点"), ("assistant", "好的")],
        [("user", "[与 妈妈 的对话 · 2023-10-12 周四 20:30 · 上次聊天 48 分钟前]"),
         ("assistant", "刚开完会！今天项目上线了"), ("user", "辛苦了"), ("assistant", "周末回")],
    ]
    assert stats["late_replies_opened"] == 1 and stats["unanswered_turns"] == 1
    assert stats["pairs"] == 2 and stats["cross_exchange_pairs"] == 0  # the cue pair is not a reply
    # With a wider exchange window the late reply answers the stale message: a slow pair.
    _, wide, _ = build(chat, exchange=60, gap=60)
    assert wide["late_replies_opened"] == 0 and wide["pairs"] == 3 and wide["pairs_reply_over_5min"] == 1


def test_on_labelled_exchanges_no_pair_crosses_an_exchange_and_every_owner_message_reaches_a_reply():
    """tests/fixtures/finetune/exchanges.json: slow genuine replies, new topics 26-50 minutes
    later inside one session, bursts with pauses, a photo, a link, a phone placeholder."""
    import json
    from pathlib import Path

    from twin.config import TwinConfig
    from twin.finetune.samples import exchange_segments

    rows = json.loads((Path(__file__).parents[1] / "fixtures" / "finetune" / "exchanges.json").read_text())["messages"]
    start = datetime(2024, 5, 10, 8, 0, tzinfo=TZ)
    messages, labels = [], {}
    for i, (chat, exchange, sender, minute, kind, text) in enumerate(rows):
        messages.append(Message(source="fx", source_id=f"fx:{i}", conversation_id=f"fx:{chat}", conversation_name=chat,
                                chat_kind=ChatKind.PRIVATE, sender_id=sender, sender_name=sender, is_owner=sender == "me",
                                timestamp=start + timedelta(minutes=minute), text=text, kind=MessageKind(kind)))
        labels[f"fx:{i}"] = (chat, exchange)
    d = TwinConfig().dataset  # the defaults
    keep = MessageFilter(labels=d.placeholder_labels)
    pairs, crossing, owner_reached, photo_replies = 0, 0, set(), []
    for session in build_sessions(iter(messages), 60, "\n", keep, d.merge_minutes):
        for run in exchange_segments(session.turns, session, group=False, joiner="\n",
                                     exchange_gap=timedelta(minutes=d.exchange_minutes), stats=Counter()):
            for user, owner in zip(run[::2], run[1::2]):
                owner_reached.update(owner.source_ids)
                if user.cue:
                    continue
                pairs += 1
                crossing += any(labels[sid] != labels[owner.source_ids[0]] for sid in user.source_ids)
                if owner.content.startswith("哈哈你这是在庆祝吗") or owner.content.startswith("haha that meme"):
                    photo_replies.append(user.content)
    assert pairs >= 10 and crossing == 0
    assert photo_replies == ["[图片]", "[photo]"]  # a reply to a photo is paired with it, in the chat's language
    assert owner_reached == {m.source_id for m in messages if m.is_owner}
