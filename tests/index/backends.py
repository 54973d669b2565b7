"""Where a test's library lives, for the `library_backend` fixture (conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from index.config import LibraryConfig
from index.embedder import Embedder
from index.library import Library, open_library


@dataclass(frozen=True)
class Backend:
    """Where a test's library lives: `open` it as many times as the test needs (several
    Library objects on one folder or database are several processes' view of it)."""

    name: str  # "embedded" or "postgres"
    folder: Path
    config: LibraryConfig

    def open(self, embedder: Embedder, *, create: bool = False) -> Library:
        return open_library(self.config, embedder, folder=self.folder, create=create)
