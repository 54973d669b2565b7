"""👍 / 👎 under each answer.

The buttons are DynamicItems: the question id and the vote live in the custom_id, so a
button on an answer sent before a restart still works once the bot is back (the bot
registers the class with `add_dynamic_items` in setup_hook).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import discord
from discord import ui

from bot.errors import UserFacingError, report_error

THANKS = "Thanks for the feedback!"
_VOTES = {"up": 1, "down": -1}
_EMOJI = {"up": "👍", "down": "👎"}
CUSTOM_ID_TEMPLATE = r"spotlight:vote:(?P<vote>up|down):(?P<question_id>\d+)"


class FeedbackButton(ui.DynamicItem[ui.Button], template=CUSTOM_ID_TEMPLATE):
    def __init__(self, question_id: int, vote: str) -> None:
        super().__init__(
            ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji=_EMOJI[vote],
                custom_id=f"spotlight:vote:{vote}:{question_id}",
            )
        )
        self.question_id = question_id
        self.vote = vote

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Button, match: re.Match[str], /
    ) -> FeedbackButton:
        return cls(int(match["question_id"]), match["vote"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        library = interaction.client.services.library
        try:
            try:
                await asyncio.to_thread(
                    library.record_feedback,
                    self.question_id,
                    user_id=interaction.user.id,
                    vote=_VOTES[self.vote],
                )
            except KeyError:
                raise UserFacingError("I no longer have that answer on record.") from None
            await interaction.response.send_message(THANKS, ephemeral=True)
        except Exception as error:  # a button has no tree handler: report it the same way
            await report_error(interaction, error)


def feedback_view(question_id: int) -> ui.View:
    """The two buttons for one answer; timeout=None because they must outlive the process."""
    view = ui.View(timeout=None)
    view.add_item(FeedbackButton(question_id, "up"))
    view.add_item(FeedbackButton(question_id, "down"))
    return view
