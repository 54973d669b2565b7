"""bot/services.py: searching and answering run on at most `ask_workers` threads, off the
event loop; a burst of /ask and mentions through the fake Discord is all answered, never
more than that many at once, and questions in flight together share the model call.

In-flight counts are measured, never time: a gate holds the first questions until the
pool is full, so "it reached N at once" and "never more than N" are both certain."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from bot.client import SpotlightBot
from bot.services import Services
from bot.state import SqliteBotState
from corpus.records import Article
from index.batching import BatchingEmbedder
from index.embedder import FakeEmbedder
from index.library import Library
from tests.bot.conftest import KIM_TEXT, KIM_TITLE, Server, bot_settings
from tests.fakediscord import FakeDiscord, message_text
from tests.fakediscord.fixtures import running_bot

WORKERS = 3


class InFlight:
    """Counts the calls inside `enter`/`leave` at once; the first `gate_at` callers wait
    (in their threads) until that many are inside together."""

    def __init__(self, gate_at: int) -> None:
        self.now = 0
        self.most = 0
        self.calls = 0
        self.threads: set[str] = set()
        self._lock = threading.Lock()
        self._gate_at = gate_at
        self._gate = threading.Event()

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.calls += 1
            self.most = max(self.most, self.now)
            self.threads.add(threading.current_thread().name)
            if self.now >= self._gate_at:
                self._gate.set()
        assert self._gate.wait(20), f"never {self._gate_at} in flight at once"

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


class CountingLibrary:
    """The library, with its asks and searches counted by an InFlight."""

    def __init__(self, library: Library, counter: InFlight) -> None:
        self._library = library
        self.counter = counter

    def ask(self, *args, **kwargs):
        return self._counted(self._library.ask, *args, **kwargs)

    def search(self, *args, **kwargs):
        return self._counted(self._library.search, *args, **kwargs)

    def _counted(self, call, *args, **kwargs):
        self.counter.enter()
        try:
            return call(*args, **kwargs)
        finally:
            self.counter.leave()

    def __getattr__(self, name: str):
        return getattr(self._library, name)


async def test_run_search_uses_at_most_ask_workers_threads(tmp_path: Path) -> None:
    settings = bot_settings(FakeDiscord(), tmp_path, ask_workers=WORKERS)
    services = Services(settings=settings, library=None, state=SqliteBotState.open(":memory:"))
    counter = InFlight(gate_at=WORKERS)

    def blocking(n: int) -> int:
        counter.enter()
        counter.leave()
        return n * n

    try:
        results = await asyncio.gather(*(services.run_search(blocking, n) for n in range(20)))
        assert results == [n * n for n in range(20)]
        assert counter.most == WORKERS
        assert len(counter.threads) <= WORKERS
        assert all(name.startswith("ask") for name in counter.threads)
    finally:
        await services.close_search()
        services.state.close()
    assert not any(t.name.startswith("ask_") for t in threading.enumerate())


async def test_a_burst_of_asks_and_mentions_is_all_answered_n_at_a_time(
        fake_discord: FakeDiscord, server: Server, tmp_path: Path) -> None:
    batcher = BatchingEmbedder(FakeEmbedder(), max_wait_ms=1000, max_batch=WORKERS)
    library = Library.open(tmp_path / "index", batcher, create=True)
    library.build([Article(title=KIM_TITLE, text=KIM_TEXT, source="kim.txt",
                           url="https://news.example/kim-japan")])
    counter = InFlight(gate_at=WORKERS)
    settings = bot_settings(fake_discord, tmp_path, ask_workers=WORKERS)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bot = SpotlightBot(settings=settings, library=CountingLibrary(library, counter),
                       guild_ready_timeout=0.05)
    members = [fake_discord.add_member(server.guild, f"fan{n}") for n in range(12)]
    mention = f"<@{fake_discord.bot_user.id}>"
    try:
        async with running_bot(bot, fake_discord):
            asked = await asyncio.gather(*(
                fake_discord.slash_command(server.guild, server.channel, member, "ask",
                                           {"question": f"why was Kim criticized? ({n})"})
                for n, member in enumerate(members[:9])))
            posted = await asyncio.gather(*(
                fake_discord.send_message(server.channel, member,
                                          f"{mention} why was Kim criticized? (by mention {n})")
                for n, member in enumerate(members[9:])))
            sourced = await fake_discord.slash_command(
                server.guild, server.channel, server.member, "sources", {"topic": "Kim"})
            replies = await asyncio.gather(*(fake_discord.wait_for_response(i, timeout=30)
                                             for i in [*asked, sourced]))
            answers = await asyncio.gather(*(
                fake_discord.wait_for_message(server.channel, reply_to=message, timeout=30)
                for message in posted))
    finally:
        library.close()
        batcher.close()
    for n, reply in enumerate(replies[:-1]):
        assert reply.rejections == []  # acknowledged in time, once
        assert reply.embeds[0]["title"] == f"why was Kim criticized? ({n})"
        assert KIM_TITLE in reply.text()
    assert KIM_TITLE in replies[-1].text()  # /sources shares the same threads
    for answer in answers:
        assert KIM_TITLE in message_text(answer)
    assert counter.calls == 13
    assert counter.most == WORKERS  # reached, never passed
    assert all(name.startswith("ask") for name in counter.threads)
    # The questions held at the gate were embedded together (the rest may be too).
    assert batcher.batches < counter.calls
    assert fake_discord.unknown_requests == []


class HeldEmbedder(FakeEmbedder):
    """Records each question batch; the first waits until the rest of the burst is queued
    in the batcher, which only happens if they reach it without a question thread each.
    (The first batch may hold more than one question: how many reach the batcher before
    its thread takes the first depends on the machine's speed.)"""

    def __init__(self, burst: int) -> None:
        super().__init__()
        self.burst = burst
        self.batcher: BatchingEmbedder | None = None
        self.question_batches: list[int] = []

    def encode(self, texts):
        if self.batcher is not None:
            if not self.question_batches:
                deadline = time.monotonic() + 20
                rest = self.burst - len(texts)
                while self.batcher.pending < rest and time.monotonic() < deadline:
                    time.sleep(0.005)
            self.question_batches.append(len(texts))
        return super().encode(texts)


async def test_a_burst_reaches_the_model_together_even_through_one_question_thread(
        fake_discord: FakeDiscord, server: Server, tmp_path: Path) -> None:
    burst = 6
    inner = HeldEmbedder(burst)
    batcher = BatchingEmbedder(inner, max_wait_ms=0, max_batch=16)
    library = Library.open(tmp_path / "index", batcher, create=True)
    library.build([Article(title=KIM_TITLE, text=KIM_TEXT, source="kim.txt")])
    inner.batcher = batcher  # from here on, only questions reach the model
    settings = bot_settings(fake_discord, tmp_path, ask_workers=1)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bot = SpotlightBot(settings=settings, library=library, guild_ready_timeout=0.05)
    members = [fake_discord.add_member(server.guild, f"fan{n}") for n in range(burst)]
    try:
        async with running_bot(bot, fake_discord):
            asked = await asyncio.gather(*(
                fake_discord.slash_command(server.guild, server.channel, member, "ask",
                                           {"question": f"why was Kim criticized? ({n})"})
                for n, member in enumerate(members)))
            replies = await asyncio.gather(*(fake_discord.wait_for_response(i, timeout=30)
                                             for i in asked))
    finally:
        library.close()
        batcher.close()
    assert all(KIM_TITLE in reply.text() for reply in replies)
    # One question thread, yet the burst was embedded in two model calls, not six.
    assert len(inner.question_batches) == 2 and sum(inner.question_batches) == burst
