"""pytest fixtures for the fake Discord, and `running_bot` to run a discord.py client on it.

Import these names into a conftest.py to use them:
`from fakediscord.fixtures import fake_discord, running_bot  # noqa: F401`.
The fake starts inside the test's own event loop (function loop scope), on a random port
of 127.0.0.1; discord.py's two Discord addresses are patched for the test and restored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

import discord
import discord.gateway
import discord.http
import pytest
import pytest_asyncio
import yarl

from .server import FakeDiscord

ClientT = TypeVar("ClientT", bound=discord.Client)


def point_discord_py_at(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    """REST goes to Route.BASE; a plain Client connects straight to DEFAULT_GATEWAY (only
    AutoShardedClient asks /gateway/bot) and reconnects to READY's resume_gateway_url."""
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY",
                        yarl.URL(fake.gateway_url))


@pytest_asyncio.fixture(loop_scope="function")
async def fake_discord(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """A started FakeDiscord with no guilds yet; discord.py points at it for this test."""
    fake = FakeDiscord()
    await fake.start()
    point_discord_py_at(fake, monkeypatch)
    try:
        yield fake
    finally:
        await fake.stop()


@contextlib.asynccontextmanager
async def running_bot(bot: ClientT, fake: FakeDiscord, *, token: str | None = None,
                      ready_timeout: float = 20.0) -> AsyncIterator[ClientT]:
    """Run `bot.start()` against the fake until the block ends, then close it cleanly.

    Entering waits until the bot logged in, synced (setup_hook), identified, was sent its
    guilds and dispatched on_ready; if the bot dies first, its exception is raised here."""
    task = asyncio.create_task(bot.start(token or fake.token), name="bot-under-test")
    ready = asyncio.create_task(fake.wait_until_ready(timeout=ready_timeout))
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await ready
        await bot.close()  # Client.start leaves its HTTP session open when login fails
        task.result()  # raises the bot's error
        raise RuntimeError("the bot stopped before it was ready")
    try:
        ready.result()
        # on_ready too (after guild_ready_timeout, 2 s unless the client is given less), so
        # no ready event is still being dispatched when the test closes the loop.
        await asyncio.wait_for(bot.wait_until_ready(), ready_timeout)
    except BaseException:
        await bot.close()
        await asyncio.gather(task, return_exceptions=True)
        raise
    try:
        yield bot
    finally:
        await bot.close()
        await asyncio.wait_for(task, 15)
