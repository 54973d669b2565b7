"""The PostgreSQL backend (`SPOTLIGHT_DATABASE_URL=postgresql://…`): one database shared by
several bot processes. `database.py` holds the connection pool, `migrations.py` the
versioned schema each component (library, bot state, feeds) brings."""
