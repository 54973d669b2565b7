"""index/config.py: SPOTLIGHT_DATABASE_URL chooses the backend; its password is never shown."""

from __future__ import annotations

import pytest

from index.config import LibraryConfig


def test_the_database_url_is_read_and_kept_out_of_reprs() -> None:
    config = LibraryConfig.from_env({"SPOTLIGHT_DATABASE_URL": " postgresql://me:hunter2@db/x "})
    assert config.database_url == "postgresql://me:hunter2@db/x"
    assert "hunter2" not in repr(config)
    assert LibraryConfig.from_env({"SPOTLIGHT_DATABASE_URL": ""}).database_url is None


@pytest.mark.parametrize("value", ["mysql://me:hunter2@db/x", "hunter2", "db:5432/x"])
def test_a_url_that_is_not_postgres_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(ValueError, match="DATABASE_URL must be a postgresql://") as raised:
        LibraryConfig.from_env({"SPOTLIGHT_DATABASE_URL": value})
    assert "hunter2" not in str(raised.value)
