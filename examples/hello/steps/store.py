"""A helper module shared by steps (imported with a relative import)."""

users: dict = {}
