"""The "bot" component's tables: server settings, answer context, member cooldowns.

Prefixed `bot_` so they never meet the library's or the feeds' tables in the one database.
"""

from __future__ import annotations

from index.pg.database import Database
from index.pg.migrations import Migration, migrate

COMPONENT = "bot"
# Sent (with the guild id) in the transaction that changes a server's settings; delivered
# to every listening process when it commits.
SETTINGS_CHANNEL = "spotlight_guild_settings"

MIGRATIONS = (
    Migration(1, "server settings, answer context, member cooldowns", """
        CREATE TABLE bot_guild_settings (
            guild_id bigint PRIMARY KEY,
            cooldown_seconds double precision
        );
        CREATE TABLE bot_answer_channels (
            guild_id bigint NOT NULL,
            channel_id bigint NOT NULL,
            PRIMARY KEY (guild_id, channel_id)
        );
        CREATE TABLE bot_answers (
            message_id bigint PRIMARY KEY,
            guild_id bigint,
            channel_id bigint,
            question text NOT NULL,
            question_id bigint,
            created_at double precision NOT NULL
        );
        CREATE INDEX bot_answers_created_at ON bot_answers (created_at);
        CREATE TABLE bot_member_cooldowns (
            key text PRIMARY KEY,
            used_at double precision NOT NULL,
            per double precision NOT NULL
        );
        CREATE INDEX bot_member_cooldowns_expiry ON bot_member_cooldowns ((used_at + per));
    """),
)


def migrate_bot(database: Database) -> None:
    migrate(database, COMPONENT, MIGRATIONS)
