"""Run one trial's job as Hydra's ``run_job`` does, at a fraction of its per-job cost.

Hydra's ``hydra.core.utils.run_job`` costs about 17 ms per job before the task starts: it
deep-copies the config three times (two ``HydraConfig.set_config`` calls and the task's copy)
and writes the three ``.hydra/*.yaml`` files with PyYAML's pure-Python emitter. A sweep
pays that on every trial (bench/RESULTS.md, "Overhead"). ``run_trial_job`` keeps the contract
(output dir, ``hydra.runtime.output_dir``, ``HydraConfig``, job logging, the same three
``.hydra`` files, ``env_set``, ``chdir``, Hydra callbacks, restoring cwd and ``HydraConfig``)
and gets there with one copy: ``HydraConfig`` shares the job config's read-only ``hydra``
node, the task gets a pickled copy without it, and the YAML goes through libyaml's emitter.
``tests/execute/test_job.py`` checks it against Hydra's own ``run_job``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hydra import version
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import (
    JobReturn,
    JobRuntime,
    JobStatus,
    configure_log,
    env_override,
)
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, read_write

from hydratune import compat, job_verdict
from hydratune.execute import interrupts
from hydratune.files import write_folder_atomically
from hydratune.storage import mask_url


@dataclass
class JobResult:
    """What a job gave back: its return value, or the exception it raised."""

    value: Any = None
    error: BaseException | None = None
    output_dir: str | None = None
    lost: bool = False  # the job never finished (its worker died): its params are retried
    # what its PruningCallback left on the trial; None: unknown here (read the study)
    verdict: dict[str, Any] | None = None


class TaskExitError(RuntimeError):
    """The task itself raised ``SystemExit`` or ``KeyboardInterrupt``: its trial fails."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(
            f"the task raised {type(error).__name__}({', '.join(map(repr, error.args))}) "
            "without an interrupt; the trial fails, the sweep goes on"
        )


def run_trial_job(
    config: DictConfig, context: HydraContext, task: TaskFunction, output_dir: str | None = None
) -> JobResult:
    """Run ``task`` on the job ``config`` in its sweep subdir, as Hydra's launchers do.

    ``config`` is the job's own (``TrialConfigFactory.make`` gives a fresh one per trial): its
    ``hydra`` node is made read-only and gets ``runtime.output_dir`` (``job_output_dir``,
    unless the caller has it already).
    """
    instance = HydraConfig.instance()
    old_cwd, old_hydra = os.getcwd(), instance.cfg
    chdir = False
    try:
        instance.cfg = _hydra_view(config)  # ${hydra:...} in the dirs resolves for this job
        output_dir = output_dir or job_output_dir(config)
        hydra = config.hydra
        with read_write(hydra):
            compat.set_values(hydra, {"runtime.output_dir": output_dir})
        # the job's settings read from the plain container hydra.yaml is written from: ~30
        # reads through OmegaConf's accessors cost ~1.5 ms a trial
        settings = _plain(hydra)
        task_cfg = _task_config(config)
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        chdir = _setting(hydra, settings, "job", "chdir")
        if chdir is None:  # Hydra's default: change dir only for apps older than version_base 1.2
            chdir = not version.base_at_least("1.2")
        if chdir:
            os.chdir(output_dir)
        _configure_log(config, _setting(hydra, settings, "verbose"))
        task_overrides = settings["overrides"]["task"]
        output_subdir = _setting(hydra, settings, "output_subdir")
        if output_subdir is not None:
            # whole or absent, even if the trial is killed meanwhile (passwords masked)
            files = {
                "config.yaml": mask_url(_yaml(_plain(task_cfg))) or "",
                "hydra.yaml": _hydra_yaml(settings),
                "overrides.yaml": mask_url(_yaml(task_overrides)) or "",
            }
            write_folder_atomically(Path(output_dir) / str(output_subdir), files)

        ret = JobReturn(
            overrides=list(task_overrides),
            cfg=task_cfg,
            hydra_cfg=instance.cfg,
            working_dir=output_dir if chdir else os.getcwd(),
        )
        env_set = hydra.job.env_set if settings["job"]["env_set"] else {}
        with env_override(env_set), job_verdict.collected() as verdict:
            context.callbacks.on_job_start(config=config, task_function=task)
            try:
                timeout = _setting(hydra, settings, "sweeper", "trial_timeout")
                with interrupts.time_limit(float(timeout) if timeout else None):
                    ret.return_value = task(task_cfg)
                ret.status = JobStatus.COMPLETED
            except (Exception, SystemExit, KeyboardInterrupt) as error:
                interrupts.raise_if_received(error)  # the sweep is interrupted
                # the task's own: its error, or its exit, fails its trial
                ret.return_value = error if isinstance(error, Exception) else TaskExitError(error)
                ret.status = JobStatus.FAILED
        ret.task_name = JobRuntime.instance().get("name")
        compat.flush_loggers()
        context.callbacks.on_job_end(config=config, job_return=ret)
    finally:
        instance.cfg = old_hydra
        if chdir:
            os.chdir(old_cwd)
    if ret.status == JobStatus.COMPLETED:
        return JobResult(value=ret.return_value, output_dir=output_dir, verdict=verdict.known())
    return JobResult(error=compat.job_error(ret), output_dir=output_dir)


