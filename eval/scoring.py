"""Answer scoring as LoCoMo's scorer does it (snap-research/locomo task_eval/evaluation.py),
so Twin's F1 on LoCoMo is comparable with published F1, extended to Chinese.

Same as LoCoMo on English text:
- lowercase, ASCII punctuation deleted ("don't" -> "dont", commas too), the words a/an/the/and
  dropped, whitespace tokens stemmed with NLTK's PorterStemmer() default mode (twin.stem.stem_nltk,
  also applied to tokens with digits: "1960s" -> "1960"); F1 of the token multisets, 0 when
  nothing overlaps (two empty answers included).
- multi-hop (category 1): prediction and gold are split on ","; each gold part gets its best F1
  against the predicted parts and the parts are averaged. Other categories: one F1.
- open-domain (category 3): only the gold text before the first ";" is scored.
- adversarial (category 5): 1.0 when the reply contains "no information available" or
  "not mentioned" (case-insensitive), else 0.0. "I don't know" or "I don't remember" score 0,
  exactly as in LoCoMo.
Where it differs (checked: 11,916 LoCoMo answer/prediction pairs score identically with NLTK
3.10): text is NFKC-normalised first (full-width forms -> ASCII); in text with CJK characters
non-ASCII punctuation becomes a space; every Han/kana/hangul character is its
own token ("我去了北京" and "北京" overlap on 北 and 京); Chinese commas (，、) split multi-hop
parts; and the Chinese for the two adversarial phrases (没有提到, 未提及, 没有相关信息...) counts.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter

from twin.eval.questions import category_kind
from twin.stem import stem_nltk

_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\uac00-\ud7af"  # hangul syllables
)
_TOKEN = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
_CJK_CHAR = re.compile(rf"[{_CJK}]")
_ARTICLES = frozenset({"a", "an", "the", "and"})

# LoCoMo's two phrases, then the Chinese for the same two (never present in English text).
NO_INFORMATION_PHRASES = (
    "no information available", "not mentioned",
    "没有提到", "没提到", "未提及", "没有提及", "没有相关信息",
)
_ASCII_PUNCTUATION = frozenset(string.punctuation)


def normalize(text: str) -> str:
    """Lowercase, NFKC (full-width -> ASCII), ASCII punctuation deleted as LoCoMo does, articles
    dropped. Other punctuation ("–", "’") stays as LoCoMo leaves it, except in text with CJK
    characters, where it becomes a space (Chinese has no spaces for it to hide behind)."""
    text = unicodedata.normalize("NFKC", str(text)).lower()
    wide = _CJK_CHAR.search(text) is not None
    text = "".join("" if ch in _ASCII_PUNCTUATION else " " if wide and _is_punctuation(ch) else ch for ch in text)
    return " ".join(w for w in text.split() if w not in _ARTICLES)


def _is_punctuation(ch: str) -> bool:
    return unicodedata.category(ch).startswith(("P", "S"))


def tokens(text: str) -> list[str]:
    return [stem_nltk(tok) for tok in _TOKEN.findall(normalize(text))]


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = tokens(prediction), tokens(gold)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def multi_part_f1(prediction: str, gold: str) -> float:
    """Mean over the gold's comma-separated parts of the best F1 against any predicted part."""
    preds = re.split(r"[,，、]", prediction)
    golds = re.split(r"[,，、]", gold)
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
