"""Texts WhatsApp itself writes into an export, in every language of whatsapp_locales.json.

The table is generated from WhatsApp's own string tables by scripts/whatsapp_locales.py. Here it
becomes matchers: whole-message texts ("image omitted", "Diese Nachricht wurde gelöscht.") are dict
lookups; format strings with placeholders ("{} hat die Gruppe verlassen.") become one precompiled
alternation per category, tried only when a cheap prefix/suffix check says one could match.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from twin.records import MessageKind

TABLE = Path(__file__).with_name("whatsapp_locales.json")

# Whole-message categories of the table and the kind each stands for.
EXACT_KINDS = {
    "image": MessageKind.IMAGE, "video": MessageKind.VIDEO, "voice": MessageKind.VOICE,
    "sticker": MessageKind.STICKER, "file": MessageKind.FILE, "other": MessageKind.OTHER,
    "recalled": MessageKind.RECALLED, "call": MessageKind.CALL, "location": MessageKind.LOCATION,
}
# Placeholders as the generator writes them ({}), named ones ({name}), and raw iOS/Android ones.
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{[A-Za-z_0-9]*\}|%(?:\d+\$)?[@sd]")
# Quotes and apostrophes are written differently across app versions ("..." vs “...”, ' vs ’).
_QUOTES = "\"'“”„‟«»‹›「」『』‘’‚`"
_QUOTE_CLASS = "[" + re.escape(_QUOTES) + "]"
_END = "[.。]?"
_KEY_STRIP = ".。 "
_AFFIX = 4  # characters compared by the pre-check


def exact_key(text: str) -> str:
    """How whole-message texts are compared: case-insensitive, final full stop optional."""
    return text.strip().casefold().rstrip(_KEY_STRIP)


def template_regex(template: str, capture: bool = False) -> str:
    """A format string as a regex for the whole text: placeholders match any text on one line
    (any text at all when `capture`, for file names, and captured), literal parts are escaped, any quote matches any quote, runs of
    spaces match any spacing, and the final full stop is optional."""
    parts, pos = [], 0
    body = template.strip().rstrip(".。")
    for match in _PLACEHOLDER.finditer(body):
        parts.append(_literal(body[pos:match.start()]))
        token = match.group()
        if token in ("{{", "}}"):
            parts.append(re.escape(token[0]))
        else:
            parts.append("([\\s\\S]+?)" if capture else "[^\\n]+?")  # file names can hold line breaks
        pos = match.end()
    parts.append(_literal(body[pos:]))
    return "".join(parts) + _END


def _literal(text: str) -> str:
    out = []
    for chunk in re.split(r"(\s+)", text):
        if not chunk:
            continue
        if chunk.isspace():
            out.append(r"[^\S\n]+")
        else:
            out.append("".join(_QUOTE_CLASS if ch in _QUOTES else re.escape(ch) for ch in chunk))
    return "".join(out)


class TemplateSet:
    """Format strings matched against a whole text. Templates are bucketed by their literal start
    (or, for those that open with a placeholder, their literal end); a text is tried only against
    the bucket its own start or end selects, compiled on first use, so building the set costs no
    regex compilation and a text that fits no bucket costs two set lookups. Templates with no
    literal at either end ('{} added {}') are bucketed by their longest literal piece (' added '),
    tried when the text contains it."""

    def __init__(self, templates: Iterable[str]):
        self.by_prefix: dict[str, list[str]] = {}
        self.by_suffix: dict[str, list[str]] = {}
        self.by_inner: dict[str, list[str]] = {}
        self.loose: list[str] = []
        for template in sorted({t.strip() for t in templates if t.strip()}):
            head, tail = _literal_ends(template)
            if len(head) >= _AFFIX:
                self.by_prefix.setdefault(head[:_AFFIX], []).append(template)
            elif len(tail) >= _AFFIX:
                self.by_suffix.setdefault(tail[-_AFFIX:], []).append(template)
            elif len(inner := _longest_piece(template)) >= 2:
                self.by_inner.setdefault(inner, []).append(template)
            else:
                self.loose.append(template)
        self._compiled: dict[tuple[str, str], re.Pattern | None] = {}

    def _bucket(self, side: str, key: str) -> re.Pattern | None:
        pattern = self._compiled.get((side, key), False)
        if pattern is False:
            templates = {"p": self.by_prefix, "s": self.by_suffix, "i": self.by_inner, "l": {"": self.loose}}[side][key]
            pattern = self._compiled[(side, key)] = _compile(templates)
        return pattern

    def match(self, text: str) -> bool:
        text = text.strip()
        folded = text.casefold()
        candidates = []
        if folded[:_AFFIX] in self.by_prefix:
            candidates.append(self._bucket("p", folded[:_AFFIX]))
        stem = folded.rstrip(_KEY_STRIP)
        if stem[-_AFFIX:] in self.by_suffix:
            candidates.append(self._bucket("s", stem[-_AFFIX:]))
        candidates.extend(self._bucket("i", inner) for inner in self.by_inner if inner in folded)
        if self.loose:
            candidates.append(self._bucket("l", ""))
        return any(p is not None and p.fullmatch(text) for p in candidates)


def _literal_ends(template: str) -> tuple[str, str]:
    """The casefolded literal text before the first and after the last placeholder."""
    body = template.casefold().rstrip(_KEY_STRIP)
    pieces = _PLACEHOLDER.split(body)
    if len(pieces) == 1:
        return body, body
    return pieces[0], pieces[-1]


def _longest_piece(template: str) -> str:
    """The longest literal run of a template, casefolded, without quotes and outer spaces."""
    pieces = (p.strip().strip(_QUOTES).strip() for p in _PLACEHOLDER.split(template.casefold().rstrip(_KEY_STRIP)))
    return max(pieces, key=len, default="")


def _compile(templates: Iterable[str], capture: bool = False) -> re.Pattern | None:
    alternatives = [template_regex(t, capture) for t in templates]
    if not alternatives:
        return None
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)


class ExporterTexts:
    """Every locale's exporter-written texts, ready to match (see `load`)."""

    def __init__(self, locales: dict[str, dict[str, list[str]]]):
        def gather(category: str) -> list[str]:
            """Every locale's texts of a category and of its sub-categories ('system' -> 'system.left')."""
            return [text for table in locales.values() for name, texts in table.items()
                    if name == category or name.startswith(category + ".") for text in texts]

        self.locales = sorted(locales)
        self.exact: dict[str, MessageKind] = {}
        for category, kind in EXACT_KINDS.items():
            for text in gather(category):
                self.exact.setdefault(exact_key(text), kind)
        self.attached = _compile(gather("attached"), capture=True)
        self.document_suffixes = tuple(sorted({exact_key(t) for t in gather("document_suffix")}))
        prefixes = sorted({p.casefold() for p in gather("location_prefix")}, key=len, reverse=True)
        self.location = re.compile(
            "(?:" + "|".join(map(re.escape, prefixes)) + r")\s?[:：]\s?https?://\S+", re.IGNORECASE) if prefixes else None
        notices = gather("notice")
        self.notice_exact = {exact_key(t) for t in notices if not _PLACEHOLDER.search(t)}
        self.notices = TemplateSet(t for t in notices if _PLACEHOLDER.search(t))
        self.system = TemplateSet(gather("system"))
        # Events whose fixed words end in ': ' ('Usuário adicionado: {}') look like 'Name: text'.
        self.colon_heads = {head.casefold().strip() for t in gather("system") if ": " in t
                            and not _PLACEHOLDER.search(head := t.split(": ", 1)[0])}
        self.tap_suffixes = tuple(sorted({exact_key(t) for t in gather("tap_suffix")}, key=len, reverse=True))
        # '<This message was edited>', '<Diese Nachricht wurde bearbeitet.>': brackets, stop optional
        edited = sorted({t.strip().strip("<>").strip().rstrip(".") for t in gather("edited")}, key=len, reverse=True)
        self.edited = re.compile(r"\s*<\s*(?:" + "|".join(map(re.escape, edited)) + r")\.?\s*>$", re.IGNORECASE) if edited else None

    def without_tap_suffix(self, text: str) -> str:
        """'... hat sich geändert. Tippe, um mehr zu erfahren.' -> '... hat sich geändert.'"""
        folded = exact_key(text)
        if not folded.endswith(self.tap_suffixes):
            return text
        for suffix in self.tap_suffixes:
            if folded.endswith(suffix) and len(folded) > len(suffix):
                cut = len(text.rstrip(_KEY_STRIP)) - len(suffix)
                return text[:cut].rstrip()
        return text

    def is_notice(self, text: str) -> bool:
        """Encryption and security-code notices: long, fixed sentences, safe to match anywhere."""
        if exact_key(text) in self.notice_exact or self.notices.match(text):
            return True
        shorter = self.without_tap_suffix(text)
        return shorter != text and (exact_key(shorter) in self.notice_exact or self.notices.match(shorter))

    def is_system(self, text: str) -> bool:
        """Group events ('X added Y', 'X hat die Gruppe verlassen.'): only asked about texts known
        to come from WhatsApp, since 'X left' is also something a person could type."""
        return self.system.match(text) or self.system.match(self.without_tap_suffix(text)) or self.is_notice(text)

    def attachment(self, text: str) -> str | None:
        """The file name of '<attached: NAME>' / 'NAME (file attached)' in any language."""
        if self.attached is None or not text.endswith((">", ")")):
            return None
        match = self.attached.fullmatch(text.strip())
        return next((g.strip() for g in match.groups() if g), None) if match else None


def load_table(path: Path = TABLE) -> dict[str, dict[str, list[str]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data["locales"]
    except (OSError, ValueError, KeyError) as exc:
        raise RuntimeError(f"{path}: unreadable WhatsApp locale table ({exc}); regenerate it with scripts/whatsapp_locales.py") from None


@lru_cache(maxsize=1)
def load() -> ExporterTexts:
    """The packaged table's matchers, built once per process."""
    return ExporterTexts(load_table())