def _configure_log(config: DictConfig, verbose: Any) -> None:
    """Hydra's ``configure_log`` for the job, without its ``to_container(resolve=True)`` when
    the logging config interpolates only plain values (``${hydra.runtime.output_dir}``): that
    call parses each interpolation with ANTLR, on every trial."""
    job_logging = config.hydra.get("job_logging")
    conf = None
    if job_logging is not None and isinstance(verbose, bool):
        conf = compat.plain_resolved_container(config, job_logging)
    if conf is None:
        configure_log(job_logging, verbose)
        return
    if conf["root"] is not None and not _JOB_LOGGING.moved(conf):
        compat.configure_logging(conf)
        _JOB_LOGGING.configured(conf)
    if verbose:
        logging.getLogger().setLevel(logging.DEBUG)


class _JobLogging:
    """The job logging this process set up last. The next job's differs in its log file's
    name alone (``${hydra.runtime.output_dir}``), so while the root logger is as that set-up
    left it, the file handlers move to the new files instead: ``dictConfig`` builds every
    handler again and walks every logger torch and Lightning made (~0.6 ms a trial)."""

    def __init__(self) -> None:
        self.shape: dict[str, Any] | None = None  # the config without its handlers' file names
        self.root: tuple[int, list[logging.Handler]] | None = None  # what the set-up left

    def configured(self, conf: dict[str, Any]) -> None:
        root = logging.getLogger()
        self.shape, self.root = _shape(conf), (root.level, list(root.handlers))

    def moved(self, conf: dict[str, Any]) -> bool:
        """Whether the handlers of the last set-up, unchanged since, now write to ``conf``'s
        files, as ``dictConfig(conf)`` would have them (False: nothing was done)."""
        root = logging.getLogger()
        if conf.get("loggers") or _shape(conf) != self.shape:
            return False
        if self.root != (root.level, root.handlers):
            return False
        moves = []
        for handler in root.handlers:
            if isinstance(handler, logging.FileHandler):
                settings = conf["handlers"].get(handler.get_name() or "") or {}
                if "filename" not in settings:  # made by a factory of its own: dictConfig
                    return False
                moves.append((handler, settings["filename"]))
        for handler, filename in moves:
            _reopen(handler, filename)
        disabled = conf.get("disable_existing_loggers", True)
        for logger in root.manager.loggerDict.values():  # as dictConfig leaves them
            if isinstance(logger, logging.Logger):
                logger.disabled = disabled
        return True


def _shape(conf: dict[str, Any]) -> dict[str, Any]:
    handlers = {
        name: {key: value for key, value in settings.items() if key != "filename"}
        for name, settings in (conf.get("handlers") or {}).items()
    }
    return {**conf, "handlers": handlers}


def _reopen(handler: logging.FileHandler, filename: str) -> None:
    """``handler`` writing to ``filename`` from now on, opened as a new handler opens it."""
    handler.acquire()
    try:
        if handler.stream is not None:
            handler.flush()
            handler.stream.close()
        handler.baseFilename = os.path.abspath(filename)
        handler.stream = None if handler.delay else handler._open()
    finally:
        handler.release()


_JOB_LOGGING = _JobLogging()


def _setting(hydra: DictConfig, settings: dict[str, Any], *path: str) -> Any:
    """``hydra.<path>`` from its plain container ``settings``, or as OmegaConf reads it where
    it is an interpolation or missing (None where a node on the way is absent: another sweeper
    has no ``trial_timeout``)."""
    value: Any = settings
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, str) and ("${" in value or value == "???"):
        return OmegaConf.select(hydra, ".".join(path), throw_on_missing=True)
    return value


