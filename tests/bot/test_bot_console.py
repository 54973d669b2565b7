"""Console mode answers with the same text as Discord and stops on quit or EOF."""

from __future__ import annotations

import io

from bot.console import BANNER, run_console
from bot.render import NOT_FOUND, answer_text
from index.results import Answer, Citation, Quote

ANSWER = Answer(
    question="why was Kim criticized?", abstained=False,
    quotes=[Quote(text="Fans criticized Kim over the Japan trip.", citation=1)],
    citations=[Citation(number=1, article_id="a", title="Kim in Japan", date="2024-05-01",
                        url=None, source="seeds/japan.txt")],
)


class StubLibrary:
    def __init__(self) -> None:
        self.asked: list[tuple[str, int | None]] = []

    def ask(self, question: str, *, guild_id: int | None = None) -> Answer:
        self.asked.append((question, guild_id))
        if "kim" in question.lower():
            return ANSWER
        return Answer(question=question, abstained=True)


def run(lines: str, library: StubLibrary | None = None) -> tuple[str, StubLibrary]:
    library = library or StubLibrary()
    output = io.StringIO()
    run_console(library, input=io.StringIO(lines), output=output, max_question_chars=50)
    return output.getvalue(), library


def test_answers_each_question_until_quit():
    text, library = run("why was Kim criticized?\n\n  who won the world cup?  \nquit\nignored\n")
    assert text.startswith(BANNER)
    assert answer_text(ANSWER) in text
    assert NOT_FOUND in text
    assert library.asked == [("why was Kim criticized?", None), ("who won the world cup?", None)]


def test_stops_at_end_of_input():
    text, library = run("why was Kim criticized?")
    assert answer_text(ANSWER) in text and len(library.asked) == 1


def test_overlong_question_is_refused_and_the_loop_goes_on():
    text, library = run("x" * 80 + "\nwhy was Kim criticized?\n")
    assert "keep it under 50" in text
    assert library.asked == [("why was Kim criticized?", None)]
