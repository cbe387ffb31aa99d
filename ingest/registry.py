"""Built-in formats, registered the way a new one would be: name -> "module:Class", imported
only when needed. Detection asks each parser in this order; the first that says yes wins,
so more specific formats come before general ones (documents last)."""

from __future__ import annotations

import importlib
from pathlib import Path

from core.errors import InputError, UnknownFormatError
from ingest.base import Parser
from ingest.textio import head

FORMATS: dict[str, str] = {
    # chats
    "wechat-pywxdump-csv": "ingest.formats.wechat:PyWxDumpCsv",
    "discord-dce-json": "ingest.formats.discord:DiscordChatExporterJson",
    "slack-export": "ingest.formats.slack:SlackExport",
    "instagram-json": "ingest.formats.messenger:InstagramJson",  # before messenger: same layout
    "messenger-json": "ingest.formats.messenger:MessengerJson",
    "wechat-wechatmsg-csv": "ingest.formats.wechat:WeChatMsgCsv",
    "wechat-wechatmsg-csv-v2": "ingest.formats.wechat:WeChatMsgCsvV2",
    "qq-qce-json": "ingest.formats.qq:QQChatExporterJson",
    "telegram-json": "ingest.formats.telegram:TelegramJson",
    "whatsapp-txt": "ingest.formats.whatsapp:WhatsAppTxt",
    "qq-txt": "ingest.formats.qq:QQTxt",  # before wechat-wechatmsg-txt: both open with 'date time name'
    "wechat-wechatmsg-txt": "ingest.formats.wechat:WeChatMsgTxt",
    # more chat formats go here
    # posts and articles (documents last: they accept any .txt/.md/.html)
    "x-archive": "ingest.formats.twitter:XArchive",
    "linkedin-shares": "ingest.formats.linkedin:LinkedInShares",
    "documents": "ingest.formats.documents:Documents",  # keep last: any .md/.txt/.html/.pdf/.docx
}


def get_parser(name: str) -> type[Parser]:
    try:
        target = FORMATS[name]
    except KeyError:
        raise UnknownFormatError("--format", f"unknown format {name!r}; known: {', '.join(FORMATS)}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def detect(path: Path) -> type[Parser]:
    if path.is_dir():
        text = ""
    else:
        if path.stat().st_size == 0:
            raise InputError(path, "empty file")
        text = head(path)
    for name in FORMATS:
        parser = get_parser(name)
        if path.is_dir() and not parser.handles_directories:
            continue
        if parser.detect(path, text):
            return parser
    raise UnknownFormatError(path, "format not recognised; pass --format (see `twin ingest --list-formats`)")


def expand(paths: list[Path]) -> list[Path]:
    """Inputs to ingest: files as given; folders walked, except folders a parser takes whole
    (a Slack export), which stay one input wherever they appear in the walk."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir() and not _is_unit_directory(path):
            out.extend(_walk(path))
        else:
            out.append(path)  # a file, a unit folder, or a missing path the pipeline reports
    return out


def _walk(folder: Path) -> list[Path]:
    found: list[Path] = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            found.extend([child] if _is_unit_directory(child) else _walk(child))
        elif child.is_file():
            found.append(child)
    return found


def _is_unit_directory(path: Path) -> bool:
    for name in FORMATS:
        parser = get_parser(name)
        if parser.handles_directories and parser.detect(path, ""):
            return True
    return False
