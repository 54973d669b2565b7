"""The bot's state on PostgreSQL (`SPOTLIGHT_DATABASE_URL`), shared by every bot process."""
