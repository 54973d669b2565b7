"""One place that turns any error into the short line a member sees.

The tree's error handler, modals, buttons and the mention listener all go through
`describe_error`; unexpected errors get an id that is shown to the member and logged with
the traceback, so a report ("error id 3fa9c1") leads straight to the log line.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass

import discord
from discord import app_commands

from bot.render import plain_message
from corpus.errors import CorpusError
from index.errors import DatabaseUnavailableError, IndexError_

log = logging.getLogger(__name__)


# The library's database (SPOTLIGHT_DATABASE_URL) is down or restarting: say so, briefly,
# without its address; the next question after it is back is answered normally.
LIBRARY_UNAVAILABLE = "The library is unavailable right now; try again in a minute."


class UserFacingError(app_commands.AppCommandError):
    """A problem the member can fix; the message is shown as is."""


@dataclass(frozen=True)
class ErrorReply:
    message: str
    error_id: str | None = None  # set for unexpected errors (logged with the traceback)


_PERMISSION_NAMES = {"manage_guild": "Manage Server"}


def _permission_names(missing: list[str]) -> str:
    return ", ".join(
        _PERMISSION_NAMES.get(name, name.replace("_", " ").title()) for name in missing
    )


def describe_error(error: BaseException) -> ErrorReply:
    """The member-facing line for `error`; logs unexpected ones under a fresh id."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original  # what the command itself raised
    if isinstance(error, app_commands.TransformerError):
        return ErrorReply(f"I couldn't understand the value {str(error.value)[:100]!r}.")
    if isinstance(error, app_commands.CommandOnCooldown):
        return ErrorReply(f"Slow down — try again in {math.ceil(error.retry_after)} s.")
    if isinstance(error, app_commands.MissingPermissions):
        needed = _permission_names(error.missing_permissions)
        return ErrorReply(f"You need the {needed} permission to use this command.")
    if isinstance(error, app_commands.BotMissingPermissions):
        needed = _permission_names(error.missing_permissions)
        return ErrorReply(f"I need the {needed} permission here to do that.")
    if isinstance(error, app_commands.NoPrivateMessage):
        return ErrorReply("This command only works in a server.")
    if isinstance(error, DatabaseUnavailableError):
        log.warning("Answered a member with 'unavailable': %s", error)
        return ErrorReply(LIBRARY_UNAVAILABLE)
    if isinstance(error, UserFacingError | CorpusError | IndexError_):
        return ErrorReply(str(error) or "That didn't work.")
    if isinstance(error, app_commands.CheckFailure):
        return ErrorReply("You can't use this command here.")
    error_id = secrets.token_hex(3)
    log.error("Unexpected error (error id %s)", error_id, exc_info=error)
    return ErrorReply(f"Something went wrong (error id {error_id}).", error_id)


async def report_error(interaction: discord.Interaction, error: BaseException) -> ErrorReply:
    """Tell the member, ephemerally: a first response if none was sent, else a follow-up."""
    reply = describe_error(error)
    content = plain_message(reply.message)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(content, ephemeral=True)
        else:
            await interaction.response.send_message(content, ephemeral=True)
    except discord.HTTPException:
        # The interaction may have expired (15 min) or been deleted; the log still has it.
        log.warning("Could not deliver error reply %r", reply.message, exc_info=True)
    return reply


class SpotlightTree(app_commands.CommandTree):
    """The command tree with the one global error handler."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)
