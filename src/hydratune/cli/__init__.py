"""The ``hydratune`` command: subcommands for looking at sweeps, else the Hydra app.

``hydratune report``, ``hydratune rerun`` and ``hydratune export`` work on a finished (or
running) sweep; anything else is handed to the Hydra app unchanged, so ``hydratune -m
sweep=mlp_digits`` and ``hydratune model=cnn`` run as before.

Examples::

    hydratune report outputs/sweeps/mlp_digits
    hydratune report --storage outputs/hydratune.journal --study mlp_digits --out report/
    hydratune rerun outputs/sweeps/mlp_digits --top-k 3 --seeds 5
    hydratune export outputs/sweeps/mlp_digits     # -> conf/experiment/mlp_digits_best.yaml
    hydratune init myproject                       # a project of your own, ready to sweep
    hydratune steer outputs/sweeps/mlp_digits fix model.n_layers=2   # steer a running sweep
    hydratune serve outputs/sweeps/mlp_digits       # live in the browser, with the controls
    hydratune migrate configs/hparams_search/mnist_optuna.yaml  # from hydra-optuna-sweeper
    hydratune storage-proxy --storage postgresql://... --port 13000  # workers: grpc://host:13000
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import optuna
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from hydratune import compat
from hydratune.cli.sweep_ref import SweepRef, output_dir, resolve_sweep
from hydratune.errors import StudyConfigError
from hydratune.files import ForeignFileError, os_reason
from hydratune.storage import storage_url

__all__ = ["app", "main", "subcommands"]

app = typer.Typer(
    name="hydratune",
    help="Train once with `hydratune key=value ...`, sweep with `hydratune -m key=value ...` "
    "(the Hydra app: its config groups follow below), or work on a sweep with a command.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)  # paths and commands stay on one line, copyable
errors = Console(stderr=True, soft_wrap=True)  # refusals: stdout holds only what a command made


def fail(lead: str, detail: object) -> NoReturn:
    """End the command with one line on stderr, ``lead: detail`` (the details as they are, no
    markup read), and exit status 2, as typer's own usage errors."""
    errors.print(Text.assemble((lead, "red"), ": ", str(detail)), highlight=False)
    raise typer.Exit(code=2)


def subcommands() -> set[str]:
    """The names of the registered commands (``report``, ``init``, ...)."""
    return {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}


def main() -> None:
    """Entry point of the ``hydratune`` console script and ``python -m hydratune``.

    A command name goes to the command; anything else to the Hydra app. ``--help`` shows the
    commands, then the Hydra app's own help (config groups, override syntax).
    """
    if len(sys.argv) > 1 and sys.argv[1] in subcommands():
        app()  # without importing the app (Lightning, torch): `hydratune steer` answers fast
        return
    from hydratune.app import main as hydra_main

    if sys.argv[1:] in (["--help"], ["-h"]):
        app(["--help"], prog_name="hydratune", standalone_mode=False)
        sys.argv[1:] = ["--help"]
    hydra_main()


SweepDirArg = Annotated[
    Path | None,
    typer.Argument(
        help="The sweep's directory, e.g. outputs/sweeps/mlp_digits.", show_default=False
    ),
]
StorageOpt = Annotated[
    str | None,
    typer.Option(help="Study storage: a journal file or database URL (default: the sweep's)."),
]
StudyOpt = Annotated[str | None, typer.Option("--study", help="Study name (default: the sweep's).")]


def _open_sweep(
    sweep_dir: Path | None, storage: str | None, study: str | None, needs_dir: str | None = None
) -> SweepRef:
    """The command's sweep (``resolve_sweep``); one it cannot open ends the command with one
    line, as steer's errors do, not typer's usage box, which wraps paths mid-text.
    ``needs_dir``: the command, which reads the trials' saved configs in the sweep dir (said
    after the storage is checked: a file that is no journal is named first)."""
    try:
        ref = resolve_sweep(sweep_dir, storage, study)
        if needs_dir is not None and ref.sweep_dir is None:
            raise StudyConfigError(f"{needs_dir} needs the sweep dir, for its trials' configs")
        return ref
    except StudyConfigError as error:
        fail("error", error)


