"""Storage URLs: passwords masked in both URL forms, a masked URL read back connects through
libpq's own password sources, a URL that does not parse is an error, and a server that never
answers is named within the connect timeout; a file that is not a journal is never touched."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from helpers import load, sweep_on_a_small_disk
from hydratune.errors import StudyConfigError
from hydratune.storage import (
    CONNECT_TIMEOUT_S,
    DEFAULT_STORAGE,
    StudyNotFoundError,
    default_journal,
    hide_password,
    load_study,
    mask_url,
    open_storage,
    password_scope,
    repair_journal,
    storage_url,
    unmasked,
)
from services import free_port


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
        # quotes, spaces, a slash and a colon in a password (SQLAlchemy reads them up to the @)
        (
            "postgresql://tuner:ab'S3 c\"r/e:t@db:5432/h",
            "postgresql://tuner:***@db:5432/h",
            "postgresql://tuner@db:5432/h",
        ),
        (
            "postgresql://tuner@db/h?password=ab'c\"d",
            "postgresql://tuner@db/h?password=***",
            "postgresql://tuner@db/h",
        ),
    ],
)
def test_passwords_are_masked_in_both_url_forms_and_dropped_to_reconnect(url, masked, reconnect):
    assert mask_url(url) == masked
    assert mask_url(f"  - hydra.sweeper.storage={url}\n") == f"  - hydra.sweeper.storage={masked}\n"
    assert mask_url(f"cannot open '{url}': refused") == f"cannot open '{masked}': refused"
    assert unmasked(masked) == reconnect
    with password_scope():  # how a sweep keeps it: in the environment of its own processes
        assert hide_password(url) == masked
        assert unmasked(masked) == url


def test_a_quoted_url_in_yaml_stays_yaml_once_masked():
    text = "storage: 'postgresql://tuner@db/h?password=s3cret'\nurl: \"postgresql://t:s3@db/h\"\n"
    masked = mask_url(text)
    assert "s3" not in masked
    assert yaml.safe_load(masked) == {
        "storage": "postgresql://tuner@db/h?password=***",
        "url": "postgresql://t:***@db/h",
    }


def test_a_url_typo_with_a_password_is_refused_with_the_password_masked(tmp_path):
    with pytest.raises(StudyConfigError) as error:
        storage_url("postgresql:/tuner:s3cret@127.0.0.1/db", tmp_path)
    assert "s3cret" not in str(error.value) and "tuner:***@" in str(error.value)


@pytest.mark.parametrize(
    ("setting", "sweep_dir", "journal"),
    [
        # a fixed sweep dir under the working dir (hydratune's own): outputs/, as documented
        ("outputs/sweeps/${hydra.sweeper.study_name}", "outputs/sweeps/mlp", DEFAULT_STORAGE),
        # lightning-hydra-template: beside the timestamped folders, with the app's logs
        (
            "${paths.log_dir}/${task_name}/multiruns/${now:%Y-%m-%d}_${now:%H-%M-%S}",
            "{cwd}/logs/train/multiruns/2026-12-02_14-31-38",
            "logs/train/multiruns/hydratune.journal",
        ),
        # Hydra's default: two timestamped levels
        (
            "multirun/${now:%Y-%m-%d}/${now:%H-%M-%S}",
            "multirun/2026-12-02/14-31-38",
            "multirun/hydratune.journal",
        ),
        # outside the working dir (the template's own test: hydra.sweep.dir=<tmp_path>): beside it
        ("/elsewhere/sweep", "/elsewhere/sweep", "/elsewhere/hydratune.journal"),
    ],
)
def test_the_default_journal_lies_with_the_apps_outputs(setting, sweep_dir, journal, tmp_path):
    sweep_dir = Path(sweep_dir.format(cwd=tmp_path))
    assert default_journal(setting, sweep_dir, tmp_path) == journal


@pytest.mark.parametrize("setting", ["postgresql:/127.0.0.1/db", "sqlite:x.db", "mysql:host/db"])
def test_a_storage_that_looks_like_a_url_but_does_not_parse_is_an_error(setting, tmp_path):
    with pytest.raises(StudyConfigError, match=f"^'{setting}' .*does not parse"):
        storage_url(setting, tmp_path)  # naming no setting: its caller names the one it read


def test_a_malformed_storage_url_stops_the_sweep_before_any_file(sweep, tmp_path):
    with pytest.raises(StudyConfigError) as error:
        sweep(["hydra.sweeper.storage=postgresql:/127.0.0.1/db"], task=pytest.fail)
    assert str(error.value).startswith(
        "hydra.sweeper.storage: 'postgresql:/127.0.0.1/db' looks like a URL but does not parse"
    )
    assert str(error.value).count("hydra.sweeper") == 1
    assert not any(tmp_path.iterdir())


def test_a_database_that_cannot_be_opened_is_one_line_naming_the_drivers_error(tmp_path):
    """SQLAlchemy wraps a driver's error with the statement it ran and a link; the sweep says
    the driver's first line, and the file it was given is left as it was."""
    text_file = tmp_path / "t.db"
    text_file.write_text("hello\n")
    with socket.socket() as closed:  # a port nothing listens on: refused at once
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    cases = {
        f"sqlite:///{text_file}": "is not an SQLite database (it does not begin with SQLite's",
        f"postgresql://tuner:s3cret@127.0.0.1:{port}/h": "OperationalError: connection failed:",
    }
    for url, reason in cases.items():
        with pytest.raises(StudyConfigError) as raised:
            open_storage(url)
        message = str(raised.value)
        assert "\n" not in message and reason in message, message
        assert "s3cret" not in message
    assert text_file.read_text() == "hello\n"


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


