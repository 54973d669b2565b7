"""The bot's configuration: environment variables, then `.env` (real environment wins).

One variable, SPOTLIGHT_DATA_DIR, moves all state (the index and the bot's own sqlite file);
the others fine-tune. `.env.example` at the project root documents every variable. Folder
defaults come from index.paths, so the bot and `python -m index` agree on where things are.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from index import paths

PROJECT_ROOT = paths.PROJECT_DIR

T = TypeVar("T")

DEFAULT_MAX_QUESTION_CHARS = 500

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


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
    max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS
    max_upload_bytes: int = 2_000_000
    fetch_timeout: float = 10.0
    fetch_max_bytes: int = 2_000_000
    # Off: a moderator's link could otherwise make the bot read the host's own network.
    allow_private_urls: bool = False
    log_level: str = "INFO"
    sharded: bool = False  # AutoShardedBot: needed past ~2,500 servers
    # Retries while Discord cannot be reached at start; None: forever (exit code 3 after).
    connect_retries: int | None = None

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
        values = _Reader(env)
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
            cooldown_seconds=values.get("SPOTLIGHT_COOLDOWN_SECONDS", _non_negative_float, 10.0),
            max_question_chars=values.get(
                "SPOTLIGHT_MAX_QUESTION_CHARS", _positive_int, DEFAULT_MAX_QUESTION_CHARS
            ),
            max_upload_bytes=values.get("SPOTLIGHT_MAX_UPLOAD_BYTES", _positive_int, 2_000_000),
            fetch_timeout=values.get("SPOTLIGHT_FETCH_TIMEOUT", _positive_float, 10.0),
            fetch_max_bytes=values.get("SPOTLIGHT_FETCH_MAX_BYTES", _positive_int, 2_000_000),
            allow_private_urls=values.get("SPOTLIGHT_ALLOW_PRIVATE_URLS", _bool, False),
            log_level=log_level,
            sharded=values.get("SPOTLIGHT_SHARDED", _bool, False),
            connect_retries=values.get("SPOTLIGHT_CONNECT_RETRIES", _retries, None),
        )


class _Reader:
    """Reads one variable at a time; an empty value counts as unset (`DISCORD_TOKEN=`)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        try:
            return parse(raw)
        except ValueError as error:
            # Never echo the value of a secret; none of the parsed variables is one.
            raise ValueError(f"{name} {error}, got {raw!r}") from None


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


def _positive_int(raw: str) -> int:
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ValueError("must be a whole number") from None
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


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


def _float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError("must be a number of seconds") from None


def _positive_float(raw: str) -> float:
    value = _float(raw)
    if not value > 0:
        raise ValueError("must be greater than 0")
    return value


def _non_negative_float(raw: str) -> float:
    value = _float(raw)
    if not value >= 0:
        raise ValueError("must be 0 or more")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("must be true or false")