@app.command()
def report(
    sweep_dir: SweepDirArg = None,
    storage: StorageOpt = None,
    study: StudyOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(file_okay=False, help="Output directory (default: <sweep dir>/report)."),
    ] = None,
    png: Annotated[bool, typer.Option(help="Also write PNG figures (needs Chromium).")] = True,
    top_k: Annotated[
        int, typer.Option("--top-k", min=1, help="Complete trials listed in the table.")
    ] = 10,
) -> None:
    """Write an HTML report, PNG figures and a Markdown summary of a sweep's study."""
    from hydratune.insight import write_report

    ref = _open_sweep(sweep_dir, storage, study)
    with output_dir(ref, out, "report") as out_dir:
        try:
            files = write_report(
                ref.study, out_dir, ref.url, metric_names=ref.metric_names, png=png, top_k=top_k
            )
        except (ForeignFileError, OSError) as error:  # OSError: a full disk, a read-only place
            said = os_reason(error) if isinstance(error, OSError) else error
            fail("cannot write the report", said)
    console.print(f"report of study '{ref.study.study_name}': {files.html}")
    console.print(f"summary: {files.markdown}; {len(files.pngs)} PNG figure(s)")
    for key, note in files.notes.items():
        console.print(f"[yellow]{key}[/]: {note}")


@app.command()
def rerun(
    sweep_dir: SweepDirArg = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Configurations to rerun.")] = 3,
    seeds: Annotated[
        int, typer.Option("--seeds", min=1, help="Seeds per configuration (its own seed first).")
    ] = 3,
    storage: StorageOpt = None,
    study: StudyOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(file_okay=False, help="Output directory (default: <sweep dir>/rerun)."),
    ] = None,
) -> None:
    """Retrain the top K configurations with S seeds each; report mean and std per config."""
    from hydratune.execute import exit_status, interrupt_handlers, received
    from hydratune.insight import RERUN_HEADER, RESULTS_FILE, rerun_rows, rerun_top_trials

    ref = _open_sweep(sweep_dir, storage, study, needs_dir="rerun")
    assert ref.sweep_dir is not None

    finished: list[int] = []  # the runs that ended, each with its seed

    def progress(trial: optuna.trial.FrozenTrial, seed: int, values: list[float] | None) -> None:
        finished.append(seed)
        shown = "failed" if values is None else ", ".join(f"{v:.6g}" for v in values)
        console.print(f"trial #{trial.number} seed {seed}: {shown}")

    with output_dir(ref, out, "rerun") as out_dir, interrupt_handlers():
        try:
            results = rerun_top_trials(
                ref.study, ref.sweep_dir, top_k, seeds, out_dir, on_run=progress
            )
        except (KeyboardInterrupt, SystemExit) as error:  # Lightning exits on Ctrl-C
            if isinstance(error, SystemExit) and received() is None:
                raise  # the task's own exit, not a signal
            kept = f"{len(finished)} run(s) finished, kept in {out_dir / RESULTS_FILE}"
            said = kept if finished else "no run finished"
            errors.print(f"rerun interrupted by {received() or 'SIGINT'}: {said}", markup=False)
            raise typer.Exit(code=exit_status()) from None
        except ValueError as error:  # no complete trial, a file of the user's: before training
            fail("cannot rerun", error)
        except OSError as error:  # its results: a full disk, a read-only place
            fail("cannot write the rerun's results", os_reason(error))
    table = Table(title=f"{ref.study.study_name}: top {len(results)} over {seeds} seed(s)")
    for column in RERUN_HEADER:
        table.add_column(column, overflow="fold")
    for row in rerun_rows(results):
        table.add_row(*row)
    console.print(table)
    for result in results:
        if result.not_the_sweeps_run:
            console.print(f"note: {result.not_the_sweeps_run}", markup=False)
    console.print(f"results: {out_dir / RESULTS_FILE}, {out_dir / 'rerun.md'}")
    if any(r.errors for r in results):
        raise typer.Exit(code=1)


