"""The sweep behind ``hydra/sweeper: hydratune``: settings -> study -> loop -> results.

Everything that can be checked before the first trial is: the search space, the keys it
names, every config-group option it can choose, the storage, the study's directions and the
search space of trials already in the study.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import CompactHydraException
from hydra.types import HydraContext, RunMode, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from optuna.study import StudyDirection
from optuna.trial import TrialState

from hydratune import compat
from hydratune.attrs import WARM_START_FROM
from hydratune.execute import (
    LaunchPlan,
    TrialConfigFactory,
    exit_status,
    interrupt_handlers,
    plan_launch,
    relaunched_job,
    run_relaunched_job,
)
from hydratune.files import one_line_when_full, write_atomically
from hydratune.insight import (
    SweepTracker,
    TrackingSettings,
    describe_space,
    stock_logger_updates,
    tracking_settings,
)
from hydratune.optuna_classes import build_pruner, resolve_pruner
from hydratune.schedule import ScheduleSettings, check_scheduler
from hydratune.schema import SweeperConf
from hydratune.space import (
    SearchSpace,
    add_group_spaces,
    check_architecture,
    make_parser,
    parse_search_space,
)
from hydratune.steering import (
    declared_n_trials,
    finished_count,
    n_trials_in_force,
    read_state,
    study_n_trials,
    write_action,
)
from hydratune.storage import (
    DEFAULT_STORAGE,
    default_journal,
    hide_password,
    mask_url,
    open_storage,
    password_scope,
    setting_of,
    storage_url,
)
from hydratune.sweep import auto
from hydratune.sweep.enqueue_warm_start import (
    EnqueuedTrial,
    WarmStartSource,
    enqueue_trials,
    plan_enqueue,
    warm_start,
)
from hydratune.sweep.hints import (
    EARLIER_RUNS,
    PrunerIdleHint,
    say_nothing_to_run,
    say_ran_out,
    sweep_metric,
    warn_if_min_epochs_defeat_pruner,
)
from hydratune.sweep.loop import LoopSummary, SweepLoop
from hydratune.sweep.orphans import settle_orphaned_jobs
from hydratune.sweep.progress import SweepProgress
from hydratune.sweep.recovery import Recovery
from hydratune.sweep.results import (
    RESULTS_FILE,
    check_results_ours,
    write_results,
)
from hydratune.sweep.settings import read_settings, study_name_of
from hydratune.sweep.study import (
    check_objective,
    check_same_search,
    check_space_change,
    open_study,
    sweep_directions,
    trials_in_storage,
)
from hydratune.sweep.transfer import Transfer, TransferPlan, plan_warm_start, with_prior
from hydratune.sweep.trial_dirs import set_aside_foreign_dirs
from hydratune.sweep.upstream import custom_search_space, merged_params
from hydratune.sweep.wrap_up import (
    WrapUp,
    bring_up_to_date,
    interrupts_said_in_one_line,
    report_and_export,
)
from hydratune.training import register_live_study, unregister_live_study

log = logging.getLogger(__name__)


class SweepFailedError(CompactHydraException, RuntimeError):
    """The sweep stopped because trials failed; the study keeps every trial. Hydra prints the
    message alone: each trial's own error was logged with its traceback as it failed, and the
    sweeper's frames tell the user nothing (``HYDRA_FULL_ERROR=1`` still shows them)."""


@dataclass
class SweepPlan:
    """Everything a sweep checked before its first write: what it searches, where, and how."""

    space: SearchSpace
    configs: TrialConfigFactory
    study_name: str
    sweep_dir: Path
    url: str
    pruner: Any
    launch: LaunchPlan
    enqueue: list[EnqueuedTrial]  # the sweep's enqueue: items, checked
    warm_start: WarmStartSource | None
    transfer: TransferPlan | None = None  # warm_start: {studies: ...}: memory across studies
    new_dir_each_run: bool = False  # hydra.sweep.dir has ${now:...}: runs continue it elsewhere
    tracking: TrackingSettings | None = None  # MLflow, or None
    schedule: ScheduleSettings | None = None  # hydra/sweeper/scheduler=asha|pbt, or None
    extend_trial: Any = None  # custom_search_space: called with each trial after sampling
    study_pruner: Any = None  # the Optuna pruner built from ``pruner``


