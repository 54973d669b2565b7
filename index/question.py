"""A member's question, validated once at the edge (the bot's cog, the CLI, `Library.ask`
given a plain string) with the limit from LibraryConfig."""

from __future__ import annotations

import re

from corpus.text import scrub
from index.errors import QuestionError

_DISCORD_MARKUP = re.compile(r"<(?:@[!&]?|#)\d+>")


class Question(str):
    """A question that passed `normalise_question`: mentions gone, whitespace collapsed,
    within the length limit. Passing one on skips validating it twice."""


def normalise_question(question: str, max_chars: int) -> Question:
    if isinstance(question, Question):
        return question
    # Control characters and lone surrogates break tokenizers, SQLite and embeds.
    text = " ".join(scrub(_DISCORD_MARKUP.sub(" ", question)).split())
    if not text:
        raise QuestionError("The question is empty: ask me something about a celebrity.")
    if len(text) > max_chars:
        raise QuestionError(
            f"That question is {len(text):,} characters long; please keep it under {max_chars}."
        )
    return Question(text)
