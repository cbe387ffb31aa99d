"""Generate the WhatsApp parser's locale table from WhatsApp's own UI strings.

    python scripts/whatsapp_locales.py --ios "<dir of XX.strings>" --android "<dir of values-xx/>" \
        --out ingest/formats/whatsapp_locales.json

Inputs are WhatsApp's iOS `Localizable.strings` tables (one JSON object per language, as
`plutil -convert json` writes them; the keys are WhatsApp's obfuscated ids, the same in every
language) and its Android `res/values-xx/strings.xml` tables. Public copies of both sit in
starkdmi/whats_json under `tool/patterns_generator/data/` (GPL-3.0 repository: none of its files
are vendored here; fetch it and point --ios/--android at those folders). The output holds only
the strings an export can contain, which are facts about WhatsApp's UI, grouped by what they mean.

Which strings to take is decided on the English table (iOS: by matching the English text, so the
selection reads as English; Android: by resource name); the same keys are then read in every
language. A few forms seen in real exports but absent from these (older) tables are added from
SUPPLEMENT, each with where it was seen.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

# Twin locale -> (iOS table names, Android resource folders). Several tables per locale where
# WhatsApp ships regional variants (pt-BR/pt-PT, simplified/traditional Chinese).
LOCALES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (("EN",), ("values", "values-en-rGB")),
    "de": (("DE",), ("values-de",)),
    "fr": (("FR",), ("values-fr", "values-fr-rCA")),
    "es": (("ES-SP",), ("values-es", "values-es-rUS")),
    "pt": (("PT-BR", "PT-PT"), ("values-pt", "values-pt-rBR", "values-pt-rPT")),
    "it": (("IT",), ("values-it",)),
    "nl": (("NL",), ("values-nl",)),
    "ru": (("RU",), ("values-ru",)),
    "tr": (("TR",), ("values-tr",)),
    "zh": (("ZH-Hans", "ZH-Hant", "ZH-HK"), ("values-zh-rCN", "values-zh-rTW", "values-zh-rHK")),
    "ja": (("JA",), ("values-ja",)),
    "id": (("ID",), ("values-in", "values-id")),
    "ko": (("KO",), ("values-ko",)),
    "pl": (("PL",), ("values-pl",)),
    "uk": (("UKR",), ("values-uk",)),
    "ar": (("AR",), ("values-ar",)),
    "hi": (("HI",), ("values-hi",)),
    "vi": (("VI",), ("values-vi",)),
}

# iOS: category -> English texts (full match, after removing direction marks) whose keys are taken.
# Placeholders in the English text are matched literally (%@, %1$@...).
IOS_SELECT: dict[str, tuple[str, ...]] = {
    "image": (r"image omitted",),
    "video": (r"video omitted",),
    "voice": (r"audio omitted",),
    "sticker": (r"sticker omitted", r"GIF omitted"),
    "file": (r"document omitted",),
    "other": (r"Contact card omitted",),
    "recalled": (r"This message was deleted\.", r"You deleted this message\.?", r"This message was deleted by an admin\.",
                 r"You deleted this message as admin"),
    "call": (r"Missed [Vv]oice [Cc]all", r"Missed [Vv]ideo [Cc]all"),
    "attached": (r"<attached: %@>",),
    "document_suffix": (r"document omitted",),
    "location_prefix": (r"Location",),
    "notice.encrypted": (
        r"Messages and calls are end-to-end encrypted\..*", r"Messages to yourself are end-to-end encrypted\..*",
        r"Messages to this chat and calls are now secured with end-to-end encryption\..*",
    ),
    "notice.security_code": (r"Your security code with .* changed.*",),
    "system.created": (r".*created (this group|group “%(\d\$)?@”)",),
    "system.added": (r"(%(\d\$)?@|You) added (%(\d\$)?@|you)", r"(%(\d\$)?@|You) (was|were) added",
                     r"You were added because you joined a group"),
    "system.removed": (r"(%(\d\$)?@|You) removed (%(\d\$)?@|you)", r"(%(\d\$)?@|You) (was|were) removed"),
    "system.left": (r"(%(\d\$)?@|You) left",),
    "system.subject": (r"(%(\d\$)?@|You|A participant) changed the subject to “%(\d\$)?@”",),
    "system.description": (r"(%(\d\$)?@|You|A participant) (changed|deleted) the group description",),
    "system.icon": (r"(%(\d\$)?@|You) (changed|deleted) this group['’]s icon",),
    "system.settings": (r"(%(\d\$)?@|You) changed this group['’]s settings to .*",),
    "system.joined": (r"(%(\d\$)?@|You) joined using (this group['’]s invite link|your invite)",),
    "system.number": (r"%(\d\$)?@ changed their phone number.*",),
    "tap_suffix": (r"(Tap|Click) (to learn more|for more info)\.?",),
}
# UI texts that the English patterns above would also catch but never appear in a chat.
IOS_REJECT = re.compile(r"<a |[Cc]ommunity|can['’]t|Couldn['’]t|Tap to view|Click to view")

# Keys whose English text matches a pattern but means something else in other languages.
IOS_SKIP_KEYS = {"fOf6t": "'%@ left' as in time remaining ('Noch %@')"}

# Android: category -> resource names.
ANDROID_SELECT: dict[str, tuple[str, ...]] = {
    "other": ("email_media_omitted",),
    "recalled": ("revoked_msg_incoming", "revoked_msg_outgoing", "revoked_msg_incoming_for_everyone",
                 "revoked_msg_outgoing_for_everyone"),
    "call": ("missed_voice_call", "video_missed_call"),
    "location": ("email_live_location_message",),
    "attached": ("email_file_attached",),
    "location_prefix": ("email_location_message",),
    "notice.security_code": ("identity_changed_name",),
    "system.created": ("group_created_by_name", "group_created_by_you"),
    "system.description": ("group_description_changed_by_name", "group_description_changed_by_you"),
    "system.added": ("group_participant_added_name", "group_participant_added_you", "group_participants_name_added_names",
                     "group_participants_name_added_you", "group_participants_you_added_names"),
    "system.removed": ("group_participant_removed_name", "group_participant_removed_you", "group_participants_name_removed_names",
                       "group_participants_name_removed_you", "group_participants_you_removed_names"),
    "system.left": ("group_participant_left_name", "group_participant_left_you"),
    "system.icon": ("photo_changed_by", "photo_changed_by_you", "photo_removed_by", "photo_removed_by_you"),
    "system.subject": ("group_subject_changed_by_name", "group_subject_changed_by_name_from_to",
                       "group_subject_changed_by_you", "group_subject_changed_by_you_from_to"),
    "system.joined": ("group_participant_joined_by_link_names", "group_participant_joined_by_link_you"),
    "system.number": ("group_participant_changed_number", "chat_changed_number"),
}

# Forms seen in real exports (newer app versions than the tables above), per locale and category.
# Sources: Twin's shared sample exports, chat-analytics' WhatsApp.ts list, the whats_json test exports;
# the localised edit markers are each written the same way by at least two unrelated public parsers.
SUPPLEMENT: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {"edited": ("<This message was edited>",)},
    "de": {"other": ("<Medien ausgeschlossen>",), "attached": ("{} (Datei angehängt)",),
           "edited": ("<Diese Nachricht wurde bearbeitet.>",)},
    "es": {"other": ("<Multimedia omitido>", "<Archivo omitido>"), "recalled": ("Se eliminó este mensaje", "Eliminaste este mensaje"),
           "attached": ("{} (archivo adjunto)",), "edited": ("<Se editó este mensaje.>",)},
    "pt": {"other": ("<Mídia oculta>", "<Arquivo de mídia oculto>"), "recalled": ("Mensagem apagada",),
           "attached": ("{} (arquivo anexado)",), "edited": ("<Mensagem editada>",)},
    "fr": {"other": ("<Médias omis>",), "edited": ("<Ce message a été modifié>",)},
    "nl": {"other": ("<Media weggelaten>",)},
    "it": {"other": ("<Media omessi>",)},
    "zh": {"other": ("<省略多媒体文件>", "<忽略多媒體檔>", "<省略影音内容>"), "recalled": ("这条消息已删除", "此訊息已刪除")},
    "ja": {"other": ("<メディアなし>",)},
    "ko": {"other": ("<미디어 파일 생략>",)},
    "ru": {"other": ("<Без медиафайлов>",)},
    "tr": {"other": ("<Medya dahil edilmedi>",)},
    "id": {"other": ("<Media dihapus>",)},
}

CATEGORIES = ("image", "video", "voice", "sticker", "file", "other", "recalled", "call", "location", "edited",
              "attached", "document_suffix", "location_prefix", "tap_suffix",
              *sorted({c for c in (*IOS_SELECT, *ANDROID_SELECT) if "." in c}))

_INVISIBLE = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_IOS_PLACEHOLDER = re.compile(r"%(?:\d+\$)?[@dsf]")
_ANDROID_PLACEHOLDER = re.compile(r"%(?:\d+\$)?[sd]")


def normalise(text: str, placeholder: re.Pattern) -> str:
    """What an export shows: no direction marks, plain spaces, each placeholder as `{}`."""
    text = _INVISIBLE.sub("", text).replace("\xa0", " ").replace("\u202f", " ").strip()
    return placeholder.sub("{}", text.replace("{", "{{").replace("}", "}}"))


def android_value(raw: str) -> str:
    """Undo Android resource escaping: surrounding quotes, \\' \\" \\n \\@."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), raw)


