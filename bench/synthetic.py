"""Synthetic exports for benchmarks and crash tests (deterministic for a given seed)."""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

PHRASES = [
    "周末去爬山吗？", "好啊[旺柴] 几点", "我到了，你呢", "哈哈哈哈", "今天加班到九点[捂脸]",
    "晚上吃火锅？", "ok see you at 8", "刚开完会，累死了", "这个周五可以", "记得带伞，明天下雨",
    "发你邮箱了 lin.test@example.com", "新号码 13812345678", "let's grab coffee tomorrow", "收到👌",
    "春节回家的票买到了吗", "那家店关门了😂", "我觉得还行吧", "路上堵车，晚点到", "生日快乐🎂", "嗯嗯",
]
TYPES = [("文本", 85), ("动画表情", 6), ("图片", 5), ("语音", 2), ("系统通知", 1), ("引用回复", 1)]


def write_pywxdump_csv(path: Path, n: int, *, seed: int = 0, chats: int = 50, start_id: int = 1) -> None:
    """A PyWxDump-layout CSV of `n` rows spread over `chats` private and group chats."""
    rng = random.Random(seed)
    names, weights = zip(*TYPES)
    t = datetime(2023, 1, 1, 8, 0, 0)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "msg", "src", "CreateTime"])
        for i in range(start_id, start_id + n):
            chat = rng.randrange(chats)
            room = f"{10000000 + chat}@chatroom" if chat % 5 == 0 else f"wxid_friend{chat:04d}"
            mine = rng.random() < 0.45
            type_name = rng.choices(names, weights)[0]
            msg = rng.choice(PHRASES) if type_name in ("文本", "引用回复") else ("表情" if type_name == "动画表情" else type_name)
            if type_name == "系统通知":
                msg = "<revokemsg>你撤回了一条消息</revokemsg>"
            t += timedelta(seconds=rng.randrange(1, 240))
            talker = "我" if mine else (f"wxid_member{rng.randrange(30):03d}" if room.endswith("@chatroom") else room)
            out.writerow([i, 6_000_000_000_000_000_000 + i, type_name, int(mine), talker, room, msg, "", t.strftime("%Y-%m-%d %H:%M:%S")])
