"""A trial's job runs as under Hydra's own ``run_job``: same files, ``HydraConfig``, cwd, env,
callbacks and errors, only cheaper (``hydratune.execute.job``)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobStatus, run_job
from hydra.types import HydraContext
from omegaconf import OmegaConf

from helpers import REPO, TEST_CONF, composed
from hydratune.execute.job import run_trial_job


class Recorder:
    """Hydra callbacks that note what each job start and end was given."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_job_start(self, config, task_function, **kwargs) -> None:
        self.calls.append(("start", config.hydra.job.num, config.hydra.runtime.output_dir))

    def on_job_end(self, config, job_return, **kwargs) -> None:
        self.calls.append(
            (
                "end",
                job_return.status,
                repr(job_return._return_value),
                job_return.overrides,
                sorted(job_return.cfg),
                job_return.hydra_cfg.hydra.runtime.output_dir,
                job_return.task_name,
            )
        )


def observe(cfg) -> dict:
    """A task that returns what a job sees of itself, then tries to change its config."""
    hydra = HydraConfig.get()
    seen = {
        "output_dir": hydra.runtime.output_dir,
        "num": hydra.job.num,
        "overrides": list(hydra.overrides.task),
        "cwd": os.getcwd(),
        "env": os.environ.get("HYDRATUNE_TEST_ENV"),
        "keys": sorted(cfg),
        "x": cfg.x,
    }
    cfg.x = 99.0
    if cfg.fail_when_x_above is not None and cfg.x > cfg.fail_when_x_above:
        raise ValueError("x too large")
    return seen


def run_both(
    tmp_path: Path, monkeypatch, overrides: list[str], app=(TEST_CONF, "quadratic"), task=observe
) -> dict[str, dict]:
    """Run the same job with Hydra's ``run_job`` and ours, each composed in its own working dir;
    what each gave back, what it wrote to its job dir and what it left behind."""
    runs = {}
    for name in ("hydra", "ours"):
        cwd = tmp_path / name
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        with composed(*app) as (factory, loader, _):
            recorder = Recorder()
            context = HydraContext(config_loader=loader, callbacks=recorder)
            config = factory.make(overrides, job_num=3)
            if name == "hydra":
                ret = run_job(task, config, "hydra.sweep.dir", "hydra.sweep.subdir", context)
                failed = ret.status == JobStatus.FAILED
                value, error = (None, ret._return_value) if failed else (ret.return_value, None)
            else:
                result = run_trial_job(config, context, task)
                value, error = result.value, result.error
            (job_dir,) = (d.parent for d in cwd.rglob(".hydra"))
            files = sorted(p for p in job_dir.rglob("*") if p.is_file())
            runs[name] = {
                "value": value,
                "error": repr(error),
                "calls": recorder.calls,
                "files": {str(p.relative_to(job_dir)): p.read_text() for p in files},
                "cwd_after": os.getcwd(),
                "env_after": os.environ.get("HYDRATUNE_TEST_ENV"),
                "hydra_config_after": HydraConfig.initialized(),
                "config_x_after": config.get("x"),
            }
    return {name: _relative(run, tmp_path / name) for name, run in runs.items()}


def _relative(value, cwd: Path):
    """``value`` with its run's working dir written as ``<cwd>``, so the two runs compare."""
    if isinstance(value, str):
        return value.replace(str(cwd), "<cwd>")
    if isinstance(value, dict):
        return {k: _relative(v, cwd) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_relative(v, cwd) for v in value)
    return value


@pytest.mark.parametrize(
    "overrides",
    [
        ["x=0.25", "kind=b"],
        ["x=0.25", "shape=steep", "+extra=1"],
        ["x=2", "fail_when_x_above=1"],
        ["x=1", "hydra.job.chdir=true", "+hydra.job.env_set.HYDRATUNE_TEST_ENV=on"],
    ],
    ids=["values", "group-choice", "task-raises", "chdir-and-env"],
)
def test_job_runs_as_under_hydras_run_job(tmp_path, monkeypatch, overrides):
    runs = run_both(tmp_path, monkeypatch, overrides)
    assert runs["ours"] == runs["hydra"]
    ours = runs["ours"]
    hydra_files = {f".hydra/{name}.yaml" for name in ("config", "hydra", "overrides")}
    assert set(ours["files"]) == {*hydra_files, "quadratic.log"}
    assert ours["cwd_after"] == "<cwd>" and ours["env_after"] is None
    assert ours["config_x_after"] != 99.0  # the task changed its own copy only


def test_task_sees_its_output_dir_and_job_number(tmp_path, monkeypatch):
    ours = run_both(tmp_path, monkeypatch, ["x=1", "hydra.job.chdir=true"])["ours"]
    assert ours["value"]["output_dir"].startswith("<cwd>/sweeps/")
    assert ours["value"]["output_dir"].endswith("/3")
    assert ours["value"]["cwd"] == ours["value"]["output_dir"]
    assert ours["value"]["num"] == 3 and "hydra" not in ours["value"]["keys"]