def app_database(postgres_url: str, schema: str, tables: list[str]) -> str:
    """A URL whose database has ``tables`` of another application: the test server's one user
    may not create databases, so its own schema, first on the search path, where Optuna would
    create its tables."""
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url)
    with engine.begin() as db:
        db.execute(text(f"CREATE SCHEMA {schema}"))
        for table in tables:
            db.execute(text(f"CREATE TABLE {schema}.{table} (id int)"))
    engine.dispose()
    return f"{postgres_url}?options=-csearch_path%3D{schema}"


def tables_of(url: str) -> list[str]:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    try:
        return sorted(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("schema", "theirs"), [("shop", ["orders"]), ("shop_alembic", ["alembic_version", "orders"])]
)
def test_a_postgresql_database_of_another_application_is_refused_untouched(
    sweep, postgres_url, schema, theirs
):
    """Optuna creates its tables in any database it opens; with the app's own alembic_version
    it then failed asking to upgrade Optuna, its 12 tables left behind."""
    app = app_database(postgres_url, schema, theirs)
    said = re.escape(
        f"'{mask_url(app)}' is a database but not Optuna's (its tables: {', '.join(theirs)}); "
        "it was left untouched"
    )
    with pytest.raises(StudyConfigError, match=f"^hydra.sweeper.storage: {said}"):
        sweep([f"hydra.sweeper.storage='{app}'"], task=pytest.fail)  # quoted: = in it
    with pytest.raises(StudyConfigError, match=f"^{said}"):
        load_study(app, "quadratic")  # report, export, steer
    assert tables_of(app) == theirs


@pytest.mark.postgres
def test_an_empty_postgresql_database_gets_optunas_tables(postgres_url):
    empty = app_database(postgres_url, "empty", [])
    open_storage(empty)
    assert {"studies", "trials", "version_info"} <= set(tables_of(empty))


# Files a typo or a shared folder can put where a storage is named: none is a journal.
NOT_JOURNALS = {
    "data.csv": b"epoch,acc\n1,0.5\n",
    "multirun.yaml": b"hydra:\n  sweeper:\n    storage: null\n",
    ".bashrc": b"export PATH=$HOME/bin:$PATH\n",
    "records.jsonl": b'{"foo": 1}\n',
}


