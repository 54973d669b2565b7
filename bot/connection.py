"""Reaching Discord: one readable line per failure, never a traceback, and retries.

At start, `serve` retries logging in with a capped exponential backoff (5 s doubling to
5 min) for as long as Discord cannot be reached, or gives up after
SPOTLIGHT_CONNECT_RETRIES retries. Once connected, discord.py reconnects by itself; the
filter below turns its reconnect log lines (a traceback each) into one line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import TextIO

import aiohttp
import discord

FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 300.0
EXIT_UNREACHABLE = 3
# Where discord.py logs lost connections with a traceback (client.connect, the shards).
RECONNECT_LOGGERS = ("discord.client", "discord.shard", "discord.gateway")
_REASON_CHARS = 300


def retry_delays(
    first: float = FIRST_RETRY_SECONDS, cap: float = MAX_RETRY_SECONDS
) -> Iterator[float]:
    """first, 2×first, 4×first… up to `cap`, then `cap` forever."""
    delay = first
    while True:
        yield min(delay, cap)
        delay = min(delay * 2, cap)


def connection_problem(error: BaseException) -> str | None:
    """One line saying why Discord could not be reached, or None when `error` is not a
    network problem (a wrong token, a bug) and must surface as it is."""
    if isinstance(error, discord.ConnectionClosed):
        return f"the connection closed (code {error.code})"
    if isinstance(error, discord.DiscordServerError):
        return f"Discord answered {error.status} (it may be having an outage)"
    if isinstance(error, discord.GatewayNotFound):
        return "Discord did not give a gateway address (it may be having an outage)"
    if isinstance(error, asyncio.TimeoutError):  # TimeoutError itself is an OSError subclass
        return "timed out"
    if isinstance(error, aiohttp.ClientError | OSError):
        reason = " ".join(str(error).split()) or type(error).__name__
        return reason[:_REASON_CHARS]
    return None


def is_unreachable(error: BaseException) -> bool:
    """Worth retrying at start: the network or Discord is down. A closed gateway connection
    that reaches us is fatal (bad token, intents), discord.py retries the others itself."""
    return connection_problem(error) is not None and not isinstance(
        error, discord.ConnectionClosed
    )


class OneLineConnectionErrors(logging.Filter):
    """A log record about a lost connection keeps its message plus the reason, and loses its
    traceback: an outage writes one line per retry, not forty."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        reason = connection_problem(error) if error is not None else None
        if reason is not None:
            record.msg = f"{record.getMessage()} ({reason})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


_FILTER = OneLineConnectionErrors()


def quiet_reconnect_logs() -> None:
    """Install the filter on discord.py's reconnect loggers (idempotent)."""
    for name in RECONNECT_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def unreachable_line(reason: str, *, attempt: int, delay: float | None, limit: int | None) -> str:
    if delay is None:
        tries = f"{attempt} attempt{'s' if attempt != 1 else ''}"
        return (
            f"Cannot reach Discord: {reason}. Giving up after {tries} "
            f"(SPOTLIGHT_CONNECT_RETRIES={limit})."
        )
    stop = "Ctrl+C stops" if limit is None else f"retry {attempt} of {limit}; Ctrl+C stops"
    return f"Cannot reach Discord: {reason}. Retrying in {delay:g} s ({stop})."


async def serve(
    start: Callable[[], discord.Client],
    token: str,
    *,
    retries: int | None,
    delays: Iterator[float],
    out: TextIO,
) -> int:
    """Run a fresh client from `start()` until it closes; while Discord cannot be reached,
    print one line per failed attempt and retry after the next delay.

    Returns 0 when the client closed normally, EXIT_UNREACHABLE after `retries` retries
    (None: never give up). Other errors (LoginFailure included) propagate.
    """
    attempt = 0
    while True:
        # A fresh client per attempt: one that failed half-way through login holds a
        # session and cogs that a second login would duplicate.
        client = start()
        try:
            async with client:  # closes the client however start() ends
                await client.start(token)
            return 0
        except Exception as error:
            if not is_unreachable(error):
                raise
            reason = connection_problem(error) or "unknown"
        attempt += 1
        if retries is not None and attempt > retries:
            print(unreachable_line(reason, attempt=attempt, delay=None, limit=retries), file=out)
            return EXIT_UNREACHABLE
        delay = next(delays)
        print(unreachable_line(reason, attempt=attempt, delay=delay, limit=retries), file=out)
        await asyncio.sleep(delay)
