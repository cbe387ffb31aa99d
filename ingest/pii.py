"""PII scrubbing, on by default, before anything is stored.

Each rule finds candidates with a regular expression and, where the number has a checksum
(Chinese ID cards, bank cards, IBANs), keeps only candidates that pass it, so order numbers and
timestamps are not scrubbed by mistake.

Two kinds of output:

- Message and document text gets plain placeholders (`<PHONE>`, `<EMAIL>` ...): the style data
  learns "a phone number goes here", nothing that could be traced back.
- Identities (sender id and name, chat id and name, message ids) get keyed pseudonyms such as
  `<PHONE:3fa9c2d1>`. An unsaved contact is often known only by their number; a single `<PHONE>`
  would merge every such contact into one person, in the corpus, in memory participants and in the
  memory text built from the names. The pseudonym is an HMAC-SHA256 of the normalised number under
  a random key kept beside the corpus (`pii.key`, owner-only): the same number always gets the
  same pseudonym, different numbers different ones (8 hex digits: two of 1,000 contacts collide
  with odds of about 1 in 10,000), and a plain hash is not used because every phone number can
  be hashed in minutes, which would undo the scrubbing.

Full-width forms (１３９００１３９０００, ＠, ＋, （０２１）) are matched through a same-length
ASCII view of the text, so the characters around a match are kept as written.
"""

from __future__ import annotations

import hmac
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

from twin.config import PiiConfig

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# Full-width ASCII (U+FF01..U+FF5E) and the ideographic space, mapped one character to one, so
# match positions in the ASCII view are positions in the original.
_NARROW = {0xFF01 + i: 0x21 + i for i in range(94)} | {0x3000: 0x20}
_WIDE = re.compile("[\uff10-\uff19\uff20\uff0b]|\uff08[0-9\uff10-\uff19]")  # full-width digit, ＠, ＋, （0

# Digits not glued to other digits/letters, nor inside a URL path (".../status/13900139000");
# CJK text around them is fine.
_B = r"(?<![0-9A-Za-z/])"
_E = r"(?![0-9A-Za-z])"
# Local part: a whole run of Latin letters (with accents: josé) or a whole run of other scripts'
# letters (用户, иван), not both, so "我的邮箱zhang@x.com" takes "zhang" only; starting only where a
# run starts keeps the search linear. TLD: ASCII letters first ("x.com你好" ends at "com"), else a
# run of non-Latin letters (例子.广告).
_LATIN = r"A-Za-z0-9._%+\-\u00c0-\u024f"
_EMAIL = re.compile(
    rf"(?:(?<![{_LATIN}])[{_LATIN}]+|(?<![^\W\x00-\u024f])[^\W\x00-\u024f]+)"
    r"@(?:[^\W_][\w-]*\.)+(?:[A-Za-z]{2,}|[^\W\d_\x00-\u024f]{2,})")
_ID_CARD = re.compile(_B + r"[1-9]\d{5}[ -]?(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[ -]?\d{3}[0-9Xx]" + _E)
_BANK_CARD = re.compile(_B + r"(?:\d[ -]?){12,18}\d" + _E)
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])")
# 139 0013 9000, 139-0013-9000, 139.0013.9000, +86 13900139000, (+86)139...; a dotted run inside a
# longer dotted number (a version string "1.139.0013.9000.2") is left alone.
_CN_MOBILE = re.compile(_B + r"(?<!\d\.)(?:\(?\+?86\)?[ .-]?)?1[3-9]\d[ .-]?\d{4}[ .-]?\d{4}" + _E + r"(?!\.\d)")
# 021-62345678, 021 6234 5678, (021)62345678, (0755) 8888-9999: an area code in brackets or
# followed by a separator (a bare 0-led run of digits is more often an order number).
_CN_LANDLINE = re.compile(r"(?<![0-9A-Za-z/-])(?:\(0[1-9]\d{1,2}\)[ -]?|0[1-9]\d{1,2}[ -])\d{3,4}[ -]?\d{4}" + _E)
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![0-9A-Fa-f:])|(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4}(?![0-9A-Fa-f:])")
# DE89370400440532013000 or in groups of four: DE89 3704 0044 0532 0130 00
_IBAN = re.compile(r"(?<![0-9A-Za-z])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?" + _E)
_INTL_PHONE = re.compile(r"(?<![0-9A-Za-z+/])\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,3}" + _E)
_DIGIT = re.compile(r"\d")
# Every rule but blocked words needs a digit (any script's, full-width too) or an @ / ＠.
_MAY_HOLD_PII = re.compile("[\\d@\uff20]")
_NOT_DIGIT = re.compile(r"\D")
_SPACES = re.compile(r"[ -]")

# Where a phone number or e-mail address could start in an id; most message ids have none.
_ID_HINT = re.compile(r"[@+(\uff08\uff0b\uff10-\uff19\uff20]|(?<![0-9A-Za-z/])(?:1[3-9]\d|0[1-9])")
KEY_FILE = "pii.key"


