"""Record ids are uuid5 values: stores made by earlier versions must keep matching them."""

import uuid

import pytest

from twin.records import TWIN_NAMESPACE, message_id, stable_id


@pytest.mark.parametrize("parts", [
    ("wechat:1234567890", "2024-10-04T11:43:05+08:00", "wxid_abc", "今天晚上一起吃饭吗？"),
    ("",),
    ("a", "", "b"),
    ("\x1f", "emoji 😀", "x" * 5000),
])
def test_stable_id_is_uuid5_of_the_joined_parts(parts):
    expected = str(uuid.uuid5(TWIN_NAMESPACE, "\x1f".join(parts)))
    assert stable_id(*parts) == expected
    assert uuid.UUID(stable_id(*parts)).version == 5


def test_every_variant_digit_is_rfc4122():
    # 2,000 ids cover all 16 possible 17th hex digits before the variant bits are set
    ids = [stable_id(str(n)) for n in range(2000)]
    assert {i[19] for i in ids} == set("89ab")
    assert all(str(uuid.uuid5(TWIN_NAMESPACE, str(n))) == i for n, i in enumerate(ids))


def test_message_id_is_stable_across_versions():
    # the value the first release stored for this message: changing it would orphan every stored id
    assert message_id("wechat:1", "2024-01-01T00:00:00+08:00", "me", "hi") == "71111bc6-8ed3-51a3-9270-db2a14b26118"
