"""``hydratune storage-proxy``: Optuna's gRPC storage proxy with a port of its own, a token, and
clients that ride out a restart.

Optuna's ``run_grpc_proxy_server`` lets in anyone who reaches the port (any call can delete
every study behind it) and, like every gRPC server, binds with ``SO_REUSEPORT``: a second proxy
on the same port starts silently and the kernel splits the workers between two storages. So
the proxy here:

- binds the port alone (``grpc.so_reuseport=0``, checked before anything is printed) and takes
  ports 1-65535 only (gRPC wraps 99999 to 34463);
- checks a shared token on every call: the server and every worker read it from
  ``HYDRATUNE_PROXY_TOKEN`` or from the file ``HYDRATUNE_PROXY_TOKEN_FILE`` names (owned by the
  user, readable by no one else, as ssh keys are). It is never in a URL, a config, a pickle
  or a log; a proxy listening beyond loopback without one is refused. The token travels in
  the clear (gRPC call metadata): on a network others can read, reach the proxy through an SSH
  tunnel (``ssh -L``);
- gives each call of a worker ``HYDRATUNE_PROXY_WAIT_S`` seconds (default 60) to reach a
  proxy that is down (killed, restarting on the same port) before it fails with one line.
"""

from __future__ import annotations

import collections
import hmac
import ipaddress
import json
import os
import socket
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc  # only imported where a proxy is used: hydratune[grpc]
from optuna.storages import BaseStorage

from hydratune import compat
from hydratune.errors import StudyConfigError

TOKEN_ENV = "HYDRATUNE_PROXY_TOKEN"
TOKEN_FILE_ENV = "HYDRATUNE_PROXY_TOKEN_FILE"
WAIT_ENV = "HYDRATUNE_PROXY_WAIT_S"
DEFAULT_WAIT_S = 60.0
_HEADER = "authorization"
_OPTIONS = [
    ("grpc.max_receive_message_length", -1),  # as Optuna's client: a study's trials in one reply
    ("grpc.initial_reconnect_backoff_ms", 500),  # a restarted proxy is found within a second
    ("grpc.max_reconnect_backoff_ms", 2000),
]


class ProxyError(StudyConfigError):
    """The proxy cannot start, or a worker cannot reach it: one line saying why and what to do."""


def read_token() -> str | None:
    """The proxy token from ``HYDRATUNE_PROXY_TOKEN`` or the file ``HYDRATUNE_PROXY_TOKEN_FILE``
    names; None when neither is set. A token file others can read or write is refused."""
    token = os.environ.get(TOKEN_ENV)
    name = os.environ.get(TOKEN_FILE_ENV)
    if token is None and name:
        path = Path(name).expanduser()
        try:
            info = path.stat()
            token = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ProxyError(f"{TOKEN_FILE_ENV}={name}: cannot read it ({error})") from None
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ProxyError(
                f"{TOKEN_FILE_ENV}={name}: the token file must be yours and private; "
                f"run: chmod 600 {name}"
            )
    if token is None:
        return None
    token = token.strip()
    if not token:
        raise ProxyError(f"{TOKEN_ENV} (or {TOKEN_FILE_ENV}'s file) is empty; set a token")
    return token


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is this machine's loopback."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def start_server(
    open_storage: Callable[[], BaseStorage], host: str, port: int, token: str | None
) -> Any:
    """A started ``grpc.Server`` serving ``open_storage()`` on ``host:port`` alone, checking
    ``token`` on every call; ``ProxyError`` when the port is taken or the bind is not allowed
    (checked before the storage is opened)."""
    if not 1 <= port <= 65535:
        raise ProxyError(f"--port {port}: expected a port between 1 and 65535")
    if token is None and not is_loopback(host):
        raise ProxyError(
            f"--host {host} is reachable from other machines, and anyone who reaches the proxy "
            f"can delete every study behind it: set {TOKEN_ENV} (or {TOKEN_FILE_ENV}, a file "
            "only you can read) here and on every worker, or listen on 127.0.0.1"
        )
    _check_port_free(host, port)
    interceptors = [] if token is None else [_TokenCheck(token)]
    server = grpc.server(
        ThreadPoolExecutor(max_workers=10),
        interceptors=interceptors,
        options=[("grpc.so_reuseport", 0)],
    )
    compat.grpc_proxy_server(open_storage(), server)
    try:
        server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # taken between the check and now
        raise ProxyError(_taken(host, port)) from None
    server.start()
    return server


