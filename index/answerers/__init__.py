"""Answerers: from the evidence of a question to a cited answer and a confidence."""