class StudySweep:
    """One ``hydratune`` multirun: the settings of ``hydra.sweeper`` and what they drive."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings  # checked against the schema by plan(), where errors are shown
        self.conf: SweeperConf
        self.directions: list[StudyDirection] = []  # set by plan(), from the app's config too
        self.tracker = SweepTracker(None)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.context = hydra_context
        self.task_function = task_function
        self.config = config

    def sweep(self, arguments: list[str]) -> LoopSummary | None:
        """Plan (check everything), open the study, run the loop, write what it found; None
        when the study already has its ``n_trials`` (its result files brought up to date)."""
        # a process that runs several sweeps hands none the other's password
        with password_scope(), one_line_when_full("The study keeps every trial it recorded"):
            return self._sweep(arguments)

    def _sweep(self, arguments: list[str]) -> LoopSummary | None:
        job = relaunched_job()
        if job is not None:  # a rank of a trial in the sweeper's process (Lightning's ddp)
            run_relaunched_job(job, self.context, self.task_function)
            return None
        plan = self.plan(arguments)
        self.tracker = SweepTracker(plan.tracking)
        study, recovery = self.open(plan)
        finished = finished_count(study.get_trials(deepcopy=False))
        n_trials = self._n_trials_in_force(study, finished)
        if finished >= n_trials:
            # a sweep dir new each run holds none of the study's files: earlier runs' dirs do
            wrap_up = (study, plan.sweep_dir, plan.url, self._wrap_up())
            written = [] if plan.new_dir_each_run else bring_up_to_date(*wrap_up)
            where = mask_url(plan.url)
            say_nothing_to_run(
                plan.study_name, where, finished, n_trials, plan.new_dir_each_run, written
            )
            return None
        self.tracker.start(study, describe_space(plan.space, self.conf, arguments))
        try:
            summary = self.run(plan, study, recovery)
            with interrupts_said_in_one_line(plan.sweep_dir):
                self.finish(plan, study, summary)
        finally:
            self.tracker.close(plan.sweep_dir)
        return summary

    def plan(self, arguments: list[str]) -> SweepPlan:
        """Parse and check the search space, the keys it names and every config-group option
        it can choose, the storage setting, the enqueued points and the warm start's source;
        nothing is written yet."""
        self.conf = conf = read_settings(self.settings)
        config, loader = self.config, self.context.config_loader
        parser = make_parser(loader)
        params = merged_params(conf.params, conf.search_space)
        space = parse_search_space(
            params, arguments, parser, conf.when, conf.paired, conf.blocks, conf.cells
        )
        self.directions = sweep_directions(conf.direction, config)
        check_objective(config)  # after the directions: their refusals name the setting
        study_name = study_name_of(conf, config)
        with open_dict(config.hydra.sweeper):
            config.hydra.sweeper.study_name = study_name
        sweep_dir = Path(config.hydra.sweep.dir)
        dir_setting = str(OmegaConf.to_container(config.hydra.sweep, resolve=False)["dir"])
        storage = conf.storage
        updates = {"study_name": study_name}
        if storage is None:  # the journal lies with the app's outputs
            storage = default_journal(dir_setting, sweep_dir, config.hydra.runtime.cwd)
            if storage != DEFAULT_STORAGE:  # jobs, multirun.yaml and `hydratune report` read it
                updates["storage"] = storage
                with open_dict(config.hydra.sweeper):
                    config.hydra.sweeper.storage = storage
        pruner = resolve_pruner(conf.pruner, config, conf.resource_key)
        study_pruner = build_pruner(pruner)  # Optuna checks its options here: before any write
        auto.check_options(conf.sampler, space)
        tracking = tracking_settings(conf.mlflow, config, study_name)

        configs = TrialConfigFactory(
            loader,
            config,
            parser,
            # What a job needs to find its trial and prune it the way this sweep does.
            hydra_updates={
                "hydra.mode": RunMode.MULTIRUN,
                "hydra.sweep.dir": str(sweep_dir),
                "hydra.sweeper.pruner": pruner,
                **{f"hydra.sweeper.{key}": value for key, value in updates.items()},
                **_password_out_of_jobs(config),
                **(stock_logger_updates(conf.mlflow, config) if tracking else {}),  # app logger
            },
        )
        add_group_spaces(space, configs, loader.repository, parser)
        fixed_groups = [line for line in space.fixed if configs.is_group(line.split("=")[0])]
        options = space.group_options(configs.is_group)
        configs.check_keys(space.config_keys(), options, fixed_groups)
        for key, arch in space.architectures.items():
            check_architecture(arch, configs.owners(key, options, fixed_groups))

        launch = plan_launch(config, conf.n_jobs)
        with setting_of(STORAGE):
            url = storage_url(storage, config.hydra.runtime.cwd)
        launch.check_storage(url)
        enqueue = plan_enqueue(
            space,
            OmegaConf.to_container(OmegaConf.create(list(conf.enqueue or [])), resolve=True),
            compose=lambda overrides: loader.load_sweep_config(config, list(overrides)),
        )
        cwd = config.hydra.runtime.cwd
        args = (space, url, cwd, study_name, self.directions, conf.n_trials)
        warm, transfer = plan_warm_start(conf.warm_start, *args)
        plan = SweepPlan(
            space, configs, study_name, sweep_dir, url, pruner, launch, enqueue, warm, transfer
        )
        plan.new_dir_each_run, plan.tracking = "${now:" in dir_setting, tracking
        plan.extend_trial = custom_search_space(conf.custom_search_space, config)
        plan.study_pruner = study_pruner
        plan.schedule = check_scheduler(
            conf, config, len(self.directions), set(space.config_keys())
        )
        return plan

    def open(self, plan: SweepPlan) -> tuple[optuna.Study, Recovery]:
        """Open (or create) the study, settle trials lost by earlier runs, seed it with the
        sweep's warm start and enqueued points (all checked by ``plan``)."""
        conf = self.conf
        with setting_of(STORAGE):  # the study reuses what it reads
            storage = compat.cached_storage(open_storage(plan.url))
        existing = trials_in_storage(storage, plan.study_name)
        check_space_change(existing, plan.space)
        check_same_search(existing, plan.space, plan.configs.is_group, plan.study_name)
        if plan.schedule is not None:
            plan.schedule.check_budget(existing)
        # A seeded sampler continues with a new seed on resume, not the same draws again.
        sampler, choice = auto.sampler_for(
            conf.sampler,
            plan.space,
            storage,
            plan.study_name,
            len(existing),
            n_trials=conf.n_trials,
            n_objectives=len(self.directions),
            n_workers=plan.launch.slots,
            pruner=plan.pruner,
            scheduled=plan.schedule is not None,
        )
        study = open_study(
            storage,
            plan.study_name,
            self.directions,
            with_prior(sampler, plan.transfer, plan.space),  # transfer: prior
            plan.study_pruner,
        )
        if (in_force := auto.record(study, choice)) != choice:  # another worker chose first
            sampler = auto.build(in_force, conf.sampler.get("seed"), plan.space, len(existing))
            study.sampler = with_prior(sampler, plan.transfer, plan.space)
        recovery = Recovery(study, conf.max_retries, conf.heartbeat_interval, conf.heartbeat_grace)
        settle_orphaned_jobs(study, recovery)
        recovery.recover(force=True)
        self._steer(study, plan)
        return study, recovery

    def _n_trials_in_force(self, study: optuna.Study, finished: int) -> int:
        """The study's ``n_trials`` now (``steering.n_trials_in_force``). A new
        ``hydra.sweeper.n_trials`` on the command line wins over a steered one: explicit (in
        Hydra's ``hydra.overrides.hydra``, which holds the command line's ``hydra.*``
        overrides; a config file's value is not explicit) and other than the ``n_trials`` the
        sweep's last run declared (rerunning the same command keeps the steering). It is
        recorded as a steering action, so the loop, the live view, the results and
        ``steer show`` all see it."""
        attrs = compat.study_user_attrs(study)
        state = read_state(attrs)
        wanted, steered = self.conf.n_trials, state.n_trials
        new = wanted != declared_n_trials(attrs) and _on_command_line(self.config, N_TRIALS)
        if steered is None or steered == wanted or not new:
            return n_trials_in_force(wanted, state)
        text = f"n_trials {wanted} ({N_TRIALS} on the command line)"
        next_trial = len(study.get_trials(deepcopy=False))
        write_action(study, "n_trials", {"n_trials": wanted}, text, next_trial)
        log.info(
            "%s=%d on the command line overrides the steered n_trials %d (%d finished)",
            N_TRIALS,
            wanted,
            steered,
            finished,
        )
        return wanted

    def run(self, plan: SweepPlan, study: optuna.Study, recovery: Recovery) -> LoopSummary:
        """Run trials until the study has ``n_trials``; the results file is written even when
        the loop ends by an interrupt."""
        conf = self.conf

        check_results_ours(plan.sweep_dir)
        if plan.launch.shares_storage:
            recovery.runs_elsewhere()
        set_aside_foreign_dirs(study, plan.sweep_dir)
        plan.sweep_dir.mkdir(parents=True, exist_ok=True)
        # as Hydra's sweepers write it, with any password in a storage URL masked; whole or not
        # at all, since `hydratune report` reads it
        write_atomically(plan.sweep_dir / "multirun.yaml", mask_url(OmegaConf.to_yaml(self.config)))
        launcher = plan.launch.build(
            plan.configs,
            self.context,
            self.task_function,
            threads=conf.threads_per_worker,
            devices_per_trial=conf.devices_per_trial,
        )
        warn_if_min_epochs_defeat_pruner(study.pruner, self.config)
        hint = PrunerIdleHint(study, sweep_metric(self.config))

        def told(trial: optuna.Trial) -> None:
            self.tracker.told(trial)
            hint.told(trial.number)

        loop = SweepLoop(
            study,
            plan.space,
            launcher,
            n_trials=conf.n_trials,
            n_jobs=plan.launch.slots,
            max_failure_rate=conf.max_failure_rate,
            timeout=conf.timeout,
            extend_trial=plan.extend_trial,
            recovery=recovery,
            on_launch=self.tracker.launched,
            on_result=told,
            before_ask=Transfer(plan.transfer).before_ask,
            schedule=plan.schedule.build(study, plan.space, plan.url) if plan.schedule else None,
        )
        trials = study.get_trials(deepcopy=False)
        copied = sum(WARM_START_FROM in t.user_attrs for t in trials)
        finished = finished_count(trials)
        log.info(
            "study '%s' in %s: %d of %d trials finished%s; hydra/launcher=%s, %d slot(s)",
            plan.study_name,
            mask_url(plan.url),
            finished,
            loop.steering.n_trials,
            (f" ({copied} of them copied by warm_start)" if copied else "")
            + (EARLIER_RUNS if finished and plan.new_dir_each_run else ""),
            plan.launch.kind,
            plan.launch.slots,
        )
        progress = SweepProgress(
            study, loop.steering.n_trials, enabled=None if conf.progress else False
        )
        loop.on_told = lambda: progress.update(loop.n_trials)  # the loop's n_trials, as steered
        loop.on_started = progress.started
        register_live_study(plan.url, study)
        try:
            # Ctrl-C and SIGTERM (also inside Lightning) fail the running trials as lost
            with interrupt_handlers(), progress:
                return loop.run()
        except KeyboardInterrupt as error:
            recovery.release(str(error or "interrupted"))
            log.warning(
                "sweep %s: the running trials are failed as lost, results go to %s; run the same "
                "command to continue",
                error or "interrupted",
                plan.sweep_dir / RESULTS_FILE,
            )
            # that line is the whole story: exit as the shell expects, without a traceback
            raise SystemExit(exit_status()) from None
        finally:
            unregister_live_study(plan.url, study)
            try:
                # first: a second Ctrl-C while the workers stop then costs no results; one
                # meanwhile (after the last trial too) is said in one line, and the same
                # command run again writes them
                with interrupts_said_in_one_line(plan.sweep_dir):
                    write_results(study, plan.sweep_dir, plan.url)
            finally:
                try:
                    launcher.shutdown()
                except KeyboardInterrupt:  # Ctrl-C again while they stop: they end with us
                    log.warning("interrupted again: not waiting for the workers to stop")

    def finish(self, plan: SweepPlan, study: optuna.Study, summary: LoopSummary) -> None:
        """Report and export; then fail the command if the sweep stopped for failures."""
        if summary.ran_out is not None:
            finished = finished_count(study.get_trials(deepcopy=False))
            say_ran_out(finished, study_n_trials(compat.study_user_attrs(study)), summary.ran_out)
        report_and_export(study, plan.sweep_dir, plan.url, self._wrap_up())
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if summary.failures and not complete and not summary.stopped_early:
            summary.stopped_early = "every trial failed"  # max_failure_rate: 1.0 ran them all
        if summary.stopped_early:
            reasons = "".join(f"\n  trial #{n}: {reason}" for n, reason in summary.failures)
            raise SweepFailedError(
                f"sweep stopped: {summary.stopped_early}. The study keeps every trial; fix the "
                f"cause and run the same command to resume.{' Failures:' if reasons else ''}"
                f"{reasons}"
            )

    def _wrap_up(self) -> WrapUp:
        """What the end of this sweep writes besides its results."""
        metric = OmegaConf.select(self.config, "objective.metric")
        names = [metric] if isinstance(metric, str) else metric
        return WrapUp(names, self.conf.report, self.conf.report_png, self.conf.export_best)

    def _steer(self, study: optuna.Study, plan: SweepPlan) -> None:
        """Warm start from another study (or record a transfer), then queue the first trials."""
        Transfer(plan.transfer).start(study)
        if plan.warm_start is not None:
            warm_start(study, plan.space, plan.warm_start)
        if plan.enqueue:
            queued = enqueue_trials(study, plan.enqueue)
            log.info(
                "enqueue: %d of %d trial(s) queued to run first",
                sum(q.enqueued for q in queued),
                len(queued),
            )


