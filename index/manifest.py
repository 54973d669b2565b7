"""manifest.json: what an index folder holds and how it was made, so a mismatch is caught."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from index.errors import IndexMismatchError

# 2: passages carry their sentences' spans and vectors (the extractive answerer's). An
# index of format 1 is upgraded in place when opened.
FORMAT_VERSION = 2
OLDEST_UPGRADABLE_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclass
class Manifest:
    format_version: int
    model_name: str
    model_sha256: str
    dim: int
    faiss_type: str
    articles: int
    passages: int
    created_at: str
    updated_at: str
    # The store generation the dense file was written at; a lower one means a crash came
    # between the SQLite commit and the FAISS write, so dense.faiss is rebuilt from SQLite.
    dense_generation: int

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as error:
            raise IndexMismatchError(
                f"{path} is unreadable ({error.__class__.__name__}); rebuild the index with "
                f"`python -m index build --rebuild --index {folder}`."
            ) from error

    def write(self, folder: Path) -> None:
        handle, temp_name = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=folder)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(asdict(self), out, indent=2)
            out.write("\n")
        os.replace(temp_name, folder / MANIFEST_NAME)

    def check_compatible(self, folder: Path, model_name: str, model_sha256: str, dim: int) -> None:
        rebuild = f"Rebuild it: `python -m index build --rebuild --index {folder} --corpus PATH`."
        if not OLDEST_UPGRADABLE_VERSION <= self.format_version <= FORMAT_VERSION:
            raise IndexMismatchError(
                f"The index at {folder} has format version {self.format_version}; this "
                f"Spotlight reads versions {OLDEST_UPGRADABLE_VERSION} to {FORMAT_VERSION}. "
                f"{rebuild}"
            )
        if self.dim != dim or self.model_sha256 != model_sha256:
            raise IndexMismatchError(
                f"The index at {folder} was built with {self.model_name} (dim {self.dim}); "
                f"this run embeds with {model_name} (dim {dim}), so its vectors would not "
                f"compare. {rebuild}"
            )
