"""Every private Optuna, Hydra, OmegaConf and Lightning API hydratune relies on
(``hydratune.compat``) still exists and behaves as relied on. A failure here names the API an
upgrade broke."""

from __future__ import annotations

import enum
import logging
import logging.handlers
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hydratune import compat


def study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study()


def test_pop_waiting_trial_takes_queued_trials_in_order_and_then_none():
    s = study()
    s.enqueue_trial({"x": 1.0})
    s.enqueue_trial({"x": 2.0})
    first, second = compat.pop_waiting_trial(s), compat.pop_waiting_trial(s)
    assert (first.number, second.number) == (0, 1), "Study._pop_waiting_trial_id changed"
    assert first.suggest_float("x", 0, 3) == 1.0
    assert compat.pop_waiting_trial(s) is None


def test_pop_waiting_trial_which_takes_only_the_accepted_waiting_trial_once():
    s = study()
    for x in (1.0, 2.0, 3.0):
        s.enqueue_trial({"x": x})
    taken = compat.pop_waiting_trial(s, lambda t: t.number == 2)  # ahead of #0 and #1
    assert taken.number == 2 and taken.suggest_float("x", 0, 4) == 3.0
    assert s.trials[2].state == TrialState.RUNNING, "storage.set_trial_state_values changed"
    assert compat.pop_waiting_trial(s, lambda t: t.number == 2) is None  # never twice
    assert compat.pop_waiting_trial(s).number == 0  # the others keep Optuna's order


def test_trial_by_number_rebuilds_a_live_trial_that_reports():
    s = study()
    s.ask()
    trial = compat.trial_by_number(s, 0)  # Study._storage, Study._study_id
    trial.report(0.5, step=3)
    assert s.trials[0].intermediate_values == {3: 0.5}


def test_storage_of_and_trial_id_update_a_frozen_trial_in_storage():
    s = study()
    s.ask()
    storage = compat.storage_of(s)  # Study._storage
    storage.set_trial_user_attr(compat.trial_id(s.trials[0]), "k", 1)  # FrozenTrial._trial_id
    assert s.trials[0].user_attrs == {"k": 1}
    live = s.ask()  # a live Trial's id reads what another handle wrote (Trial._trial_id)
    compat.trial_by_number(s, live.number).set_user_attr("stopped", "yes")
    assert storage.get_trial_user_attrs(compat.trial_id(live)) == {"stopped": "yes"}


def test_study_user_attrs_reads_the_storage_current_attributes():
    s = study()
    s.set_user_attr("steer:1", {"verb": "pause"})
    assert compat.study_user_attrs(s) == {"steer:1": {"verb": "pause"}}  # Study._storage
    s.set_user_attr("steer:2", {"verb": "resume"})
    assert set(compat.study_user_attrs(s)) == {"steer:1", "steer:2"}


def test_rdb_user_attr_count_counts_by_prefix_in_an_rdb_storage_only(tmp_path):
    rdb = optuna.create_study(storage=f"sqlite:///{tmp_path / 'x.db'}")
    rdb.set_user_attr("steer:1", {"verb": "pause"})
    rdb.set_user_attr("steer:2", {"verb": "resume"})
    rdb.set_user_attr("other", 1)
    other = optuna.create_study(storage=f"sqlite:///{tmp_path / 'x.db'}")
    other.set_user_attr("steer:1", {})
    # _CachedStorage._backend, RDBStorage.engine, the study_user_attributes table
    assert compat.rdb_user_attr_count(rdb, "steer:") == 2
    assert compat.rdb_user_attr_count(study(), "steer:") is None  # in memory: not RDB


def test_tell_records_values_or_a_state_as_study_tell_does():
    study = optuna.create_study(directions=["minimize", "maximize"])
    complete, pruned, failed = study.ask(), study.ask(), study.ask()
    compat.tell(study, complete, [1.0, 2.0])
    compat.tell(study, pruned, None, TrialState.PRUNED)
    compat.tell(study, failed, None, TrialState.FAIL)
    assert [(t.state, t.values) for t in study.trials] == [
        (TrialState.COMPLETE, [1.0, 2.0]),
        (TrialState.PRUNED, None),
        (TrialState.FAIL, None),
    ]
    with pytest.raises(ValueError, match="Cannot tell a COMPLETE trial"):  # as study.tell
        compat.tell(study, complete, [3.0, 4.0])