def id_card_ok(number: str) -> bool:
    """Checksum (GB 11643) of an 18-character ID number; spaces or hyphens between groups allowed."""
    digits = _SPACES.sub("", number).upper()
    total = sum(int(d) * w for d, w in zip(digits[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == digits[17]


def iban_ok(value: str) -> bool:
    """ISO 13616 mod-97 check: move the first four characters to the end, letters to numbers."""
    value = value.replace(" ", "")
    if not 15 <= len(value) <= 34:
        return False
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


def load_key(folder: Path) -> bytes:
    """The pseudonym key kept in `folder` (beside the corpus), made on first use, owner-only."""
    path = folder / KEY_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another ingest made it a moment ago
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    key = os.urandom(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.hex() + "\n")
    return key


@dataclass
class Scrubber:
    config: PiiConfig
    counts: Counter = field(default_factory=Counter)
    key: bytes = field(default_factory=lambda: os.urandom(32))  # the pipeline passes load_key(...)

    def __post_init__(self) -> None:
        words = sorted({w for w in self.config.blocked_words if w}, key=len, reverse=True)
        self._blocked = re.compile("|".join(map(re.escape, words)), re.IGNORECASE) if words else None
        self._identities: dict[str, str] = {}  # id or name -> scrubbed (they repeat on every message)
        self._pseudonyms: dict[tuple[str, str], str] = {}

    # -- text: plain placeholders -------------------------------------------------------------

    def __call__(self, text: str) -> str:
        if not self.config.enabled or not text:
            return text
        if self._blocked is None and _MAY_HOLD_PII.search(text) is None:  # most chat lines
            return text
        if _WIDE.search(text):
            return self._scrub(text, text.translate(_NARROW), self._placeholder)
        return self._scrub(text, None, self._placeholder)

    # -- identities: keyed pseudonyms ---------------------------------------------------------

    def identity(self, value: str) -> str:
        """A sender/chat id or name with its phone numbers, e-mail addresses and blocked words
        replaced by pseudonyms (cached: the same few values come with every message)."""
        scrubbed = self._identities.get(value)
        if scrubbed is None:
            scrubbed = self._identities[value] = self._identity(value)
        return scrubbed

    def message_id(self, value: str | None) -> str | None:
        """A message id (`whatsapp:<chat>:12`): unique per message, so not cached."""
        if not value or (self._blocked is None and not _ID_HINT.search(value)):
            return value
        return self._identity(value)

    def _identity(self, value: str) -> str:
        if not self.config.enabled or not value:
            return value
        view = value.translate(_NARROW) if _WIDE.search(value) else None
        return self._scrub(value, view, self._pseudonym, identities=True)

    def _pseudonym(self, kind: str, match: str) -> str:
        if kind == "PHONE":
            canonical = _NOT_DIGIT.sub("", match)
            if len(canonical) == 13 and canonical.startswith("861"):  # +86 13900139000 = 13900139000
                canonical = canonical[2:]
        else:
            canonical = match.casefold()
        cache_key = (kind, canonical)
        name = self._pseudonyms.get(cache_key)
        if name is None:
            digest = hmac.new(self.key, f"{kind}:{canonical}".encode(), sha256).hexdigest()[:8]
            name = self._pseudonyms[cache_key] = f"<{kind}:{digest}>"
            self.counts[f"<{kind} id>"] += 1  # distinct people (or chats) given a pseudonym
        return name

    def _placeholder(self, kind: str, match: str) -> str:
        self.counts[f"<{kind}>"] += 1
        return f"<{kind}>"

    # -- the rules, in order ------------------------------------------------------------------

    def _scrub(self, text: str, view: str | None, replace, identities: bool = False) -> str:
        """Apply every enabled rule to `text`. `view` is a same-length ASCII form of it (None when
        the text has no full-width forms): rules match on the view and splice the original."""
        cfg = self.config
        look = text if view is None else view
        if cfg.email and "@" in look:
            text, view = _sub(_EMAIL, "EMAIL", text, view, replace)
            look = text if view is None else view
        if self._blocked is not None:
            text, view = _sub(self._blocked, "BLOCKED", text, view, replace)
            look = text if view is None else view
        if not _DIGIT.search(look):  # fast path: most chat lines hold no digits at all
            return text
        # Phones first: a '+86 ...' number can pass a Luhn check by chance.
        if cfg.phone:
            text, view = _sub(_CN_MOBILE, "PHONE", text, view, replace)
            look = text if view is None else view
            if "-" in look or " " in look or "(" in look:
                text, view = _sub(_CN_LANDLINE, "PHONE", text, view, replace)
            if "+" in look:
                text, view = _sub(_INTL_PHONE, "PHONE", text, view, replace)
        if identities:  # ids are made of numbers: only phones and e-mails are people there
            return text
        if cfg.id_card:
            text, view = _sub(_ID_CARD, "ID_CARD", text, view, replace, id_card_ok)
        if cfg.bank_card:  # IBANs before cards: the digits of a spaced IBAN can pass Luhn
            text, view = _sub(_IBAN, "BANK_CARD", text, view, replace, iban_ok)
            text, view = _sub(_BANK_CARD, "BANK_CARD", text, view, replace, luhn_ok)
        if cfg.ip:
            look = text if view is None else view
            if "." in look:
                text, view = _sub(_IPV4, "IP", text, view, replace)
            if ":" in look:
                text, view = _sub(_IPV6, "IP", text, view, replace)
        return text


def _sub(pattern: re.Pattern, kind: str, text: str, view: str | None, replace, accept=None) -> tuple[str, str | None]:
    """Replace the matches of `pattern` (that `accept` passes) by `replace(kind, match)`."""
    if view is None:
        def one(match: re.Match) -> str:
            found = match.group()
            return found if accept is not None and not accept(found) else replace(kind, found)

        return pattern.sub(one, text), None
    out_text, out_view, end = [], [], 0
    for match in pattern.finditer(view):
        found = match.group()
        if accept is not None and not accept(found):
            continue
        new = replace(kind, found)
        out_text += (text[end:match.start()], new)
        out_view += (view[end:match.start()], new)
        end = match.end()
    if not end:
        return text, view
    out_text.append(text[end:])
    out_view.append(view[end:])
    return "".join(out_text), "".join(out_view)
