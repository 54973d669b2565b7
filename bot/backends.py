"""The bot's state and cooldowns on the library's backend: in this process (SQLite file,
memory) when the library is embedded, in its PostgreSQL database when it has one, so every
bot process of a deployment shares server settings, answer context and cooldowns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.cooldowns import Cooldowns, MemberCooldowns
from bot.services import BEFORE_ACK_SECONDS
from bot.settings import Settings
from bot.state import BotState, SqliteBotState

if TYPE_CHECKING:
    from index.pg.database import Database


def open_state(settings: Settings, database: Database | None) -> BotState:
    if database is None:
        return SqliteBotState.open(settings.state_path)
    from bot.pg.state import PgBotState  # psycopg only when configured

    return PgBotState.open(database)  # migrates the "bot" tables the cooldowns use too


def make_cooldowns(database: Database | None) -> Cooldowns:
    if database is None:
        return MemberCooldowns()
    from bot.pg.cooldowns import PgCooldowns

    return PgCooldowns(database, max_wait=BEFORE_ACK_SECONDS)
