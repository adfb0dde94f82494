"""The console at `/__motia/`: a browser view of the running app (flows, endpoint tester, state, streams, queues
and cron), served by the app itself with its JSON APIs under `/__motia/api/`; the pages are plain files in
`assets/`, no build step and no network.

`serve_console` registers it on the embedded engine (the runtime calls it when an app is assembled); `access`
decides who may use it.
"""

from .access import TOKEN_COOKIE, TOKEN_ENV, TOKEN_HEADER, ConsoleAccess, unavailable_reason
from .serve import CONSOLE_PATH, serve_console

__all__ = [
    "CONSOLE_PATH",
    "TOKEN_COOKIE",
    "TOKEN_ENV",
    "TOKEN_HEADER",
    "ConsoleAccess",
    "serve_console",
    "unavailable_reason",
]
