"""Where state lives: one variable (SPOTLIGHT_DATA_DIR) moves all of it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]


def data_dir(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get("SPOTLIGHT_DATA_DIR") or PROJECT_DIR / "data")


def default_index_dir(env: Mapping[str, str] = os.environ) -> Path:
    """SPOTLIGHT_INDEX_DIR when set, else `index` inside the data folder."""
    explicit = env.get("SPOTLIGHT_INDEX_DIR")
    return Path(explicit) if explicit else data_dir(env) / "index"


def sample_corpus_dir() -> Path:
    return PROJECT_DIR / "samples" / "articles"
