"""Fixtures shared by every test folder: the real model is loaded once per session.

Tests read only what the repository ships (samples/, files under tests/), so the suite
passes on any clone; nothing here may reach outside the project folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROJECT_DIR = Path(__file__).resolve().parents[1]
SAMPLE_DIR = PROJECT_DIR / "samples" / "articles"
# The two seed articles, shipped in samples/articles (byte-for-byte, see samples/SOURCE.txt):
# seed 000 (North West at the Met Gala) and seed 002 (Kim's Japan trip, boilerplate kept).
SEED_FILES = (
    SAMPLE_DIR / "north-west-met-gala.txt",
    SAMPLE_DIR / "kim-kardashian-japan-trip.txt",
)


@pytest.fixture(scope="session")
def real_embedder():
    from index.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture
def fake_embedder():
    from index.embedder import FakeEmbedder

    return FakeEmbedder()


@pytest.fixture(scope="session")
def seeds_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding only the two seed articles (copied from samples/articles)."""
    folder = tmp_path_factory.mktemp("seeds")
    for path in SEED_FILES:
        shutil.copy2(path, folder / path.name)
    return folder