@pytest.mark.parametrize("name", NOT_JOURNALS)
def test_a_file_that_is_not_a_journal_is_refused_and_left_byte_for_byte(sweep, tmp_path, name):
    target = tmp_path / name
    target.write_bytes(NOT_JOURNALS[name])
    with pytest.raises(
        StudyConfigError, match="^hydra.sweeper.storage: .*is not an Optuna journal.*left untouched"
    ):
        sweep([f"hydra.sweeper.storage={name}"], task=pytest.fail)
    with pytest.raises(StudyConfigError, match="is not an Optuna journal"):
        open_storage(str(target))
    assert target.read_bytes() == NOT_JOURNALS[name]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no aside copy, no lock


@pytest.mark.parametrize("head", [b"{", b'{"op', b'{"op_code"'], ids=lambda h: h.decode())
def test_a_file_holding_only_part_of_a_records_start_is_refused_and_left_byte_for_byte(
    sweep, tmp_path, head
):
    """Any JSON file begins with ``{``: only a whole ``{"op_code":`` makes a file a journal
    (torn after it or not); before, ``{`` alone was "repaired", its bytes moved aside."""
    notes = tmp_path / "notes.json"
    notes.write_bytes(head)
    before = hashlib.sha256(head).hexdigest()
    said = f"'{notes}' exists and is not an Optuna journal"
    with pytest.raises(StudyConfigError, match=f"^hydra.sweeper.storage: {said}"):
        sweep(["hydra.sweeper.storage=notes.json"], task=pytest.fail)
    with pytest.raises(StudyConfigError, match=f"^{said}"):
        load_study(str(notes), "quadratic")  # report, export, steer
    assert hashlib.sha256(notes.read_bytes()).hexdigest() == before
    assert [p.name for p in tmp_path.iterdir()] == ["notes.json"]  # no aside copy, no lock


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [["report", "--no-png"], ["export"], ["rerun"], ["steer", "show"]],
    ids=lambda c: c[0],
)
def test_read_only_commands_refuse_a_file_that_is_not_a_journal_in_one_line(tmp_path, command):
    target = tmp_path / "data.csv"
    target.write_bytes(NOT_JOURNALS["data.csv"])
    where = ["--storage", "data.csv", "--study", "s"]
    argv = [command[0], *where, *command[1:]]  # steer takes its verb last
    done = subprocess.run(
        [sys.executable, "-m", "hydratune", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "is not an Optuna journal" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr + done.stdout
    assert target.read_bytes() == NOT_JOURNALS["data.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_journal_repairs_keep_every_aside_copy_and_drop_records_optuna_cannot_replay(tmp_path):
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    journal = tmp_path / "j.journal"
    study = optuna.create_study(storage=JournalStorage(JournalFileBackend(str(journal))))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    whole = journal.read_bytes()
    asides = []
    for damage in (b'{"foo": 1}\n', b"GARBAGE\n"):  # two repairs within one second
        journal.write_bytes(whole + damage)
        asides.append(repair_journal(journal))
        assert journal.read_bytes() == whole
    assert len(set(asides)) == 2
    assert [a.read_bytes() for a in asides] == [b'{"foo": 1}\n', b"GARBAGE\n"]
    reread = optuna.load_study(study_name=study.study_name, storage=open_storage(str(journal)))
    assert len(reread.trials) == 2


def test_a_trials_gathered_writes_land_as_one_append_in_order_and_plain_optuna_reads_them(
    tmp_path,
):
    import threading

    from optuna.storages.journal import JournalFileBackend, JournalStorage

    from hydratune import compat

    journal = tmp_path / "j.journal"
    study = optuna.create_study(storage=open_storage(str(journal)))
    trial = study.ask()
    before = journal.read_bytes()
    with pytest.raises(KeyboardInterrupt), compat.one_write(study):
        x = trial.suggest_float("x", 0, 1)
        trial.set_user_attr("overrides", [f"x={x}"])
        assert journal.read_bytes() == before  # held back: one append at the end
        other = threading.Thread(target=study.set_user_attr, args=("steer", 1))
        other.start()
        other.join()  # another thread's write lands at once
        assert journal.read_bytes() != before
        raise KeyboardInterrupt  # what was written inside is kept
    records = [json.loads(line) for line in journal.read_bytes()[len(before) :].splitlines()]
    assert [r.get("param_name") or next(iter(r.get("user_attr", {})), None) for r in records] == [
        "steer",  # the other thread's, first
        "x",
        "overrides",
    ]
    plain = optuna.load_study(
        study_name=study.study_name, storage=JournalStorage(JournalFileBackend(str(journal)))
    )
    assert plain.trials[0].params == {"x": x}
    assert plain.trials[0].user_attrs == {"overrides": [f"x={x}"]}
    assert study.trials[0].user_attrs == {"overrides": [f"x={x}"]}  # read back after the block


def test_a_journal_that_cannot_be_created_is_one_line_saying_why(tmp_path):
    (tmp_path / "notes.txt").write_text("mine\n")
    for place, reason in [
        ("notes.txt/s.journal", "notes.txt is not a directory"),
        ("/proc/s.journal", "No such file"),
    ]:
        with pytest.raises(StudyConfigError) as raised:
            open_storage(str(tmp_path / place) if not place.startswith("/") else place)
        message = str(raised.value)
        assert message.startswith("cannot open the journal '") and reason in message, message
        assert "credentials" not in message and "\n" not in message
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


@pytest.mark.cli
def test_a_journal_the_disk_cannot_grow_ends_the_sweep_in_one_line_and_a_rerun_finishes_it(
    tmp_path,
):
    journal = tmp_path / "outputs" / "hydratune.journal"
    # about ten trials' records; every other file the sweep writes is smaller
    full = sweep_on_a_small_disk(tmp_path, 20_000, "hydra.sweeper.n_trials=30")
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr[-3000:]
    said = f"cannot write {journal}: File too large. The study keeps every record written before"
    assert said in full.stderr and journal.stat().st_size == 20_000  # its last record cut
    recorded = load("quadratic", tmp_path).trials  # read: the cut record is set aside
    assert 5 <= len(recorded) < 30
    again = sweep_on_a_small_disk(tmp_path, None, "hydra.sweeper.n_trials=30")  # room again
    assert again.returncode == 0, again.stderr[-3000:]
    trials = load("quadratic", tmp_path).trials
    assert [t.params for t in trials[: len(recorded)]] == [t.params for t in recorded]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 30


@pytest.mark.cli
def test_a_new_sqlite_study_the_disk_cannot_hold_ends_in_one_line_and_a_rerun_creates_it(tmp_path):
    """Optuna creates its tables one by one: a full disk half-way left a file with some of
    them, which every later run refused as not Optuna's."""
    storage = "hydra.sweeper.storage=sqlite:///study.db"
    full = sweep_on_a_small_disk(tmp_path, 8192, storage, "hydra.sweeper.n_trials=2")
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr[-3000:]
    said = "cannot create the SQLite study in 'study.db' (disk I/O error); the new file was removed"
    assert said in full.stderr and "Check the URL" not in full.stderr, full.stderr[-3000:]
    assert not list(tmp_path.glob("study.db*"))
    again = sweep_on_a_small_disk(tmp_path, None, storage, "hydra.sweeper.n_trials=2")
    assert again.returncode == 0, again.stderr[-3000:]


@pytest.mark.cli
def test_an_sqlite_study_the_disk_cannot_grow_ends_the_sweep_in_one_line_and_a_rerun_finishes_it(
    tmp_path,
):
    storage = "hydra.sweeper.storage=sqlite:///study.db"
    assert (
        sweep_on_a_small_disk(tmp_path, None, storage, "hydra.sweeper.n_trials=1").returncode == 0
    )
    room = (tmp_path / "study.db").stat().st_size + 16_384  # a few trials' rows
    full = sweep_on_a_small_disk(tmp_path, room, storage, "hydra.sweeper.n_trials=80")
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr[-3000:]
    said = "cannot write the SQLite study (disk I/O error). The study keeps every trial it recorded"
    assert said in full.stderr
    url = f"sqlite:///{tmp_path / 'study.db'}"
    recorded = optuna.load_study(study_name="quadratic", storage=url).trials
    assert 1 < len(recorded) < 80
    again = sweep_on_a_small_disk(tmp_path, None, storage, "hydra.sweeper.n_trials=80")
    assert again.returncode == 0, again.stderr[-3000:]
    trials = optuna.load_study(study_name="quadratic", storage=url).trials
    assert [t.params for t in trials[: len(recorded) - 1]] == [t.params for t in recorded[:-1]]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 80


def test_a_foreign_sqlite_database_or_file_named_as_storage_is_refused_untouched(sweep, tmp_path):
    """Optuna creates its tables in any SQLite file it opens: someone else's database, or a
    text file given a sqlite:/// URL, is refused by the sweep and the read-only commands."""
    other, text = tmp_path / "other.db", tmp_path / "text.db"
    with closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE mine (x)")
        db.commit()
    text.write_text("hello\n")
    before = {path: path.read_bytes() for path in (other, text)}
    for path, said in (
        (other, "is an SQLite database but not Optuna's \\(its tables: mine\\); it was left"),
        (text, "is not an SQLite database \\(it does not begin with SQLite's header\\); it was"),
    ):
        with pytest.raises(StudyConfigError, match=f"hydra.sweeper.storage: '{path}' {said}"):
            sweep([f"hydra.sweeper.storage=sqlite:///{path}"], task=pytest.fail)
        with pytest.raises(StudyConfigError, match=said):
            load_study(f"sqlite:///{path}", "quadratic")  # report, export, steer
    assert {path: path.read_bytes() for path in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db", "text.db"]


# Files SQLite itself opens as an empty database (no error, no tables): short, no header.
SHORT_NOT_SQLITE = {"newline": b"\n", "x": b"x", "brace": b"{", "99 bytes": b"a" * 99}


@pytest.mark.parametrize("name", SHORT_NOT_SQLITE)
def test_a_short_file_without_sqlites_header_is_refused_untouched(sweep, tmp_path, name):
    notes, content = tmp_path / "notes.txt", SHORT_NOT_SQLITE[name]
    notes.write_bytes(content)
    before = hashlib.sha256(content).hexdigest()
    said = f"'{notes}' is not an SQLite database \\(it does not begin with SQLite's header\\)"
    with pytest.raises(StudyConfigError, match=f"^hydra.sweeper.storage: {said}"):
        sweep([f"hydra.sweeper.storage=sqlite:///{notes}"], task=pytest.fail)
    with pytest.raises(StudyConfigError, match=f"^{said}"):
        load_study(f"sqlite:///{notes}", "quadratic")  # report, export, steer
    assert hashlib.sha256(notes.read_bytes()).hexdigest() == before
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.cli
def test_the_storage_proxy_refuses_a_short_file_without_sqlites_header_untouched(tmp_path):
    one = tmp_path / "one.db"
    one.write_bytes(b"x")
    done = subprocess.run(
        [sys.executable, "-m", "hydratune", "storage-proxy", "--storage", "sqlite:///one.db"]
        + ["--port", str(free_port())],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,  # before the fix, it served the file (as an Optuna database made over it)
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "'one.db' is not an SQLite database (it does not begin" in done.stderr
    assert one.read_bytes() == b"x" and [p.name for p in tmp_path.iterdir()] == ["one.db"]


def test_reading_a_study_never_creates_a_sqlite_file_or_its_tables(tmp_path):
    typo, empty = tmp_path / "typo.db", tmp_path / "empty.journal"
    empty.touch()
    with pytest.raises(StudyConfigError, match=f"^no storage file at {typo}$"):
        load_study(f"sqlite:///{typo}", "s")
    with pytest.raises(StudyNotFoundError, match="^no study 's' in sqlite:///.*; it has: none$"):
        load_study(f"sqlite:///{empty}", "s")
    assert not typo.exists() and empty.read_bytes() == b""


def test_a_journal_record_optuna_cannot_replay_is_one_line_and_the_file_stays(tmp_path):
    journal = tmp_path / "edited.journal"
    journal.write_text('{"op_code": 5}\n')  # a whole line, but not a record Optuna wrote
    with pytest.raises(StudyConfigError) as raised:
        open_storage(str(journal))
    assert str(raised.value) == (
        f"cannot read the journal '{journal}': KeyError: 'trial_id' in a record Optuna cannot "
        "replay; it was left as it was (a journal of another Optuna version, or edited?)"
    )
    assert journal.read_text() == '{"op_code": 5}\n'
