"""Answer scoring in the LoCoMo style: normalised, stemmed token F1, with per-category rules.

- English words are lowercased, stripped of punctuation and articles, and Porter-stemmed.
- CJK text has no spaces, so every Han/kana/hangul character is its own token; "我去了北京"
  and "北京" then overlap on 北 and 京 instead of scoring zero.
- multi-hop: the gold answer lists several facts ("a, b"); each gold part gets its best F1
  against the predicted parts and the parts are averaged.
- open-domain: LoCoMo's gold answers add a rationale after ";", which is not scored.
- adversarial: the question has no answer in the conversation; a reply is right (1.0) when it
  says so ("not mentioned", "no information", "没有提到"...), else 0.0.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter

from twin.eval.questions import category_kind
from twin.stem import stem

_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\uac00-\ud7af"  # hangul syllables
)
_TOKEN = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
_ARTICLES = frozenset({"a", "an", "the", "and"})

# Phrases that mean "the conversation does not say". LoCoMo checks the first two; the rest
# catch the same meaning in other wordings and in Chinese.
NO_INFORMATION_PHRASES = (
    "not mentioned", "no information available", "no information", "not mention",
    "don't know", "do not know", "don't remember", "do not remember", "no record", "not sure",
    "没有提到", "没提到", "未提及", "没有提及", "没说过", "没有说过", "不知道", "不记得", "没有相关信息", "没有信息",
)


def normalize(text: str) -> str:
    """Lowercase, NFKC (full-width -> ASCII), punctuation to spaces, articles dropped."""
    text = unicodedata.normalize("NFKC", str(text)).lower()
    text = "".join(" " if _is_punctuation(ch) else ch for ch in text)
    return " ".join(w for w in text.split() if w not in _ARTICLES)


def _is_punctuation(ch: str) -> bool:
    return ch in string.punctuation or unicodedata.category(ch).startswith(("P", "S"))


def tokens(text: str) -> list[str]:
    return [stem(tok) for tok in _TOKEN.findall(normalize(text))]


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = tokens(prediction), tokens(gold)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def multi_part_f1(prediction: str, gold: str) -> float:
    """Mean over the gold's comma-separated parts of the best F1 against any predicted part."""
    preds = [p for p in re.split(r"[,，、;；]", prediction) if p.strip()] or [prediction]
    golds = [g for g in re.split(r"[,，、;；]", gold) if g.strip()] or [gold]
    return sum(max(token_f1(p, g) for p in preds) for g in golds) / len(golds)


def says_no_information(prediction: str) -> bool:
    text = unicodedata.normalize("NFKC", prediction).lower().replace("’", "'")
    return any(phrase in text for phrase in NO_INFORMATION_PHRASES)


def score_answer(prediction: str, gold: str, category: str | None) -> float:
    """F1 of one answer under its category's rule (see the module docstring)."""
    kind = category_kind(category)
    if kind == "adversarial":
        return 1.0 if says_no_information(prediction) else 0.0
    if kind == "open-domain":
        gold = gold.split(";")[0]
    if kind == "multi-hop":
        return multi_part_f1(prediction, gold)
    return token_f1(prediction, gold)
