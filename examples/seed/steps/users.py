"""In-memory user store shared by the user steps."""

USERS: dict[str, dict] = {}
