"""Writes the bundled sample persona's exports from the episodes below.

林晓 (Lin Xiao) is fictional: a software engineer in Shanghai who hikes, runs, has a cat and
chats in Chinese with friends and family (WeChat, WeChatMsg CSV) and in English with a friend
abroad (Telegram Desktop JSON). Every event the question set asks about is written here, with
its date, and tagged so the questions can cite the exact source message ids as evidence.

    python examples/sample_persona/build.py   # rewrites exports/ and questions.jsonl
"""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
OWNER_WXID = "wxid_linxiao"
OWNER_TG = 5550001

# chat key -> (room/peer id, display name, group?)
WECHAT_CHATS = {
    "ajie": ("wxid_ajie88", "阿杰", False),
    "mom": ("wxid_mama1961", "妈妈", False),
    "family": ("20240101888@chatroom", "相亲相爱一家人", True),
    "work": ("20240315777@chatroom", "后端小分队", True),
}
# sender key -> (wxid, name)
PEOPLE = {
    "me": (OWNER_WXID, "林晓"),
    "ajie": ("wxid_ajie88", "阿杰"),
    "mom": ("wxid_mama1961", "妈妈"),
    "dad": ("wxid_baba1959", "爸爸"),
    "cousin": ("wxid_xiaoyu2001", "小雨"),
    "boss": ("wxid_zhoulead", "周哥"),
    "mei": ("wxid_meimei_dev", "美美"),
}

