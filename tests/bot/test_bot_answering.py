"""Follow-up composition and asking on a member's behalf."""

from __future__ import annotations

from bot.ask.answering import answer_question, ask_library, compose_followup
from index.errors import EmptyIndexError
from index.results import Answer


def test_followup_is_read_with_the_previous_question():
    assert compose_followup("why was Kim criticized?", "what did she say after?",
                            max_chars=500) == "why was Kim criticized? what did she say after?"


def test_followup_keeps_the_start_of_a_long_previous_question():
    previous = "who went to the Met Gala with North " + "and many other people " * 30
    composed = compose_followup(previous, "why?", max_chars=100)
    assert len(composed) <= 100
    assert composed.startswith("who went to the Met Gala with North")
    assert composed.endswith(" why?")
    assert composed[: -len(" why?")] == previous[: len(composed) - len(" why?")]  # whole words


def test_followup_at_the_cap_stands_alone():
    followup = "x" * 100
    assert compose_followup("earlier question", followup, max_chars=100) == followup


class StubLibrary:
    def __init__(self, *, empty: bool = False) -> None:
        self.empty = empty
        self.logged: list[tuple[str, bool, int | None, int | None]] = []

    def ask(self, question: str, *, guild_id: int | None = None) -> Answer:
        if self.empty:
            raise EmptyIndexError("no articles")
        return Answer(question=question, abstained=False)

    def log_question(self, question, answer, *, guild_id, user_id) -> int:
        self.logged.append((question, answer.abstained, guild_id, user_id))
        return len(self.logged)


def test_an_empty_library_abstains_instead_of_failing():
    answer = ask_library(StubLibrary(empty=True), "who?", guild_id=5)
    assert answer.abstained and answer.hits == [] and answer.question == "who?"


def test_every_question_is_logged_with_its_outcome():
    library = StubLibrary(empty=True)
    result = answer_question(library, "who?", guild_id=5, user_id=9)
    assert result.question_id == 1 and result.question == "who?"
    assert library.logged == [("who?", True, 5, 9)]
