import pytest

from twin.config import PiiConfig
from twin.ingest.pii import Scrubber, iban_ok, id_card_ok, luhn_ok


@pytest.mark.parametrize(
    "text, expected",
    [
        ("call 13812345678 now", "call <PHONE> now"),
        ("手机+86 138-1234-5678。", "手机<PHONE>。"),
        ("座机 021-62345678", "座机 <PHONE>"),
        ("london +44-20-7946-0958", "london <PHONE>"),
        ("mail li.ming@qq.com!", "mail <EMAIL>!"),
        ("身份证11010519491231002X号", "身份证<ID_CARD>号"),
        ("card 4111 1111 1111 1111 ok", "card <BANK_CARD> ok"),
        ("iban DE89370400440532013000", "iban <BANK_CARD>"),
        ("ip 192.168.1.100, v6 2001:db8::8a2e:370:7334", "ip <IP>, v6 <IP>"),
        # formats the first rules missed
        ("call 139.0013.9000 now", "call <PHONE> now"),
        ("电话１３９００１３９０００谢谢", "电话<PHONE>谢谢"),
        ("３点见，电话１３９ ００１３ ９０００", "３点见，电话<PHONE>"),  # full-width text around it kept
        ("全角 ＋８６ １３９ ００１３ ９０００。", "全角 <PHONE>。"),
        ("身份证 110105 19491231 002X 号", "身份证 <ID_CARD> 号"),
        ("座机 021 6234 5678", "座机 <PHONE>"),
        ("座机(021)62345678", "座机<PHONE>"),
        ("座机（021）6234-5678", "座机<PHONE>"),
        ("iban DE89 3704 0044 0532 0130 00 EUR", "iban <BANK_CARD> EUR"),
        ("mail 用户@例子.广告", "mail <EMAIL>"),
        ("写信 josé@exämple.com 吧", "写信 <EMAIL> 吧"),
        ("我的邮箱是zhang@163.com你好", "我的邮箱是<EMAIL>你好"),
        ("邮箱 zhang＠163．com", "邮箱 <EMAIL>"),
    ],
)
def test_scrubs_each_kind(text, expected):
    assert Scrubber(PiiConfig())(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "会议 10:30 开始",  # times
        "2024-10-04 11:43:00",  # dates
        "订单号 20241004114300123",  # long number failing Luhn
        "110101199001011234",  # ID-card shaped, wrong checksum
        "版本 1.2.3 和 3:2 比例",
        "[旺柴][捂脸] 哈哈哈",
        "2024.01.15 见，2024/01/15 13:45:00 出发",  # dotted and slashed dates
        "一份 ¥139.00，共 $1,299.99",  # prices
        "订单号 2024 0115 1234",  # order number in groups
        "版本 1.139.0013.9000.2 和 Python 3.11.7",  # version strings, even phone-shaped ones
        "https://x.com/lin/status/13900139000",  # a phone-shaped id in a URL path
        "https://example.com/item/4111111111111111 https://weibo.com/u/1390013900012",
        "（笑）３点见，第１３９页",  # full-width text with no PII
        "@Alice 明天见, a@b 不是邮箱",
    ],
)
def test_leaves_look_alikes_alone(text):
    assert Scrubber(PiiConfig())(text) == text


def test_blocked_words_and_switches():
    scrub = Scrubber(PiiConfig(blocked_words=["秘密项目", "Project X"], email=False))
    assert scrub("秘密项目 and project x, a@b.com") == "<BLOCKED> and <BLOCKED>, a@b.com"
    assert scrub.counts["<BLOCKED>"] == 2
    assert Scrubber(PiiConfig(enabled=False))("13812345678") == "13812345678"


def test_checksums():
    assert id_card_ok("11010519491231002X") and not id_card_ok("110105194912310021")
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB33BUKB20201555555555") and not iban_ok("GB34BUKB20201555555555")
