"""`run_bot.py` as a separate process for tests: the real bot/app.main, with discord.py
pointed at a fake Discord and the hashing embedder instead of the model.

    python -m tests.e2e.bot_process     # environment as for run_bot.py, plus:
    SPOTLIGHT_TEST_DISCORD_API  the fake's REST base (FakeDiscord.api_base)
    SPOTLIGHT_TEST_DISCORD_WS   its gateway (FakeDiscord.gateway_url)
    SPOTLIGHT_TEST_SLOW_INGEST  seconds each embedding batch of more than 8 texts takes
                                (questions stay fast), so a test can kill a process mid-write

Nothing here changes what the bot does; it only decides where Discord is and how texts
become vectors, as the in-process tests do with monkeypatch.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

import discord.gateway
import discord.http
import numpy as np
import yarl

import index.embedder
from bot.app import main
from index.embedder import FakeEmbedder

INGEST_BATCH = 8  # more texts than this in one call: an article being stored


class SlowIngestEmbedder(FakeEmbedder):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) > INGEST_BATCH:
            time.sleep(self.seconds)
        return super().encode(texts)


def point_at_fake_discord() -> None:
    discord.http.Route.BASE = os.environ["SPOTLIGHT_TEST_DISCORD_API"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(
        os.environ["SPOTLIGHT_TEST_DISCORD_WS"])


def use_hashing_embedder() -> None:
    slow = float(os.environ.get("SPOTLIGHT_TEST_SLOW_INGEST") or 0)
    index.embedder.make_embedder = lambda *args, **kwargs: (  # type: ignore[assignment]
        SlowIngestEmbedder(slow) if slow else FakeEmbedder())


if __name__ == "__main__":
    point_at_fake_discord()
    use_hashing_embedder()
    sys.exit(main([]))
