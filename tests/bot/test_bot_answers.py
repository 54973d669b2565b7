"""Answers' questions are saved in batches behind the answers, and found before they are saved."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.answers import AnswerMemory
from bot.state import ANSWER_CONTEXT_MAX_AGE_SECONDS, SavedAnswer, SqliteBotState


class CountingState(SqliteBotState):
    """The sqlite store, counting its batch writes; can be made to fail."""

    def __init__(self, connection) -> None:
        super().__init__(connection)
        self.writes: list[list[int]] = []
        self.fail = False

    def remember_answers(self, answers) -> None:
        if self.fail:
            raise RuntimeError("disk full")
        self.writes.append([answer.message_id for answer in answers])
        super().remember_answers(answers)


def remember(memory: AnswerMemory, message_id: int, question: str) -> None:
    memory.remember(message_id, question=question, question_id=message_id * 10, guild_id=1,
                    channel_id=2)


async def test_answers_sent_together_are_saved_in_one_write_and_found_before_it() -> None:
    state = CountingState.open(":memory:")
    memory = AnswerMemory(state, delay=0.05)
    for message_id in range(1, 6):
        remember(memory, message_id, f"question {message_id}")
    # Not written yet, but a reply to any of them is already a follow-up.
    assert state.writes == [] and memory.unsaved == 5
    context = await memory.context(3)
    assert context is not None and (context.question, context.question_id) == ("question 3", 30)
    # The write is counted before it ends; wait for the memory to let go of the batch.
    for _ in range(100):
        if memory.unsaved == 0:
            break
        await asyncio.sleep(0.01)
    assert state.writes == [[1, 2, 3, 4, 5]] and memory.unsaved == 0
    # Saved: found in the store, also by another process reading it.
    assert state.answer_context(4).question == "question 4"
    assert (await memory.context(4)).question == "question 4"
    assert await memory.context(99) is None
    state.close()


async def test_flush_saves_at_once() -> None:
    state = CountingState.open(":memory:")
    memory = AnswerMemory(state, delay=60)
    remember(memory, 7, "why was Kim criticized?")
    await memory.flush()
    assert state.writes == [[7]]
    assert state.answer_context(7).question == "why was Kim criticized?"
    remember(memory, 8, "who went to the Met Gala?")  # a new batch after a flush
    await memory.flush()
    assert state.writes == [[7], [8]]
    state.close()


async def test_a_failed_write_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    state = CountingState.open(":memory:")
    state.fail = True
    memory = AnswerMemory(state, delay=0)
    remember(memory, 7, "why was Kim criticized?")
    with caplog.at_level(logging.WARNING, logger="bot.answers"):
        await memory.flush()
    assert "Could not save 1 answers' questions" in caplog.text
    assert memory.unsaved == 0 and await memory.context(7) is None
    state.close()


def test_remember_answers_writes_many_and_prunes_old_ones() -> None:
    state = SqliteBotState.open(":memory:")
    state.remember_answers([SavedAnswer(1, question="old", question_id=None, guild_id=None,
                                        channel_id=None, created_at=0.0)])
    late = ANSWER_CONTEXT_MAX_AGE_SECONDS + 10
    state.remember_answers([
        SavedAnswer(message_id=n, question=f"q{n}", question_id=n, guild_id=1, channel_id=2,
                    created_at=late) for n in (2, 3)])
    rows = state._db.execute("SELECT message_id, question FROM answers ORDER BY 1").fetchall()
    assert rows == [(2, "q2"), (3, "q3")]
    state.remember_answers([])  # nothing to do
    state.close()


async def test_a_reply_arriving_while_its_answer_is_being_sent_waits_for_it() -> None:
    """Discord shows an answer before `send` returns to the bot: a member's reply then
    looks up an answer not remembered yet, and must wait for it, not read as new."""
    state = CountingState.open(":memory:")
    memory = AnswerMemory(state, delay=60)
    sent = asyncio.Event()

    async def send_answer() -> None:
        async with memory.sending():
            await sent.wait()  # the request still on its way back
            remember(memory, 42, "who did North West blast?")

    sending = asyncio.create_task(send_answer())
    await asyncio.sleep(0)
    lookup = asyncio.create_task(memory.context(42))
    await asyncio.sleep(0.05)
    assert not lookup.done()  # waiting for the answer being sent
    sent.set()
    context = await asyncio.wait_for(lookup, 5)
    assert context is not None and context.question == "who did North West blast?"
    await sending
    # Nothing being sent: an unknown message is looked up in the store at once.
    assert await asyncio.wait_for(memory.context(43), 1) is None
    state.close()
