"""The seed articles come from the repository itself, so the suite runs on any clone."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PROJECT_DIR, SEED_FILES


def test_seed_folder_holds_the_two_shipped_seed_articles(seeds_dir: Path) -> None:
    assert sorted(path.name for path in seeds_dir.iterdir()) == sorted(
        path.name for path in SEED_FILES)
    for shipped in SEED_FILES:
        assert shipped.is_relative_to(PROJECT_DIR / "samples")
        assert (seeds_dir / shipped.name).read_bytes() == shipped.read_bytes()
