"""Storage URLs: passwords masked in both URL forms, a masked URL read back connects through
libpq's own password sources, a URL that does not parse is an error, and a server that never
answers is named within the connect timeout."""

from __future__ import annotations

import socket
import time

import pytest

from hydratune.errors import StudyConfigError
from hydratune.storage import (
    CONNECT_TIMEOUT_S,
    mask_url,
    open_storage,
    storage_url,
    unmasked,
)


@pytest.mark.parametrize(
    ("url", "masked", "reconnect"),
    [
        (
            "postgresql://tuner:s3cret@db:5432/h",
            "postgresql://tuner:***@db:5432/h",
            "postgresql://tuner@db:5432/h",
        ),
        (
            "postgresql://tuner@db/h?password=s3cret",
            "postgresql://tuner@db/h?password=***",
            "postgresql://tuner@db/h",
        ),
        (
            "postgresql://tuner@db/h?sslmode=require&password=s3cret&application_name=x",
            "postgresql://tuner@db/h?sslmode=require&password=***&application_name=x",
            "postgresql://tuner@db/h?sslmode=require&application_name=x",
        ),
        (
            "postgresql://tuner:${oc.env:PGPASSWORD}@db/h",
            "postgresql://tuner:${oc.env:PGPASSWORD}@db/h",
            "postgresql://tuner:${oc.env:PGPASSWORD}@db/h",
        ),
    ],
)
def test_passwords_are_masked_in_both_url_forms_and_dropped_to_reconnect(url, masked, reconnect):
    assert mask_url(url) == masked
    assert mask_url(f"  - hydra.sweeper.storage={url}\n") == f"  - hydra.sweeper.storage={masked}\n"
    assert unmasked(masked) == reconnect


@pytest.mark.parametrize("setting", ["postgresql:/127.0.0.1/db", "sqlite:x.db", "mysql:host/db"])
def test_a_storage_that_looks_like_a_url_but_does_not_parse_is_an_error(setting, tmp_path):
    with pytest.raises(StudyConfigError, match="hydra.sweeper.storage.*does not parse"):
        storage_url(setting, tmp_path)


def test_a_malformed_storage_url_stops_the_sweep_before_any_file(sweep, tmp_path):
    with pytest.raises(StudyConfigError, match="looks like a URL but does not parse"):
        sweep(["hydra.sweeper.storage=postgresql:/127.0.0.1/db"], task=pytest.fail)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_a_server_that_never_answers_is_named_after_the_connect_timeout():
    with socket.socket() as server:  # accepts connections (the kernel's backlog), never answers
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(StudyConfigError, match=f"127.0.0.1:{port} did not answer"):
            open_storage(f"postgresql://tuner:s3cret@127.0.0.1:{port}/h")
        assert time.monotonic() - started < 6 * CONNECT_TIMEOUT_S


@pytest.mark.postgres
def test_the_plain_url_and_psycopg2_url_both_open(postgres_url):
    plain = open_storage(postgres_url)
    assert plain.engine.dialect.driver == "psycopg"  # SQLAlchemy 2.1's driver for postgresql://
    explicit = open_storage(postgres_url.replace("postgresql://", "postgresql+psycopg2://"))
    assert explicit.engine.dialect.driver == "psycopg2"
