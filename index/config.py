"""How a Library answers, from the environment (and `.env`), shared by the bot and the CLI
so both validate with the same limits.

Every variable is optional; `.env.example` documents them. The LLM answerer is used only
when SPOTLIGHT_LLM_BASE_URL is set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from index.pg.urls import is_database_url

T = TypeVar("T")

DEFAULT_MAX_QUESTION_CHARS = 500
# SPOTLIGHT_KEYWORD_ENGINE: what ranks the keyword side of an embedded index. "fts5":
# SQLite FTS5's bm25 in store.sqlite; "tantivy": keyword.tantivy/ beside it, a top-k engine
# that skips postings by block score bounds (index/tantivy_keyword.py). tantivy by default:
# at 100k passages its keyword search is ~15x faster (p50 0.4 against 7.1 ms) with recall
# no lower (benchmarks/README.md). PostgreSQL keeps its own full-text search either way.
KEYWORD_ENGINES = ("fts5", "tantivy")
DEFAULT_KEYWORD_ENGINE = "tantivy"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class LLMConfig:
    """An OpenAI-compatible chat-completions endpoint (Ollama, llama.cpp, vLLM, a hosted API)."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)  # never logged
    timeout: float = 20.0


@dataclass(frozen=True)
class LibraryConfig:
    max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS
    llm: LLMConfig | None = None
    # SPOTLIGHT_DATABASE_URL: the library lives in PostgreSQL (several processes share
    # it); None keeps it in the embedded index folder. Holds a password: never logged.
    database_url: str | None = field(default=None, repr=False)
    keyword_engine: str = DEFAULT_KEYWORD_ENGINE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LibraryConfig:
        """Raises ValueError naming the variable when a value is malformed."""
        values = EnvReader(os.environ if env is None else env)
        base_url = values.get("SPOTLIGHT_LLM_BASE_URL", _url, None)
        llm = None
        if base_url is not None:
            model = values.get("SPOTLIGHT_LLM_MODEL", str, None)
            if model is None:
                raise ValueError("SPOTLIGHT_LLM_MODEL must be set with SPOTLIGHT_LLM_BASE_URL")
            llm = LLMConfig(
                base_url=base_url, model=model,
                api_key=values.get("SPOTLIGHT_LLM_API_KEY", str, None),
                timeout=values.get("SPOTLIGHT_LLM_TIMEOUT", positive_float, 20.0),
            )
        return cls(
            max_question_chars=values.get(
                "SPOTLIGHT_MAX_QUESTION_CHARS", positive_int, DEFAULT_MAX_QUESTION_CHARS),
            llm=llm,
            database_url=values.get("SPOTLIGHT_DATABASE_URL", database_url, None, secret=True),
            keyword_engine=values.get("SPOTLIGHT_KEYWORD_ENGINE", keyword_engine,
                                      DEFAULT_KEYWORD_ENGINE),
        )


class EnvReader:
    """Reads one variable at a time; an empty value counts as unset (`DISCORD_TOKEN=`)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def get(self, name: str, parse: Callable[[str], T], default: T, *,
            secret: bool = False) -> T:
        """`secret`: the value (a password, a URL holding one) is never echoed."""
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        try:
            return parse(raw)
        except ValueError as error:
            if secret:
                raise ValueError(f"{name} {error}") from None
            raise ValueError(f"{name} {error}, got {raw!r}") from None


def positive_int(raw: str) -> int:
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ValueError("must be a whole number") from None
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError("must be a number of seconds") from None


def positive_float(raw: str) -> float:
    value = _float(raw)
    if not value > 0:
        raise ValueError("must be greater than 0")
    return value


def non_negative_float(raw: str) -> float:
    value = _float(raw)
    if not value >= 0:
        raise ValueError("must be 0 or more")
    return value


def boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("must be true or false")


def database_url(raw: str) -> str:
    """A PostgreSQL URL (postgresql://user:password@host:5432/dbname)."""
    if not is_database_url(raw):
        raise ValueError("must be a postgresql:// URL such as "
                         "postgresql://spotlight:PASSWORD@localhost:5432/spotlight")
    return raw


def keyword_engine(raw: str) -> str:
    engine = raw.lower()
    if engine not in KEYWORD_ENGINES:
        raise ValueError(f"must be one of {', '.join(KEYWORD_ENGINES)}")
    return engine


def _url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL such as http://localhost:11434/v1")
    return raw.rstrip("/")