def job_output_dir(config: DictConfig) -> str:
    """The job's output dir (``hydra.sweep.dir``/``hydra.sweep.subdir``), absolute."""
    plain = [compat.plain_interpolated(config, f"hydra.sweep.{key}") for key in ("dir", "subdir")]
    if None not in plain:
        return os.path.abspath(os.path.join(*plain))
    instance = HydraConfig.instance()
    old = instance.cfg
    try:
        instance.cfg = compat.hydra_node_view(config)  # for ${hydra:...} in the dirs
        return os.path.abspath(
            os.path.join(str(config.hydra.sweep.dir), str(config.hydra.sweep.subdir))
        )
    finally:
        instance.cfg = old


def _hydra_view(config: DictConfig) -> DictConfig:
    """What ``HydraConfig.set_config`` stores, without its deep copy: a config whose only key
    is the job config's own (read-only) ``hydra`` node, still parented to the job config so
    that interpolations from ``hydra`` into the user's keys resolve."""
    OmegaConf.set_readonly(config.hydra, True)
    return compat.hydra_node_view(config)


def _task_config(config: DictConfig) -> DictConfig:
    """The task's config: a copy of the job config without ``hydra`` (flags kept, as Hydra's
    deep copy keeps them), so nothing the task does reaches the job config."""
    return compat.copy_without(config, "hydra")


class _Dumper(yaml.CDumper if yaml.__with_libyaml__ else yaml.Dumper):  # type: ignore[misc]
    """OmegaConf's YAML dumper (strings that read as numbers or bools quoted) on libyaml."""


_Dumper.add_representer(str, compat.omegaconf_str_representer)


def _plain(cfg: Any) -> Any:
    return compat.plain_container(cfg)


def _yaml(container: Any) -> str:
    """``container`` as ``OmegaConf.to_yaml`` writes it (interpolations and key order kept)."""
    return yaml.dump(
        container, default_flow_style=False, allow_unicode=True, sort_keys=False, Dumper=_Dumper
    )


# The YAML of each entry of ``hydra`` (two levels deep: ``hydra.job.name``), by its value's repr
# (exact for YAML's types): a sweep's trials differ only in a few of them (``job.num``,
# ``runtime.output_dir``, ``overrides.task``), and emitting the rest (job logging, help texts,
# the sweeper's settings, the config sources) was most of a trial's file-writing time.
_HYDRA_YAML: dict[tuple[tuple[str, ...], str], str] = {}


def _hydra_yaml(hydra: dict[str, Any]) -> str:
    """``{"hydra": hydra}`` as YAML with passwords in URLs masked (it holds the storage URL
    twice), emitted and masked one entry at a time, each from the cache if seen. The text is
    the same as one masked ``_yaml`` of the whole: in block style each entry's lines do not
    depend on its siblings, and no URL spans lines (``tests/execute/test_job.py`` compares
    with Hydra's files)."""
    if len(_HYDRA_YAML) > 4096:  # many sweeps in one process
        _HYDRA_YAML.clear()
    return "hydra:\n" + "".join(_entry((key,), value) for key, value in hydra.items())


def _entry(path: tuple[str, ...], value: Any) -> str:
    """The lines of ``hydra.<path>`` as they stand in ``hydra.yaml``; a non-empty mapping one
    level down is emitted entry by entry, so a changed ``job.num`` leaves ``job.config``
    cached."""
    if len(path) == 1 and isinstance(value, dict) and value:
        header = _cached((path, ":"), lambda: _nested(path, {0: 0}).split("\n", 1)[0] + "\n")
        return header + "".join(_entry((*path, key), child) for key, child in value.items())
    return _cached((path, repr(value)), lambda: _nested(path, value))


def _cached(key: tuple[tuple[str, ...], str], emit: Callable[[], str]) -> str:
    """The text ``emit`` gives for ``key``: (the path, the value's repr, or ``:`` for the
    path's own ``key:`` line, which no repr reads as)."""
    text = _HYDRA_YAML.get(key)
    if text is None:
        text = _HYDRA_YAML[key] = mask_url(emit()) or ""
    return text


def _nested(path: tuple[str, ...], value: Any) -> str:
    """The lines ``value`` takes at ``hydra.<path>`` in the dump of the whole (indented)."""
    for key in reversed(path):
        value = {key: value}
    lines = _yaml({"hydra": value})
    return lines.split("\n", len(path))[-1]