def _check_port_free(host: str, port: int) -> None:
    """Fail with one line if ``host:port`` is taken (a proxy there binds with SO_REUSEPORT,
    which a socket without it cannot share) or ``host`` is not an address of this machine."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ProxyError(f"--host {host}: {error.strerror}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno == 98:  # EADDRINUSE
                    raise ProxyError(_taken(host, port)) from None
                raise ProxyError(f"--host {host} --port {port}: {error.strerror}") from None


def _taken(host: str, port: int) -> str:
    return (
        f"port {port} on {host} is taken (another storage-proxy?): stop it, or choose "
        "another --port"
    )


class _TokenCheck(grpc.ServerInterceptor):
    """A server interceptor that lets a call through only with the token in its metadata."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

        def deny(request: Any, context: Any) -> None:
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                f"wrong or missing proxy token; set {TOKEN_ENV} as the proxy has it",
            )

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        given = dict(details.invocation_metadata or ()).get(_HEADER, "")
        if hmac.compare_digest(str(given).encode(), self._expected):
            return continuation(details)
        return self._deny


def connect(host: str, port: int) -> BaseStorage:
    """A storage client of the proxy at ``host:port``: it sends the token from the environment
    with every call and waits out a proxy that is down for up to ``HYDRATUNE_PROXY_WAIT_S``;
    checked with one call, so a wrong address or token fails here, not at the first trial."""
    token = read_token()
    try:
        wait_s = float(os.environ.get(WAIT_ENV) or DEFAULT_WAIT_S)
    except ValueError:
        raise ProxyError(f"{WAIT_ENV}={os.environ[WAIT_ENV]!r}: expected seconds") from None
    address = f"grpc://{host}:{port}"
    storage = compat.grpc_proxy_client(host, port, lambda: _channel(host, port, token, wait_s))
    try:
        storage.get_study_id_from_name("")  # KeyError: reached, and the token was accepted
    except KeyError:
        pass
    except ProxyError as error:
        raise ProxyError(f"{address}: {error}") from None
    return storage


def _channel(host: str, port: int, token: str | None, wait_s: float) -> Any:
    retry = {  # a call the proxy never answered (it died during it) is sent again
        "methodConfig": [
            {
                "name": [{"service": "optuna.StorageService"}],
                "retryPolicy": {
                    "maxAttempts": 5,
                    "initialBackoff": "0.5s",
                    "maxBackoff": "4s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
    options = [*_OPTIONS, ("grpc.service_config", json.dumps(retry))]
    channel = grpc.insecure_channel(f"{host}:{port}", options=options)
    return grpc.intercept_channel(channel, _CallSettings(f"{host}:{port}", token, wait_s))


class _CallSettings(grpc.UnaryUnaryClientInterceptor):
    """A client interceptor: each call carries the token, waits for a proxy that is down (up to
    ``wait_s``), and fails as one ``ProxyError`` line instead of a gRPC traceback."""

    def __init__(self, address: str, token: str | None, wait_s: float) -> None:
        self._address, self._wait_s = address, wait_s
        self._metadata = [] if token is None else [(_HEADER, f"Bearer {token}")]

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        metadata = [*(details.metadata or ()), *self._metadata]
        call = continuation(
            _Details(details.method, self._wait_s, metadata, details.credentials, True),
            request,
        )
        code = call.code()
        if code == grpc.StatusCode.UNAUTHENTICATED:
            raise ProxyError(f"the proxy at {self._address} refused the token: {call.details()}")
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise ProxyError(
                f"the storage proxy at {self._address} did not answer for {self._wait_s:g} s "
                f"({code.name}); start `hydratune storage-proxy` again on that port (the study "
                f"is safe in its storage) and run the same command to resume; {WAIT_ENV} sets "
                "how long workers wait"
            )
        return call


class _Details(
    collections.namedtuple(
        "_Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready")
    ),
    grpc.ClientCallDetails,
):
    """A call's details with our timeout, metadata and ``wait_for_ready``."""
