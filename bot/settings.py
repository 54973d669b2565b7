"""The bot's configuration: environment variables, then `.env` (real environment wins).

One variable, SPOTLIGHT_DATA_DIR, moves all state (the index and the bot's own sqlite file);
the others fine-tune. `.env.example` at the project root documents every variable. Folder
defaults come from index.paths, so the bot and `python -m index` agree on where things are.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index import paths
from index.config import (
    DEFAULT_KEYWORD_ENGINE,
    DEFAULT_MAX_QUESTION_CHARS,
    EnvReader,
    LibraryConfig,
    LLMConfig,
    boolean,
    non_negative_float,
    positive_float,
    positive_int,
)

PROJECT_ROOT = paths.PROJECT_DIR


@dataclass(frozen=True)
class Settings:
    # repr=False: the token must never reach a log line or a traceback.
    token: str | None = field(default=None, repr=False)
    data_dir: Path = field(default_factory=paths.data_dir)
    index_dir: Path = field(default_factory=paths.default_index_dir)
    corpus_dir: Path = field(default_factory=paths.sample_corpus_dir)
    dev_guild_id: int | None = None
    owner_ids: frozenset[int] = frozenset()
    cooldown_seconds: float = 10.0  # per member, per server; a server may change it
    max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS  # also the index's (see library)
    max_upload_bytes: int = 2_000_000
    fetch_timeout: float = 10.0
    fetch_max_bytes: int = 2_000_000
    # Off: a moderator's link could otherwise make the bot read the host's own network.
    allow_private_urls: bool = False
    log_level: str = "INFO"
    sharded: bool = False  # AutoShardedBot: needed past ~2,500 servers
    # This process runs these shards of shard_count (several processes share the work and
    # one database); both or neither. None: every shard (one, or Discord's count if sharded).
    shard_ids: tuple[int, ...] | None = None
    shard_count: int | None = None
    # Retries while Discord cannot be reached at start; None: forever (exit code 3 after).
    connect_retries: int | None = None
    llm: LLMConfig | None = None  # the optional model-written answers
    # SPOTLIGHT_DATABASE_URL: the library, server settings, cooldowns and feeds in
    # PostgreSQL, shared by every process; None: files under data_dir. Holds a password.
    database_url: str | None = field(default=None, repr=False)
    # Bursts: questions are searched and answered by at most this many threads at once
    # (the rest wait their turn, off the event loop), and questions arriving together are
    # embedded in one model call of at most embed_batch (1: off), the first waiting at
    # most embed_wait_ms for company.
    ask_workers: int = 4
    embed_batch: int = 16
    embed_wait_ms: float = 2.0
    # An /ask or /sources result ready this soon after the command is the reply itself;
    # a later one shows "thinking..." first (bot/respond.py). 0: always "thinking..." first.
    answer_within_ms: float = 1000.0
    keyword_engine: str = DEFAULT_KEYWORD_ENGINE  # SPOTLIGHT_KEYWORD_ENGINE

    @property
    def library(self) -> LibraryConfig:
        """What the index needs of these settings: the same limits the cogs check with."""
        return LibraryConfig(max_question_chars=self.max_question_chars, llm=self.llm,
                             database_url=self.database_url,
                             keyword_engine=self.keyword_engine)

    @property
    def state_path(self) -> Path:
        """The bot's own sqlite file (server settings, answer context); not the index."""
        return self.data_dir / "bot.sqlite"

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, dotenv_path: Path | None = None
    ) -> Settings:
        """Read settings from `env`, or from the process environment plus `.env`
        (`dotenv_path`, default: the project's), which never overrides a real variable.

        Raises ValueError naming the variable when a value is malformed.
        """
        if env is None:
            from dotenv import load_dotenv

            load_dotenv(dotenv_path or PROJECT_ROOT / ".env", override=False)
            env = os.environ
        values = EnvReader(env)
        library = LibraryConfig.from_env(env)
        data_dir = paths.data_dir(env)
        log_level = values.get("SPOTLIGHT_LOG_LEVEL", str, "INFO").upper()
        if not isinstance(logging.getLevelName(log_level), int):
            raise ValueError(
                f"SPOTLIGHT_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}"
            )
        return cls(
            token=values.get("DISCORD_TOKEN", str, None),
            data_dir=data_dir,
            index_dir=paths.default_index_dir(env),
            corpus_dir=values.get("SPOTLIGHT_CORPUS_DIR", Path, paths.sample_corpus_dir()),
            dev_guild_id=values.get("SPOTLIGHT_DEV_GUILD_ID", _snowflake, None),
            owner_ids=values.get("SPOTLIGHT_OWNER_IDS", _snowflakes, frozenset()),
            cooldown_seconds=values.get("SPOTLIGHT_COOLDOWN_SECONDS", non_negative_float, 10.0),
            max_question_chars=library.max_question_chars,
            max_upload_bytes=values.get("SPOTLIGHT_MAX_UPLOAD_BYTES", positive_int, 2_000_000),
            fetch_timeout=values.get("SPOTLIGHT_FETCH_TIMEOUT", positive_float, 10.0),
            fetch_max_bytes=values.get("SPOTLIGHT_FETCH_MAX_BYTES", positive_int, 2_000_000),
            allow_private_urls=values.get("SPOTLIGHT_ALLOW_PRIVATE_URLS", boolean, False),
            log_level=log_level,
            sharded=values.get("SPOTLIGHT_SHARDED", boolean, False),
            **_shards(values),
            connect_retries=values.get("SPOTLIGHT_CONNECT_RETRIES", _retries, None),
            llm=library.llm,
            database_url=library.database_url,
            keyword_engine=library.keyword_engine,
            ask_workers=values.get("SPOTLIGHT_ASK_WORKERS", positive_int, 4),
            embed_batch=values.get("SPOTLIGHT_EMBED_BATCH", positive_int, 16),
            embed_wait_ms=values.get("SPOTLIGHT_EMBED_WAIT_MS", _milliseconds, 2.0),
            answer_within_ms=values.get("SPOTLIGHT_ANSWER_WITHIN_MS", _reply_wait_ms, 1000.0),
        )