@pytest.mark.parametrize("kind", ["journal", "sqlite", "memory"])
def test_set_user_attrs_sets_each_attribute_in_the_storage_and_the_trial(tmp_path, kind):
    path = tmp_path / "study.journal"
    storage = {
        "journal": lambda: optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(path))
        ),
        "sqlite": lambda: f"sqlite:///{tmp_path / 'study.db'}",
        "memory": optuna.storages.InMemoryStorage,
    }[kind]()
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    compat.set_user_attrs(trial, {"a": 1, "b": [2, "x"], "c": None})
    assert trial.user_attrs == {"a": 1, "b": [2, "x"], "c": None}
    assert study.trials[0].user_attrs == {"a": 1, "b": [2, "x"], "c": None}
    if kind == "sqlite":
        reread = optuna.load_study(study_name="s", storage=storage)
        assert reread.trials[0].user_attrs == {"a": 1, "b": [2, "x"], "c": None}
    if kind == "journal":  # one record per key, as a fresh reader (Optuna's replay) needs
        lines = path.read_text().splitlines()
        assert sum('"user_attr"' in line for line in lines) == 3
        backend = optuna.storages.journal.JournalFileBackend(str(path))
        reread = optuna.load_study(study_name="s", storage=optuna.storages.JournalStorage(backend))
        assert reread.trials[0].user_attrs == {"a": 1, "b": [2, "x"], "c": None}


@pytest.mark.parametrize("kind", ["journal", "sqlite", "memory"])
def test_ask_creates_the_trial_with_its_attributes_and_takes_a_queued_one_first(tmp_path, kind):
    from hydratune.storage import open_storage

    storage = {
        "journal": lambda: open_storage(str(tmp_path / "study.journal")),
        "sqlite": lambda: f"sqlite:///{tmp_path / 'study.db'}",
        "memory": optuna.storages.InMemoryStorage,
    }[kind]()
    study = optuna.create_study(storage=storage, study_name="s")
    study.enqueue_trial({"x": 0.5})
    queued, new = compat.ask(study, {"owner": "a"}), compat.ask(study, {"owner": "b"})
    assert (queued.number, new.number) == (0, 1), "Study.ask's steps changed"
    assert queued.suggest_float("x", 0, 1) == 0.5
    assert [t.user_attrs for t in study.trials] == [{"owner": "a"}, {"owner": "b"}]
    assert [t.state for t in study.trials] == [TrialState.RUNNING] * 2
    assert study.trials[1].datetime_start is not None


def test_one_write_holds_a_journals_records_back_to_the_end(tmp_path):
    from hydratune.storage import open_storage

    journal = tmp_path / "study.journal"
    study = optuna.create_study(storage=open_storage(str(journal)))
    trial = study.ask()
    before = journal.read_bytes()
    with compat.one_write(study):
        trial.set_user_attr("a", 1)
        assert journal.read_bytes() == before
    assert b'"user_attr":{"a":1}' in journal.read_bytes()[len(before) :]
    memory = optuna.create_study()
    with compat.one_write(memory):  # other storages write as they go
        memory.set_user_attr("a", 1)
        assert memory.user_attrs == {"a": 1}


