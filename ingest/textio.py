"""Reading export files as text: encoding sniffing and removal of invisible marks."""

from __future__ import annotations

import re
from pathlib import Path

from twin.errors import InputError

# Direction marks and other invisible characters exporters sprinkle into names and times.
# ZWJ (U+200D) and variation selectors are kept: they hold emoji sequences together.
_INVISIBLE_MARKS = "\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff"
_INVISIBLE = re.compile(f"[{_INVISIBLE_MARKS}]")
_TO_CLEAN = re.compile(f"[{_INVISIBLE_MARKS}\xa0\u202f]")  # the marks and the no-break spaces


def clean(text: str) -> str:
    """Drop invisible direction marks and BOMs; turn no-break spaces into spaces."""
    if _TO_CLEAN.search(text) is None:  # nearly every message: one scan instead of three
        return text
    text = _INVISIBLE.sub("", text)
    return text.replace("\xa0", " ").replace("\u202f", " ")


def decode(data: bytes, path: Path | str = "<bytes>") -> str:
    """UTF-8 (with or without BOM), UTF-16 (with BOM), then GB18030; else a clear error."""
    try:
        if data.startswith(b"\xef\xbb\xbf"):
            return data[3:].decode("utf-8", errors="strict")
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
    except UnicodeDecodeError as exc:  # a BOM promised an encoding the bytes do not keep
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(path, f"invalid {exc.encoding} text after its byte-order mark", line=line) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as utf8_error:
        if b"\x00" in data[:4096]:
            raise InputError(path, "binary data, not a text export") from None
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            line = data[: utf8_error.start].count(b"\n") + 1
            raise InputError(path, "not UTF-8, UTF-16 or GB18030 text", line=line) from None


def read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, exc.strerror or str(exc)) from None
    return decode(data, path)


def head(path: Path, size: int = 4096) -> str:
    """The first `size` bytes decoded leniently, for format detection."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(size)
    except OSError:
        return ""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="ignore")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3:  # a character cut in half at the end of the window
            text = data[: exc.start].decode("utf-8", errors="ignore")
        else:  # not UTF-8: old Chinese exports (QQ TXT) are GB18030
            text = data.decode("gb18030", errors="ignore")
    return text.lstrip("\ufeff")
