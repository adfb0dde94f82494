"""Where everything lives in Redis, laid out for Redis Cluster.

Every key of one state scope, one stream group, one cron job carries the same hash tag (`{...}`), so a Redis
Cluster keeps it on one shard, and no command or script touches keys of two tags. The indexes (which scopes,
streams and groups exist) are keys of their own, written by separate commands.
"""

from __future__ import annotations

import hashlib

PREFIX = "motia"
STATE_SCOPES = f"{PREFIX}:state-scopes"  # set of scope names (a scope may have been emptied since)
STREAM_NAMES = f"{PREFIX}:streams"  # set of stream names
# Pub/sub channels: every node listens to both (a Redis Cluster broadcasts PUBLISH to every shard).
STREAM_EVENTS = f"{PREFIX}:stream-events"
PUBSUB_EVENTS = f"{PREFIX}:pubsub"


def tag(name: str) -> str:
    """`{name}` as a hash tag; a name a tag cannot carry as it is (empty, or with braces) by its digest."""
    if name and not any(c in name for c in "{}#"):
        return "{" + name + "}"
    return "{#" + hashlib.sha1(name.encode()).hexdigest()[:20] + "}"


def state_scope(scope: str) -> str:
    """The hash of one state scope: key -> JSON value."""
    return f"{PREFIX}:state:{tag(scope)}"


def stream_group(stream: str, group: str) -> str:
    """The hash of one stream group: item id -> JSON value. The length prefix keeps `a:b`/`c` and `a`/`b:c` apart."""
    return f"{PREFIX}:stream:{tag(f'{len(stream)}:{stream}:{group}')}"


def stream_groups(stream: str) -> str:
    """The set of one stream's group names."""
    return f"{PREFIX}:stream-groups:{tag(stream)}"


def cron_job(job: str) -> tuple[str, str]:
    """(last tick taken, run in progress) of one cron job: one tag, so one script may hold both."""
    base = f"{PREFIX}:cron:{tag(job)}"
    return f"{base}:last", f"{base}:running"
