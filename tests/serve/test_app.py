"""``hydratune serve`` over plain HTTP: the token beyond loopback, read-only, and the checks
that keep another site (or a DNS-rebound name) from steering a sweep."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from helpers import load, multirun
from hydratune.steering import read_state

pytestmark = pytest.mark.slow


@pytest.fixture
def swept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    multirun(["hydra.sweeper.n_trials=3"])
    return tmp_path


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get(url: str, **headers: str) -> tuple[int, dict, str]:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=30) as reply:
            return reply.status, dict(reply.headers), reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def post(url: str, body: dict, **headers: str) -> tuple[int, dict]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        said = error.read().decode()
        return error.code, json.loads(said) if said.startswith("{") else {"text": said}


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" content="([^"]+)"', page).group(1)


def test_beyond_loopback_every_request_needs_the_token_printed_once(swept, serve):
    server = serve(swept, "sweeps/quadratic", "--host", "0.0.0.0")
    token = re.search(r"\?token=(\S+)", server.said).group(1)
    for path in ("", "api/state", "api/events", "static/app.js", "api/steer"):
        status, _, said = get(server.url + path)
        assert status == 401 and "token is required" in said, path
    assert get(server.url + "?token=wrong")[0] == 401
    status, headers, _ = get(f"{server.url}?token={token}")
    assert status == 303 and headers["location"] == "/"  # the token leaves the address bar
    cookie = headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    status, _, page = get(server.url, Cookie=cookie.split(";")[0])
    assert status == 200 and 'name="read-only" content="false"' in page
    stored = [p for p in swept.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    assert stored == []


def test_read_only_has_no_steering_route_and_no_controls(swept, serve):
    server = serve(swept, "sweeps/quadratic", "--read-only")
    status, _, page = get(server.url)
    assert status == 200 and 'name="read-only" content="true"' in page
    headers = {"Content-Type": "application/json", "X-Hydratune-Csrf": csrf_of(page)}
    before = load("quadratic", swept).user_attrs
    status, _ = post(server.url + "api/steer", {"verb": "stop", "user": "eve"}, **headers)
    assert status == 404 and load("quadratic", swept).user_attrs == before


@pytest.mark.parametrize(
    ("headers", "refusal"),
    [
        ({"X-Hydratune-Csrf": ""}, "lacks this page's CSRF value"),
        ({"X-Hydratune-Csrf": "guessed"}, "lacks this page's CSRF value"),
        ({"Origin": "http://evil.example"}, "from another origin (http://evil.example)"),
        ({"Content-Type": "text/plain"}, "a steering request is JSON"),
    ],
)
def test_a_cross_site_request_is_refused_and_writes_nothing(swept, serve, headers, refusal):
    server = serve(swept, "sweeps/quadratic")
    page = get(server.url)[2]
    sent = {"Content-Type": "application/json", "X-Hydratune-Csrf": csrf_of(page), **headers}
    before = load("quadratic", swept).user_attrs
    status, said = post(server.url + "api/steer", {"verb": "stop", "user": "eve"}, **sent)
    assert status == 403 and refusal in said["error"]
    assert load("quadratic", swept).user_attrs == before


def test_on_loopback_a_page_under_another_host_name_is_refused(swept, serve):
    """DNS rebinding: evil.example resolving to 127.0.0.1 must not read the page's CSRF value."""
    server = serve(swept, "sweeps/quadratic")
    assert get(server.url, Host="evil.example")[0] == 400
    assert get(server.url, Host=f"localhost:{server.port}")[0] == 200


def test_the_page_steers_with_the_commands_words_and_a_named_user(swept, serve):
    server = serve(swept, "sweeps/quadratic")
    headers = {"Content-Type": "application/json", "X-Hydratune-Csrf": csrf_of(get(server.url)[2])}
    status, said = post(server.url + "api/steer", {"verb": "n_trials", "words": ["5"]}, **headers)
    assert status == 400 and "give your name" in said["error"]
    body = {"verb": "n_trials", "words": ["5"], "user": "alice"}
    status, said = post(server.url + "api/steer", body, **headers)
    assert status == 200 and said["message"].startswith("recorded: n_trials 5 (by alice@127.0.0.1")
    state = json.loads(get(server.url + "api/state")[2])
    paused = state["columns"].index("paused")  # rows as lists (state.encode)
    assert [t[paused] for t in state["trials"]] == [None] * 3  # no schedule: none paused
    assert "schedule" not in state  # and no rungs or lineage to show
    state = state["summary"]
    assert state["n_trials"] == 5 and state["log"][0]["by"] == "alice@127.0.0.1"
    importance = json.loads(get(server.url + "api/importance")[2])["importance"]
    assert set(importance) == {"x", "y", "kind"}


def test_a_steering_action_the_disk_cannot_hold_is_answered_with_what_stays(swept, serve):
    journal = swept / "outputs" / "hydratune.journal"
    size = journal.stat().st_size  # the server may read the journal, not grow it
    server = serve(swept, "sweeps/quadratic", file_size_limit=size)
    headers = {"Content-Type": "application/json", "X-Hydratune-Csrf": csrf_of(get(server.url)[2])}
    body = {"verb": "n_trials", "words": ["5"], "user": "alice"}
    status, said = post(server.url + "api/steer", body, **headers)
    assert status == 503, said
    assert said["error"] == (
        f"error: cannot write {journal}: File too large. The study keeps every record written "
        "before; make room, then run the same command again to resume"
    )
    assert get(server.url + "api/state")[0] == 200  # and it goes on serving
    assert journal.stat().st_size == size


