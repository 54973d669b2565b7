"""Console mode: the same answers as Discord, in a terminal, from the same index."""

from __future__ import annotations

import sys
from typing import TextIO

from bot.ask.answering import ask_library
from bot.render import answer_text
from index.config import DEFAULT_MAX_QUESTION_CHARS
from index.errors import QuestionError
from index.library import Library, normalise_question

BANNER = "Spotlight console: ask about celebrities in the news. Type quit (or Ctrl-D) to leave."
PROMPT = "? "
QUIT_WORDS = {"quit", "exit", "q", ":q"}


def run_console(
    library: Library,
    *,
    input: TextIO | None = None,
    output: TextIO | None = None,
    max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS,
) -> None:
    """Read questions line by line until EOF or `quit`; answer each from the global articles.

    `input`/`output` default to the terminal, looked up at call time (tests swap them).
    """
    input = input or sys.stdin
    output = output or sys.stdout
    print(BANNER, file=output)
    while True:
        output.write(PROMPT)
        output.flush()
        line = input.readline()
        if not line:  # EOF
            output.write("\n")
            return
        text = line.strip()
        if not text:
            continue
        if text.casefold() in QUIT_WORDS:
            return
        try:
            question = normalise_question(text, max_question_chars)
        except QuestionError as error:
            print(error, file=output)
            continue
        print(answer_text(ask_library(library, question, guild_id=None)), file=output)
        print(file=output)
