"""The export formats Twin knows, found through the `twin.formats` entry-point group.

Built-in parsers are registered in pyproject.toml exactly the way a third-party package
registers its own (`name = "module:ParserClass"`), and imported only when needed. Detection
asks every parser for a confidence in [0, 1] (`Parser.detect`) and takes the highest, so the
order of registration never decides; a general catch-all (documents) scores low.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from twin.errors import InputError, UnknownFormatError
from twin.ingest.base import Parser
from twin.ingest.textio import head

GROUP = "twin.formats"
DISTRIBUTION = "twin"

# The same table as pyproject's [project.entry-points."twin.formats"] (a test keeps them equal);
# used only when Twin runs from a source tree that was never installed, so it has no metadata.
BUILTIN: dict[str, str] = {
    "wechat-pywxdump-csv": "twin.ingest.formats.wechat:PyWxDumpCsv",
    "wechat-wechatmsg-csv": "twin.ingest.formats.wechat:WeChatMsgCsv",
    "wechat-wechatmsg-csv-v2": "twin.ingest.formats.wechat:WeChatMsgCsvV2",
    "wechat-wechatmsg-txt": "twin.ingest.formats.wechat:WeChatMsgTxt",
    "chatlog-json": "twin.ingest.formats.chatlog:ChatlogJson",
    "chatlog-csv": "twin.ingest.formats.chatlog:ChatlogCsv",
    "chatlog-text": "twin.ingest.formats.chatlog:ChatlogText",
    "chatlab-json": "twin.ingest.formats.chatlab:ChatLabJson",
    "chatlab-jsonl": "twin.ingest.formats.chatlab:ChatLabJsonl",
    "weflow-json": "twin.ingest.formats.weflow:WeFlowJson",
    "weflow-api-json": "twin.ingest.formats.weflow:WeFlowApiJson",
    "weflow-weclone-csv": "twin.ingest.formats.weflow:WeFlowWeCloneCsv",
    "weflow-txt": "twin.ingest.formats.weflow:WeFlowTxt",
    "qq-txt": "twin.ingest.formats.qq:QQTxt",
    "qq-qce-json": "twin.ingest.formats.qq:QQChatExporterJson",
    "telegram-json": "twin.ingest.formats.telegram:TelegramJson",
    "whatsapp-txt": "twin.ingest.formats.whatsapp:WhatsAppTxt",
    "discord-dce-json": "twin.ingest.formats.discord:DiscordChatExporterJson",
    "slack-export": "twin.ingest.formats.slack:SlackExport",
    "messenger-json": "twin.ingest.formats.messenger:MessengerJson",
    "instagram-json": "twin.ingest.formats.messenger:InstagramJson",
    "x-archive": "twin.ingest.formats.twitter:XArchive",
    "linkedin-shares": "twin.ingest.formats.linkedin:LinkedInShares",
    "documents": "twin.ingest.formats.documents:Documents",
}


@dataclass(frozen=True)
class FormatEntry:
    name: str
    target: str  # "module:Class"
    origin: str  # "built-in" or the plugin's distribution name and version


@cache
def formats() -> dict[str, FormatEntry]:
    """Every registered format by name: built-ins first, then plugins in name order."""
    found: dict[str, FormatEntry] = {}
    try:
        metadata.distribution(DISTRIBUTION)
        installed = True
    except metadata.PackageNotFoundError:
        installed = False
    if not installed:
        found = {name: FormatEntry(name, target, "built-in") for name, target in BUILTIN.items()}
    points = sorted(metadata.entry_points(group=GROUP), key=lambda ep: (_origin(ep) != "built-in", ep.name))
    for ep in points:
        origin = _origin(ep)
        if ep.name in found and found[ep.name].target != ep.value:
            other = found[ep.name].origin
            raise UnknownFormatError(
                "--format", f"format {ep.name!r} is registered twice ({other} and {origin}); uninstall one")
        found.setdefault(ep.name, FormatEntry(ep.name, ep.value, origin))
    return found


def _origin(ep: metadata.EntryPoint) -> str:
    dist = ep.dist
    if dist is None or dist.metadata["Name"] == DISTRIBUTION:
        return "built-in"
    return f"{dist.metadata['Name']} {dist.version}"


def get_parser(name: str) -> type[Parser]:
    entry = formats().get(name)
    if entry is None:
        raise UnknownFormatError("--format", f"unknown format {name!r}; known: {', '.join(formats())}")
    module, _, cls = entry.target.partition(":")
    try:
        parser = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise UnknownFormatError("--format", f"format {name!r} ({entry.origin}) cannot be loaded from {entry.target}: {exc}") from None
    if not (isinstance(parser, type) and issubclass(parser, Parser)):
        raise UnknownFormatError("--format", f"format {name!r} ({entry.origin}): {entry.target} is not a twin Parser")
    return parser


def scores(path: Path, text: str) -> list[tuple[float, str]]:
    """(confidence, name) of every format that recognises `path`, most confident first."""
    found = []
    for name in formats():
        parser = get_parser(name)
        if path.is_dir() and not parser.handles_directories:
            continue
        score = float(parser.detect(path, text))
        if score > 0:
            found.append((score, name))
    return sorted(found, key=lambda item: (-item[0], item[1]))


def detect(path: Path) -> type[Parser]:
    if path.is_dir():
        text = ""
    else:
        if path.stat().st_size == 0:
            raise InputError(path, "empty file")
        text = head(path)
    ranked = scores(path, text)
    if not ranked:
        raise UnknownFormatError(path, "format not recognised; pass --format (see `twin ingest --list-formats`)")
    return get_parser(ranked[0][1])


@dataclass(frozen=True)
class NotFollowed:
    """A path the folder walk saw but does not read: a symlink loop, a broken link, or a second
    way (a link) to a file or folder already taken. Reported in the ingest summary."""

    path: Path
    reason: str  # short, for the summary table: "symlink loop", "broken link", "already taken"
    detail: str  # the full sentence, printed as a warning


def expand(paths: list[Path]) -> list[Path | NotFollowed]:
    """Inputs to ingest: files as given; folders walked, except folders a parser takes whole
    (a Slack export), which stay one input wherever they appear in the walk.

    Symlinks are followed, but every real file and folder is taken once (by resolved path): a
    link back to a folder above it would otherwise be walked until the OS gives up (ELOOP,
    about 40 levels), ingesting the same files at every level.
    """
    walk = _Walk()
    for path in paths:
        walk.add(path, ancestors=frozenset(), top=True)
    return walk.inputs


class _Walk:
    def __init__(self) -> None:
        self.inputs: list[Path | NotFollowed] = []
        self.taken: dict[Path, Path] = {}  # real path -> the path it was first reached by

    def add(self, path: Path | NotFollowed, ancestors: frozenset[Path], top: bool = False) -> None:
        if isinstance(path, NotFollowed):  # already decided by an earlier walk
            self.inputs.append(path)
            return
        try:
            real = path.resolve(strict=True)
        except FileNotFoundError:
            if top:
                self.inputs.append(path)  # a missing path the pipeline reports as an error
            else:
                self.inputs.append(NotFollowed(path, "broken link", f"{path} is a link to nothing; not followed"))
            return
        except (RuntimeError, OSError) as exc:  # 3.11 raises RuntimeError on a loop, later versions OSError
            self.inputs.append(NotFollowed(path, "symlink loop", f"{path} is a symlink loop ({exc}); not followed"))
            return
        if real in ancestors:
            self.inputs.append(NotFollowed(
                path, "symlink loop", f"{path} links back to {self.taken[real]}, a folder above it; not followed"))
            return
        if real in self.taken:
            kind = "folder" if path.is_dir() else "file"
            self.inputs.append(NotFollowed(
                path, "already taken", f"{path} is the same {kind} as {self.taken[real]}; read once"))
            return
        self.taken[real] = path
        if not path.is_dir() or _is_unit_directory(path):
            self.inputs.append(path)
            return
        inside = ancestors | {real}
        # Real entries before links, so a file is reported under its own name, not a link's.
        for child in sorted(path.iterdir(), key=lambda p: (p.is_symlink(), p.name)):
            if child.name.startswith("."):
                continue
            if child.is_dir() or child.is_file() or child.is_symlink():  # not sockets, fifos
                self.add(child, inside)


def _is_unit_directory(path: Path) -> bool:
    for name in formats():
        parser = get_parser(name)
        if parser.handles_directories and parser.detect(path, ""):
            return True
    return False
