"""Errors a user can act on: each message says what is wrong and what to do."""


class IndexError_(Exception):
    """Base for every error the index raises on purpose."""


class IndexMissingError(IndexError_):
    pass


class IndexMismatchError(IndexError_):
    """The folder was built with another model, dimension or format version."""


class EmptyIndexError(IndexError_):
    pass


class QuestionError(IndexError_):
    """An empty question, or one past the length cap."""


class DatabaseUnavailableError(IndexError_):
    """PostgreSQL cannot be reached (down, restarting, wrong address): retry later."""


class SchemaVersionError(IndexError_):
    """The database's schema is newer than this Spotlight knows: upgrade Spotlight."""


class TransferError(IndexError_):
    """A library cannot be exported there (the target is not empty, the source is old)."""
