"""Deciding which messages are the owner's ("me").

Order of trust: a sender flag in the export (WeChat is_sender, QQ-Chat-Exporter selfUid...),
then configured account ids, then configured display names. A chat where none of these
identifies the owner is reported by the pipeline, never guessed.
"""

from __future__ import annotations

from twin.config import OwnerConfig


class OwnerResolver:
    def __init__(self, config: OwnerConfig, extra_ids: tuple[str, ...] = ()):
        self.ids = {i.strip().lower() for i in (*config.ids, *extra_ids) if i.strip()}
        self.names = {n.strip().casefold() for n in config.names if n.strip()}

    def is_owner(self, sender_id: str | None, sender_name: str | None, flag: bool | None = None) -> bool:
        if flag is not None:
            return flag
        if sender_id and self._id_matches(sender_id):
            return True
        return bool(sender_name) and sender_name.strip().casefold() in self.names

    def _id_matches(self, sender_id: str) -> bool:
        sid = sender_id.strip().lower()
        if sid in self.ids:
            return True
        # Telegram writes "user123", Discord/QQ plain digits: accept either spelling of an id.
        return sid.startswith("user") and sid[4:] in self.ids

    @property
    def configured(self) -> bool:
        return bool(self.ids or self.names)
