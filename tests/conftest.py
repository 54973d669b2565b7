"""Fixtures shared by every test folder: the real model is loaded once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROJECT_DIR = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("SPOTLIGHT_SHARED_DIR", PROJECT_DIR.parent / "shared"))
SEEDS_DIR = SHARED_DIR / "seeds"
SAMPLE_DIR = PROJECT_DIR / "samples" / "articles"


@pytest.fixture(scope="session")
def real_embedder():
    from index.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture
def fake_embedder():
    from index.embedder import FakeEmbedder

    return FakeEmbedder()


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    return SEEDS_DIR
