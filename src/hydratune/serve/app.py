"""The ``hydratune serve`` web app (Starlette): the page, its live feed, and the steering verbs.

Every control posts one steering verb in the words ``hydratune steer`` takes, and the server
runs it through ``Steerer.run_words``, so validation, the audit record (the page's user as
"who") and the messages are those of the command. Safe by default:

- a token (``Guard``) when the server listens beyond loopback, taken once from the address
  printed at start and kept in an HttpOnly, SameSite=Strict cookie; on loopback the Host header
  must name loopback (no DNS rebinding);
- a POST needs the page's own CSRF value in a header (a cross-site form cannot set one, and a
  cross-site script cannot read the page) and, if the browser sends an Origin, this one;
- ``read_only`` registers no POST route at all;
- the page builds its DOM with ``textContent`` and the Content-Security-Policy allows only
  this server's scripts, so a value in the study never runs as code.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hydratune.errors import StudyConfigError
from hydratune.serve.state import Feed
from hydratune.steering import VERBS, Steerer, SteerError, action_message

STATIC = Path(__file__).parent / "static"
# plotly.js with only the trace types the page draws (scatter, bar, contour, parcoords), built
# by scripts/build-plotly-bundle.sh: 1.4 MB where the installed plotly package's full bundle
# is 4.8 MB, and V8 compiling that was most of a first visit (issue 27). The report keeps the
# package's own. Named by its version and content, so a browser may keep it for good: a later
# visit takes it from its HTTP cache, and Chromium's code cache compiles none of it again.
# Sent from memory in one piece: as a file response (64 kB reads, each a trip to a worker
# thread) it arrived 1.0-1.9 s after navigation on 2 loaded cores, from memory 0.2-0.7 s.
PLOTLY_JS = STATIC / "vendor" / "plotly.min.js"
PLOTLY_BYTES = PLOTLY_JS.read_bytes()
PLOTLY_SHA = hashlib.sha256(PLOTLY_BYTES).hexdigest()[:12]


def _plotly_url(bundle: bytes, sha: str) -> str:
    """``/static/plotly-<version in its header>-<sha>.min.js``."""
    version = re.search(rb"plotly\.js \(.*\) v(\S+)", bundle[:200]).group(1).decode()
    return f"/static/plotly-{version}-{sha}.min.js"


PLOTLY_URL = _plotly_url(PLOTLY_BYTES, PLOTLY_SHA)
FOREVER = {"Cache-Control": "public, max-age=31536000, immutable"}
STEERING_VERBS = tuple(v for v in VERBS if v != "show")
CSRF_HEADER = "x-hydratune-csrf"
COOKIE = "hydratune_token"
PUSH_EVERY_S = 0.5  # the page sees a change within this plus one refresh
# Scripts from this server only, never inline ones; 'unsafe-eval' because plotly's WebGL
# charts (regl: parallel coordinates, scattergl) compile their draw calls with Function().
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-eval'; "
    "style-src 'self' "
    "'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The page, the state and the steering answers are never kept; this server's own scripts are
# asked again each time (ETag: a 304 when unchanged); plotly.js is kept (FOREVER).
NO_STORE, REVALIDATE = "no-store", "no-cache"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


class Guard(BaseHTTPMiddleware):
    """The token (when one is set) and the security headers on every response."""

    def __init__(self, app: Any, token: str | None) -> None:
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if self.token is not None:
            given = request.query_params.get("token")
            if given is not None and secrets.compare_digest(given, self.token):
                response: Response = RedirectResponse(request.url.path, status_code=303)
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
                return response
            if not secrets.compare_digest(request.cookies.get(COOKIE, ""), self.token):
                return PlainTextResponse(
                    "a token is required: open the address `hydratune serve` printed", 401
                )
        response = await call_next(request)
        response.headers.update(HEADERS)
        static = request.url.path.startswith("/static/")
        response.headers.setdefault("Cache-Control", REVALIDATE if static else NO_STORE)
        return response


def create_app(
    feed: Feed, *, read_only: bool = False, token: str | None = None, loopback: bool = True
) -> Starlette:
    """The app serving ``feed``'s study; ``token``: required on every request when set."""
    csrf = secrets.token_urlsafe(24)
    page = (STATIC / "index.html").read_text()
    page = page.replace("__CSRF__", csrf).replace("__READ_ONLY__", str(read_only).lower())
    page = page.replace("__PLOTLY__", PLOTLY_URL)

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def state(request: Request) -> Response:
        _, text = await run_in_threadpool(feed.wire, _since(request))
        return Response(text, media_type="application/json")

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            since = _since(request)
            while not await request.is_disconnected():
                cursor, text = await run_in_threadpool(feed.wire, since)
                if cursor != since:
                    since = cursor
                    yield f"data: {text}\n\n"
                else:
                    yield ": idle\n\n"  # finds a closed connection
                await asyncio.sleep(PUSH_EVERY_S)

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def importance(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(_importance, feed))

    async def steer(request: Request) -> Response:
        refused = _cross_site(request, csrf)
        if refused is not None:
            return JSONResponse({"error": refused}, 403)
        try:
            body = await request.json()
            verb, words, user = body["verb"], body.get("words", []), body.get("user", "")
            if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                raise SteerError("words must be a list of texts")
        except (ValueError, KeyError, TypeError, SteerError) as error:
            return _refuse(f"a request the page does not send ({error})")
        if verb not in STEERING_VERBS:
            return _refuse(f"'{verb}' is not a steering verb; one of: {', '.join(STEERING_VERBS)}")
        if not isinstance(user, str) or not user.strip() or len(user) > 64:
            return _refuse("give your name (1 to 64 characters): steering records who did it")
        client = request.client.host if request.client else "?"
        try:
            message = await run_in_threadpool(_run, feed, (user.strip(), client), verb, words)
        except SteerError as error:
            return _refuse(str(error))
        except StudyConfigError as error:  # a storage that cannot take the record says what stays
            return JSONResponse({"error": f"error: {error}"}, 503)
        return JSONResponse({"message": message})

    routes = [
        Route("/", index),
        Route("/api/state", state),
        Route("/api/events", events),
        Route("/api/importance", importance),
        Route(PLOTLY_URL, plotly_js),
        Route("/favicon.ico", lambda r: Response(status_code=204)),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    if not read_only:
        routes.append(Route("/api/steer", steer, methods=["POST"]))
    middleware = [Middleware(Guard, token=token)]
    if loopback:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS))
    return Starlette(routes=routes, middleware=middleware)