# Episodes: (start time, chat, [(sender, text, tag or None), ...]); turns 1-3 minutes apart.
EPISODES = [
    ("2024-09-10 21:05", "ajie", [
        ("ajie", "周六去莫干山爬山吧？天气预报说是晴天", "hike_plan"),
        ("me", "好啊[旺柴] 我早就想去了", None),
        ("me", "几点出发？我开车去接你", "hike_plan"),
        ("ajie", "早上七点吧，路上两个半小时", "hike_plan"),
        ("me", "行，七点你家楼下见", None),
    ]),
    ("2024-09-14 19:40", "ajie", [
        ("me", "今天累死了 但是剑池那段瀑布真的绝", "hike_done"),
        ("ajie", "哈哈你下山的时候还崴了一下脚", "hike_done"),
        ("me", "小问题 已经冰敷了[捂脸]", "hike_done"),
        ("ajie", "下次去安吉竹林？", None),
        ("me", "可以 等我脚好了", None),
    ]),
    ("2024-10-02 10:15", "family", [
        ("me", "给大家介绍一下新成员！一只橘猫，叫年糕🐱", "cat"),
        ("mom", "哇好可爱 哪来的？", None),
        ("me", "从同事那里领养的，三个月大", "cat"),
        ("dad", "记得打疫苗", None),
        ("me", "下周就去打第一针", "cat"),
        ("cousin", "年糕这个名字太可爱了哈哈哈", None),
    ]),
    ("2024-10-20 08:30", "ajie", [
        ("ajie", "上马抽签结果出来了吗", None),
        ("me", "中了！！11月3号跑全马", "marathon_plan"),
        ("ajie", "卧槽 恭喜 你目标多少", None),
        ("me", "争取破4小时吧 不过不强求", "marathon_plan"),
    ]),
    ("2024-11-03 14:20", "family", [
        ("me", "跑完了！4小时12分，没破4但是很开心", "marathon_done"),
        ("mom", "太棒了 腿疼不疼", None),
        ("me", "疼哈哈 明天估计下不了楼", None),
        ("dad", "好好休息 晚上多吃点", None),
    ]),
    ("2024-11-18 22:10", "ajie", [
        ("me", "最近在看咖啡机 想入一台半自动的", "coffee"),
        ("ajie", "预算多少", None),
        ("me", "三千以内吧 看中了一台意式的", "coffee"),
        ("ajie", "买！人生苦短", None),
    ]),
    ("2024-12-24 20:00", "family", [
        ("mom", "平安夜快乐 元旦回来吗", None),
        ("me", "元旦不回了 我要和Sam去东京玩几天", "tokyo"),
        ("mom", "注意安全 到了报平安", None),
        ("me", "好的妈 28号出发 1号回来", "tokyo"),
    ]),
    ("2025-01-02 21:30", "ajie", [
        ("ajie", "东京好玩吗", None),
        ("me", "超好玩 在镰仓看了海 还吃了一家排了两小时的拉面", "tokyo_back"),
        ("me", "就是冷[捂脸]", None),
        ("ajie", "给我带礼物了没", None),
        ("me", "带了一盒白色恋人 周末给你", "tokyo_back"),
    ]),
    ("2025-01-20 19:00", "mom", [
        ("mom", "春节哪天回杭州", None),
        ("me", "25号下午的高铁，大概六点到", "spring_festival"),
        ("mom", "好 我让你爸去东站接你", None),
        ("me", "不用接啦 我打车回去就行", None),
        ("mom", "那年糕怎么办", None),
        ("me", "带回去！它已经会坐猫包了", "spring_festival"),
    ]),
    ("2025-01-29 12:00", "family", [
        ("cousin", "新年快乐！表姐红包呢", None),
        ("me", "新年快乐！红包已发 别乱花哈哈", None),
        ("dad", "今年年夜饭你做的糖醋排骨最好吃", "spring_dinner"),
        ("me", "嘿嘿 跟妈学的", "spring_dinner"),
    ]),
    ("2025-03-03 09:40", "work", [
        ("boss", "欢迎林晓加入后端小分队👏", "new_job"),
        ("me", "大家好！我是林晓，之前在做支付系统，以后请多关照", "new_job"),
        ("mei", "欢迎欢迎 中午一起吃饭", None),
        ("me", "好呀", None),
    ]),
    ("2025-03-03 20:15", "mom", [
        ("mom", "新公司第一天怎么样", None),
        ("me", "挺好的 人都很nice 就是离家远了点 通勤一个小时", "new_job_commute"),
        ("mom", "那早点睡", None),
    ]),
    ("2025-04-12 16:00", "ajie", [
        ("ajie", "下周末去安吉竹林吗 上次说好的", None),
        ("me", "去不了 下周要上线新系统 周末得值班", "release"),
        ("ajie", "打工人[捂脸]", None),
        ("me", "五一再约！", "release"),
    ]),
    ("2025-05-01 18:30", "ajie", [
        ("me", "安吉竹林比我想象的还好 空气太好了", "anji"),
        ("ajie", "你那张竹林的照片拍得不错", None),
        ("me", "用新买的胶片机拍的 还没冲出来 那张是手机拍的", "anji"),
    ]),
    ("2025-06-08 11:00", "work", [
        ("mei", "周哥 新的缓存方案评审约在周三下午？", None),
        ("boss", "可以 林晓你来讲一下", None),
        ("me", "好的 我准备一下 主要是把Redis换成本地缓存加一致性哈希", "cache_review"),
        ("mei", "👍", None),
    ]),
]

TELEGRAM_EPISODES = [
    ("2024-11-25 13:10", [
        ("sam", "Hey Lin! Still up for Tokyo over New Year?", None),
        ("me", "yes!! already booked the flight, landing Dec 28 evening", "tg_tokyo"),
        ("sam", "Awesome. I'll find us a place near Shibuya", None),
        ("me", "perfect, and I want to do a day trip to Kamakura", "tg_tokyo"),
    ]),
    ("2024-12-30 22:45", [
        ("sam", "That ramen was worth the two hour queue", None),
        ("me", "totally. best tonkotsu of my life 😂", "tg_ramen"),
        ("sam", "What's the plan for tomorrow?", None),
        ("me", "Kamakura! train at 9, let's see the sea and the big Buddha", "tg_ramen"),
    ]),
    ("2025-02-14 09:20", [
        ("sam", "How's the job hunt going?", None),
        ("me", "got an offer from a startup, joining March 3rd. backend team again", "tg_job"),
        ("sam", "Congrats!! what do they build?", None),
        ("me", "logistics software. smaller team, more ownership. a bit scared tbh", "tg_job"),
    ]),
    ("2025-05-20 20:05", [
        ("sam", "Any summer plans?", None),
        ("me", "thinking about a week in Yunnan in July, Dali and Lijiang", "tg_yunnan"),
        ("sam", "Jealous. Send pics of the cat in the meantime", None),
        ("me", "Niangao says hi 🐱 she's huge now", "tg_cat"),
    ]),
]

