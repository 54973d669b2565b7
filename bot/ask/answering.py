"""Asking the library on behalf of a member: blocking code, called through asyncio.to_thread."""

from __future__ import annotations

from dataclasses import dataclass

from index.errors import EmptyIndexError
from index.library import Library
from index.results import Answer

FOLLOW_UP_HINT = "Reply to this answer to ask a follow-up."


def compose_followup(previous: str, followup: str, *, max_chars: int) -> str:
    """The follow-up read in the context of the question it replies to.

    "why was Kim criticized?" + "what did she say after?" asks about both, so the search
    finds the same story. When the pair is too long, the end of the earlier question is
    dropped (its start usually names who and what), never the follow-up itself.
    """
    room = max_chars - len(followup) - 1
    if room <= 0:
        return followup[:max_chars]
    context = previous if len(previous) <= room else _cut_at_word(previous, room)
    return f"{context} {followup}" if context else followup


def _cut_at_word(text: str, limit: int) -> str:
    cut = text[: limit + 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > 0 else text[:limit]).rstrip()


def ask_library(library: Library, question: str, *, guild_id: int | None) -> Answer:
    """library.ask, with an empty library read as "not in my articles" rather than an error."""
    try:
        return library.ask(question, guild_id=guild_id)
    except EmptyIndexError:
        return Answer(question=question, abstained=True)


@dataclass(frozen=True)
class AnsweredQuestion:
    answer: Answer
    question_id: int  # for the feedback buttons
    question: str  # what the library was asked (a follow-up includes its context)


def answer_question(
    library: Library, question: str, *, guild_id: int | None, user_id: int | None
) -> AnsweredQuestion:
    """Ask, and log the question (with whether it was answered) for /library stats."""
    answer = ask_library(library, question, guild_id=guild_id)
    question_id = library.log_question(question, answer, guild_id=guild_id, user_id=user_id)
    return AnsweredQuestion(answer=answer, question_id=question_id, question=question)