def plotly_js(request: Request) -> Response:
    """plotly.js, kept for good; a 304 to a browser that asks whether its copy (ETag) is it."""
    headers = {"etag": f'"{PLOTLY_SHA}"', **FOREVER}
    if request.headers.get("if-none-match") == headers["etag"]:
        return Response(status_code=304, headers=headers)
    return Response(PLOTLY_BYTES, media_type="text/javascript", headers=headers)


def _since(request: Request) -> str:
    """The page's cursor (``Feed.delta``): the ``version`` of the last state it got."""
    return request.query_params.get("since", "")


def _cross_site(request: Request, csrf: str) -> str | None:
    """Why a POST may come from another site, or None: it lacks the page's CSRF value, is not
    JSON, or its Origin is not this server."""
    if not secrets.compare_digest(request.headers.get(CSRF_HEADER, ""), csrf):
        return "refused: the request lacks this page's CSRF value (reload the page)"
    if request.headers.get("content-type", "").split(";")[0] != "application/json":
        return "refused: a steering request is JSON"
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host')}":
        return f"refused: a request from another origin ({origin})"
    return None


def _refuse(error: str) -> Response:
    """The command's own words: ``error: ... Nothing was written.``"""
    return JSONResponse({"error": f"error: {error}. Nothing was written."}, 400)


def _run(feed: Feed, by: tuple[str, str], verb: str, words: list[str]) -> str:
    """One verb as ``hydratune steer`` runs it, recorded as ``by``; the message it prints."""
    steerer = Steerer(feed.study, by=by)
    action = steerer.run_words(verb, words)
    caveat = steerer.caveat(action)
    feed.refresh(force=True)
    return action_message(action) + (f" {caveat}" if caveat else "")


def _importance(feed: Feed) -> dict[str, Any]:
    """Parameter importances by PED-ANOVA (fast with thousands of trials), or why none."""
    import optuna

    if len(feed.study.directions) != 1:
        return {"error": "importance is for one objective"}
    try:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        found = optuna.importance.get_param_importances(feed.study, evaluator=evaluator)
    except (ValueError, RuntimeError) as error:
        return {"error": str(error)}
    return {"importance": {k: float(v) for k, v in found.items()}}


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` as uvicorn binds one (address reuse on); OSError if the
    port is taken, before anything says the page is served there (uvicorn binds and logs the
    error only after the command has printed its address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError:
        listening.close()
        raise
    return listening


def run_server(app: Starlette, listening: socket.socket) -> None:
    """Serve ``app`` on the bound socket until Ctrl-C."""
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1)
    uvicorn.Server(config).run(sockets=[listening])
