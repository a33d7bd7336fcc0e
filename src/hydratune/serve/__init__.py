"""``hydratune serve``: a running or finished sweep live in the browser, steered from its page.

``state``: the study read incrementally into rows and a summary, a cursor per page; ``app``:
the Starlette app (the page, its server-sent events, the steering verbs behind the controls);
``static``: the page itself, and ``static/vendor`` the plotly.js it loads: the installed
plotly package's version, only the trace types the page draws (works offline).
Needs the ``serve`` extra (Starlette, uvicorn); imported only by the command.
"""

from __future__ import annotations

from hydratune.serve.app import create_app, listening_socket, run_server
from hydratune.serve.state import Feed

__all__ = ["Feed", "create_app", "listening_socket", "run_server"]