@app.command()
def export(
    sweep_dir: SweepDirArg = None,
    to: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False,
            help="Experiment file to write (default: <the app's config dir>/experiment/"
            "<study>_best.yaml).",
        ),
    ] = None,
    trial: Annotated[
        int | None, typer.Option(help="Trial number (needed for multi-objective studies).")
    ] = None,
    storage: StorageOpt = None,
    study: StudyOpt = None,
) -> None:
    """Write the best trial as an experiment config: `hydratune experiment=<study>_best`."""
    from hydratune.insight import ExportError, default_target, experiment_command, export_best
    from hydratune.steering import passed_over
    from hydratune.sweep import recorded_app

    ref = _open_sweep(sweep_dir, storage, study, needs_dir="export")
    assert ref.sweep_dir is not None
    try:
        target = to or default_target(ref.study, ref.sweep_dir, trial)
        app = recorded_app(ref.sweep_dir)  # the app that swept runs the export
        path = export_best(ref.study, ref.sweep_dir, target, trial=trial, app=app)
    except (ExportError, ForeignFileError, OSError) as error:  # OSError: a file on the way
        said = os_reason(error) if isinstance(error, OSError) else error
        fail("cannot export", said)
    console.print(f"wrote {path}; run it with: {experiment_command(path)}", markup=False)
    passed = None if trial is not None else passed_over(ref.study)
    if passed is not None:
        console.print(passed, markup=False)


@app.command()
def init(
    dest: Annotated[Path, typer.Argument(file_okay=False, help="Directory of the new project.")],
) -> None:
    """Create a minimal project with its own model, data and sweep, ready to run."""
    from hydratune.scaffold import create_project

    try:
        files = create_project(dest)
    except FileExistsError as error:
        fail("error", error)
    except OSError as error:  # a place it cannot write: /proc/foo, a read-only mount
        fail(f"cannot create the project in {dest}", f"{error.filename or dest}: {error.strerror}")
    console.print(f"created {len(files)} files in {dest}; then, in it:")
    console.print("  hydratune --config-dir conf model=tiny data=blobs")
    console.print("  hydratune --config-dir conf -m sweep=tiny")


@app.command(context_settings={"allow_interspersed_args": False})
def steer(
    words: Annotated[
        list[str],
        typer.Argument(
            help="[SWEEP_DIR] VERB ARGS: enqueue k=v..., fix k=v..., unfix k..., narrow "
            "'k=range', n_trials N, prune N, pause, resume, stop, note N TEXT, fail N REASON, "
            "show.",
            show_default=False,
        ),
    ],
    storage: StorageOpt = None,
    study: StudyOpt = None,
) -> None:
    """Steer a running (or paused) sweep through its study: it reaches every worker."""
    from hydratune.steering import VERBS, Steerer, SteerError, print_action, print_view

    first = words[0]  # typer requires one word at least
    sweep_dir = Path(first) if Path(first).is_dir() else None
    rest = words[1:] if sweep_dir is not None else words
    try:
        named_a_dir = "/" in first or (len(words) > 1 and words[1] in VERBS)
        if sweep_dir is None and first not in VERBS and named_a_dir:
            raise SteerError(
                f"no directory {first}; give the sweep's dir (e.g. outputs/sweeps/<study>) or "
                "--storage and --study"
            )
        if not rest:
            raise SteerError(f"give a verb after {first}: one of {', '.join(VERBS)}")
        verb, *args = rest
        if verb not in VERBS:
            raise SteerError(f"'{verb}' is not a steering verb; one of: {', '.join(VERBS)}")
        for word in args:  # after the verb, an option would be read as a word of it
            option = word.split("=", 1)[0]
            if option in ("--storage", "--study"):
                raise SteerError(
                    f"{option} after the verb would be read as one of its words: give it "
                    f"first (hydratune steer {option} ... {verb} ...)"
                )
        if verb == "show" and args:
            raise SteerError(f"show takes no arguments; got {' '.join(args)}")
        steerer = Steerer(resolve_sweep(sweep_dir, storage, study).study)
        if verb == "show":
            print_view(console, steerer.show())
            return
        action = steerer.run_words(verb, args)
        print_action(console, action)
        caveat = steerer.caveat(action)
        if caveat is not None:
            console.print(caveat, markup=False)
    except SteerError as error:
        fail("error", f"{error}. Nothing was written.")
    except StudyConfigError as error:  # a storage that cannot be written: it says what is kept
        fail("error", error)


