"""A huge chat message is refused from its head: the tokenizer never reads the whole of it."""

from __future__ import annotations

import pytest

from twin.prompt import PromptTooLongError, approx_tokens
from twin.service.twin import HEAD_CHARS_PER_TOKEN, refuse_if_latest_cannot_fit


class CountingTokenizer:
    """approx_tokens, remembering how many characters it was asked to count."""

    def __init__(self):
        self.lengths: list[int] = []

    def __call__(self, text: str) -> int:
        self.lengths.append(len(text))
        return approx_tokens(text)


def test_a_950_kb_message_is_refused_after_counting_only_its_head():
    count = CountingTokenizer()
    huge = "lorem ipsum dolor sit amet " * 36_000  # 972 KB
    with pytest.raises(PromptTooLongError, match="over .* tokens.*exceeds the 32768-token context"):
        refuse_if_latest_cannot_fit(huge, 32_768, 512, count)
    assert max(count.lengths) == 32_768 * HEAD_CHARS_PER_TOKEN < len(huge)


def test_a_long_message_whose_head_fits_is_counted_whole_and_judged_exactly():
    words = []

    def count_words(text: str) -> int:  # a tokenizer for which spaces cost nothing
        words.append(len(text))
        return len(text.split())

    sparse = " " * 40_000 + "hi"  # longer than a 4096-token context's head, and 1 token
    refuse_if_latest_cannot_fit(sparse, 4096, 512, count_words)  # fits: no error
    assert words == [4096 * HEAD_CHARS_PER_TOKEN, len(sparse)]
    late = " " * 40_000 + "w " * 5000  # the head is blank, the tail is 5000 tokens
    with pytest.raises(PromptTooLongError, match="about 5004 tokens"):
        refuse_if_latest_cannot_fit(late, 4096, 512, count_words)


def test_short_messages_are_counted_once_as_before():
    count = CountingTokenizer()
    refuse_if_latest_cannot_fit("what did I say about Berlin?", 2048, 512, count)
    assert count.lengths == [28]
    with pytest.raises(PromptTooLongError, match="about 2004 tokens"):
        refuse_if_latest_cannot_fit("abcd" * 2000, 2048, 512, approx_tokens)
