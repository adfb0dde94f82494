"""The todo stream and the helpers the seed-form steps share (a plain module, imported relatively)."""

from datetime import datetime, timezone

from motia import Stream

INBOX = "inbox"

# Untyped: items are the JSON dicts the steps build. Declared once here and imported by every step.
todo_stream = Stream("todo")

NOT_FOUND = {"error": "Todo not found"}


def now() -> str:
    return datetime.now(timezone.utc).isoformat()
