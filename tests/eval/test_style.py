"""Style features and distribution distances on hand-made replies."""

import math

import pytest

from twin.eval.style import compare_styles, emoji_count, reply_features, total_variation, wasserstein_1d


def test_emoji_counts_bracket_stickers_and_unicode_emoji():
    assert emoji_count("好的[旺柴][捂脸] 😂👍") == 4
    assert emoji_count("[1] see the footnote") == 0  # a numbered reference is not a sticker
    assert emoji_count("plain text") == 0


def test_reply_features():
    f = reply_features("哈哈哈！！好的～ ok")
    assert f["length_chars"] == 11
    assert f["expressive_punct_per_100"] == pytest.approx(100 * 3 / 11)
    assert f["cjk_share"] == pytest.approx(5 / 7)
    assert f["emoji_per_reply"] == 0
    assert reply_features("[旺柴]!!")["cjk_share"] == 1.0  # 旺柴 are CJK letters
    assert math.isnan(reply_features("123 ...")["cjk_share"])


def test_wasserstein_known_values():
    assert wasserstein_1d([0, 0], [1, 1]) == pytest.approx(1.0)
    assert wasserstein_1d([1, 2, 3], [1, 2, 3]) == 0.0
    assert wasserstein_1d([0], [0, 10]) == pytest.approx(5.0)  # half the mass moves 10


def test_total_variation_bounds():
    assert total_variation([1, 1, 1], [1, 1, 1]) == 0.0
    assert total_variation([0, 0], [10, 10]) == pytest.approx(1.0)
    assert 0 < total_variation([0, 5, 10], [0, 0, 10]) < 1


def test_compare_styles_tells_chinese_emoji_owner_from_plain_english_twin():
    owner = ["哈哈[旺柴]", "好的！！", "周末见～", "笑死我了😂"]
    twin = ["Sure, see you at the weekend.", "That sounds good.", "Okay.", "I agree with you."]
    result = compare_styles(owner, twin)
    assert result["cjk_share"]["owner_mean"] == 1.0 and result["cjk_share"]["twin_mean"] == 0.0
    assert result["cjk_share"]["wasserstein"] == pytest.approx(1.0)
    assert result["emoji_per_reply"]["owner_mean"] == 0.5
    same = compare_styles(owner, owner)
    assert all(row["wasserstein"] == 0 and row["total_variation"] == 0 for row in same.values())
