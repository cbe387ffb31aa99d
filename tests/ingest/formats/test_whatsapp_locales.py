"""WhatsApp texts in other languages: the generator that builds the locale table from WhatsApp's
string tables, the format-string matchers, and per-locale lines written from the packaged table
(synthetic exports, one line per kind) typed as media/system/recall, not as the owner's words."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from twin.records import MessageKind
from twin.ingest.formats import whatsapp_texts
from twin.ingest.formats.whatsapp_texts import ExporterTexts, TemplateSet, template_regex
from tests.ingest.formats.run_parser import run_parser

REPO = Path(__file__).parents[3]
LOCALES = ["en", "de", "fr", "es", "pt", "it", "nl", "ru", "tr", "zh", "ja", "id"]
TABLE = whatsapp_texts.load_table()
SYSTEM_EVENTS = ["created", "added", "removed", "left", "subject", "description", "icon", "joined", "number"]
MEDIA = {"image": MessageKind.IMAGE, "video": MessageKind.VIDEO, "voice": MessageKind.VOICE,
         "sticker": MessageKind.STICKER, "file": MessageKind.FILE}


def load_generator():
    spec = importlib.util.spec_from_file_location("whatsapp_locales", REPO / "scripts" / "whatsapp_locales.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fill(template: str, *names: str) -> str:
    """A template with its placeholders replaced by names (cycled), as WhatsApp would print it."""
    values = iter(names * 4)
    return re.sub(r"\{\}", lambda _: next(values), template).replace("{{", "{").replace("}}", "}")


# --- the generator, on a small table written here -------------------------------------------

def write_small_tables(root: Path) -> tuple[Path, Path]:
    ios, android = root / "ios", root / "android"
    ios.mkdir()
    (ios / "EN.strings").write_text(json.dumps({
        "k1": "\u200eimage omitted", "k2": "\u200e%@ left", "k3": "\u200e%1$@ created group “%2$@”",
        "k4": "\u200eYou can't remove %1$@ because they created this group.",  # UI text: must not be taken
        "k5": "\u200eThis message was deleted.", "k6": "\u200e<attached: %@>", "k7": "\u200eTap to learn more.",
    }), encoding="utf-8")
    (ios / "DE.strings").write_text(json.dumps({
        "k1": "\u200eBild weggelassen", "k2": "\u200e%@ hat die Gruppe verlassen.", "k3": "\u200e%1$@ hat die Gruppe „%2$@“ erstellt.",
        "k4": "\u200eDu kannst %1$@ nicht entfernen.", "k5": "\u200eDiese Nachricht wurde gelöscht.",
        "k6": "\u200e<Anhang: %@>", "k7": "\u200eTippe, um mehr zu erfahren.",
    }), encoding="utf-8")
    for folder, attached, left in (("values", "%s (file attached)", "%s left"), ("values-de", "%s (Datei angehängt)", "%s hat die Gruppe verlassen")):
        (android / folder).mkdir(parents=True)
        (android / folder / "strings.xml").write_text(
            '<?xml version="1.0" encoding="utf-8"?>\n<resources>\n'
            f'  <string name="email_file_attached">{attached}</string>\n'
            f'  <string name="group_participant_left_name">{left}</string>\n'
            '  <string name="group_participant_joined_by_link_you">"You joined using this group\\\'s invite link"</string>\n'
            '  <string name="email_media_omitted">&lt;Media omitted></string>\n'
            '  <string name="settings_title">Settings</string>\n'
            '</resources>\n', encoding="utf-8")
    return ios, android


def test_generator_builds_locale_table_from_small_tables(tmp_path):
    generator = load_generator()
    ios, android = write_small_tables(tmp_path)
    locales = {"en": (("EN",), ("values",)), "de": (("DE",), ("values-de",))}
    table = generator.generate(ios, android, locales=locales, supplement={"de": {"other": ("<Medien ausgeschlossen>",)}})
    de = table["locales"]["de"]
    assert de["image"] == ["Bild weggelassen"]  # direction mark gone
    assert de["recalled"] == ["Diese Nachricht wurde gelöscht."]
    assert de["system.left"] == ["{} hat die Gruppe verlassen", "{} hat die Gruppe verlassen."]  # iOS %@ and Android %s
    assert de["system.created"] == ["{} hat die Gruppe „{}“ erstellt."]  # %1$@ / %2$@
    assert de["attached"] == ["<Anhang: {}>", "{} (Datei angehängt)"]
    assert de["other"] == ["<Media omitted>", "<Medien ausgeschlossen>"]  # Android table, then the supplement
    assert de["tap_suffix"] == ["Tippe, um mehr zu erfahren."]
    assert "Du kannst {} nicht entfernen." not in json.dumps(table, ensure_ascii=False)  # UI text rejected
    en = table["locales"]["en"]
    assert en["system.joined"] == ["You joined using this group's invite link"]  # Android quotes/escapes undone
    assert en["other"] == ["<Media omitted>"] and "settings_title" not in json.dumps(table)


def test_generator_command_writes_the_file(tmp_path):
    generator = load_generator()
    ios, android = write_small_tables(tmp_path)
    out = tmp_path / "table.json"
    assert generator.main(["--ios", str(ios), "--android", str(android), "--out", str(out)]) == 0
    written = json.loads(out.read_text(encoding="utf-8"))
    assert "whats_json" in written["source"] and written["locales"]["de"]["image"] == ["Bild weggelassen"]
    assert {"en", "de"} <= set(written["locales"]) and "pl" not in written["locales"]  # no table, no supplement: left out


def test_packaged_table_covers_every_kind_in_the_main_locales():
    needed = ["image", "video", "voice", "sticker", "file", "recalled", "attached", "notice.encrypted",
              "notice.security_code", *(f"system.{event}" for event in SYSTEM_EVENTS)]
    for locale in LOCALES:
        missing = [category for category in needed if not TABLE[locale].get(category)]
        assert not missing, (locale, missing)


# --- format strings as regexes ---------------------------------------------------------------

@pytest.mark.parametrize("template, text, matches", [
    ("%@ hat %1$@ entfernt.", "Anna hat Bob entfernt.", True),
    ("%@ hat %1$@ entfernt.", "Anna hat Bob entfernt", True),  # the final full stop is optional
    ("{name} left", "Anna Weber left", True),
    ("{} left", "left", False),  # a placeholder stands for at least one character
    ("{} покинул(-а) группу", "Иван покинул(-а) группу", True),  # parentheses are literal
    ("{} покинул(-а) группу", "Иван покинулаа группу", False),
    ("Der*Die Gruppengründer*in hat diese Gruppe erstellt.", "Der*Die Gruppengründer*in hat diese Gruppe erstellt.", True),
    ("{} changed the subject to “{}”", 'Anna changed the subject to "Trip: 2021"', True),  # any quote for any quote
    ("{} changed this group's icon", "Anna changed this group’s icon", True),
    ("{} left", "Anna\nleft", False),  # one line only
])
def test_template_regex(template, text, matches):
    assert (re.fullmatch(template_regex(template), text, re.IGNORECASE) is not None) is matches


def test_template_set_buckets_still_find_every_template():
    templates = ["{} left", "You left", "{}が退出しました", "{} added {}", "{} changed the subject to “{}”"]
    found = TemplateSet(templates)
    for text in ["Anna left", "You left", "アンナが退出しました", "Anna added Bob", 'Anna changed the subject to "x"']:
        assert found.match(text), text
    assert not found.match("hello there") and not found.match("Anna stayed")


# --- lines of every kind, per locale, from the table -----------------------------------------

def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("locale", LOCALES)
def test_ios_lines_of_every_kind(tmp_path, locale):
    t = TABLE[locale]
    lines, expected = [], []

    def stamp(n: int) -> str:
        return f"[21.03.2022, {10 + n // 60:02d}:{n % 60:02d}:00]"

    def add(body: str, kind: MessageKind, author: str = "Anna", mark_line: bool = True):
        lines.append(("\u200e" if mark_line else "") + stamp(len(lines)) + f" {author}: \u200e{body}")
        expected.append((kind, body))

    lines.append(stamp(0) + " Anna: hello 👋")
    expected.append((MessageKind.TEXT, "hello 👋"))
    for category, kind in MEDIA.items():
        add(t[category][0], kind)
    for recalled in t["recalled"]:  # with and without the final full stop
        add(recalled, MessageKind.RECALLED, mark_line=False)
        add(recalled.rstrip("."), MessageKind.RECALLED, mark_line=False)
    add(fill(t["attached"][0], "00000042-PHOTO-2022-03-21.jpg"), MessageKind.IMAGE)
    for event in SYSTEM_EVENTS:  # group events stand under the group's name
        for template in t[f"system.{event}"]:
            add(fill(template, "Bob", "Carla"), MessageKind.SYSTEM, author="Reise 2022")
    for template in t["notice.encrypted"] + t["notice.security_code"]:
        add(fill(template, "Bob"), MessageKind.SYSTEM, author="Bob")
    lines.append(stamp(len(lines)) + " Bob: ok")
    expected.append((MessageKind.TEXT, "ok"))
    lines.append(stamp(len(lines)) + " Carla: 👍")
    expected.append((MessageKind.TEXT, "👍"))
    _, records, _ = run_parser(write_lines(tmp_path / "WhatsApp Chat - Reise 2022" / "_chat.txt", lines), names=["Anna"])
    got = [(r.kind, r.text) for r in records]
    wrong = [(want, have) for want, have in zip(expected, got) if want[0] is not have[0]]
    assert len(got) == len(expected) and not wrong, wrong[:5]
    assert all(r.sender_id == "system" and not r.is_owner for r in records if r.kind is MessageKind.SYSTEM)


@pytest.mark.parametrize("locale", LOCALES)
def test_android_lines_of_every_kind(tmp_path, locale):
    t = TABLE[locale]
    lines = ["21/03/2022, 10:00 - Anna: hello"]
    kinds = [MessageKind.TEXT]
    for omitted in t.get("other", []):
        if omitted.startswith("<"):  # Android's '<Media omitted>'
            lines.append(f"21/03/2022, 10:01 - Bob: {omitted}")
            kinds.append(MessageKind.OTHER)
    for attached in t["attached"]:
        lines.append(f"21/03/2022, 10:02 - Bob: {fill(attached, 'VID-20220321-WA0002.mp4')}")
        kinds.append(MessageKind.VIDEO)
    for recalled in t["recalled"]:
        lines.append(f"21/03/2022, 10:03 - Bob: {recalled}")
        kinds.append(MessageKind.RECALLED)
    for template in t["system.left"] + t["system.added"]:  # no 'Name: ': an event line
        lines.append(f"21/03/2022, 10:04 - {fill(template, 'Bob', 'Carla')}")
        kinds.append(MessageKind.SYSTEM)
    _, records, _ = run_parser(write_lines(tmp_path / f"chat_{locale}.txt", lines))
    assert [r.kind for r in records] == kinds


@pytest.mark.parametrize("line", [
    "Ich habe das Bild weggelassen, sorry",  # words of 'Bild weggelassen' in a sentence
    "Diese Nachricht wurde gelöscht, sagt er",
    "the image omitted from the report was fine",
    "Bob left",  # an event's words typed by a person, without WhatsApp's mark
    "Bob hat die Gruppe verlassen.",
    "you deleted this message? why",
    "Vous avez supprimé ce message ?! non",
    "这条消息已被删除了吗",
    "画像は含まれていませんでした",
    "<attached: nothing here",
    "My location: home",
])
def test_ordinary_messages_stay_text(tmp_path, line):
    path = write_lines(tmp_path / "chat.txt", [
        "[21.03.2022, 10:00:00] Anna: hi", f"[21.03.2022, 10:01:00] Bob: {line}", "[21.03.2022, 10:02:00] Anna: ok"])
    _, records, _ = run_parser(path)
    assert (records[1].kind, records[1].text, records[1].sender_name) == (MessageKind.TEXT, line, "Bob")


def test_ios_document_after_file_name_and_tap_suffix(tmp_path):
    path = write_lines(tmp_path / "WhatsApp Chat - Elon" / "_chat.txt", [
        "[27.03.2022, 21:41:35] Dmitry: Hallo",
        "\u200e[27.03.2022, 21:50:25] Dmitry: Lebenslauf.pdf \u2022 2 Seiten \u200eDokument weggelassen",
        "[28.04.2022, 20:17:30] Elon: \u200e\u200eDeine Sicherheitsnummer für Elon hat sich geändert. \u200eTippe, um mehr zu erfahren.",
        "[28.04.2022, 20:18:00] Dmitry: Dokument weggelassen",  # no mark, whole text: still WhatsApp's
        "[28.04.2022, 20:19:00] Elon: Ich habe das Dokument weggelassen",
    ])
    _, records, _ = run_parser(path)
    assert [r.kind for r in records] == [MessageKind.TEXT, MessageKind.FILE, MessageKind.SYSTEM, MessageKind.FILE, MessageKind.TEXT]


def test_android_event_with_colon_in_subject(tmp_path):
    path = write_lines(tmp_path / "chat.txt", [
        "21/03/2022, 10:00 - Anna: hi",
        '21/03/2022, 10:01 - Anna changed the subject from "Trip" to "Trip: 2022"',
        '21/03/2022, 10:02 - Bob: Anna said "go: now"',
    ])
    _, records, _ = run_parser(path)
    assert [(r.kind, r.sender_id) for r in records] == [
        (MessageKind.TEXT, "Anna"), (MessageKind.SYSTEM, "system"), (MessageKind.TEXT, "Bob")]


def test_quoted_nickname_is_an_author_not_an_event(tmp_path):
    path = write_lines(tmp_path / "chat.txt", [
        '21/03/2022, 10:00 - Mo "The Dev" Ali: hi all',
        '21/03/2022, 10:01 - Mo "The Dev" Ali: I put my template on the git and added it. See what you think',
    ])
    _, records, _ = run_parser(path)
    assert [(r.kind, r.sender_name) for r in records] == [(MessageKind.TEXT, 'Mo "The Dev" Ali')] * 2


@pytest.mark.parametrize("marker", ["<This message was edited>", "<Diese Nachricht wurde bearbeitet.>",
                                    "<Se editó este mensaje.>", "<Ce message a été modifié>", "<Mensagem editada>"])
def test_edit_markers_are_dropped(tmp_path, marker):
    path = write_lines(tmp_path / "chat.txt", [f"21/03/2022, 10:00 - Anna: bis morgen \u200e{marker}",
                                               "21/03/2022, 10:01 - Bob: <Diese Nachricht> ist kein Marker"])
    _, records, _ = run_parser(path)
    assert [(r.kind, r.text) for r in records] == [
        (MessageKind.TEXT, "bis morgen"), (MessageKind.TEXT, "<Diese Nachricht> ist kein Marker")]


def test_attachment_names_may_hold_line_breaks():
    texts = whatsapp_texts.load()
    assert texts.attachment("<attached: \n00000035-PHOTO-2022-03-27-21-4\n1-55.jpg>") == "00000035-PHOTO-2022-03-27-21-4\n1-55.jpg"
    assert texts.attachment("<Anhang: 00000042-PHOTO.jpg>") == "00000042-PHOTO.jpg"


def test_exporter_texts_from_a_custom_table():
    texts = ExporterTexts({"xx": {"image": ["pic gone"], "system.left": ["{} walked out"], "attached": ["[[{}]]"]}})
    assert texts.exact[whatsapp_texts.exact_key("Pic gone.")] is MessageKind.IMAGE
    assert texts.is_system("Anna walked out") and not texts.is_system("Anna walked in")
    assert texts.attachment("[[a.pdf]]") is None  # only texts ending in '>' or ')' are tried
