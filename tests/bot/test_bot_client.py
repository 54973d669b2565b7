"""make_bot: the bot class and shard arguments a process runs with, from its settings."""

from __future__ import annotations

import gc
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot import client
from bot.client import ShardedSpotlightBot, SpotlightBot, make_bot
from bot.settings import Settings


@pytest.mark.parametrize(("shards", "bot_class", "shard_ids", "shard_id", "shard_count"), [
    ({}, SpotlightBot, None, None, None),
    ({"sharded": True}, ShardedSpotlightBot, None, None, None),  # Discord says how many
    ({"shard_ids": (1,), "shard_count": 2}, SpotlightBot, None, 1, 2),
    ({"shard_ids": (2, 3), "shard_count": 4}, ShardedSpotlightBot, [2, 3], None, 4),
])
def test_the_process_runs_its_shards(tmp_path: Path, shards, bot_class, shard_ids, shard_id,
                                     shard_count) -> None:
    settings = Settings(data_dir=tmp_path, index_dir=tmp_path / "index", **shards)
    embedded = SimpleNamespace(database=None)  # a library on files: state in bot.sqlite
    bot = make_bot(settings, library=embedded)  # type: ignore[arg-type]
    try:
        assert type(bot) is bot_class
        assert getattr(bot, "shard_ids", None) == shard_ids
        assert bot.shard_count == shard_count
        if shard_id is not None:
            assert bot.shard_id == shard_id
    finally:
        bot.services.state.close()  # never started: nothing else is open


async def test_the_serving_bot_settles_the_garbage_collector_once_ready(tmp_path: Path) -> None:
    embedded = SimpleNamespace(database=None)
    threshold = gc.get_threshold()
    try:
        made = make_bot(Settings(data_dir=tmp_path / "made"), library=embedded)  # type: ignore[arg-type]
        plain = SpotlightBot(settings=Settings(data_dir=tmp_path / "plain"),
                             library=embedded)  # type: ignore[arg-type]
        await plain.on_ready()  # a bot built by hand (tests) leaves the collector alone
        assert gc.get_freeze_count() == 0 and gc.get_threshold() == threshold
        await made.on_ready()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == max(threshold[0], client.GC_YOUNG_THRESHOLD)
        gc.unfreeze()
        await made.on_ready()  # a reconnect's READY: once per process
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        client._gc_settled = False
        made.services.state.close()
        plain.services.state.close()
