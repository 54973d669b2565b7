"""`python run_bot.py` with no token, as a newcomer runs it: builds the sample index and
answers in the console."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.model

PROJECT_DIR = Path(__file__).resolve().parents[2]


def test_console_without_token_builds_samples_and_answers(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DISCORD_TOKEN": "",
        "SPOTLIGHT_DATA_DIR": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("SPOTLIGHT_INDEX_DIR", None)
    env.pop("SPOTLIGHT_CORPUS_DIR", None)
    run = subprocess.run(
        [sys.executable, "run_bot.py"], cwd=PROJECT_DIR, env=env, text=True,
        input="why was Kim criticized?\nwhat is the capital of peru?\nquit\n",
        capture_output=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "DISCORD_TOKEN" in run.stdout
    assert "13 articles" in run.stdout
    assert "Kim Kardashian & Daughter North’s Latest Photos" in run.stdout
    assert "couldn't find this in my articles" in run.stdout
    assert (tmp_path / "index" / "manifest.json").exists()

    again = subprocess.run(
        [sys.executable, "run_bot.py", "--console"], cwd=PROJECT_DIR, env=env, text=True,
        input="", capture_output=True, timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert "0 new, 0 updated, 0 removed), 0 passages embedded" in again.stdout
