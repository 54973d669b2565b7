"""Discord out of reach: at start one line per attempt, retries with backoff, exit code 3
when told to give up; later outages log one line per reconnect attempt, no tracebacks.
Real discord.py against a closed port and against the fake Discord stopped and restarted."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import discord
import discord.gateway
import discord.http
import pytest
import yarl

from bot import app
from bot.client import SpotlightBot
from bot.connection import (
    EXIT_UNREACHABLE,
    OneLineConnectionErrors,
    connection_problem,
    is_unreachable,
    quiet_reconnect_logs,
    retry_delays,
    serve,
)
from bot.settings import Settings
from index.library import Library
from tests.bot.conftest import Server, bot_settings
from tests.fakediscord import FakeDiscord
from tests.fakediscord.server import GATEWAY_PATH


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def point_discord_py_at_port(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY",
                        yarl.URL(f"ws://127.0.0.1:{port}{GATEWAY_PATH}"))


@pytest.fixture
def reconnect_logs() -> Iterator[None]:
    """The one-line filter installed as run_bot.py installs it, removed afterwards."""
    quiet_reconnect_logs()
    yield
    for name in ("discord.client", "discord.shard", "discord.gateway"):
        logger = logging.getLogger(name)
        for installed in [f for f in logger.filters if isinstance(f, OneLineConnectionErrors)]:
            logger.removeFilter(installed)


# --- plain functions ---

def test_retry_delays_double_from_5_seconds_up_to_5_minutes():
    delays = retry_delays()
    assert [next(delays) for _ in range(9)] == [5, 10, 20, 40, 80, 160, 300, 300, 300]


@pytest.mark.parametrize(("error", "expected"), [
    (TimeoutError(), "timed out"),
    (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)"),
     "[Errno 111] Connect call failed ('127.0.0.1', 1)"),
    (OSError("Temporary failure in name resolution\nsecond line"),
     "Temporary failure in name resolution second line"),
])
def test_network_errors_become_one_readable_line(error, expected):
    assert connection_problem(error) == expected
    assert is_unreachable(error)


@pytest.mark.parametrize("error", [discord.LoginFailure("bad token"), ValueError("bug"),
                                   KeyError("x")])
def test_other_errors_are_not_taken_for_an_outage(error):
    assert connection_problem(error) is None and not is_unreachable(error)


def test_the_log_filter_keeps_the_line_and_drops_the_traceback():
    try:
        raise ConnectionRefusedError(111, "Connect call failed")
    except OSError:
        record = logging.getLogger("discord.client").makeRecord(
            "discord.client", logging.ERROR, __file__, 1, "Attempting a reconnect in %.2fs",
            (1.5,), exc_info=__import__("sys").exc_info())
    assert OneLineConnectionErrors().filter(record)
    assert record.exc_info is None
    text = logging.Formatter("%(levelname)s %(message)s").format(record)
    assert text == "ERROR Attempting a reconnect in 1.50s ([Errno 111] Connect call failed)"


# --- run_bot.py's main() against a closed port ---

class StubLibrary:
    closed = False
    database = None  # embedded

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def unreachable_discord(monkeypatch, tmp_path) -> StubLibrary:
    """main() with a token, a stub library, and Discord's addresses on a closed port."""
    stub = StubLibrary()
    monkeypatch.setattr(app, "open_library", lambda settings: stub)
    monkeypatch.setattr(discord.utils, "setup_logging", lambda **kwargs: None)
    monkeypatch.setattr(app, "retry_delays", lambda: iter([0.01] * 100))
    monkeypatch.setenv("SPOTLIGHT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DISCORD_TOKEN", "some.token.value")
    point_discord_py_at_port(monkeypatch, closed_port())
    return stub


@pytest.mark.parametrize("retries", [0, 2])
def test_unreachable_at_start_is_one_line_per_attempt_then_exit_3(
        unreachable_discord, monkeypatch, capsys, caplog, retries):
    monkeypatch.setenv("SPOTLIGHT_CONNECT_RETRIES", str(retries))
    caplog.set_level(logging.DEBUG)
    assert app.main([]) == EXIT_UNREACHABLE
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == retries + 1, captured.err
    for number, line in enumerate(lines[:-1], start=1):
        assert line.startswith("Cannot reach Discord: Cannot connect to host 127.0.0.1:"), line
        assert f"Retrying in 0.01 s (retry {number} of {retries}; Ctrl+C stops)." in line
    assert lines[-1].startswith("Cannot reach Discord: Cannot connect to host 127.0.0.1:")
    attempts = "1 attempt " if retries == 0 else f"{retries + 1} attempts "
    assert lines[-1].endswith(f"Giving up after {attempts}(SPOTLIGHT_CONNECT_RETRIES={retries}).")
    assert "Traceback" not in captured.out + captured.err + caplog.text
    assert "Unclosed" not in caplog.text  # each attempt's client was closed
    assert "some.token.value" not in captured.err + caplog.text
    assert unreachable_discord.closed


