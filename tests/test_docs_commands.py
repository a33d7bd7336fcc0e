"""The README's and docs/' commands, run as a newcomer runs them: every ```bash block, and the
commands the README names inline for looking at a sweep, in the order the docs give them, in a
fresh project directory (each README block in its own: ``documented_parts``), with the console
scripts the package installs. Small budgets replace
long ones (``BUDGETS``: the one list of substitutions); the claims next to a command are checked
(``CLAIMS``). A block that cannot run here says why in the doc itself, in a
``<!-- not run by tests/test_docs_commands.py: why -->`` line above it.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.study import StudyDirection
from optuna.trial import TrialState

from helpers import NO_PNG, REPO
from hydratune.insight.export import experiment_command
from hydratune.storage import load_study, open_storage

pytestmark = pytest.mark.slow

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
NOT_RUN = re.compile(r"^<!-- not run by tests/test_docs_commands\.py: (.+) -->$")
INLINE = re.compile(
    r"`((?:hydratune (?:report|rerun|export) |hydratune (?:--config-dir \S+ )?experiment="
    r"|optuna trials )[^`<]+)`"
)

# Where a command would run long, a smaller budget: (pattern, replacement), applied in order.
BUDGETS = [
    (r"hydra\.sweeper\.n_trials=50\b", "hydra.sweeper.n_trials=3"),
    (r"--top-k 3 --seeds 5", "--top-k 1 --seeds 2"),
    (r"trainer\.max_epochs=5\b", "trainer.max_epochs=1"),
    (r"\bn_trials 80$", "n_trials 5"),
]
# Appended to every run of the app (train or sweep): one epoch of two batches.
EPOCH = ["trainer.max_epochs=1", "++trainer.limit_train_batches=2", "++trainer.limit_val_batches=1"]
SWEEP = "hydra.sweeper.n_trials=2"  # a sweep that names no n_trials
# A sweep's report goes without its PNGs (NO_PNG: seconds of Chromium per sweep); the docs'
# `hydratune report`, run as written, writes them, as tests/insight/test_report.py does.


@dataclass
class Block:
    page: Path
    line: int
    commands: list[str]
    not_run: str | None


def bash_blocks(page: Path) -> list[Block]:
    """Each ```bash block of ``page``: its command lines (comments and continuations joined)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != "```bash":
            continue
        body = []
        for text in lines[i + 1 :]:
            if text.startswith("```"):
                break
            body.append(text)
        joined = "\n".join(body).replace("\\\n", " ")
        commands = [_strip_comment(c) for c in joined.splitlines()]
        reason = NOT_RUN.match(lines[i - 1]) if i else None
        blocks.append(Block(page, i + 1, [c for c in commands if c], reason and reason.group(1)))
    return blocks


def _strip_comment(line: str) -> str:
    words = shlex.split(line, comments=True)
    return shlex.join(words)


def inline_commands(page: Path) -> list[str]:
    """Commands the page names inline for looking at a sweep (report, rerun, export, optuna) and
    for running an exported experiment."""
    text = re.sub(r"\s*\n\s*", " ", page.read_text(encoding="utf-8"))
    return INLINE.findall(text)


def runs(command: str) -> list[list[str]]:
    """The argv lists a doc command stands for: ``x && cd d`` is two steps; ``a | b | c`` at
    its end are alternatives, one run each."""
    steps: list[list[str]] = [[]]
    for word in shlex.split(command):
        if word == "&&":
            steps.append([])
        else:
            steps[-1].append(word)
    expanded = []
    for argv in steps:
        if "|" in argv:
            at = argv.index("|") - 1
            expanded += [[*argv[:at], word] for word in argv[at:] if word != "|"]
        else:
            expanded.append(argv)
    return expanded


def with_budget(argv: list[str]) -> list[str]:
    text = shlex.join(argv)
    for pattern, replacement in BUDGETS:
        text = re.sub(pattern, replacement, text)
    argv = shlex.split(text)
    subcommand = len(argv) > 1 and argv[1] in {"report", "rerun", "export", "steer", "init"}
    if argv[0] != "hydratune" or subcommand or "--help" in argv:
        return argv
    given = {a.split("=")[0].lstrip("+") for a in argv}
    extra = [e for e in EPOCH if e.split("=")[0].lstrip("+") not in given]
    if "-m" in argv and not any(a.startswith("hydra.sweeper.n_trials=") for a in argv):
        extra.append(SWEEP)
    if "-m" in argv and "hydra.sweeper.report_png" not in given:
        extra.append(NO_PNG)
    # Hydra takes its overrides in one run: after the command's own, before an option after them
    at = next((i for i, a in enumerate(argv) if a.startswith("-") and _overrides(argv[1:i])), None)
    at = len(argv) if at is None else at
    return [*argv[:at], *extra, *argv[at:]]


def _overrides(words: list[str]) -> bool:
    return any("=" in w and not w.startswith("-") for w in words)


def study(project: Path, name: str) -> optuna.Study:
    return load_study(str(project / "outputs/hydratune.journal"), name)


