"""Slash-command option limits that come from Settings, so Discord itself refuses input the
bot would refuse (the member sees the limit while typing, not an error after sending)."""

from __future__ import annotations

import dataclasses

from discord import app_commands

# Discord's bounds for a string option's min_length / max_length.
STRING_OPTION_MAX = 6000


def limit_text_option(
    command: app_commands.Command, name: str, *, max_length: int, min_length: int = 1
) -> None:
    """Set a string option's length limits on `command` (a cog's bound copy).

    discord.py reads limits from annotations at import time, and ours are only known once
    Settings are read. The parameter is replaced, not changed in place: the bound copy's
    parameter object is shared with the class-level command (and so with every other bot
    in the process, e.g. in tests).
    """
    parameter = command._params[name]
    high = max(1, min(max_length, STRING_OPTION_MAX))
    command._params[name] = dataclasses.replace(
        parameter, min_value=min(max(0, min_length), high), max_value=high
    )
