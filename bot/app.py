"""`python run_bot.py [--console]`: settings, logging, the index, then Discord or the console."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

import discord

from bot.connection import quiet_reconnect_logs, retry_delays, serve
from bot.settings import Settings
from corpus.errors import CorpusError
from index.embedder import resolve_backend
from index.errors import IndexError_

NO_TOKEN_NOTE = (
    "No DISCORD_TOKEN set, so this is the console instead of Discord.\n"
    "To get a token: https://discord.com/developers/applications > New Application > Bot > "
    "Reset Token.\n"
    "Put it in .env as DISCORD_TOKEN=... (see .env.example) and run this again."
)
BAD_TOKEN = (
    "Discord rejected the token: check DISCORD_TOKEN in .env "
    "(Bot > Reset Token in the developer portal gives a new one)."
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="run_bot.py", description="Run the Spotlight Discord bot (or its console)."
    )
    parser.add_argument(
        "--console", action="store_true", help="answer questions in this terminal, no Discord"
    )
    return parser.parse_args(argv)


def open_library(settings: Settings):  # -> index.library.Library (imported late: loads torch)
    """Open (or create) the index and bring it up to date with the operator's corpus folder:
    only new or changed files are embedded, so a restart after adding files is cheap."""
    from index.batching import batching
    from index.embedder import make_embedder
    from index.library import open_library as open_backend

    # Questions arriving together are embedded in one model call (index/batching.py).
    embedder = batching(make_embedder(), max_batch=settings.embed_batch,
                        max_wait_ms=settings.embed_wait_ms)
    # PostgreSQL when SPOTLIGHT_DATABASE_URL is set (every process syncs the same corpus:
    # writers take turns, and what is unchanged is not embedded again), else the folder.
    library = open_backend(settings.library, embedder, folder=settings.index_dir, create=True)
    _sync_corpus(library, settings)
    if library.signals_missing():
        # Once, for a library stored by an earlier version: answers are the same without.
        print("Storing each sentence's signals for passages stored by an earlier version "
              "(once; ~30 s per 100k passages)...")
        filled = max(library.fill_signals(), default=0)  # it yields a rising count
        print(f"Stored the sentence signals of {filled} passages.")
    return library


def _sync_corpus(library, settings: Settings) -> None:
    import corpus

    if not settings.corpus_dir.exists():
        print(f"{settings.corpus_dir} does not exist; serving the index as it is.")
        return
    loaded = corpus.load_path(settings.corpus_dir)
    if not loaded.articles:
        print(f"{settings.corpus_dir} holds no readable articles; serving the index as it is.")
        return
    # A file that is there but unreadable right now keeps its indexed articles.
    report = library.build(loaded.articles,
                           keep_sources=[skipped.path for skipped in loaded.skipped])
    print(
        f"Index up to date with {settings.corpus_dir}: {len(loaded.articles)} articles "
        f"({len(report.added)} new, {len(report.updated)} updated, {len(report.removed)} "
        f"removed), {report.passages} passages embedded, {len(loaded.skipped)} files skipped."
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = Settings.from_env()
        resolve_backend()  # an unknown SPOTLIGHT_EMBEDDING_BACKEND, before loading anything
    except ValueError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    console = args.console or not settings.token
    level = logging.getLevelName(settings.log_level)
    if console and level > logging.DEBUG:
        level = max(level, logging.WARNING)  # in the console, the terminal is the conversation
    discord.utils.setup_logging(level=level)
    try:
        library = open_library(settings)
    except (IndexError_, CorpusError) as error:  # e.g. built with another model: says how to fix
        print(error, file=sys.stderr)
        return 2
    try:
        if console:
            if not args.console:
                print(NO_TOKEN_NOTE)
            from bot.console import run_console

            run_console(library, max_question_chars=settings.max_question_chars)
            return 0
        return run_discord(settings, library)
    finally:
        close_library(library)


def close_library(library) -> None:
    """The library, then its embedder (a BatchingEmbedder's thread) once nothing asks."""
    library.close()
    close_embedder = getattr(getattr(library, "embedder", None), "close", None)
    if close_embedder is not None:
        close_embedder()


def run_discord(settings: Settings, library) -> int:
    """Serve Discord until stopped: 0 on Ctrl+C or SIGTERM, 2 for a wrong token, 3 when
    Discord stayed unreachable for SPOTLIGHT_CONNECT_RETRIES retries."""
    from bot.client import make_bot

    quiet_reconnect_logs()

    async def until_stopped() -> int:
        stop_on_sigterm(asyncio.current_task())
        return await serve(
            lambda: make_bot(settings, library),
            settings.token or "",
            retries=settings.connect_retries,
            delays=retry_delays(),
            out=sys.stderr,
        )

    try:
        return asyncio.run(until_stopped())
    except discord.LoginFailure:
        print(BAD_TOKEN, file=sys.stderr)
        return 2
    # Ctrl+C, or SIGTERM (`docker stop`, systemd): the client was closed on the way out.
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("Stopped.", file=sys.stderr)
        return 0


def stop_on_sigterm(task: asyncio.Task | None) -> None:
    """SIGTERM cancels `task` (like Ctrl+C does), so the bot and the index close cleanly
    instead of the process dying mid-write."""
    if task is None:
        return
    # Not on Windows (no add_signal_handler); Ctrl+C still works there.
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
