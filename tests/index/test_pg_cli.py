"""`python -m index migrate` and `export` (index/cli.py) against a real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from index.pg.schema import COMPONENTS
from tests.index.test_cli import cli

pytestmark = pytest.mark.postgres


def test_migrate_brings_every_component_up_and_then_has_nothing_to_do(
    postgres_url: str, capsys
) -> None:
    code, out, _ = cli(["migrate", "--database-url", postgres_url], capsys)
    assert code == 0
    assert [line.split(":")[0] for line in out.splitlines()] == list(COMPONENTS)
    assert "applied 1" in out
    code, out, _ = cli(["migrate", "--database-url", postgres_url], capsys)
    assert code == 0 and out.count("up to date") == len(COMPONENTS)


def test_migrate_needs_a_postgres_url_and_never_echoes_one(capsys) -> None:
    code, _, err = cli(["migrate"], capsys)
    assert code == 2 and "--database-url" in err
    code, _, err = cli(["migrate", "--database-url", "mysql://me:hunter2@db/x"], capsys)
    assert code == 2 and "postgresql://" in err and "hunter2" not in err
    assert err.count("\n") == 1


def test_export_to_postgres_and_back_through_the_command_line(
    corpus_dir: Path, postgres_url: str, tmp_path: Path, capsys
) -> None:
    index, back = str(tmp_path / "index"), str(tmp_path / "back")
    assert cli(["build", "--corpus", str(corpus_dir), "--index", index], capsys)[0] == 0
    code, out, _ = cli(["export", "--index", index, "--to", postgres_url], capsys)
    assert code == 0 and "2 articles, 2 passages" in out and "nothing re-embedded" in out
    assert urlsplit(postgres_url).path in out
    code, _, err = cli(["export", "--index", index, "--to", postgres_url], capsys)
    assert code == 2 and "already holds 2 articles" in err
    code, out, _ = cli(["export", "--from", postgres_url, "--index", back], capsys)
    assert code == 0 and "2 articles" in out
    asked = ["ask", "where does the singer's tour start?", "--json"]
    answers = [json.loads(cli([*asked, *where], capsys)[1]) for where in (
        ["--index", index], ["--database-url", postgres_url], ["--index", back])]
    assert answers[0] == answers[1] == answers[2] and not answers[0]["abstained"]