def test_one_write_commits_a_postgresql_trials_writes_once_at_the_end(postgres_url):
    from sqlalchemy import event

    study = optuna.create_study(storage=postgres_url, study_name="one_write")
    trial = compat.ask(study, {"owner": "me"})
    commits: list[None] = []
    event.listen(study._storage._backend.engine, "commit", lambda _: commits.append(None))

    def elsewhere() -> optuna.trial.FrozenTrial:
        return optuna.load_study(study_name="one_write", storage=postgres_url).trials[0]

    with compat.one_write(study):
        trial.suggest_float("x", 0, 1)
        trial.suggest_int("y", 0, 3)
        trial.set_user_attr("overrides", ["x=1"])
        assert elsewhere().params == {}, "visible before the end"
    assert len(commits) == 1
    assert elsewhere().params.keys() == {"x", "y"}
    assert elsewhere().user_attrs == {"owner": "me", "overrides": ["x=1"]}
    with pytest.raises(KeyboardInterrupt), compat.one_write(study):  # a raise keeps the writes
        trial.set_user_attr("output_dir", "d")
        compat.tell(study, trial, [1.0])
        raise KeyboardInterrupt
    assert (elsewhere().state, elsewhere().user_attrs["output_dir"]) == (TrialState.COMPLETE, "d")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)  # its sessions work after
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3


def test_rdb_storage_shows_its_check_the_tables_before_optuna_creates_any(tmp_path):
    import hashlib
    import sqlite3
    from contextlib import closing

    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE mine (x)")
        db.commit()
    before = hashlib.sha256(other.read_bytes()).hexdigest()
    seen: list[set[str]] = []

    def refuse(tables: set[str]) -> None:
        seen.append(tables)
        raise RuntimeError("not ours")

    with pytest.raises(RuntimeError, match="not ours"):
        compat.rdb_storage(f"sqlite:///{other}", {}, refuse)
    assert seen == [{"mine"}], "RDBStorage.__init__ no longer runs BaseModel.metadata.create_all"
    assert hashlib.sha256(other.read_bytes()).hexdigest() == before
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    compat.rdb_storage(fresh, {}, seen.append)  # an empty database: no tables, Optuna's made
    assert seen[1:] == [set()]
    compat.rdb_storage(fresh, {}, pytest.fail)  # all of Optuna's there: no query, no check


