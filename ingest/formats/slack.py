"""Slack workspace export: a folder or the .zip Slack hands out (one input either way).

    users.json, channels.json (+ groups.json, dms.json, mpims.json), <channel>/YYYY-MM-DD.json

Each day file is an array of messages {type, subtype?, user, text, ts, thread_ts?, files?}.
`ts` is epoch seconds and, with the channel, the message's id. Text is Slack mrkdwn: `<@U123>`
mentions are resolved through users.json, links and `&lt;`-style escapes are undone. Subtypes
such as channel_join are notices (SYSTEM); bot posts (integrations) are not anyone's words and are
skipped. The owner is the configured Slack user id (U...) or name.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

from twin.errors import InputError
from twin.records import ChatKind, Message, MessageKind
from twin.ingest.base import ParseContext, Parser, Record
from twin.ingest.formats.jsonfile import Fields, expect, load_json
from twin.ingest.textio import clean
from twin.ingest.timestamps import from_epoch

CHANNEL_LISTS = ("channels.json", "groups.json", "mpims.json", "dms.json")
USER_LISTS = ("users.json", "org_users.json")
DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")

# Subtypes that carry the sender's own words; every other subtype is a notice.
SPOKEN_SUBTYPES = {"", "me_message", "thread_broadcast", "reply_broadcast", "file_share", "file_comment"}
BOT_SUBTYPES = {"bot_message", "bot_add", "bot_remove", "bot_enable", "bot_disable"}
RECALLED_SUBTYPES = {"tombstone", "message_deleted"}

_MIME_KINDS = {"image": MessageKind.IMAGE, "video": MessageKind.VIDEO, "audio": MessageKind.VOICE}
_ANGLE = re.compile(r"<([^<>]+)>")

# A zip says in its central directory how big each member unpacks to, and zipfile never returns
# more than that (a member that lies about it fails its CRC check). So the sizes are checked
# there, before any member is read: a 1 MB zip may not unpack a 1 GiB JSON into memory. Real
# exports are day files of kilobytes and a users.json of megabytes; JSON deflates 5-20x.
MAX_MEMBER_BYTES = 256 << 20
MAX_TOTAL_BYTES = 4 << 30
MAX_RATIO = 100
RATIO_FREE_BYTES = 1 << 20  # a small member may compress as well as it likes
# Deflate output is bounded per read; bzip2/LZMA members are decompressed a whole block at a
# time, where one read can unpack gigabytes, and Slack never writes them.
_COMPRESSIONS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}


class ExportTree:
    """The files of an export, from a folder or a zip (members may sit under one top folder)."""

    def __init__(self, path: Path):
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        if path.is_dir():
            self.names = {p.relative_to(path).as_posix() for p in path.rglob("*.json")}
            self.root = ""
        else:
            try:
                self.zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise InputError(path, f"not a readable zip file ({exc})") from None
            self.names = {n for n in self.zip.namelist() if n.endswith(".json")}
            self.root = _zip_root(self.names)
            try:
                _check_sizes(path, [self.zip.getinfo(n) for n in sorted(self.names)])
            except InputError:
                self.zip.close()
                raise

    def has(self, name: str) -> bool:
        return self.root + name in self.names

    def label(self, name: str) -> str:
        return str(self.path / (self.root + name))

    def load(self, name: str):
        full = self.root + name
        if self.zip is None:
            return load_json(self.path / full)
        try:
            data = self.zip.read(full)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise InputError(self.label(name), f"unreadable zip member ({exc})") from None
        return load_json(self.label(name), data)

    def day_files(self, folder: str) -> list[str]:
        prefix = self.root + folder + "/"
        days = [n[len(self.root):] for n in self.names if n.startswith(prefix) and DAY_FILE.match(n[len(prefix):])]
        return sorted(days)

    def folders(self) -> set[str]:
        out = set()
        for name in self.names:
            rest = PurePosixPath(name[len(self.root):]) if name.startswith(self.root) else None
            if rest is not None and len(rest.parts) == 2 and DAY_FILE.match(rest.parts[1]):
                out.add(rest.parts[0])
        return out

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _check_sizes(path: Path, members: list[zipfile.ZipInfo]) -> None:
    """Refuse a zip whose JSON members would unpack too big (see MAX_MEMBER_BYTES)."""
    total = 0
    for info in members:
        label = f"{path} (member {info.filename})"
        if info.compress_type not in _COMPRESSIONS:
            raise InputError(label, f"compression method {info.compress_type} is not read (Slack zips are deflated)")
        if info.file_size > MAX_MEMBER_BYTES:
            raise InputError(label, f"unpacks to {_size(info.file_size)}, over the {_size(MAX_MEMBER_BYTES)} "
                                    "a Slack export file may have; unzip it and ingest the folder if it is real")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FREE_BYTES and ratio > MAX_RATIO:
            raise InputError(label, f"unpacks {ratio:.0f}x ({info.compress_size} -> {info.file_size} bytes), over "
                                    f"the {MAX_RATIO}x a real export compresses: a zip bomb?")
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise InputError(path, f"JSON members unpack to over {_size(MAX_TOTAL_BYTES)} in all; "
                                   "unzip it and ingest the folder if it is real")


def _size(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n >= 1 << 20 else f"{n} bytes"


def _zip_root(names: set[str]) -> str:
    """'' or 'top/' : where users.json sits (exports zipped with their folder have a top level)."""
    for name in sorted(names, key=len):
        if PurePosixPath(name).name in USER_LISTS and name.count("/") <= 1:
            return name[: -len(PurePosixPath(name).name)]
    return ""


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    private_chat: bool  # a one-to-one DM


def _is_export(names: set[str], root: str) -> bool:
    return any(root + u in names for u in USER_LISTS) and any(root + c in names for c in CHANNEL_LISTS)


class SlackExport(Parser):
    name = "slack-export"
    description = "Slack workspace export, folder or .zip (users.json, channels.json, <channel>/<day>.json)"
    handles_directories = True

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        if path.is_dir():
            names = {p.name for p in path.iterdir() if p.is_file()}
            return _is_export(names, "")
        if path.suffix.lower() != ".zip":
            return False
        try:
            with zipfile.ZipFile(path) as archive:  # reads the central directory only
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError):
            return False
        return _is_export(names, _zip_root(names))

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        tree = ExportTree(path)
        try:
            users = self._users(tree, ctx)
            for folder, channel in self._channels(tree, ctx).items():
                for day in tree.day_files(folder):
                    yield from self._day(tree, day, channel, users, ctx)
        finally:
            tree.close()

    # -- users and channels -------------------------------------------------------------------

    def _users(self, tree: ExportTree, ctx: ParseContext) -> dict[str, tuple[str, tuple[str, ...]]]:
        """user id -> (shown name, every name the user goes by, for owner matching)."""
        users: dict[str, tuple[str, tuple[str, ...]]] = {}
        for list_name in USER_LISTS:
            if not tree.has(list_name):
                continue
            label = tree.label(list_name)
            for i, raw in enumerate(expect(label, tree.load(list_name), list, "[]")):
                user = Fields(label, raw, f"[{i}]")
                profile = user.sub("profile")
                names = [
                    clean(profile.get("display_name", default="")),
                    clean(profile.get("real_name", default="") or user.get("real_name", default="")),
                    clean(user.get("name", default="")),
                ]
                names = [n.strip() for n in names if n and n.strip()]
                user_id = user.require("id")
                users[user_id] = (names[0] if names else user_id, tuple(names))
        return users

    def _channels(self, tree: ExportTree, ctx: ParseContext) -> dict[str, Channel]:
        """folder name -> channel. Channel folders are named by channel name, DM folders by id."""
        channels: dict[str, Channel] = {}
        for list_name in CHANNEL_LISTS:
            if not tree.has(list_name):
                continue
            label = tree.label(list_name)
            for i, raw in enumerate(expect(label, tree.load(list_name), list, "[]")):
                entry = Fields(label, raw, f"[{i}]")
                channel_id = entry.require("id")
                if list_name == "dms.json":
                    channels[channel_id] = Channel(channel_id, channel_id, private_chat=True)
                else:
                    name = entry.require("name")
                    shown = name if list_name == "mpims.json" else f"#{name}"
                    channels[name] = Channel(channel_id, shown, private_chat=False)
        folders = tree.folders()
        for folder in sorted(folders - channels.keys()):
            ctx.warn(f"folder {folder!r} is in no channel list; its name is used as the channel id")
            channels[folder] = Channel(folder, f"#{folder}", private_chat=False)
        return {folder: channel for folder, channel in channels.items() if folder in folders}

    # -- messages -----------------------------------------------------------------------------

    def _day(self, tree: ExportTree, day: str, channel: Channel, users, ctx: ParseContext) -> Iterator[Message]:
        label = tree.label(day)
        for i, raw in enumerate(expect(label, tree.load(day), list, "[]")):
            msg = Fields(label, raw, f"[{i}]")
            if msg.get("type", default="message") != "message":
                ctx.skip(f"slack {msg.obj.get('type')} event")
                continue
            subtype = msg.get("subtype", default="")
            if subtype in BOT_SUBTYPES or (msg.obj.get("bot_id") and not msg.obj.get("user")):
                ctx.skip("bot message")
                continue
            ts = msg.require("ts")
            timestamp = slack_time(label, ts, msg.field("ts"))
            user_id = msg.get("user", default="") or msg.get("username", default="") or "unknown"
            shown, names = users.get(user_id, (None, ()))
            if shown is None:
                profile = msg.sub("user_profile")
                shown = clean(profile.get("display_name", default="") or profile.get("real_name", default="")) or user_id
                names = (shown,)
            kind, text = self._kind_and_text(msg, subtype, users)
            if kind is None:
                ctx.skip("empty message")
                continue
            thread_ts = msg.get("thread_ts", default="")
            yield Message(
                source="slack",
                source_id=f"slack:{channel.id}:{ts}",
                conversation_id=f"slack:{channel.id}",
                conversation_name=channel.name,
                chat_kind=ChatKind.PRIVATE if channel.private_chat else ChatKind.GROUP,
                sender_id=user_id,
                sender_name=shown,
                # the U-id is also tried as a name: `twin init --owner U0BMQB6JE` files it under names
                is_owner=ctx.owner.is_owner(user_id, None) or any(ctx.owner.is_owner(None, n) for n in (*names, user_id)),
                timestamp=timestamp,
                text=text,
                kind=kind,
                reply_to=f"slack:{channel.id}:{thread_ts}" if thread_ts and thread_ts != ts else None,
            )

    @staticmethod
    def _kind_and_text(msg: Fields, subtype: str, users) -> tuple[MessageKind | None, str]:
        text = mrkdwn_to_text(msg.get("text", default=""), users)
        if subtype in RECALLED_SUBTYPES:
            return MessageKind.RECALLED, text
        if subtype not in SPOKEN_SUBTYPES:
            return MessageKind.SYSTEM, text or subtype
        files = msg.obj.get("files") or ([msg.obj["file"]] if msg.obj.get("file") else [])
        if subtype == "file_share" and "uploaded a file" in text:
            text = ""  # old exports write "<@U..|name> uploaded a file: <url|name>", not the user's words
        if text:
            return MessageKind.TEXT, text
        if files and isinstance(files[0], dict):
            mime = str(files[0].get("mimetype") or "")
            kind = _MIME_KINDS.get(mime.split("/", 1)[0], MessageKind.FILE)
            return kind, f"[{kind.value}]"
        return None, ""


def slack_time(label: str, ts: str, field: str) -> datetime:
    """'1458208082.000002' -> aware UTC time, microseconds taken from the digits (no float rounding)."""
    seconds, _, fraction = ts.partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()):
        raise InputError(label, f"unreadable ts {ts!r}", field=field)
    return from_epoch(int(seconds)) + timedelta(microseconds=int(fraction[:6].ljust(6, "0")))


def mrkdwn_to_text(text: str, users: dict[str, tuple[str, tuple[str, ...]]]) -> str:
    """Slack mrkdwn -> plain text: <@U1> -> @name, <#C1|general> -> #general, <url|label> -> label."""

    def replace(match: re.Match) -> str:
        body = match.group(1)
        target, _, label = body.partition("|")
        if target.startswith("@"):
            user_id = target[1:]
            return "@" + (users[user_id][0] if user_id in users else (label or user_id))
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            command = target[1:].split("^", 1)[0]
            if command in ("channel", "here", "everyone"):
                return "@" + command
            return label or ""
        return label or target

    text = _ANGLE.sub(replace, text)
    # Slack escapes only these three; other entities are what the user typed.
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return clean(text).strip()