def numbers(state: dict) -> list[int]:
    """The trial numbers of a state on the wire (rows as lists: ``state.encode``)."""
    return [row[state["columns"].index("number")] for row in state["trials"]]


def first_event(url: str) -> dict:
    """The first state ``api/events`` pushes, as the page's EventSource receives it."""
    with urllib.request.urlopen(url, timeout=30) as stream:
        for line in stream:
            if line.startswith(b"data: "):
                return json.loads(line[len(b"data: ") :])
    raise AssertionError("the stream ended before its first state")


def test_a_page_reconnecting_to_a_restarted_server_gets_the_whole_state(swept, serve):
    """Each server process counts its versions from 0: a page's cursor from the server before a
    restart must not hide from it the trials that changed while no server ran."""
    before = serve(swept, "sweeps/quadratic")
    cursor = json.loads(get(before.url + "api/state")[2])["version"]
    before.stop()
    multirun(["hydra.sweeper.n_trials=5"])  # trials #3 and #4 run while the page reconnects
    after = serve(swept, "sweeps/quadratic")
    whole = json.loads(get(after.url + "api/state")[2])
    assert numbers(whole) == [0, 1, 2, 3, 4]
    assert numbers(json.loads(get(f"{after.url}api/state?since={cursor}")[2])) == numbers(whole)
    assert numbers(first_event(f"{after.url}api/events?since={cursor}")) == numbers(whole)
    since = json.loads(get(f"{after.url}api/state?since={whole['version']}")[2])
    assert numbers(since) == [] and since["version"] == whole["version"]  # its own cursor holds


def lowered(headers: dict) -> dict:
    return {k.lower(): v for k, v in headers.items()}


def test_plotly_js_is_kept_for_good_and_the_rest_asked_again(swept, serve):
    """plotly.js is named by its version and content: a later visit takes it from the browser's
    cache (and Chromium's code cache); the page and the state are never kept, this server's
    scripts are revalidated."""
    server = serve(swept, "sweeps/quadratic")
    status, headers, page = get(server.url)
    headers = lowered(headers)
    assert status == 200 and headers["cache-control"] == "no-store"
    script = r'<script src="(/static/plotly-[\d.]+-[0-9a-f]{12}\.min\.js)" async'
    plotly_url = re.search(script, page).group(1)
    status, headers, _ = get(server.url.rstrip("/") + plotly_url)
    headers = lowered(headers)
    assert status == 200 and "immutable" in headers["cache-control"] and headers["etag"]
    assert get(server.url.rstrip("/") + plotly_url, **{"If-None-Match": headers["etag"]})[0] == 304
    assert lowered(get(server.url + "api/state")[1])["cache-control"] == "no-store"
    status, headers, _ = get(server.url + "static/app.js")
    headers = lowered(headers)
    assert headers["cache-control"] == "no-cache" and headers["etag"]
    assert get(server.url + "static/app.js", **{"If-None-Match": headers["etag"]})[0] == 304


def test_on_ipv6_loopback_it_behaves_as_on_127_0_0_1(swept, serve):
    """``--host ::1`` is loopback: no token, steering as on 127.0.0.1, and a page under another
    Host name refused (DNS rebinding)."""
    server = serve(swept, "sweeps/quadratic", "--host", "::1")
    assert "token" not in server.said and server.url.startswith("http://[::1]:")
    status, _, page = get(server.url)
    assert status == 200
    assert get(server.url, Host="evil.example")[0] == 400
    headers = {
        "Content-Type": "application/json",
        "X-Hydratune-Csrf": csrf_of(page),
        "Origin": server.url.rstrip("/"),
    }
    body = {"verb": "n_trials", "words": ["5"], "user": "bob"}
    status, said = post(server.url + "api/steer", body, **headers)
    assert status == 200 and "(by bob@::1" in said["message"], said
    assert read_state(load("quadratic", swept).user_attrs).n_trials == 5


@pytest.mark.parametrize(("host", "shown"), [("127.0.0.1", "127.0.0.1"), ("::1", "[::1]")])
def test_a_port_in_use_is_one_line_and_nothing_claims_to_serve_there(swept, host, shown):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as taken:
        taken.bind((host, 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "hydratune", "serve", "sweeps/quadratic", "--host", host]
        done = subprocess.run(
            [*command, "--port", str(port)], cwd=swept, capture_output=True, text=True, timeout=120
        )
    said = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, said
    reason = "Address already in use; choose another --port"
    assert said == f"cannot serve on {shown}:{port}: {reason}"


def test_an_address_this_machine_lacks_is_the_hosts_fault_not_the_ports(swept):
    host = "192.0.2.1"  # TEST-NET-1 (RFC 5737): never an address of this machine
    command = [sys.executable, "-m", "hydratune", "serve", "sweeps/quadratic", "--host", host]
    done = subprocess.run(
        [*command, "--port", "48123"], cwd=swept, capture_output=True, text=True, timeout=120
    )
    said = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, said
    assert said.startswith(f"cannot serve on {host}:48123: ") and said.endswith("another --host")
