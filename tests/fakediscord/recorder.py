"""What the bot did, as the fake saw it: every request, and every interaction's life.

`InteractionReply` is the member's view of one interaction: the messages they see (the
original response after any edits, then follow-ups), or the modal that opened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .payloads import JSON, FakeChannel, FakeGuild, FakeMember, MessageFlag

# Interaction callback types.
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE = 1, 4, 5
DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE, AUTOCOMPLETE_RESULT, MODAL = 6, 7, 8, 9
# Interaction types.
APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the /api/v10 prefix for API routes
    query: dict[str, str]
    body: Any  # parsed JSON (payload_json for multipart), or None
    files: tuple[tuple[str, bytes], ...]  # (filename, bytes) of uploaded files
    status: int
    response: Any
    known_route: bool


@dataclass
class InteractionRecord:
    """One interaction the fake sent, and everything the bot did about it."""

    id: int
    token: str
    type: int
    payload: JSON
    guild: FakeGuild | None
    channel: FakeChannel
    member: FakeMember
    # Set when the INTERACTION_CREATE frame is written to the bot's socket.
    delivered_at: float | None = None
    callback_type: int | None = None
    callback_body: JSON | None = None
    acknowledged_at: float | None = None
    # Set when the member first sees a message from the bot for it (time.monotonic()): the
    # callback's own message, or the follow-up or edit that replaces "thinking...".
    answered_at: float | None = None
    # The message the original response is: the reply for 4/5, the component's message for 6/7.
    original_message_id: int | None = None
    loading: bool = False
    followup_ids: list[int] = field(default_factory=list)
    modal: JSON | None = None
    autocomplete_choices: list[JSON] | None = None
    # Discord's refusals (late, double acknowledgement, follow-up before ack...): (status, body)
    rejections: list[tuple[int, JSON]] = field(default_factory=list)

    def answered(self) -> None:
        if self.answered_at is None:
            self.answered_at = time.monotonic()

    def age(self) -> float:
        return 0.0 if self.delivered_at is None else time.monotonic() - self.delivered_at


@dataclass
class InteractionReply:
    """What the member who triggered an interaction sees, right now."""

    interaction_id: int
    callback_type: int | None
    messages: list[JSON]  # original response (current state) first, then follow-ups
    modal: JSON | None
    loading: bool
    rejections: list[tuple[int, JSON]]

    @property
    def message(self) -> JSON:
        """The first visible message (the answer); raises when there is none."""
        if not self.messages:
            raise AssertionError(f"interaction {self.interaction_id} shows no message: "
                                 f"callback={self.callback_type} modal={self.modal is not None}")
        return self.messages[0]

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.message.get("flags") or 0) & MessageFlag.EPHEMERAL)

    @property
    def content(self) -> str:
        return self.message.get("content") or ""

    @property
    def embeds(self) -> list[JSON]:
        return self.message.get("embeds") or []

    @property
    def components(self) -> list[JSON]:
        return self.message.get("components") or []

    def custom_ids(self) -> list[str]:
        return message_custom_ids(self.message)

    def text(self) -> str:
        """Everything readable across the visible messages, for `in` assertions."""
        return "\n".join(message_text(message) for message in self.messages)


def message_text(message: JSON) -> str:
    """Content, then each embed's title, description, fields, footer and author, as text."""
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        for embed_field in embed.get("fields") or []:
            parts += [embed_field.get("name") or "", embed_field.get("value") or ""]
        parts.append((embed.get("footer") or {}).get("text") or "")
        parts.append((embed.get("author") or {}).get("name") or "")
    return "\n".join(part for part in parts if part)


def iter_components(components: list[JSON]):
    """Every component, depth first (action rows, containers, sections, labels)."""
    for component in components or []:
        yield component
        yield from iter_components(component.get("components") or [])
        if isinstance(component.get("component"), dict):
            yield from iter_components([component["component"]])
        if isinstance(component.get("accessory"), dict):
            yield from iter_components([component["accessory"]])


def message_custom_ids(message: JSON) -> list[str]:
    return [c["custom_id"] for c in iter_components(message.get("components") or [])
            if c.get("custom_id")]
