"""Prompt building: the one place training and serving agree on what the model sees.

`system_prompt()` is attached to every SFT sample and to every served conversation, so the
adapter is trained on exactly the text it will later be prompted with.
"""

from __future__ import annotations

from core.config import PersonaConfig


def system_prompt(persona: PersonaConfig) -> str:
    text = persona.system_prompt.format(name=persona.name, description=persona.description)
    return " ".join(text.split())  # collapse the gaps an empty {description} leaves


def disclosure(persona: PersonaConfig) -> str:
    return persona.disclosure.format(name=persona.name)
