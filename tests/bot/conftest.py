"""The fake Discord's fixtures, for bot tests that drive discord.py over a socket."""

from tests.fakediscord.fixtures import fake_discord

__all__ = ["fake_discord"]