def _milliseconds(raw: str) -> float:
    try:
        return non_negative_float(raw)
    except ValueError:
        raise ValueError("must be a number of milliseconds, 0 or more") from None


# Discord drops an interaction not responded to within 3 s: leave room for the request.
MAX_ANSWER_WITHIN_MS = 2000.0


def _reply_wait_ms(raw: str) -> float:
    value = _milliseconds(raw)
    if value > MAX_ANSWER_WITHIN_MS:
        raise ValueError(f"must be at most {MAX_ANSWER_WITHIN_MS:.0f} milliseconds (Discord "
                         f"allows 3 s for the first response)")
    return value


def _shards(values: EnvReader) -> dict[str, Any]:
    """SPOTLIGHT_SHARD_IDS ("0,1", "0-3", "4-7,9") and SPOTLIGHT_SHARD_COUNT, both or neither,
    every id below the count."""
    ids = values.get("SPOTLIGHT_SHARD_IDS", _shard_ids, None)
    count = values.get("SPOTLIGHT_SHARD_COUNT", positive_int, None)
    if (ids is None) != (count is None):
        raise ValueError("SPOTLIGHT_SHARD_IDS and SPOTLIGHT_SHARD_COUNT must be set together "
                         "(e.g. SPOTLIGHT_SHARD_IDS=0-1 SPOTLIGHT_SHARD_COUNT=4)")
    if ids is not None and count is not None and ids[-1] >= count:
        raise ValueError(f"SPOTLIGHT_SHARD_IDS must be below SPOTLIGHT_SHARD_COUNT ({count}): "
                         f"shards are numbered 0 to {count - 1}, got {ids[-1]}")
    return {"shard_ids": ids, "shard_count": count}


def _shard_ids(raw: str) -> tuple[int, ...]:
    ids: set[int] = set()
    for part in raw.replace(" ", "").split(","):
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError("must be shard numbers and ranges such as 0,1 or 0-3 or 4-7,9")
        low, high = int(first), int(last) if dash else int(first)
        if high < low:
            raise ValueError(f"has a range that goes down ({part})")
        ids.update(range(low, high + 1))
    return tuple(sorted(ids))


def _snowflake(raw: str) -> int:
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError("must be a Discord id (a whole number, e.g. 123456789012345678)")
    return int(raw)


def _snowflakes(raw: str) -> frozenset[int]:
    parts = raw.replace(",", " ").split()
    try:
        return frozenset(_snowflake(part) for part in parts)
    except ValueError:
        raise ValueError("must be Discord user ids separated by commas") from None


def _retries(raw: str) -> int | None:
    if raw.lower() == "forever":
        return None
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ValueError("must be a whole number of retries (0 or more) or forever") from None
    if value < 0:
        raise ValueError("must be 0 or more (or forever)")
    return value