FILLER_ME = ["哈哈哈", "好的", "嗯嗯", "收到👌", "在忙 晚点回你", "哈哈哈哈笑死", "我也觉得", "可以可以", "晚安", "[旺柴]"]
FILLER_THEM = ["在吗", "吃了没", "看到那个新闻没", "哈哈", "周末干嘛", "好久没聊了", "最近忙吗", "晚安"]

QUESTIONS = [
    ("When did Lin go hiking at Moganshan, and with whom?", "On Saturday 14 September 2024, with 阿杰 (Ajie).", ["hike_plan", "hike_done"], "multi-hop"),
    ("林晓在莫干山爬山时受了什么伤？", "下山时崴了脚，已经冰敷。", ["hike_done"], "single-hop"),
    ("What is the name of Lin's cat and where did it come from?", "年糕 (Niangao), an orange cat adopted from a colleague.", ["cat"], "single-hop"),
    ("林晓的上海马拉松成绩是多少？", "4小时12分。", ["marathon_done"], "single-hop"),
    ("When did Lin run the marathon?", "3 November 2024.", ["marathon_plan", "marathon_done"], "temporal"),
    ("What did Lin want to buy in November 2024?", "A semi-automatic espresso machine, under 3,000 yuan.", ["coffee"], "temporal"),
    ("Where did Lin spend New Year 2025, and when did the trip start?", "In Tokyo with Sam, leaving on 28 December 2024.", ["tokyo", "tg_tokyo"], "multi-hop"),
    ("林晓从东京给阿杰带了什么礼物？", "一盒白色恋人。", ["tokyo_back"], "single-hop"),
    ("春节林晓哪天回杭州？", "1月25日下午的高铁，大约六点到。", ["spring_festival"], "temporal"),
    ("Which dish did Lin cook for the 2025 New Year's Eve dinner?", "Sweet and sour pork ribs (糖醋排骨), learned from mom.", ["spring_dinner"], "single-hop"),
    ("When did Lin start the new job and what does the company build?", "3 March 2025; logistics software at a startup.", ["new_job", "tg_job"], "multi-hop"),
    ("新工作的通勤时间多长？", "一个小时。", ["new_job_commute"], "single-hop"),
    ("Why couldn't Lin go to Anji in April 2025?", "A new system was going live and Lin was on call that weekend.", ["release"], "temporal"),
    ("林晓在缓存方案评审里要讲什么？", "把Redis换成本地缓存加一致性哈希。", ["cache_review"], "single-hop"),
    ("What are Lin's summer plans for 2025?", "A week in Yunnan in July: Dali and Lijiang.", ["tg_yunnan"], "open-domain"),
    ("Did Lin ever go skydiving?", "Not mentioned.", [], "adversarial"),
]


def _turn_times(start: str, n: int, rng: random.Random) -> list[datetime]:
    t = datetime.strptime(start, "%Y-%m-%d %H:%M")
    times = []
    for _ in range(n):
        times.append(t)
        t += timedelta(seconds=rng.randrange(40, 180))
    return times