def test_train_config_files_are_hydras(tmp_path, monkeypatch):
    """The app's real config (job logging to a file, interpolations) writes the same files."""
    train = (REPO / "conf", "train")
    runs = run_both(tmp_path, monkeypatch, ["model=cnn", "model.dropout=0.3"], train, lambda c: 0)
    assert runs["ours"] == runs["hydra"]
    assert {".hydra/hydra.yaml", "hydratune.log"} <= set(runs["ours"]["files"])


def test_successive_trials_hydra_yaml_is_the_dump_of_each_whole_hydra_node():
    """hydra.yaml is emitted entry by entry from a cache shared by a sweep's trials: each
    trial's text must still be exactly the one-piece dump of its own node."""
    from hydratune import compat
    from hydratune.execute.job import _hydra_yaml, _yaml

    with composed(REPO / "conf", "train") as (factory, _, _):
        lines = [["model=cnn", "model.dropout=0.3"], ["model.dropout=0.5"], ["model=cnn"]]
        configs = [factory.make(line, job_num=n) for n, line in enumerate(lines)]
    configs[2].hydra.job.env_set = {}  # an entry that becomes an empty mapping
    for config in configs:
        hydra = compat.plain_container(config.hydra)
        assert _hydra_yaml(hydra) == _yaml({"hydra": hydra})


def test_successive_jobs_each_log_to_their_own_file_as_after_hydras_set_up(tmp_path, monkeypatch):
    """A job's logging moves the last job's file handler to its own log file while the root
    logger is as the last set-up left it; a task that changed it gets Hydra's set-up again."""
    import logging

    class Extra(logging.Handler):
        def emit(self, record) -> None: ...

    def task(cfg) -> list[logging.Handler]:
        root = logging.getLogger()
        logging.getLogger("app").info("trial %s", cfg.x)
        if cfg.x == 1:
            root.addHandler(Extra())
        return list(root.handlers)

    monkeypatch.chdir(tmp_path)
    with composed(TEST_CONF, "quadratic") as (factory, loader, _):
        context = HydraContext(config_loader=loader, callbacks=Recorder())
        runs = [
            run_trial_job(factory.job([f"x={n}"], n).build(reuse_hydra=True), context, task)
            for n in range(3)
        ]
    for n, run in enumerate(runs):
        log = (Path(run.output_dir) / "quadratic.log").read_text()
        assert [line.split(" - ")[-1] for line in log.splitlines()] == [f"trial {n}"]
    handlers = [run.value for run in runs]
    assert handlers[1][:2] == handlers[0]  # moved: the same handlers
    assert not any(isinstance(h, Extra) for h in handlers[2])  # set up again: the task's gone


def log_file_at(path: str) -> logging.FileHandler:
    """A job logging handler made by a factory of its own, its file given as ``path``."""
    return logging.FileHandler(path)


def test_a_file_handler_made_by_a_factory_of_its_own_is_set_up_by_dictconfig(tmp_path):
    """Only a handler whose file is its ``filename`` setting can be moved to the next job's;
    one made by a factory (its file under another name, the same for every job) is built
    again by dictConfig, as Hydra does."""
    from hydratune.execute.job import _configure_log

    handler = {"()": f"{__name__}.log_file_at", "path": str(tmp_path / "app.log")}
    job_logging = {
        "version": 1,
        "handlers": {"file": handler},
        "root": {"handlers": ["file"]},
        "disable_existing_loggers": False,
    }
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    try:
        for job in range(2):
            _configure_log(OmegaConf.create({"hydra": {"job_logging": job_logging}}), False)
            logging.getLogger("app").warning("job %s", job)
        assert (tmp_path / "app.log").read_text() == "job 0\njob 1\n"
    finally:
        for handler in root.handlers:
            handler.close()
        root.setLevel(before[0])
        root.handlers[:] = before[1]


FULL_DISK_JOB = """
import resource, signal, sys
from hydra.types import HydraContext
from helpers import TEST_CONF, composed
from hydratune.execute.job import run_trial_job

with composed(TEST_CONF, "quadratic") as (factory, loader, _):
    config = factory.make(["x=1"], job_num=0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY))
    run_trial_job(config, HydraContext(loader, callbacks=None), lambda cfg: 0.0)
"""


@pytest.mark.cli
def test_a_hydra_file_the_disk_cannot_hold_is_never_left_half_written(tmp_path):
    # a real write failure: a file size limit (RLIMIT_FSIZE) below hydra.yaml's size, above the
    # task config's, in a subprocess
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), *sys.path])}
    run = subprocess.run(
        [sys.executable, "-c", FULL_DISK_JOB, "1500"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0 and "File too large" in run.stderr, run.stderr[-2000:]
    assert "hydra.yaml" in run.stderr  # the file it could not write
    job_dir = next(tmp_path.glob("sweeps/**/quadratic.log")).parent
    assert [p.name for p in job_dir.iterdir()] == ["quadratic.log"]  # no torn file, no temporary
