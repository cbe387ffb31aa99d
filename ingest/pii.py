"""PII scrubbing, on by default, before anything is stored.

Each rule finds candidates with a regular expression and, where the number has a checksum
(Chinese ID cards, bank cards), keeps only candidates that pass it, so order numbers and
timestamps are not scrubbed by mistake.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from twin.config import PiiConfig

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# Digits not glued to other digits/letters; CJK text around them is fine.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx](?![0-9A-Za-z])")
_BANK_CARD = re.compile(r"(?<![0-9A-Za-z])(?:\d[ -]?){12,18}\d(?![0-9A-Za-z])")
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])")
_CN_MOBILE = re.compile(r"(?<![0-9A-Za-z])(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?![0-9A-Za-z])")
_CN_LANDLINE = re.compile(r"(?<![0-9A-Za-z-])0\d{2,3}-\d{7,8}(?![0-9A-Za-z])")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![0-9A-Fa-f:])|(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4}(?![0-9A-Fa-f:])")
_IBAN = re.compile(r"(?<![0-9A-Za-z])[A-Z]{2}\d{2}[A-Z0-9]{11,30}(?![0-9A-Za-z])")
_INTL_PHONE = re.compile(r"(?<![0-9A-Za-z+])\+\d{1,3}[ -]?(?:\(\d{1,4}\)[ -]?)?\d{2,4}(?:[ -]?\d{2,4}){1,3}(?![0-9A-Za-z])")
_DIGIT = re.compile(r"\d")


def id_card_ok(number: str) -> bool:
    digits = number.upper()
    total = sum(int(d) * w for d, w in zip(digits[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == digits[17]


def iban_ok(value: str) -> bool:
    """ISO 13616 mod-97 check: move the first four characters to the end, letters to numbers."""
    rearranged = value[4:] + value[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@dataclass
class Scrubber:
    config: PiiConfig
    counts: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        words = sorted({w for w in self.config.blocked_words if w}, key=len, reverse=True)
        self._blocked = re.compile("|".join(map(re.escape, words)), re.IGNORECASE) if words else None

    def __call__(self, text: str) -> str:
        if not self.config.enabled or not text:
            return text
        cfg = self.config
        if cfg.email and "@" in text:
            text = self._sub(_EMAIL, "<EMAIL>", text)
        if self._blocked is not None:
            text = self._sub(self._blocked, "<BLOCKED>", text)
        if not _DIGIT.search(text):  # fast path: most chat lines hold no digits at all
            return text
        # Phones first: a '+86 ...' number can pass a Luhn check by chance.
        if cfg.phone:
            text = self._sub(_CN_MOBILE, "<PHONE>", text)
            if "-" in text:
                text = self._sub(_CN_LANDLINE, "<PHONE>", text)
            if "+" in text:
                text = self._sub(_INTL_PHONE, "<PHONE>", text)
        if cfg.id_card:
            text = self._sub(_ID_CARD, "<ID_CARD>", text, lambda m: id_card_ok(m.group()))
        if cfg.bank_card:
            text = self._sub(_BANK_CARD, "<BANK_CARD>", text, lambda m: luhn_ok(m.group()))
            text = self._sub(_IBAN, "<BANK_CARD>", text, lambda m: iban_ok(m.group()))
        if cfg.ip:
            if "." in text:
                text = self._sub(_IPV4, "<IP>", text)
            if ":" in text:
                text = self._sub(_IPV6, "<IP>", text)
        return text

    def _sub(self, pattern: re.Pattern, placeholder: str, text: str, accept=None) -> str:
        def replace(match: re.Match) -> str:
            if accept is not None and not accept(match):
                return match.group()
            self.counts[placeholder] += 1
            return placeholder

        return pattern.sub(replace, text)
