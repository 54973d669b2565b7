"""The one error type the corpus layer raises for bad input."""


class CorpusError(ValueError):
    """Input that cannot become an article; the message is short and fit to show a user."""