def test_rdb_storage_writes_an_attribute_in_one_statement_on_postgresql(postgres_url):
    from optuna.exceptions import UpdateFinishedTrialError
    from sqlalchemy import event

    storage = compat.rdb_storage(postgres_url, {})
    study = optuna.create_study(storage=storage, study_name="attrs")
    statements: list[str] = []
    event.listen(storage.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    template = optuna.trial.create_trial(
        state=TrialState.RUNNING, user_attrs={"owner": "me", "heartbeat": 1.5}
    )
    storage.create_new_trial(study._study_id)
    bare = len(statements)
    statements.clear()
    trial_id = storage.create_new_trial(study._study_id, template)
    assert len(statements) == bare + 2, "one statement per attribute"
    trial = optuna.Trial(study, trial_id)
    statements.clear()
    trial.set_user_attr("overrides", ["x=1"])
    trial.set_user_attr("overrides", ["x=2"])  # replaced
    trial.storage.set_trial_system_attr(trial._trial_id, "sampler", {"a": 1})
    assert len(statements) == 3
    study.tell(trial, 1.0)
    with pytest.raises(UpdateFinishedTrialError):
        trial.set_user_attr("late", 1)
    with pytest.raises(KeyError):
        storage.set_trial_user_attr(10**6, "none", 1)
    stock = optuna.load_study(study_name="attrs", storage=postgres_url).trials[1]
    assert stock.user_attrs == {"owner": "me", "heartbeat": 1.5, "overrides": ["x=2"]}
    assert stock.system_attrs == {"sampler": {"a": 1}}


def test_rdb_storage_reads_a_studys_user_attributes_in_one_query_on_postgresql(postgres_url):
    from sqlalchemy import event

    storage = compat.rdb_storage(postgres_url, {})
    study = optuna.create_study(storage=storage, study_name="read")
    statements: list[str] = []
    event.listen(storage.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert storage.get_study_user_attrs(study._study_id) == {}
    study.set_user_attr("steer:1", {"verb": "pause"})
    study.set_user_attr("note", [1, "x"])
    statements.clear()
    assert storage.get_study_user_attrs(study._study_id) == {
        "steer:1": {"verb": "pause"},
        "note": [1, "x"],
    }
    assert len(statements) == 1
    with pytest.raises(KeyError):
        storage.get_study_user_attrs(study._study_id + 1)


def check_claims_at_once(url: str, claimants: int = 4, rounds: int = 8) -> None:
    """Each of ``claimants`` threads, on a storage of its own, claims ``rounds`` keys, all
    threads released together for each key: every claim of a key returns the same value, the
    one the study holds."""
    from hydratune.storage import open_storage

    optuna.create_study(study_name="claims", storage=open_storage(url))
    barrier = threading.Barrier(claimants)
    got: dict[str, list[str]] = {f"k{r}": [] for r in range(rounds)}

    def claimant(me: str) -> None:
        study = optuna.load_study(study_name="claims", storage=open_storage(url))
        for key in got:
            barrier.wait()
            got[key].append(compat.claim_study_user_attr(study, key, me))

    threads = [threading.Thread(target=claimant, args=(f"c{i}",)) for i in range(claimants)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = optuna.load_study(study_name="claims", storage=open_storage(url)).user_attrs
    assert all(len(values) == claimants for values in got.values()), got
    assert {key: values[0] for key, values in got.items()} == stored, "in force as returned"
    for key, values in got.items():
        assert len(set(values)) == 1, (key, values)


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_claims_made_at_once_all_get_the_first_and_it_stays_in_force(tmp_path, kind):
    check_claims_at_once(
        str(tmp_path / "s.journal") if kind == "journal" else f"sqlite:///{tmp_path}/s.db"
    )


@pytest.mark.postgres
def test_claims_made_at_once_on_postgresql_all_get_the_first(postgres_url):
    check_claims_at_once(postgres_url)


def test_a_claim_after_another_write_returns_that_one_though_its_own_was_written_last(tmp_path):
    from hydratune.storage import open_storage

    url = str(tmp_path / "s.journal")
    first = optuna.create_study(study_name="s", storage=open_storage(url))
    first.set_user_attr("parent", "a")  # a rival's claim, its write first in the journal
    second = optuna.load_study(study_name="s", storage=open_storage(url))
    assert compat.claim_study_user_attr(second, "parent", "b") == "a"
    assert optuna.load_study(study_name="s", storage=open_storage(url)).user_attrs == {
        "parent": "a"
    }
    records = [line for line in Path(url).read_text().splitlines() if '"parent"' in line]
    assert len(records) == 3  # a, then b, then a again: the last record is the winner's


def test_the_claimed_value_is_the_winners_while_a_losers_write_is_the_last_record(tmp_path):
    from hydratune.storage import open_storage

    url = str(tmp_path / "s.journal")
    study = optuna.create_study(study_name="s", storage=open_storage(url))
    assert compat.claimed_study_user_attr(study, "parent") is None
    study.set_user_attr("parent", "a")  # the winner's claim
    study.set_user_attr("parent", "b")  # a loser's, before it writes the winner's again
    assert study.user_attrs["parent"] == "b"
    assert compat.claimed_study_user_attr(study, "parent") == "a"  # JournalStorage._backend
    in_memory = optuna.create_study()
    in_memory.set_user_attr("parent", "b")  # no claim there is atomic: the attribute
    assert compat.claimed_study_user_attr(in_memory, "parent") == "b"


def test_the_loops_own_postgresql_reads_commit_and_keep_prepared_statements(postgres_url):
    """A ROLLBACK makes psycopg forget every statement it prepared on the connection; the
    steering poll runs before every trial, the verdict read after those whose job could not
    know its pruning verdict."""
    from sqlalchemy import event

    study = optuna.create_study(storage=postgres_url, study_name="reads")
    trial = compat.ask(study, {"owner": "me"})
    study.set_user_attr("steer:1", {"verb": "pause"})
    engine = study._storage._backend.engine
    ended: list[str] = []
    event.listen(engine, "rollback", lambda _: ended.append("rollback"))
    event.listen(engine, "commit", lambda _: ended.append("commit"))
    assert compat.rdb_user_attr_count(study, "steer:") == 1
    assert compat.stored_trial_user_attrs(study, trial) == {"owner": "me"}
    assert ended == ["commit", "commit"]


def test_grid_of_returns_the_grid_a_sampler_was_built_with():
    grid = {"a": [1, 2], "b": ["x"]}
    assert compat.grid_of(optuna.samplers.GridSampler(grid)) == grid  # _search_space


@pytest.mark.parametrize(
    ("dist", "inside", "outside"),
    [
        (IntDistribution(0, 8, step=2), 4, 5),
        (FloatDistribution(0.0, 1.0), 0.5, 1.5),
        (CategoricalDistribution(["a", None]), None, "b"),
    ],
)
def test_distribution_contains_answers_bounds_steps_and_choices(dist, inside, outside):
    assert compat.distribution_contains(dist, inside)  # BaseDistribution._contains
    assert not compat.distribution_contains(dist, outside)


def test_hydra_choice_is_the_grammar_function_choice():
    parser = OverridesParser.create()
    expected = parser.parse_override("k=choice(1,2)").value()
    assert compat.hydra_choice(1, 2) == expected  # hydra._internal.grammar.grammar_functions


def test_hydras_own_parser_admits_null_in_choice_once_the_plugin_is_loaded():
    import hydra_plugins.hydratune_sweeper.hydratune_sweeper  # noqa: F401  (calls it)

    compat.admit_null_in_hydra_choice()  # twice is once: overrides_parser.create_functions
    override = OverridesParser.create().parse_override("k=choice(a, b, null)")
    assert list(override.sweep_iterator()) == ["a", "b", None]
    assert OverridesParser.create().parse_override("k=choice(1,2)").value().list == [1, 2]


def test_apply_overrides_sets_values_as_the_command_line_does():
    cfg = OmegaConf.create({"a": {"b": 1}, "c": 2})
    parser = OverridesParser.create()
    compat.apply_overrides(cfg, parser.parse_overrides(["a.b=5", "~c", "+d=x"]))
    assert OmegaConf.to_container(cfg) == {"a": {"b": 5}, "d": "x"}  # ConfigLoaderImpl


def test_compose_from_sources_composes_as_the_job_did_with_the_groups_given(tmp_path):
    (tmp_path / "trainer").mkdir()
    (tmp_path / "app.yaml").write_text("defaults:\n  - trainer: cpu\n  - _self_\nseed: 1\n")
    (tmp_path / "trainer" / "cpu.yaml").write_text("accelerator: cpu\ndevices: 1\n")
    (tmp_path / "trainer" / "gpu.yaml").write_text("defaults:\n  - cpu\naccelerator: gpu\n")
    sources = [  # as a job saves hydra.runtime.config_sources
        {"provider": "hydra", "schema": "pkg", "path": "hydra.conf"},
        {"provider": "main", "schema": "file", "path": str(tmp_path)},
        {"provider": "schema", "schema": "structured", "path": ""},
    ]
    config = compat.compose_from_sources(sources, "app", ["trainer=gpu"])  # ConfigLoaderImpl
    expected = {"trainer": {"accelerator": "gpu", "devices": 1}, "seed": 1}
    assert OmegaConf.to_container(config) == expected  # and no hydra node


def test_overrides_dirname_is_hydras_override_dirname():
    overrides = OverridesParser.create().parse_overrides(["b=2", "a=1", "seed=3"])
    assert compat.overrides_dirname(overrides, ["seed"], ",", "=") == "a=1,b=2"


def test_job_error_is_the_exception_of_a_failed_job():
    from hydra.core.utils import JobReturn, JobStatus

    error = ValueError("boom")
    ret = JobReturn(status=JobStatus.FAILED, _return_value=error)
    assert compat.job_error(ret) is error  # JobReturn._return_value


def test_locate_imports_a_dotted_name_or_says_why_not(caplog):
    assert compat.locate("os.path.join") is os.path.join  # hydra._internal.utils._locate
    with pytest.raises(ImportError, match="No module named 'nope'"):
        compat.locate("nope.mod.fn")
    assert not caplog.records  # hydra.utils.get_method would log the error too


def test_flush_loggers_flushes_a_buffering_handler():
    sink = logging.handlers.BufferingHandler(capacity=100)
    buffered = logging.handlers.MemoryHandler(capacity=100, target=sink)
    logger = logging.getLogger("hydratune.test_compat.flush")
    logger.addHandler(buffered)
    try:
        logger.warning("held in the buffer")
        assert sink.buffer == []
        compat.flush_loggers()  # hydra.core.utils._flush_loggers
        assert [r.getMessage() for r in sink.buffer] == ["held in the buffer"]
    finally:
        logger.removeHandler(buffered)
        buffered.close()


def test_dict_child_returns_set_dict_nodes_only_without_resolving():
    cfg = OmegaConf.create({"d": {"x": "${missing}"}, "n": None, "m": "???", "v": 1})
    assert compat.dict_child(cfg, "d") is not None  # _get_node, _is_missing, _is_none
    assert [compat.dict_child(cfg, k) for k in ("n", "m", "v")] == [None, None, None]


def test_plain_interpolated_is_omegaconfs_string_or_none_where_omegaconf_must_resolve():
    cfg = OmegaConf.create(
        {
            "job": {"num": 3, "name": "noop", "flag": True, "lr": 1e-07, "none": None},
            "dir": "sweeps/${job.name}",
            "sub": "${job.num}",
            "mixed": "a${job.num}_${job.flag}-${job.lr}",
            "plain": "outputs",
            "number": 7,
            "chained": "${dir}/x",
            "resolver": "runs/${now:%H}",
            "relative": "${.plain}",
            "escaped": "\\${job.num}",
            "to_none": "${job.none}",
            "to_missing": "${job.gone}",
            "missing": "???",
            "container": "${job}",
        }
    )
    for key in ("dir", "sub", "mixed", "plain", "number", "to_none"):
        assert compat.plain_interpolated(cfg, key) == str(OmegaConf.select(cfg, key)), key
    for key in ("chained", "resolver", "relative", "escaped", "to_missing"):
        assert compat.plain_interpolated(cfg, key) is None, key  # OmegaConf resolves these
    for key in ("missing", "container", "job", "absent.key"):
        assert compat.plain_interpolated(cfg, key) is None, key


def test_plain_resolved_container_is_omegaconfs_resolved_one_or_none(tmp_path):
    cfg = OmegaConf.create(
        {
            "run": {"dir": str(tmp_path), "level": 20, "name": "job"},
            "logging": {
                "version": 1,
                "handlers": {
                    "file": {"filename": "${run.dir}/${run.name}.log", "level": "${run.level}"}
                },
                "root": {"handlers": ["file"], "level": "${run.level}"},
            },
            "timed": {"filename": "${now:%H}.log"},
        }
    )
    resolved = compat.plain_resolved_container(cfg, cfg.logging)
    assert resolved == OmegaConf.to_container(cfg.logging, resolve=True)
    assert resolved["root"]["level"] == 20  # a sole interpolation is the value, not its text
    assert compat.plain_resolved_container(cfg, cfg.timed) is None  # a resolver: OmegaConf's


def test_configure_logging_is_what_hydras_configure_log_applies(tmp_path):
    log = tmp_path / "job.log"
    handlers = {"file": {"class": "logging.FileHandler", "filename": str(log)}}
    compat.configure_logging({"version": 1, "handlers": handlers, "root": {"handlers": ["file"]}})
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    logging.getLogger("compat-test").warning("written")
    handler.close()  # flushed; the conftest fixture drops it from the root logger
    assert "written" in log.read_text()


def test_hydra_node_view_shares_the_hydra_node_and_resolves_into_user_keys():
    config = OmegaConf.create({"name": "run", "hydra": {"job": {"name": "${name}"}}})
    view = compat.hydra_node_view(config)  # _get_node, _set_parent, no_deepcopy_set_nodes
    assert view.hydra.job.name == "run"
    config.name = "other"
    assert view.hydra.job.name == "other"


def test_omegaconf_str_representer_quotes_strings_that_read_as_other_types():
    import yaml

    class Dumper(yaml.Dumper):
        pass

    Dumper.add_representer(str, compat.omegaconf_str_representer)
    assert yaml.dump({"a": "1", "b": "true", "c": "x"}, Dumper=Dumper) == (
        "a: '1'\nb: 'true'\nc: x\n"
    )


def test_hydra_plugin_alias_is_found_by_its_alias_and_instantiated_as_itself():
    from hydra.core.plugins import Plugins
    from hydra.plugins.sweeper import Sweeper
    from omegaconf import OmegaConf

    from hydratune.schema import UPSTREAM_TARGET

    alias = Plugins.instance().class_name_to_class.get(UPSTREAM_TARGET)  # Plugins._register
    assert alias is not None and issubclass(alias, Sweeper), "Hydra's plugin registry changed"
    config = OmegaConf.create({"_target_": UPSTREAM_TARGET, "n_trials": 3})
    sweeper = Plugins.instance()._instantiate(config)  # imports __module__.__qualname__
    assert type(sweeper) is alias and sweeper.sweep_impl.settings["n_trials"] == 3


def test_basic_launcher_target_is_what_hydras_default_launcher_config_names():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from helpers import TEST_CONF

    with initialize_config_dir(config_dir=str(TEST_CONF), version_base="1.3"):
        try:
            cfg = compose("quadratic", return_hydra_config=True)
        finally:
            GlobalHydra.instance().clear()
    assert cfg.hydra.launcher._target_ == compat.BASIC_LAUNCHER_TARGET


def test_trials_view_shows_samplers_the_presented_trials_and_the_study_otherwise():
    from optuna.trial import TrialState

    s = study()
    s.tell(s.ask({"x": FloatDistribution(0, 1)}), 1.0)
    s.tell(s.ask({"x": FloatDistribution(0, 1)}), state=TrialState.FAIL)
    view = compat.trials_view(s, lambda trials: trials[1:])  # Study._get_trials
    shown = view._get_trials(deepcopy=False, states=(TrialState.FAIL,), use_cache=True)
    assert [t.number for t in shown] == [1], "Study._get_trials changed"
    assert [t.number for t in view.get_trials()] == [1] and len(s.trials) == 2
    assert view.directions == s.directions and view.study_name == s.study_name


@pytest.mark.parametrize(
    ("strategy", "local_rank", "relaunches"),
    [("ddp", None, True), ("ddp_spawn", None, False), ("ddp", "0", False), ("auto", None, False)],
)
def test_relaunches_command_only_when_lightning_runs_the_command_again_for_its_ranks(
    monkeypatch, strategy, local_rank, relaunches
):
    import lightning as L

    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    if local_rank is None:  # ranks started already (torchrun, Slurm tasks) set LOCAL_RANK
        monkeypatch.delenv("LOCAL_RANK", raising=False)
    else:
        monkeypatch.setenv("LOCAL_RANK", local_rank)
    devices = 1 if strategy == "auto" else 2
    trainer = L.Trainer(strategy=strategy, devices=devices, accelerator="cpu", logger=False)
    assert compat.relaunches_command(trainer) is relaunches, "_SubprocessScriptLauncher changed"


def test_cached_storage_is_the_trial_cache_a_study_opened_on_it_keeps(tmp_path):
    from optuna.storages import RDBStorage

    storage = compat.cached_storage(RDBStorage(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    s = optuna.create_study(storage=storage)
    s.tell(s.ask({"x": FloatDistribution(0, 1)}), 1.0)
    assert compat.storage_of(s) is storage, "optuna.storages.get_storage no longer idempotent"
    first = storage.get_all_trials(s._study_id, deepcopy=False)
    # a finished trial is served from the cache, not rebuilt from the database
    assert storage.get_all_trials(s._study_id, deepcopy=False)[0] is first[0]


def test_copy_without_copies_all_but_one_key_with_the_flags_and_leaves_the_original_whole():
    cfg = OmegaConf.create({"a": {"b": 1}, "hydra": {"job": {"name": "x"}}, "c": "${a.b}"})
    OmegaConf.set_struct(cfg, True)
    copy = compat.copy_without(cfg, "hydra")  # DictConfig._content swapped while pickling
    assert list(copy) == ["a", "c"] and copy.c == 1 and OmegaConf.is_struct(copy)
    copy.a.b = 2
    assert cfg.a.b == 1 and list(cfg) == ["a", "hydra", "c"] and cfg.hydra.job.name == "x"


def test_set_values_sets_typed_nodes_as_an_assignment_does_and_validates():
    from hydra.conf import HydraConf
    from omegaconf.errors import ValidationError

    by_assignment, by_set_values = (OmegaConf.structured(HydraConf) for _ in range(2))
    values = {"job.num": 3, "job.id": 3, "overrides.task": ["x=1", "y=a"]}
    for dotted, value in values.items():
        OmegaConf.update(by_assignment, dotted, value, merge=False)
    compat.set_values(by_set_values, values)  # _get_node, _set_value
    assert by_set_values.job.id == "3"  # converted by the node's type (str)
    assert OmegaConf.to_yaml(by_set_values) == OmegaConf.to_yaml(by_assignment)
    with pytest.raises(ValidationError):
        compat.set_values(by_set_values, {"job.num": "three"})


class Mode(enum.Enum):
    RUN = 1


@dataclass
class Job:
    mode: Mode = Mode.RUN
    name: str = "???"
    tags: list = field(default_factory=lambda: ["a", "${job.name}"])


def test_plain_container_is_omegaconfs_unresolved_container_with_enums_as_names():
    cfg = OmegaConf.create(
        {
            "job": Job(),
            "n": None,
            "missing_dict": {},
            "interp_dict": "${job}",
            "nested": [{"x": 1.5, "y": [True, None, b"raw", Path("/p")]}, "${n}"],
            "enum_keys": {Mode.RUN: "kept"},
        }
    )
    cfg.missing_dict = "???"
    expected = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    assert compat.plain_container(cfg) == expected
    assert repr(compat.plain_container(cfg.job)) == repr(expected["job"])  # types too


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_grpc_proxy_server_and_client_serve_a_storage_through_our_own_server_and_channel():
    from concurrent.futures import ThreadPoolExecutor

    import grpc

    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    compat.grpc_proxy_server(optuna.storages.InMemoryStorage(), server)  # the servicer
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channels = []

    def channel() -> grpc.Channel:
        channels.append(grpc.insecure_channel(f"127.0.0.1:{port}"))
        return channels[-1]

    client = compat.grpc_proxy_client("127.0.0.1", port, channel)  # GrpcStorageProxy._setup
    try:
        s = optuna.create_study(study_name="through", storage=client)
        s.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
        assert len(channels) == 1, "GrpcStorageProxy no longer builds its channel in _setup"
        assert [t.number for t in s.trials] == [0, 1]
    finally:
        client.close()
        server.stop(None)


def test_checkpoint_epochs_reads_what_a_continuation_starts_after(tmp_path):
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.demos.boring_classes import BoringModel

    saver = ModelCheckpoint(dirpath=tmp_path, save_last=True)  # at each validation end
    trainer = L.Trainer(
        max_epochs=2,
        limit_train_batches=2,
        limit_val_batches=1,
        callbacks=[saver],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(BoringModel())
    trainer.save_checkpoint(tmp_path / "after_fit.ckpt")
    assert compat.checkpoint_epochs(tmp_path / "last.ckpt") == 2, "fit_loop's progress changed"
    assert compat.checkpoint_epochs(tmp_path / "after_fit.ckpt") == 2
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    assert compat.checkpoint_epochs(tmp_path / "notes.ckpt") is None