N_TRIALS, STORAGE = "hydra.sweeper.n_trials", "hydra.sweeper.storage"


def _on_command_line(config: DictConfig, key: str) -> bool:
    """Whether the command line set ``key`` (``key=...``, ``+key=...``, ``++key=...``): Hydra
    keeps the command line's ``hydra.*`` overrides in ``hydra.overrides.hydra``."""
    lines = list(OmegaConf.select(config, "hydra.overrides.hydra", default=None) or [])
    parsed = OverridesParser.create().parse_overrides(lines)
    return any(o.key_or_group == key and not o.is_delete() for o in parsed)


def _password_out_of_jobs(config: DictConfig) -> dict[str, str]:
    """Keep the storage password out of every job's config and of the sweep state pickled for
    workers (submitit writes both to ``<trial dir>/.submitit/*.pkl``): the URL is masked there,
    in the command line's overrides too, and the password reaches jobs through the environment
    (``storage.hide_password``). Returns the job config's masked storage setting. A setting
    that reads the password from the environment (``${oc.env:PGPASSWORD}``) stays as written."""
    storage = OmegaConf.to_container(config.hydra.sweeper, resolve=False).get("storage")
    if storage is None or (masked := hide_password(str(storage))) == str(storage):
        return {}
    for cfg in (config, HydraConfig.instance().cfg):
        if cfg is None:
            continue
        with read_write(cfg.hydra), open_dict(cfg.hydra):
            cfg.hydra.overrides.hydra = [mask_url(line) for line in cfg.hydra.overrides.hydra]
            cfg.hydra.sweeper.storage = masked
    return {STORAGE: masked}