@app.command()
def serve(
    sweep_dir: SweepDirArg = None,
    storage: StorageOpt = None,
    study: StudyOpt = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback only with the token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Show the sweep; no steering controls.")
    ] = False,
) -> None:
    """Show a sweep live in the browser and steer it from the page (docs/serve.md)."""
    import errno
    import ipaddress
    import secrets

    try:
        from hydratune.serve import Feed, create_app, listening_socket, run_server
    except ImportError as error:
        fail("hydratune serve needs the serve extra", f"{error}; pip install 'hydratune[serve]'")
    ref = _open_sweep(sweep_dir, storage, study)
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise typer.BadParameter(f"'{host}' is not an IP address", param_hint="--host") from None
    token = None if loopback else secrets.token_urlsafe(24)  # printed once, never stored
    feed = Feed(ref.study, ref.metric_names)
    web = create_app(feed, read_only=read_only, token=token, loopback=loopback)
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    try:  # bound before it says it serves there
        listening = listening_socket(host, port)
    except OSError as error:  # an address this machine lacks is the host's fault, not the port's
        other = "--host" if error.errno == errno.EADDRNOTAVAIL else "--port"
        reason = error.strerror or error
        fail(f"cannot serve on {shown}:{port}", f"{reason}; choose another {other}")
    mode = "read-only" if read_only else "steering controls on"
    console.print(
        f"serving study '{ref.study.study_name}' on {address} ({mode}; Ctrl-C stops)",
        markup=False,
    )
    run_server(web, listening)


@app.command()
def migrate(
    config: Annotated[Path, typer.Argument(help="A config written for hydra-optuna-sweeper.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the diff; leave the file as it is.")
    ] = False,
    version: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="The hydra-optuna-sweeper version the config was written for: 1.3 (range "
            "includes its stop) or 1.4 (main: excludes it). Needed only when the file does "
            "not tell and has a range().",
        ),
    ] = None,
) -> None:
    """Rewrite a hydra-optuna-sweeper config for hydratune in place and print the diff."""
    from hydratune.scaffold import VERSIONS, migrate_file, write

    if version is not None and version not in VERSIONS:
        raise typer.BadParameter(f"'{version}': give 1.3 or 1.4", param_hint="--from")
    if not config.is_file():
        raise typer.BadParameter(f"{config} is not a file", param_hint="CONFIG")
    try:
        migration = migrate_file(config, version)
        if migration.new == migration.old:
            console.print(f"{config}: nothing to change")
            return
        console.print(migration.diff(), markup=False, highlight=False)
        for change in migration.changes:
            console.print(f"- {change}", markup=False, highlight=False)
        if not dry_run:
            write(migration)
            console.print(f"rewrote {config}", markup=False, highlight=False)
    except (StudyConfigError, OSError) as error:
        fail(f"cannot migrate {config}", error)


@app.command("storage-proxy")
def storage_proxy(
    storage: Annotated[str, typer.Option(help="The storage served: a database URL or journal.")],
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on; beyond loopback (0.0.0.0: all) only with a token."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 13000,
) -> None:
    """Serve a storage to many workers through Optuna's gRPC proxy, so the database holds one
    connection instead of one per worker; workers set hydra.sweeper.storage=grpc://HOST:PORT.
    Every call must carry the token in HYDRATUNE_PROXY_TOKEN (or the file
    HYDRATUNE_PROXY_TOKEN_FILE names), on the proxy and on every worker; docs/clusters.md."""
    from hydratune.storage import mask_url, open_storage, read_token, start_server

    try:
        url = storage_url(storage, Path.cwd())
        token = read_token()
        # behind Optuna's trial cache, as Optuna's docs ask: without it every worker's sync
        # reads all the study's trials from the database (seconds per trial at 5000 trials)
        server = start_server(lambda: compat.cached_storage(open_storage(url)), host, port, token)
    except StudyConfigError as error:
        fail("error", error)
    access = "token required" if token else "no token: any user of this machine may connect"
    console.print(f"serving {mask_url(url)} on grpc://{host}:{port} ({access}; Ctrl-C stops)")
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(grace=1)
