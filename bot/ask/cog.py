"""`/ask`, questions by mention, and follow-ups by reply: thin glue over bot.ask.answering."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

import discord
from discord import app_commands
from discord.ext import commands

from bot.ask.answering import FOLLOW_UP_HINT, AnsweredQuestion, answer_question, compose_followup
from bot.errors import describe_error
from bot.feedback.buttons import feedback_view
from bot.options import limit_text_option
from bot.render import answer_embed, plain_message
from bot.respond import result_or_defer, send_result
from bot.services import Services
from index.errors import DatabaseUnavailableError
from index.library import normalise_question

log = logging.getLogger(__name__)


class AskCog(commands.Cog):
    def __init__(self, bot: commands.Bot, services: Services) -> None:
        self.bot = bot
        self.services = services
        limit_text_option(self.ask, "question", max_length=services.settings.max_question_chars)

    async def _check(self, text: str, *, guild_id: int | None, user_id: int) -> str:
        """The member's question, normalised; raises QuestionError or CommandOnCooldown.

        A question that is too long is refused before it costs a cooldown turn.
        """
        asked = normalise_question(text, self.services.settings.max_question_chars)
        await self.services.check_cooldown(guild_id, user_id, "ask")
        return asked

    async def _ask(
        self, asked: str, *, guild_id: int | None, user_id: int, previous: str | None = None
    ) -> AnsweredQuestion:
        """Ask the library; `previous` is the question of the answer a follow-up replies to."""
        question = asked
        if previous is not None:
            limit = self.services.settings.max_question_chars
            # Validated like any question, so the library need not check it again.
            question = normalise_question(
                compose_followup(previous, asked, max_chars=limit), limit
            )
        self.services.prefetch_question(question)
        # On the question threads (at most settings.ask_workers), off the event loop.
        return await self.services.run_search(
            answer_question, self.services.library, question, guild_id=guild_id, user_id=user_id
        )

    async def _send_answer(self, send: Awaitable[discord.Message | None],
                           result: AnsweredQuestion, *, guild_id: int | None,
                           channel_id: int | None, remember: bool = True) -> None:
        """Send, then remember the answer so that a reply to it is read as a follow-up of
        its question (saved in batches, bot/answers.py). Inside `sending()`: Discord shows
        the message before `send` returns here, and a reply can arrive first."""
        answers = self.services.answers
        async with answers.sending():
            message = await send
            if remember and message is not None:
                answers.remember(message.id, question=result.question,
                                 question_id=result.question_id, guild_id=guild_id,
                                 channel_id=channel_id)

    @app_commands.command(
        name="ask", description="Ask about celebrities in the news; I answer from my articles."
    )
    @app_commands.describe(
        question="Your question, e.g. why was Kim criticized?",
        private="Only you see the answer (default: everyone in the channel)",
    )
    async def ask(
        self, interaction: discord.Interaction, question: str, private: bool = False
    ) -> None:
        # Cheap checks first, so their errors are the (ephemeral) first response; then the
        # answer is the response itself if it comes soon, else "thinking..." first.
        asked = await self._check(question, guild_id=interaction.guild_id,
                                  user_id=interaction.user.id)
        answering = asyncio.ensure_future(
            self._ask(asked, guild_id=interaction.guild_id, user_id=interaction.user.id))
        deferred = await result_or_defer(interaction, answering, ephemeral=private,
                                         within_ms=self.services.settings.answer_within_ms)
        result = await answering
        embed = answer_embed(result.answer, asked=asked, footer=None if private else FOLLOW_UP_HINT)
        await self._send_answer(
            send_result(interaction, deferred=deferred, embed=embed,
                        view=feedback_view(result.question_id), ephemeral=private),
            result, guild_id=interaction.guild_id, channel_id=interaction.channel_id,
            remember=not private)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if message.author.bot or message.guild is None or me is None:
            return
        # Not `me.mentioned_in(message)`: that is also true for @everyone.
        if not any(user.id == me.id for user in message.mentions):
            return
        replied_to = message.reference.message_id if message.reference else None
        try:
            context = (
                await self.services.answers.context(replied_to)
                if replied_to is not None
                else None
            )
        except DatabaseUnavailableError as error:  # they asked the bot: say why it can't
            await self._reply_error(message, error)
            return
        # Follow-ups continue a conversation wherever the answer is; fresh questions by
        # mention only in the server's answer channels, when it chose some.
        if context is None and not self._answers_in(message):
            return
        try:
            asked = await self._check(
                message.content, guild_id=message.guild.id, user_id=message.author.id
            )
            result = await self._ask(
                asked,
                guild_id=message.guild.id,
                user_id=message.author.id,
                previous=context.question if context else None,
            )
            await self._send_answer(
                message.channel.send(
                    embed=answer_embed(result.answer, asked=asked, footer=FOLLOW_UP_HINT),
                    view=feedback_view(result.question_id),
                    reference=message.to_reference(fail_if_not_exists=False),
                    mention_author=False,
                ),
                result, guild_id=message.guild.id, channel_id=message.channel.id)
        except Exception as error:
            await self._reply_error(message, error)

    def _answers_in(self, message: discord.Message) -> bool:
        channels = self.services.state.guild(message.guild.id).answer_channels
        if not channels:
            return True
        parent_id = getattr(message.channel, "parent_id", None)  # threads follow their channel
        return message.channel.id in channels or parent_id in channels

    async def _reply_error(self, message: discord.Message, error: Exception) -> None:
        reply = describe_error(error)
        try:
            await message.channel.send(
                plain_message(reply.message),
                reference=message.to_reference(fail_if_not_exists=False),
                mention_author=False,
            )
        except discord.HTTPException:
            log.warning("Could not reply to message %s", message.id, exc_info=True)
