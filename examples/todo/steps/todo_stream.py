"""The todo stream: every todo lives in the "inbox" group, keyed by its id. Clients subscribe to it on the
stream WebSocket (ws://127.0.0.1:3112) and see each change as it happens."""

import msgspec

from motia import Stream

INBOX = "inbox"


class Todo(msgspec.Struct, rename="camel"):
    """A todo as stored and as sent: `{"id", "description", "createdAt", "dueDate", "completedAt"}`."""

    id: str
    description: str
    created_at: str
    due_date: str | None = None
    completed_at: str | None = None


todo_stream = Stream[Todo]("todo")