def _sweep_dir_files(project: Path, output: str) -> None:
    sweep_dir = project / "outputs/sweeps/mlp_digits"
    for name in ("optimization_results.yaml", "best_config.yaml", "multirun.yaml"):
        assert (sweep_dir / name).is_file(), name
    assert (project / "conf/experiment/mlp_digits_best.yaml").is_file()  # export_best: true
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    best = study(project, "mlp_digits").best_trial
    assert (results["best_trial_number"], results["best_value"], results["best_params"]) == (
        best.number,
        best.value,
        best.params,
    )
    assert "--config-name best_config" in output  # how to rerun the best trial
    assert experiment_command(project / "conf/experiment/mlp_digits_best.yaml") in output


def _reruns_the_best_value(project: Path, output: str) -> None:
    """The exported experiment's header command, run as written, trains to the best value."""
    command = experiment_command(project / "conf/experiment/mlp_digits_best.yaml")
    assert command == "hydratune --config-dir conf experiment=mlp_digits_best"
    best = study(project, "mlp_digits").best_trial
    assert f"{best.value:.6g}" in output or f"{best.value:.4f}" in output, output[-2000:]


def _best_of_the_complete(name: str) -> Callable[[Path, str], None]:
    def check(project: Path, output: str) -> None:
        results = yaml.safe_load(
            (project / f"outputs/sweeps/{name}/optimization_results.yaml").read_text()
        )
        values = [t.value for t in study(project, name).trials if t.state == TrialState.COMPLETE]
        assert results["best_value"] == max(values)  # the direction the objective gives

    return check


def _maximises(name: str) -> Callable[[Path, str], None]:
    def check(project: Path, output: str) -> None:
        assert study(project, name).direction == StudyDirection.MAXIMIZE  # objective.direction

    return check


def _ended(name: str, n: int) -> Callable[[Path, str], None]:
    def check(project: Path, output: str) -> None:
        ended = [t for t in study(project, name).trials if t.state.is_finished()]
        assert len(ended) == n

    return check


def _says(*lines: str) -> Callable[[Path, str], None]:
    def check(project: Path, output: str) -> None:
        for line in lines:
            assert line in output, line

    return check


def _says_not(line: str) -> Callable[[Path, str], None]:
    def check(project: Path, output: str) -> None:
        assert line not in output, line

    return check


def _help_lists_every_command_then_the_config_groups(output: str) -> None:
    from hydratune.cli import subcommands

    commands = output.split("Commands", 1)[1]
    for name in subcommands():
        assert f" {name} " in commands, f"{name} missing from hydratune --help"
    assert "== Configuration groups ==" in output
    sweeps = sorted(p.stem for p in (REPO / "conf" / "sweep").glob("*.yaml"))
    assert f"sweep: {', '.join(sweeps)}" in output


# What the docs say next to a command: (the command as written, check); a command the docs
# expect to fail is in FAILS with the line it prints.
CLAIMS: list[tuple[str, Callable[[Path, str], None]]] = [
    (
        "hydratune -m sweep=mlp_digits",
        lambda p, o: (_sweep_dir_files(p, o), _maximises("mlp_digits")(p, o)),
    ),
    ("hydratune -m sweep=mlp_digits hydra.sweeper.n_trials=50", _ended("mlp_digits", 3)),
    (
        "hydratune -m model=cnn",
        lambda p, o: (_maximises("hydratune")(p, o), _best_of_the_complete("hydratune")(p, o)),
    ),
    ("hydratune --help", lambda p, o: _help_lists_every_command_then_the_config_groups(o)),
    (
        "hydratune report outputs/sweeps/mlp_digits",
        lambda p, o: _file(p, "outputs/sweeps/mlp_digits/report/report.html"),
    ),
    (
        "hydratune rerun outputs/sweeps/mlp_digits",
        lambda p, o: (
            _file(p, "outputs/sweeps/mlp_digits/rerun/rerun_results.yaml"),
            _says_not("GPU available")(p, o),  # the command's lines, not Lightning's banners
        ),
    ),
    (
        "hydratune export outputs/sweeps/mlp_digits",
        lambda p, o: _file(p, "conf/experiment/mlp_digits_best.yaml"),
    ),
    ("hydratune --config-dir conf experiment=mlp_digits_best", _reruns_the_best_value),
    ("optuna trials", _says("COMPLETE")),
    (
        "hydratune steer outputs/sweeps/mlp_digits show",
        _says("study 'mlp_digits'", "fix model.n_layers=2"),
    ),
    ("hydratune init myproject", lambda p, o: _file(p, "myproject/conf/sweep/tiny.yaml")),
]
FAILS = {"hydratune steer outputs/sweeps/mlp_digits prune 17": "trial #17 is not running"}


def _file(project: Path, path: str) -> None:
    assert (project / path).is_file(), path


Blocks = list[tuple[str, list[str]]]  # (where, commands) of each block, in order


def documented_blocks(page: Path) -> Blocks:
    """(where, commands) of each block of ``page`` that runs, in its order (the README's inline
    commands after its blocks); each block starts in the project dir."""
    blocks = [(f"{b.page.name}:{b.line}", b.commands) for b in bash_blocks(page) if not b.not_run]
    if page.name == "README.md":
        blocks.append(("README.md inline", inline_commands(page)))
    return blocks


