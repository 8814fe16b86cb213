"""Entities on Teams activities: the stream's ``streaminfo`` and the answer's sources.

An answer's ``[Title, S. N]`` labels become ``[n]`` markers, and one schema.org
``Message`` entity carries a ``Claim`` per marked source (manual and page as the
name, the cited lines as the abstract), plus the "AI generated" label
(``additionalType: ["AIGeneratedContent"]``) when a language model wrote the text.
Field names and limits follow Microsoft's schema for bot messages with AI-generated
content: name ≤ 80 characters, abstract ≤ 160, at most three keywords of ≤ 28.
Teams shows citations and the label in personal and group chats, not in channels.

botbuilder's ``Entity`` serializes only ``type``; ``json_entity`` keeps every field.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from botbuilder.schema import Entity

from bot.core.messages import Answer, Citation

StreamType = Literal["informative", "streaming", "final"]
NAME_CHARS = 80
ABSTRACT_CHARS = 160
KEYWORD_CHARS = 28
MESSAGE_TYPE = "https://schema.org/Message"
AI_GENERATED = "AIGeneratedContent"
_LABEL = re.compile(r"\[([^\[\]]+?),\s*S\.\s*(\d+)\]")  # the core's citation label, ``Citation.label``


class _JsonEntity(Entity):
    """An entity whose every field is sent as given."""

    _attribute_map: ClassVar[dict[str, dict[str, str]]] = {
        "type": {"key": "type", "type": "str"},
        "additional_properties": {"key": "", "type": "{object}"},
    }


def json_entity(data: dict[str, Any]) -> Entity:
    """An entity that serializes to exactly ``data`` (which has a ``type``)."""
    entity: Entity = _JsonEntity.deserialize(data)
    return entity


def stream_info(kind: StreamType, stream_id: str | None, sequence: int | None) -> Entity:
    """The ``streaminfo`` entity: no id on the first request, no sequence on the final one."""
    data: dict[str, Any] = {"type": "streaminfo", "streamType": kind}
    if stream_id is not None:
        data["streamId"] = stream_id
    if sequence is not None:
        data["streamSequence"] = sequence
    return json_entity(data)


def sources(citations: tuple[Citation, ...]) -> list[Citation]:
    """The answer's citations once each, in order: number n is the n-th of these."""
    return list(dict.fromkeys(citations))


def with_markers(text: str, citations: tuple[Citation, ...]) -> tuple[str, list[int]]:
    """``text`` with each label of a cited page as ``[n]`` and the numbers used, in order.
    A label naming no cited page stays as it is."""
    numbers = {(_norm(c.title), c.page): n for n, c in reversed(list(enumerate(sources(citations), start=1)))}
    used: dict[int, None] = {}

    def marker(found: re.Match[str]) -> str:
        number = numbers.get((_norm(found.group(1)), int(found.group(2))))
        if number is None:
            return found.group(0)
        used.setdefault(number, None)
        return f"[{number}]"

    return _LABEL.sub(marker, text), list(used)


def claim(position: int, citation: Citation) -> dict[str, Any]:
    """One source as a Teams ``Claim``: manual and page, the cited lines as the abstract."""
    page = f", S. {citation.page}"
    name = _cut(citation.title, NAME_CHARS - len(page)) + page
    abstract = " ".join((citation.excerpt or f"{citation.title}{page}").split())
    return {
        "@type": "Claim",
        "position": position,
        "appearance": {
            "@type": "DigitalDocument",
            "name": name,
            "abstract": _cut(abstract, ABSTRACT_CHARS),
            "keywords": [_cut(f"S. {citation.page}", KEYWORD_CHARS)],
        },
    }


def message_entity(answer: Answer, positions: list[int]) -> Entity | None:
    """The schema.org ``Message`` entity for ``answer`` whose ``[n]`` markers are ``positions``;
    None when it has neither a marked source nor the AI label."""
    if not positions and not answer.ai_generated:
        return None
    listed = sources(answer.citations)
    data: dict[str, Any] = {"type": MESSAGE_TYPE, "@type": "Message", "@context": "https://schema.org", "@id": ""}
    if answer.ai_generated:
        data["additionalType"] = [AI_GENERATED]
    if positions:
        data["citation"] = [claim(n, listed[n - 1]) for n in positions]
    return json_entity(data)


def _norm(title: str) -> str:
    return " ".join(title.split()).casefold()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
