"""The prompt helpers' fast paths (whole-text folding, regex counting) give exactly what the
per-character definitions give; they run on every memory of every served prompt and on
messages up to the 1 MB body limit."""

from __future__ import annotations

import random
import unicodedata

from twin.prompt import _CONFUSABLES, _SKELETON_TAG, conversation_language, normalise_tags


def reference_normalise_tags(text: str) -> str:
    """The per-character definition: fold each character (NFKD, drop marks and invisible
    characters, lower case, confusables), find tags in the folded text, rewrite their source span."""
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for part in unicodedata.normalize("NFKD", ch):
            if unicodedata.category(part) in ("Mn", "Me", "Cf"):
                continue
            for low in part.lower().translate(_CONFUSABLES):
                chars.append(low)
                origin.append(i)
    skeleton = "".join(chars)
    spans = [(origin[m.start()], origin[m.end() - 1] + 1, "</memor" if "/" in m.group(0) else "<memor")
             for m in _SKELETON_TAG.finditer(skeleton)]
    for start, end, plain in reversed(spans):
        text = text[:start] + plain + text[end:]
    return text


LOOK_ALIKES = {"<": ["<", "＜", "‹", "〈", "\u02c2", "< "], "/": ["/", "／", "\u2215", " / "],
               "m": ["m", "M", "ｍ", "м", "μ", "m\u0301", "\u1d0d"], "e": ["e", "е", "Ｅ", "e\u200b", "é"],
               "o": ["o", "о", "ο", "ｏ"], "r": ["r", "г", "ʀ", "R"], "y": ["y", "у", "Y"], "i": ["i", "і", "ι"],
               "s": ["s", "ѕ"]}


def test_normalise_tags_matches_the_per_character_definition():
    rng = random.Random(19)
    changed = 0
    for _ in range(3000):
        parts = []
        for _ in range(rng.randint(1, 4)):
            parts.append(rng.choice(["we met at the lake ", "我们在黄山 ", "Ａｂｃ ", "", "café\u0301 "]))
            tag = rng.choice(["</memory>", "<memories>", "< memory", "memo", "<mem"])
            parts.append("".join(rng.choice(LOOK_ALIKES.get(c, [c])) for c in tag))
        text = "".join(parts)
        assert normalise_tags(text) == reference_normalise_tags(text), repr(text)
        changed += normalise_tags(text) != text
    assert changed > 500  # look-alike tags were there to rewrite, not only plain text


def test_normalise_tags_leaves_plain_text_alone():
    for text in ["I remember the memory of that day <3", "我们聊聊这个。" * 50, "<b>bold</b> memo", ""]:
        assert normalise_tags(text) == reference_normalise_tags(text) == text


def test_conversation_language_on_a_huge_message_counts_like_a_short_one():
    english = "lorem ipsum dolor sit amet " * 40_000 + "我们"
    chinese = "我们聊聊这个。" * 20_000 + " ok fine"
    assert conversation_language([english]) == "en"
    assert conversation_language([chinese]) == "zh"
    # the count behind it: han characters against Latin words, across all turns
    assert conversation_language(["黄山 黄山", "go go go go"]) == "zh"
    assert conversation_language(["黄山", "go go go"]) == "en"
    assert conversation_language(["\uf900\u3400 ok"]) == "zh"  # compatibility and extension-A ideographs count


def test_long_texts_count_like_the_regex_definitions():
    """Past LONG_TEXT characters approx_tokens and conversation_language count with numpy tables;
    the counts equal the regexes' on the same text (ASCII, CJK, kana, hangul, full-width, emoji,
    a lone surrogate from JSON)."""
    from twin.prompt import _HAN, _LATIN_WORD, _WIDE, LONG_TEXT, approx_tokens

    rng = random.Random(7)
    alphabets = ["abc XYZ,.\n~", "abcXYZ 我们聊한국어カナＡ\uf900\u3400\ud800\U0001F600é\uffef\uff00\u30ff\u3040,.\n"]
    for alphabet in alphabets:
        for _ in range(20):
            text = "".join(rng.choice(alphabet) for _ in range(LONG_TEXT + rng.randint(1, 3000)))
            wide = len(_WIDE.findall(text))
            assert approx_tokens(text) == wide + (len(text) - wide + 3) // 4
            han, words = len(_HAN.findall(text)), len(_LATIN_WORD.findall(text))
            assert conversation_language([text]) == ("zh" if han and han >= words else "en")
    balanced = "ab " * LONG_TEXT + "黄" * LONG_TEXT  # exactly as many han characters as words
    assert conversation_language([balanced]) == "zh"
    assert conversation_language([balanced + " ok"]) == "en"
