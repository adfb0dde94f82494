"""The soak app's stream: the latest event per slot (100 slots), pushed to subscribers of group "recent"."""

from motia import Stream

latest = Stream[dict]("soak")
