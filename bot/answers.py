"""Which question each answer message answered, saved a moment after the answer is sent.

A reply to an answer is read as a follow-up of its question, so every answer's message id
and question are saved (`BotState.remember_answers`). Saving each one as it was sent cost a
thread hand-off on the event loop and a commit per answer; in a burst of questions those
were a few percent of the bot's serial work. `AnswerMemory` keeps the answers just sent
in memory and saves them `delay` seconds after the first of them, all in one transaction
on one thread; a reply that comes before that finds its question in memory. Answers not
yet saved when the process is killed are lost (replies to them read as fresh questions);
`flush()` on a clean stop saves them.

Discord shows an answer before the request that sent it has returned here, so a member
can reply before it is remembered: an answer is sent inside `sending()`, and a lookup that
finds nothing waits for the answers being sent (at most SENDING_WAIT_SECONDS).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from bot.state import AnswerContext, BotState, SavedAnswer

log = logging.getLogger(__name__)

WRITE_DELAY_SECONDS = 0.2
# Longer than sending an answer takes (one request): a lookup never waits for good.
SENDING_WAIT_SECONDS = 5.0


class AnswerMemory:
    """The answers sent lately, saved in batches. Used from the event loop only."""

    def __init__(self, state: BotState, *, delay: float = WRITE_DELAY_SECONDS) -> None:
        self._state = state
        self.delay = delay
        self._pending: dict[int, SavedAnswer] = {}  # not yet handed to the store
        self._saving: dict[int, SavedAnswer] = {}  # being written
        self._writer: asyncio.Task[None] | None = None
        self._now = asyncio.Event()  # set by flush(): write without waiting out the delay
        self._sending = 0  # answers being sent, not yet remembered
        self._changed = asyncio.Event()  # replaced after each answer sent or remembered

    def remember(self, message_id: int, *, question: str, question_id: int | None,
                 guild_id: int | None, channel_id: int | None) -> None:
        """Note an answer; it is saved within `delay` seconds. Never blocks."""
        self._pending[message_id] = SavedAnswer(
            message_id=message_id, question=question, question_id=question_id,
            guild_id=guild_id, channel_id=channel_id, created_at=time.time())
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_soon())
        self._signal()

    @contextlib.asynccontextmanager
    async def sending(self) -> AsyncIterator[None]:
        """Around sending an answer and remembering it."""
        self._sending += 1
        try:
            yield
        finally:
            self._sending -= 1
            self._signal()

    async def context(self, message_id: int) -> AnswerContext | None:
        """The question behind an answer message, from memory or the store (may raise
        DatabaseUnavailableError)."""
        saved = self._recent(message_id)
        if saved is None and self._sending:
            saved = await self._sent(message_id)
        if saved is not None:
            return AnswerContext(message_id=message_id, question=saved.question,
                                 question_id=saved.question_id)
        return await asyncio.to_thread(self._state.answer_context, message_id)

    def _recent(self, message_id: int) -> SavedAnswer | None:
        return self._pending.get(message_id) or self._saving.get(message_id)

    async def _sent(self, message_id: int) -> SavedAnswer | None:
        """`message_id` once remembered, or None once no answer is being sent (or after
        SENDING_WAIT_SECONDS)."""
        deadline = time.monotonic() + SENDING_WAIT_SECONDS
        while self._sending and (remaining := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
            if (saved := self._recent(message_id)) is not None:
                return saved
        return self._recent(message_id)

    def _signal(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def flush(self) -> None:
        """Save what is pending now (on a clean stop)."""
        self._now.set()
        if self._writer is not None:
            await asyncio.shield(self._writer)
        await self._write_pending()
        self._now.clear()

    @property
    def unsaved(self) -> int:
        return len(self._pending) + len(self._saving)

    async def _write_soon(self) -> None:
        if not self._now.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._now.wait(), self.delay)
        await self._write_pending()

    async def _write_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            self._saving.update(batch)
            try:
                await asyncio.to_thread(self._state.remember_answers, list(batch.values()))
            except Exception:
                # The answers were delivered; only follow-ups to them lose their context.
                log.warning("Could not save %d answers' questions; replies to them will be "
                            "read as new questions", len(batch), exc_info=True)
            finally:
                for message_id, saved in batch.items():
                    if self._saving.get(message_id) is saved:
                        del self._saving[message_id]
