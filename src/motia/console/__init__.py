"""The console at `/__motia/`: a browser view of the running app (flows, endpoint tester, state, streams, queues
and cron), served by the app itself with its JSON APIs under `/__motia/api/`; the pages are plain files in
`assets/`, no build step and no network.

`console_routes` are its routes (the composition root, `motia.assembly`, serves them when the console is on); `access`
decides who may use it.
"""

from .access import TOKEN_COOKIE, TOKEN_ENV, TOKEN_HEADER, ConsoleAccess, unavailable_reason
from .serve import CONSOLE_PATH, console_routes

__all__ = [
    "CONSOLE_PATH",
    "TOKEN_COOKIE",
    "TOKEN_ENV",
    "TOKEN_HEADER",
    "ConsoleAccess",
    "console_routes",
    "unavailable_reason",
]