@pytest.mark.parametrize(("raw", "expected"), [("", None), ("forever", None), ("0", 0),
                                                ("12", 12)])
def test_retry_count_setting(raw, expected):
    assert Settings.from_env({"SPOTLIGHT_CONNECT_RETRIES": raw}).connect_retries == expected


def test_sigterm_while_retrying_stops_cleanly(unreachable_discord, monkeypatch, capsys):
    retrying = threading.Event()

    def delays() -> Iterator[float]:
        while True:
            retrying.set()  # the loop is running, its SIGTERM handler installed
            yield 0.05

    def terminate() -> None:
        if retrying.wait(20):
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(app, "retry_delays", delays)
    monkeypatch.delenv("SPOTLIGHT_CONNECT_RETRIES", raising=False)  # retry forever
    threading.Thread(target=terminate, daemon=True).start()
    assert app.main([]) == 0
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "Stopped." and "Traceback" not in err
    assert unreachable_discord.closed


def test_a_malformed_retry_count_is_a_configuration_error(monkeypatch, capsys):
    monkeypatch.setenv("SPOTLIGHT_CONNECT_RETRIES", "-1")
    assert app.main([]) == 2
    assert "SPOTLIGHT_CONNECT_RETRIES" in capsys.readouterr().err


# --- the fake Discord down, then back ---

async def test_retries_until_discord_is_back_then_connects(
        fake_discord: FakeDiscord, server: Server, small_library: Library, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    port = yarl.URL(fake_discord.base_url).port
    await fake_discord.stop()  # Discord is down when the bot starts
    out = io.StringIO()
    bots: list[SpotlightBot] = []

    def start() -> SpotlightBot:
        bots.append(SpotlightBot(settings=bot_settings(fake_discord, tmp_path),
                                 library=small_library, guild_ready_timeout=0.05))
        return bots[-1]

    serving = asyncio.create_task(serve(start, fake_discord.token, retries=None,
                                        delays=iter([0.05] * 1000), out=out))
    try:
        while out.getvalue().count("\n") < 2:  # two failed attempts, one line each
            assert not serving.done(), out.getvalue()
            await asyncio.sleep(0.02)
        await fake_discord.start(port=port)
        await fake_discord.wait_until_ready(timeout=20)
        await asyncio.wait_for(bots[-1].wait_until_ready(), 20)
        asked = await fake_discord.slash_command(server.guild, server.channel, server.member,
                                                 "ask", {"question": "why was Kim criticized?"})
        reply = await fake_discord.wait_for_response(asked)
        assert "Kim" in reply.text()
        await bots[-1].close()
        assert await asyncio.wait_for(serving, 15) == 0
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and all(line.startswith("Cannot reach Discord: ") for line in lines)
    assert all(bot.is_closed() for bot in bots)


async def test_a_long_outage_later_logs_one_line_per_attempt_and_resumes(
        fake_discord: FakeDiscord, server: Server, spotlight: SpotlightBot,
        reconnect_logs: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    port = yarl.URL(fake_discord.base_url).port
    await fake_discord.stop()  # the socket closes and nothing answers any more

    def failed_reconnects() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name.startswith("discord.")
                and "Attempting a reconnect" in r.getMessage()]

    async with asyncio.timeout(20):
        while not failed_reconnects():
            await asyncio.sleep(0.05)
    await fake_discord.start(port=port)
    await fake_discord.wait_for_resume()
    asked = await fake_discord.slash_command(server.guild, server.channel, server.member, "ask",
                                             {"question": "why was Kim criticized?"})
    assert "Kim" in (await fake_discord.wait_for_response(asked)).text()

    for record in caplog.records:
        if record.name.startswith("discord.") and record.levelno >= logging.WARNING:
            assert record.exc_info is None, record.getMessage()
            assert "\n" not in record.getMessage()
    assert "Cannot connect to host 127.0.0.1" in failed_reconnects()[0].getMessage()
    assert "Traceback" not in caplog.text