def build_wechat(rng: random.Random, tags: dict[str, list[str]]) -> None:
    """One WeChatMsg/MemoTrace CSV per chat (`<备注>_utf8.csv`, BOM, CRLF, epoch CreateTime),
    the exporter that keeps display names next to each message."""
    rows = []
    for start, chat, turns in EPISODES:
        for (sender, text, tag), t in zip(turns, _turn_times(start, len(turns), rng)):
            rows.append((t, chat, sender, text, tag, 1))
    # Small talk between the episodes, so memories must be found among ordinary chatter.
    day = datetime(2024, 9, 1, 12, 0)
    while day < datetime(2025, 6, 30):
        chat = rng.choice(["ajie", "mom", "family"])
        others = {"ajie": ["ajie"], "mom": ["mom"], "family": ["mom", "dad", "cousin"]}[chat]
        t = day + timedelta(hours=rng.randrange(0, 10), minutes=rng.randrange(60))
        for i in range(rng.randrange(2, 5)):
            me = i % 2 == 1
            text = rng.choice(FILLER_ME if me else FILLER_THEM)
            rows.append((t, chat, "me" if me else rng.choice(others), text, None, 1))
            t += timedelta(seconds=rng.randrange(30, 300))
        if rng.random() < 0.25:
            rows.append((t, chat, "me", '<msg><emoji fromusername="wxid_linxiao" type="2" md5="0"/></msg>', None, 47))
        day += timedelta(days=rng.randrange(3, 8))
    rows.sort(key=lambda r: r[0])
    out = HERE / "exports" / "wechat"
    out.mkdir(parents=True, exist_ok=True)
    header = ["localId", "TalkerId", "Type", "SubType", "IsSender", "CreateTime", "Status", "StrContent",
              "StrTime", "Remark", "NickName", "Sender"]
    files = {}
    for chat, (_, name, _) in WECHAT_CHATS.items():
        handle = open(out / f"{name}_utf8.csv", "w", encoding="utf-8-sig", newline="")
        files[chat] = (handle, csv.writer(handle))
        files[chat][1].writerow(header)
    for local_id, (t, chat, sender, text, tag, type_code) in enumerate(rows, start=1):
        wxid, name = PEOPLE[sender]
        epoch = int((t - timedelta(hours=8) - datetime(1970, 1, 1)).total_seconds())  # local time is UTC+8
        talker_id = list(WECHAT_CHATS).index(chat) + 2
        files[chat][1].writerow([local_id, talker_id, type_code, 0, int(sender == "me"), epoch, 2, text,
                                 t.strftime("%Y-%m-%d %H:%M:%S"), name, name, wxid])
        if tag:
            tags.setdefault(tag, []).append(f"wechat:{local_id}")
    for handle, _ in files.values():
        handle.close()


def build_telegram(rng: random.Random, tags: dict[str, list[str]]) -> None:
    chat_id = 4400123
    messages = []
    n = 0
    for start, turns in TELEGRAM_EPISODES:
        for (sender, text, tag), t in zip(turns, _turn_times(start, len(turns), rng)):
            n += 1
            me = sender == "me"
            # Telegram Desktop writes local time in `date` and the epoch in `date_unixtime` (UTC+8 here).
            epoch = int((t - timedelta(hours=8) - datetime(1970, 1, 1)).total_seconds())
            messages.append({
                "id": n, "type": "message", "date": t.strftime("%Y-%m-%dT%H:%M:%S"), "date_unixtime": str(epoch),
                "from": "Lin Xiao" if me else "Sam Carter", "from_id": f"user{OWNER_TG if me else 7770042}",
                "text": text, "text_entities": [{"type": "plain", "text": text}],
            })
            if tag:
                tags.setdefault(tag, []).append(f"telegram:{chat_id}:{n}")
    export = {"name": "Sam Carter", "type": "personal_chat", "id": chat_id, "messages": messages}
    out = HERE / "exports" / "telegram"
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(export, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    rng = random.Random(7)
    tags: dict[str, list[str]] = {}
    build_wechat(rng, tags)
    build_telegram(rng, tags)
    with open(HERE / "questions.jsonl", "w", encoding="utf-8") as handle:
        for i, (question, answer, evidence_tags, category) in enumerate(QUESTIONS, start=1):
            evidence = [sid for tag in evidence_tags for sid in tags[tag][:2]]  # the key lines, as in LoCoMo
            row = {"id": f"lin-{i:02d}", "question": question, "answer": answer, "evidence": evidence, "category": category}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote exports and {len(QUESTIONS)} questions under {HERE}")


if __name__ == "__main__":
    main()
