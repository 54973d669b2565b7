"""One error path: short member-facing lines, an id for the unexpected, sent the right way."""

from __future__ import annotations

import logging
import re

import pytest
from discord import app_commands

from bot.errors import UserFacingError, describe_error, report_error
from corpus.errors import CorpusError
from index.errors import DatabaseUnavailableError, EmptyIndexError, QuestionError


@pytest.mark.parametrize(("error", "message"), [
    (QuestionError("Too long: keep it under 500."), "Too long: keep it under 500."),
    (CorpusError("notes.bin: not a text file"), "notes.bin: not a text file"),
    (UserFacingError("Give a link or a file, not both."), "Give a link or a file, not both."),
    (EmptyIndexError("The index holds no articles yet."), "The index holds no articles yet."),
    (app_commands.MissingPermissions(["manage_guild"]),
     "You need the Manage Server permission to use this command."),
    (app_commands.NoPrivateMessage(), "This command only works in a server."),
    (app_commands.CommandOnCooldown(app_commands.Cooldown(1, 10), 2.2),
     "Slow down — try again in 3 s."),
    # The database's address (in the error, for the log) is never shown to a member.
    (DatabaseUnavailableError(
        "The database at postgresql://spotlight:***@db.internal/spotlight is unavailable"),
     "The library is unavailable right now; try again in a minute."),
])
def test_known_errors_become_one_clear_line(error, message):
    reply = describe_error(error)
    assert reply.message == message and reply.error_id is None


def test_errors_raised_inside_a_command_are_unwrapped():
    wrapped = app_commands.CommandInvokeError.__new__(app_commands.CommandInvokeError)
    wrapped.original = QuestionError("Ask me a question.")
    assert describe_error(wrapped).message == "Ask me a question."


def test_unexpected_errors_get_an_id_and_a_logged_traceback(caplog):
    try:
        raise RuntimeError("database on fire")
    except RuntimeError as error:
        with caplog.at_level(logging.ERROR, logger="bot.errors"):
            reply = describe_error(error)
    assert re.fullmatch(r"Something went wrong \(error id [0-9a-f]{6}\)\.", reply.message)
    assert "database on fire" not in reply.message  # internals stay in the log
    record = caplog.records[-1]
    assert reply.error_id in record.getMessage()
    assert record.exc_info and record.exc_info[1].args == ("database on fire",)


class FakeResponse:
    def __init__(self, done: bool) -> None:
        self.done = done
        self.sent: list[tuple[str, bool]] = []

    def is_done(self) -> bool:
        return self.done

    async def send_message(self, content: str, *, ephemeral: bool = False) -> None:
        self.sent.append((content, ephemeral))


class FakeFollowup:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bool]] = []

    async def send(self, content: str, *, ephemeral: bool = False) -> None:
        self.sent.append((content, ephemeral))


class FakeInteraction:
    def __init__(self, *, done: bool) -> None:
        self.response = FakeResponse(done)
        self.followup = FakeFollowup()


async def test_report_error_answers_first_if_nothing_was_sent():
    interaction = FakeInteraction(done=False)
    await report_error(interaction, QuestionError("Too long."))
    assert interaction.response.sent == [("Too long.", True)]
    assert interaction.followup.sent == []


async def test_report_error_follows_up_after_a_defer():
    interaction = FakeInteraction(done=True)
    await report_error(interaction, UserFacingError("No such article."))
    assert interaction.followup.sent == [("No such article.", True)]
    assert interaction.response.sent == []