def test_every_bash_block_in_the_docs_runs_or_says_why_not():
    silent = [
        f"{b.page.name}:{b.line}"
        for page in PAGES
        for b in bash_blocks(page)
        if b.not_run is None
        and not all(c.split()[0] in ("hydratune", "optuna") for c in b.commands)
    ]
    assert silent == []
    # every block of the README and docs/steering.md, and the inline ones, are found
    assert sum(len(c) for page in PAGES for _, c in documented_blocks(page)) >= 30


# The README's blocks share only its first sweep: each block is a test of its own, and one that
# names that sweep's outputs (as a docs/ page may) starts where the sweep left its project.
README_SWEEP = ("outputs/sweeps/mlp_digits", ("README.md sweep", ["hydratune -m sweep=mlp_digits"]))


def documented_parts(page: Path) -> list[tuple[str, Blocks]]:
    """The tests ``page`` makes, (id, blocks): one per README block, since they depend on one
    another only through the README sweep; a docs/ page's blocks together, in order."""
    blocks = documented_blocks(page)
    if page.name == "README.md":
        return [(where, [(where, commands)]) for where, commands in blocks]
    return [(page.name, blocks)] if blocks else []


PARTS = [part for page in PAGES for part in documented_parts(page)]


def needs_the_readme_sweep(blocks: Blocks) -> bool:
    return any(README_SWEEP[0] in c for _, commands in blocks for c in commands)


def _param(where: str, blocks: Blocks) -> object:
    """One part's test; the parts that start from the README sweep share a pytest-xdist worker
    (``--dist loadgroup``), so that worker alone runs the sweep."""
    group = [pytest.mark.xdist_group("readme_sweep")] if needs_the_readme_sweep(blocks) else []
    return pytest.param(where, blocks, id=where, marks=group)


@pytest.fixture(scope="module")
def _readme_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The README's first sweep, run once per worker that runs a part needing it (one, in
    ``make test``): its project, and a copy as it left it."""
    project = tmp_path_factory.mktemp("readme") / "project"
    project.mkdir()
    run_blocks(project, [README_SWEEP[1]])
    kept = project.with_name("as_the_sweep_left_it")
    shutil.copytree(project, kept)
    return project, kept


@pytest.fixture
def after_the_readme_sweep(_readme_sweep: tuple[Path, Path]) -> Path:
    """The project as the README's first sweep left it, restored where the sweep ran: its
    multirun.yaml and results name that directory, and the commands after it follow them."""
    project, kept = _readme_sweep
    shutil.rmtree(project)
    shutil.copytree(kept, project)
    return project


@pytest.mark.timeout(900)  # up to about 10 commands, each a fresh process that imports torch
@pytest.mark.parametrize(("where", "blocks"), [_param(*part) for part in PARTS])
def test_the_docs_commands_run_as_written_and_do_what_the_docs_say(
    tmp_path: Path, request: pytest.FixtureRequest, where: str, blocks: Blocks
) -> None:
    """Each part in its own project, so pytest-xdist shares the parts out."""
    needs_sweep = needs_the_readme_sweep(blocks)
    project = request.getfixturevalue("after_the_readme_sweep") if needs_sweep else tmp_path
    assert run_blocks(project, blocks)
    journal = project / "outputs/hydratune.journal"
    if journal.exists():  # no sweep the part ran is left with a trial RUNNING
        storage = open_storage(str(journal))
        for summary in optuna.get_all_study_summaries(storage):
            trials = study(project, summary.study_name).trials
            assert not [t.number for t in trials if t.state == TrialState.RUNNING], summary


def run_blocks(project: Path, blocks: Blocks) -> list[list[str]]:
    """Each block's commands in order, each block from ``project``, their claims checked; the
    argv lists that ran."""
    ran = []
    for where, commands in blocks:
        cwd = project
        for command in commands:
            for argv in runs(command):
                if argv[0] == "cd":
                    cwd = cwd / argv[1]
                    continue
                argv = [word.replace("$PWD", str(cwd)) for word in argv]  # as a shell would
                output = run(with_budget(argv), cwd, where, FAILS.get(command))
                claimed = _claim_for(command)
                if claimed is not None:
                    dict(CLAIMS)[claimed](project, output)
                ran.append(argv)
    return ran


def run(argv: list[str], cwd: Path, where: str, fails_with: str | None) -> str:
    """``argv`` with the console script the package installed; its output. A command the docs
    say fails must fail with the line they quote."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name(argv[0])), *argv[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    if fails_with:
        assert done.returncode != 0 and fails_with in output, (where, argv, output[-3000:])
    else:
        assert done.returncode == 0, (where, argv, output[-3000:])
    return output


def _claim_for(command: str) -> str | None:
    """The longest claimed command that this documented command starts with."""
    matches = [claimed for claimed, _ in CLAIMS if command.startswith(claimed)]
    return max(matches, key=len) if matches else None