def read_android(folder: Path) -> dict[str, str]:
    path = folder / "strings.xml"
    if not path.exists():
        return {}
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise SystemExit(f"{path}: not valid XML ({exc})") from None
    return {el.get("name"): android_value("".join(el.itertext())) for el in root if el.tag == "string" and el.get("name")}


def read_ios(path: Path) -> dict[str, str]:
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"{path}: not a JSON strings table ({exc})") from None
    if not isinstance(table, dict):
        raise SystemExit(f"{path}: expected a JSON object of key -> text")
    return table


def ios_keys(english: dict[str, str]) -> dict[str, list[str]]:
    """category -> the iOS keys whose English text matches that category's patterns."""
    chosen: dict[str, list[str]] = {}
    for category, patterns in IOS_SELECT.items():
        joined = re.compile("|".join(f"(?:{p})" for p in patterns))
        chosen[category] = sorted(
            key for key, text in english.items()
            if isinstance(text, str) and key not in IOS_SKIP_KEYS and joined.fullmatch(t := _INVISIBLE.sub("", text).strip()) and not IOS_REJECT.search(t)
        )
    return chosen


def generate(ios_dir: Path | None, android_dir: Path | None, locales=LOCALES, supplement=SUPPLEMENT) -> dict:
    """The locale table: {"locales": {code: {category: [strings]}}}, strings sorted and unique."""
    table: dict[str, dict[str, set[str]]] = {code: {c: set() for c in CATEGORIES} for code in locales}
    if ios_dir is not None:
        keys = ios_keys(read_ios(ios_dir / "EN.strings"))
        for code, (ios_names, _) in locales.items():
            for name in ios_names:
                path = ios_dir / f"{name}.strings"
                if not path.exists():
                    continue
                strings = read_ios(path)
                for category, category_keys in keys.items():
                    for key in category_keys:
                        if isinstance(strings.get(key), str):
                            table[code][category].add(normalise(strings[key], _IOS_PLACEHOLDER))
    if android_dir is not None:
        for code, (_, folders) in locales.items():
            for folder in folders:
                strings = read_android(android_dir / folder)
                for category, names in ANDROID_SELECT.items():
                    for name in names:
                        if name in strings:
                            table[code][category].add(normalise(strings[name], _ANDROID_PLACEHOLDER))
    for code in table:  # 'Location' (iOS) and 'location: %s' (Android) are both a prefix before a URL
        table[code]["location_prefix"] = {re.sub(r"\s*(?:\{\})?\s*$", "", p).rstrip(":：").strip()
                                          for p in table[code]["location_prefix"]}
    for code, extra in supplement.items():
        for category, texts in extra.items():
            if code in table:
                table[code][category].update(texts)
    return {
        "source": "WhatsApp's iOS Localizable.strings and Android strings.xml tables (copies published in "
                  "github.com/starkdmi/whats_json, tool/patterns_generator/data), plus forms seen in real exports; "
                  "generated by scripts/whatsapp_locales.py, do not edit by hand",
        "locales": {code: {c: sorted(s for s in v if s) for c, v in cats.items() if any(v)}
                    for code, cats in table.items() if any(cats.values())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ios", type=Path, help="folder with XX.strings JSON tables")
    parser.add_argument("--android", type=Path, help="folder with values-xx/strings.xml")
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "ingest" / "formats" / "whatsapp_locales.json")
    args = parser.parse_args(argv)
    if args.ios is None and args.android is None:
        parser.error("give --ios and/or --android")
    table = generate(args.ios, args.android)
    args.out.write_text(json.dumps(table, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    counts = {code: sum(map(len, cats.values())) for code, cats in table["locales"].items()}
    print(f"wrote {args.out}: {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
