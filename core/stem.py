"""A Porter stemmer (M. F. Porter, 1980), written out from the published algorithm, in two modes.

- `stem(word)`: the published algorithm with the two later rules NLTK calls MARTIN extensions
  ("bli" -> "ble", "logi" -> "log"). The lexical memory search uses it (retrieval.lexical), so
  "painting" matches "painted"; stores built with it stay valid.
- `stem_nltk(word)`: NLTK's `PorterStemmer()` default mode (NLTK_EXTENSIONS), which LoCoMo's
  answer scorer uses. It differs on about 2% of LoCoMo's vocabulary: y is kept after a vowel
  ("day", "enjoy"), a two-letter vowel-consonant stem keeps its e ("ate", "age"), "-alli" and
  "-fulli" are folded ("additionally" -> "addit", "beautifully" -> "beauti"),
  four-letter "-ies"/"-ied" keep "ie" ("dies" -> "die"), and a few irregular forms are listed
  ("dying" -> "die", "news"). eval.scoring uses it so Twin's F1 is comparable with LoCoMo's.
NLTK is not a dependency; tests pin words on which the modes differ (checked against NLTK 3.10:
stem_nltk agrees with it on all 11,598 distinct words of locomo10.json). Only lowercase ASCII words
are stemmed; anything else (numbers, CJK) is returned unchanged.
"""

from __future__ import annotations

import functools

_VOWELS = frozenset("aeiou")


def _is_consonant(word: str, i: int) -> bool:
    ch = word[i]
    if ch in _VOWELS:
        return False
    if ch == "y":
        return i == 0 or not _is_consonant(word, i - 1)
    return True


def _measure(stem: str) -> int:
    """m in [C](VC)^m[V]: how many vowel-consonant runs the stem has."""
    m, i, n = 0, 0, len(stem)
    while i < n and _is_consonant(stem, i):
        i += 1
    while i < n:
        while i < n and not _is_consonant(stem, i):
            i += 1
        if i >= n:
            break
        while i < n and _is_consonant(stem, i):
            i += 1
        m += 1
    return m


def _has_vowel(stem: str) -> bool:
    return any(not _is_consonant(stem, i) for i in range(len(stem)))


def _ends_double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _is_consonant(word, len(word) - 1)


def _ends_cvc(word: str, nltk: bool = False) -> bool:
    """consonant-vowel-consonant, the last not w, x or y (e.g. -hop, -fil); NLTK also counts a
    two-letter vowel-consonant word ("at" in "ate")."""
    if nltk and len(word) == 2:
        return not _is_consonant(word, 0) and _is_consonant(word, 1)
    if len(word) < 3:
        return False
    return (
        _is_consonant(word, len(word) - 3)
        and not _is_consonant(word, len(word) - 2)
        and _is_consonant(word, len(word) - 1)
        and word[-1] not in "wxy"
    )


def _replace_longest(word: str, rules: tuple[tuple[str, str], ...], min_measure: int) -> str:
    """Apply the rule with the longest matching suffix, if its stem is long enough."""
    for suffix, replacement in sorted(rules, key=lambda r: -len(r[0])):
        if word.endswith(suffix):
            stem = word[: len(word) - len(suffix)]
            return stem + replacement if _measure(stem) > min_measure else word
    return word


_STEP2 = (
    ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"),
    ("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"),
    ("ization", "ize"), ("ation", "ate"), ("ator", "ate"), ("alism", "al"), ("iveness", "ive"),
    ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"),
    ("logi", "log"),
)
_STEP3 = (
    ("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""),
    ("ness", ""),
)
_STEP4 = (
    "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou",
    "ism", "ate", "iti", "ous", "ive", "ize",
)


def _step1ab(word: str, nltk: bool = False) -> str:
    if nltk and word.endswith("ies") and len(word) == 4:
        return word[:-1]  # "dies" -> "die"
    if word.endswith("sses") or word.endswith("ies"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]

    if nltk and word.endswith("ied"):
        return word[:-1] if len(word) == 4 else word[:-2]  # "died" -> "die", "tried" -> "tri"
    if word.endswith("eed"):
        return word[:-1] if _measure(word[:-3]) > 0 else word
    for suffix in ("ed", "ing"):
        if word.endswith(suffix) and _has_vowel(word[: -len(suffix)]):
            word = word[: -len(suffix)]
            if word.endswith(("at", "bl", "iz")):
                return word + "e"
            if _ends_double_consonant(word) and word[-1] not in "lsz":
                return word[:-1]
            if _measure(word) == 1 and _ends_cvc(word, nltk):
                return word + "e"
            return word
    return word


def _step4(word: str) -> str:
    for suffix in sorted(_STEP4, key=len, reverse=True):
        if word.endswith(suffix):
            stem = word[: -len(suffix)]
            if suffix == "ion" and not stem.endswith(("s", "t")):
                return word
            return stem if _measure(stem) > 1 else word
    return word


def _step5(word: str, nltk: bool = False) -> str:
    if word.endswith("e"):
        stem = word[:-1]
        m = _measure(stem)
        if m > 1 or (m == 1 and not _ends_cvc(stem, nltk)):
            word = stem
    if word.endswith("ll") and _measure(word) > 1:
        word = word[:-1]
    return word


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    if len(word) <= 2 or not word.isascii() or not word.isalpha() or not word.islower():
        return word
    word = _step1ab(word)
    if word.endswith("y") and _has_vowel(word[:-1]):
        word = word[:-1] + "i"
    word = _replace_longest(word, _STEP2, 0)
    word = _replace_longest(word, _STEP3, 0)
    word = _step4(word)
    return _step5(word)


_NLTK_IRREGULAR = {
    "skies": "sky", "sky": "sky", "dying": "die", "lying": "lie", "tying": "tie", "news": "news",
    "innings": "inning", "inning": "inning", "outings": "outing", "outing": "outing",
    "cannings": "canning", "canning": "canning", "howe": "howe", "proceed": "proceed",
    "exceed": "exceed", "succeed": "succeed",
}
_NLTK_STEP2 = tuple(rule for rule in _STEP2 if rule[0] != "logi") + (("fulli", "ful"),)


def _step2_nltk(word: str) -> str:
    if word.endswith("alli") and _measure(word[:-4]) > 0:
        return _step2_nltk(word[:-4] + "al")  # NLTK folds -alli first, then runs step 2 again
    if word.endswith("logi"):  # NLTK measures the stem with its "l"
        return word[:-1] if _measure(word[:-3]) > 0 else word
    return _replace_longest(word, _NLTK_STEP2, 0)


@functools.lru_cache(maxsize=65536)
def stem_nltk(word: str) -> str:
    """NLTK's PorterStemmer() default mode, for LoCoMo's answer scoring (see the module docstring).
    Like NLTK it stems any lowercase token longer than two characters, digits included ("1960s")."""
    if len(word) <= 2:
        return word
    word = word.lower()
    if word in _NLTK_IRREGULAR:
        return _NLTK_IRREGULAR[word]
    word = _step1ab(word, nltk=True)
    if word.endswith("y") and len(word) > 2 and _is_consonant(word, len(word) - 2):
        word = word[:-1] + "i"  # only after a consonant: "day" stays, "happy" -> "happi"
    word = _step2_nltk(word)
    word = _replace_longest(word, _STEP3, 0)
    word = _step4(word)
    return _step5(word, nltk=True)
