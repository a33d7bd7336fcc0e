"""The ``hydratune`` command: report/rerun/export subcommands, everything else to the Hydra
app unchanged, and ``python -m hydratune`` the same."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from helpers import REPO, TINY_SWEEP, load, multirun, small_disk, start_python
from hydratune import cli, compat
from hydratune.storage import open_storage
from hydratune.training.task import train

runner = CliRunner()


def hydratune(*args: str):
    return runner.invoke(cli.app, [str(a) for a in args])


def python_m_hydratune(
    cwd: Path, *argv: str, timeout: int = 120, file_size_limit: int | None = None
) -> subprocess.CompletedProcess:
    """``python -m hydratune *argv`` run in ``cwd`` as a process of its own, output captured;
    ``file_size_limit``: ``small_disk``."""
    return subprocess.run(
        [sys.executable, "-m", "hydratune", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        **small_disk(file_size_limit),
    )


@pytest.fixture
def swept(sweep, tmp_path) -> Path:
    sweep(["hydra.sweeper.n_trials=6"])
    return tmp_path / "sweeps" / "quadratic"


@pytest.mark.parametrize(
    "argv",
    [["-m", "sweep=mlp_digits"], ["model=cnn", "trainer.max_epochs=1"], [], ["--help"]],
)
def test_anything_but_a_subcommand_goes_to_the_hydra_app_unchanged(argv, monkeypatch):
    calls = []
    monkeypatch.setattr("hydratune.app.main", lambda: calls.append(list(sys.argv)))
    monkeypatch.setattr(sys, "argv", ["hydratune", *argv])
    cli.main()
    assert calls == [["hydratune", *argv]]


def test_a_subcommand_goes_to_typer(monkeypatch, swept, tmp_path):
    monkeypatch.setattr("hydratune.app.main", pytest.fail)
    monkeypatch.setattr(sys, "argv", ["hydratune", "report", str(swept), "--no-png"])
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 0
    assert (swept / "report" / "report.html").is_file()


def test_report_of_a_sweep_dir_finds_its_study_and_storage(swept, tmp_path, monkeypatch):
    monkeypatch.chdir("/")  # the sweep dir alone says where the study is
    result = hydratune("report", swept, "--no-png", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    markdown = (tmp_path / "r" / "report.md").read_text()
    best = load("quadratic", tmp_path).best_trial
    assert f"trial #{best.number}: {best.value:.6g}" in markdown
    assert str(tmp_path / "outputs" / "hydratune.journal") in markdown


def test_report_by_storage_and_study_name(swept, tmp_path):
    out = tmp_path / "by-name"
    result = hydratune(
        "report",
        "--storage",
        tmp_path / "outputs/hydratune.journal",
        "--study",
        "quadratic",
        "--out",
        out,
        "--no-png",
    )
    assert result.exit_code == 0, result.output
    assert "# hydratune report: quadratic" in (out / "report.md").read_text()


def test_report_of_a_study_whose_name_is_no_folder_name_needs_out(swept, tmp_path):
    # a study another program named "../sweeps/x" would write into that sweep's report
    journal = tmp_path / "outputs" / "hydratune.journal"
    study = optuna.create_study(study_name="../sweeps/x", storage=open_storage(str(journal)))
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=1.0))
    result = hydratune("report", "--storage", journal, "--study", "../sweeps/x", "--no-png")
    assert result.exit_code == 2 and "Traceback" not in result.output
    said = " ".join(result.output.replace("│", " ").split())
    assert "study '../sweeps/x' is not one folder name" in said and "--out" in said
    assert not (tmp_path / "outputs" / "sweeps").exists()


def test_report_of_an_unknown_study_fails_naming_it(swept, tmp_path):
    result = hydratune("report", swept, "--study", "nope", "--no-png")
    assert result.exit_code == 2
    assert "no study 'nope'" in result.output


def test_report_of_a_dir_that_is_no_sweep_fails_saying_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = hydratune("report", tmp_path, "--no-png")
    assert result.exit_code == 2
    assert "no study" in result.output


@pytest.mark.parametrize(
    ("command", "what"),
    [(["report", "{swept}", "--out"], "'--out'"), (["rerun", "{swept}", "--out"], "'--out'")]
    + [(["init"], "'dest'")],
    ids=["report", "rerun", "init"],
)
def test_a_file_named_as_an_output_directory_is_refused_and_left_as_it_is(
    swept, tmp_path, command, what
):
    (tmp_path / "notes.txt").write_text("mine\n")
    result = hydratune(*(str(a).format(swept=swept) for a in command), "notes.txt")
    assert result.exit_code == 2
    said = " ".join(result.output.replace("│", " ").split())  # the box's lines joined
    assert f"Invalid value for {what}: dir 'notes.txt' is a file" in said
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


@pytest.mark.parametrize("command", ["report", "rerun"])
def test_an_output_directory_below_a_file_is_refused_before_any_work(swept, tmp_path, command):
    (tmp_path / "notes.txt").write_text("mine\n")
    result = hydratune(command, swept, "--out", "notes.txt/sub")
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.replace("│", " ").split())
    assert "Invalid value for --out: cannot create notes.txt/sub: Not a directory" in said
    assert (tmp_path / "notes.txt").read_text() == "mine\n"
    assert "trial #" not in result.output  # refused before any configuration was retrained
    # without --out, a file where the default folder goes: the hint says how to go elsewhere
    (swept / command).write_text("mine\n")
    result = hydratune(command, swept)
    said = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2 and "File exists" in said
    assert "Invalid value for --out, to write elsewhere: cannot create" in said
    assert (swept / command).read_text() == "mine\n"
    (swept / command).unlink()


@pytest.mark.parametrize(
    ("command", "mine"),
    [("report", "report.md"), ("report", "report.html"), ("report", "figures/history.png")]
    + [("rerun", "rerun.md"), ("rerun", "rerun_results.yaml")],
)
def test_a_users_file_where_report_or_rerun_writes_is_left_as_it_is(swept, tmp_path, command, mine):
    out = tmp_path / "notes"  # e.g. --out . in a project with a report.md of its own
    (out / mine).parent.mkdir(parents=True)
    (out / mine).write_bytes(b"mine\n")
    result = hydratune(command, swept, "--out", out)  # the report with PNGs: refused before
    assert result.exit_code == 2, result.output
    said = f"{out / mine} exists and was not written by hydratune {command}; it was left as it is"
    assert said in result.output and len(result.output.strip().splitlines()) == 1
    assert (out / mine).read_bytes() == b"mine\n"
    assert [p for p in out.rglob("*") if p.is_file()] == [out / mine]  # nothing else written


def test_a_users_figure_stays_refused_after_a_report_without_pngs_beside_it(swept, tmp_path):
    figure = tmp_path / "r" / "figures" / "history.png"
    figure.parent.mkdir(parents=True)
    figure.write_bytes(b"mine\n")
    assert hydratune("report", swept, "--out", tmp_path / "r", "--no-png").exit_code == 0
    result = hydratune("report", swept, "--out", tmp_path / "r")  # its pages prove no figure
    assert result.exit_code == 2, result.output
    assert f"{figure} exists and was not written by hydratune report" in result.output
    assert figure.read_bytes() == b"mine\n"


@pytest.mark.cli
@pytest.mark.parametrize(
    ("command", "said", "written"),
    [
        ("report", "cannot write the report: ", "report.html"),
        ("rerun", "cannot write the rerun's results: ", "rerun_results.yaml"),
    ],
)
def test_a_report_or_rerun_the_disk_cannot_hold_is_one_line_naming_the_file(
    tmp_path, monkeypatch, command, said, written
):
    monkeypatch.chdir(tmp_path)  # a Lightning sweep: a rerun trains with hydratune's task
    multirun(TINY_SWEEP, task=train, config_name="train", config_dir=REPO / "conf")
    swept = tmp_path / "outputs" / "sweeps" / "mlp_digits"
    out = tmp_path / "out"
    once = ["--seeds", "1"] if command == "rerun" else []
    done = python_m_hydratune(
        tmp_path, command, swept, "--out", out, "--top-k", "1", *once, file_size_limit=300
    )
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr, done.stderr
    *before, last = done.stderr.strip().splitlines()
    assert last == f"{said}{out / written}: File too large", done.stderr
    # the report's PNGs met the full disk first: said as such, not as a browser to install
    assert all("chromium" not in line for line in before), before
    assert not (out / written).exists() and not list(out.glob(".*.tmp"))


def test_a_rerun_of_a_study_with_no_complete_trial_is_one_line(swept, tmp_path):
    storage = compat.storage_of(load("quadratic", tmp_path))  # the sweep's journal
    optuna.create_study(study_name="empty", storage=storage)
    result = hydratune("rerun", swept, "--study", "empty")
    assert result.exit_code == 2, result.output
    assert result.output == "cannot rerun: study 'empty' has no complete trial to rerun\n"
    assert not (swept / "rerun").exists()  # a refusal leaves no folder of its own behind
    result = hydratune("rerun", swept, "--study", "empty", "--out", tmp_path / "a" / "b")
    assert result.exit_code == 2 and not (tmp_path / "a").exists()


@pytest.mark.parametrize("command", ["export", "rerun"])
@pytest.mark.parametrize(
    ("saved", "damage", "said"),
    [
        ("config.yaml", b"a: [\n", "is not valid YAML: expected the node content"),
        ("config.yaml", b"a: caf\xe9\n", "is not UTF-8 text (invalid continuation byte"),
        ("hydra.yaml", b"a: [\n", "is not valid YAML: expected the node content"),
        ("hydra.yaml", b"hydra: 1\n", "has no hydra.runtime"),
    ],
)
def test_a_damaged_saved_config_of_the_trial_is_one_line_naming_it_writing_nothing(
    swept, tmp_path, command, saved, damage, said
):
    best = load("quadratic", tmp_path).best_trial
    path = Path(best.user_attrs["output_dir"]) / ".hydra" / saved
    path.write_bytes(damage)
    result = hydratune(
        command, swept, *(["--to", "conf/experiment/q.yaml"] * (command == "export"))
    )
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert result.output.startswith(f"cannot {command}: {path} {said}"), result.output
    assert len(result.output.strip().splitlines()) == 1
    assert path.read_bytes() == damage
    assert not (tmp_path / "conf").exists() and not (swept / "rerun").exists()


@pytest.mark.parametrize("damaged", ["multirun.yaml", "optimization_results.yaml"])
@pytest.mark.parametrize(
    "command",
    [["report", "--no-png"], ["steer", "show"], ["rerun"], ["export", "--to", "e/q.yaml"]],
    ids=["report", "steer", "rerun", "export"],
)
def test_a_sweep_file_not_in_utf8_is_said_in_one_line_and_the_rest_of_the_dir_is_read(
    swept, tmp_path, caplog, damaged, command
):
    path = swept / damaged
    path.write_bytes(path.read_bytes() + b"# caf\xe9\n")  # a comment saved as Latin-1
    result = hydratune(command[0], swept, *command[1:])
    assert isinstance(result.exception, SystemExit | None), result.output  # no traceback
    if command[0] == "rerun":  # the study was found: refused for the task, as without damage
        assert "was trained by another app's task" in result.output
    else:
        assert result.exit_code == 0, result.output
    said = f"{path} is not UTF-8 text (invalid continuation byte at byte "
    assert [r.message for r in caplog.records if said in r.message] == [
        f"{said}{len(path.read_bytes()) - 2}); using what else the sweep dir says"
    ]


@pytest.mark.cli
def test_a_rerun_of_another_apps_sweep_is_refused_before_lightning_is_imported(swept, tmp_path):
    # its one line comes at once, not after the 3-5 s import of the task it will not run
    code = "import sys; from hydratune.cli import main\ntry:\n    main()\nfinally:\n"
    code += "    print('lightning loaded:', 'lightning' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code, "rerun", str(swept)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "was trained by another app's task (job 'quadratic')" in done.stderr
    assert done.stdout == "lightning loaded: False\n"


def test_a_report_replaces_its_own_earlier_report(swept, tmp_path):
    for _ in range(2):
        result = hydratune("report", swept, "--no-png", "--out", tmp_path / "r")
        assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.md").read_text().startswith("# hydratune report: quadratic")


def test_an_export_to_a_directory_below_a_file_or_not_yaml_is_one_line_writing_nothing(
    swept, tmp_path
):
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / "conf").mkdir()
    result = hydratune("export", swept, "--to", "conf")
    assert result.exit_code == 2
    said = " ".join(result.output.replace("│", " ").split())
    assert "Invalid value for '--to': file 'conf' is a directory" in said
    for below in ("notes.txt/q_best.yaml", "notes.txt/experiment/q_best.yaml"):
        result = hydratune("export", swept, "--to", below)
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert result.output.strip() == "cannot export: notes.txt is not a directory"
    # no config Hydra can select (best.yaml has no group: its command would be `+=best`)
    for to in ("5", "conf/experiment/best.yml", "best.yaml"):
        result = hydratune("export", swept, "--to", to)
        assert result.exit_code == 2
        assert result.output.startswith(f"cannot export: {to} is not a config Hydra can select")
    assert (tmp_path / "notes.txt").read_text() == "mine\n"
    assert not any((tmp_path / "conf").iterdir()) and not (tmp_path / "5").exists()
    assert not (tmp_path / "best.yaml").exists()


def test_export_writes_the_experiment_and_says_how_to_run_it(swept, tmp_path):
    target = tmp_path / "conf" / "experiment" / "q_best.yaml"
    result = hydratune("export", swept, "--to", target)
    assert result.exit_code == 0, result.output
    # run with the app that swept (here pytest's process; tests/test_template_app.py: an app's)
    app = yaml.safe_load((swept / "optimization_results.yaml").read_text())["app"]
    # +: the quadratic app's defaults list has no experiment group to override
    assert f"{app} --config-dir conf +experiment=q_best" in " ".join(result.output.split())
    assert yaml.safe_load(target.read_text())["x"] == load("quadratic", tmp_path).best_params["x"]


@pytest.mark.parametrize(
    ("to", "said"),
    [
        ("conf/experiment/best,v2.yaml", "experiment=best,v2 is a sweep"),
        ("conf/sp ace/ü best.yaml", "sp ace=ü best does not parse"),
        ("conf/experiment/${x}.yaml", "experiment=${x} is an interpolation"),
    ],
)
def test_an_export_hydra_could_not_select_by_its_name_is_refused_writing_nothing(
    swept, tmp_path, to, said
):
    result = hydratune("export", swept, "--to", to)
    assert result.exit_code == 2
    assert result.output.startswith(f"cannot export: {to} cannot be selected on Hydra's command")
    assert said in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "conf").exists()


def test_export_of_a_sweep_older_than_its_app_record_names_the_app_its_rerun_command_names(
    swept, tmp_path
):
    results = swept / "optimization_results.yaml"
    older = yaml.safe_load(results.read_text())
    del older["app"]  # as an earlier hydratune wrote it, for lightning-hydra-template's app
    older["rerun_command"] = f"python src/train.py --config-path {swept} --config-name best_config"
    results.write_text(yaml.safe_dump(older))
    target = tmp_path / "conf" / "experiment" / "q_best.yaml"
    result = hydratune("export", swept, "--to", target)
    assert result.exit_code == 0, result.output
    assert "python src/train.py --config-dir conf +experiment=q_best" in " ".join(
        result.output.split()
    )


@pytest.mark.slow
def test_rerun_retrains_the_top_trials_over_seeds_and_reports_mean_and_std(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    multirun(TINY_SWEEP, task=train, config_name="train", config_dir=REPO / "conf")
    sweep_dir = tmp_path / "outputs" / "sweeps" / "mlp_digits"
    study = load("mlp_digits", tmp_path)
    before = [(t.number, t.values, t.intermediate_values) for t in study.trials]

    result = hydratune("rerun", sweep_dir, "--top-k", 2, "--seeds", 2)
    assert result.exit_code == 0, result.output
    out = yaml.safe_load((sweep_dir / "rerun" / "rerun_results.yaml").read_text())
    ranked = sorted(study.trials, key=lambda t: -t.value)[:2]  # val/acc is maximised
    configs = out["configurations"]
    assert [c["trial"] for c in configs] == [t.number for t in ranked]
    for config, trial in zip(configs, ranked, strict=True):
        assert config["seeds"] == [42, 43]  # the trial's own seed first
        (first,), (second,) = config["values"]
        assert first == pytest.approx(trial.value, abs=1e-6)  # same seed, same value
        assert config["mean"] == [pytest.approx((first + second) / 2)]
        assert config["std"] == [pytest.approx(abs(first - second) / 2**0.5)]
    assert "mean ± std" in (sweep_dir / "rerun" / "rerun.md").read_text()
    assert f"#{ranked[0].number}" in result.output
    # reruns are not trials: the study is untouched
    after = load("mlp_digits", tmp_path).trials
    assert [(t.number, t.values, t.intermediate_values) for t in after] == before
    # the README's rerun, as a user runs it, prints no Lightning banner: tests/test_docs_commands.py


@pytest.mark.slow
def test_ctrl_c_during_a_rerun_keeps_the_runs_that_finished(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    multirun(TINY_SWEEP, task=train, config_name="train", config_dir=REPO / "conf")
    sweep_dir = tmp_path / "outputs" / "sweeps" / "mlp_digits"
    rerun = start_python(tmp_path, "-m", "hydratune", "rerun", str(sweep_dir), "--seeds", "50")
    said = [rerun.stdout.readline()]
    while said[-1] and not said[-1].startswith("trial #"):  # the first run's line: it finished
        said.append(rerun.stdout.readline())
    assert said[-1], "".join(said)
    rerun.send_signal(signal.SIGINT)  # while the next of its 150 runs trains
    out, _ = rerun.communicate(timeout=120)
    said += out.splitlines()
    assert rerun.returncode == 130, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    finished = [line for line in said if line.startswith("trial #")]
    kept = sweep_dir / "rerun" / "rerun_results.yaml"
    assert f"rerun interrupted by SIGINT: {len(finished)} run(s) finished, kept in {kept}" in out
    configs = yaml.safe_load(kept.read_text())["configurations"]
    assert sum(len(c["values"]) for c in configs) == len(finished) < 150
    assert configs[0]["seeds"][0] == 42  # the best trial's own seed ran first


@pytest.mark.cli
@pytest.mark.parametrize(
    "argv", [["--cfg", "job", "model=cnn"], ["--help"], ["--info", "defaults"]]
)
def test_printing_the_config_or_help_answers_without_importing_lightning(argv, tmp_path):
    """Hydra's inspecting options run no task: the app imports Lightning (seconds of a start)
    only when it will train."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hydratune", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "hydra" in imported and "hydratune.app" in imported
    assert not {"lightning", "torch"} & imported


@pytest.mark.slow
def test_python_dash_m_hydratune_runs_subcommands_and_the_app(swept, tmp_path):
    report = python_m_hydratune(tmp_path, "report", swept, "--no-png")
    assert report.returncode == 0, report.stderr
    assert (swept / "report" / "report.md").is_file()
    app = python_m_hydratune(tmp_path, "--cfg", "job", "model=cnn", "seed=7")
    assert app.returncode == 0, app.stderr
    job = yaml.safe_load(app.stdout)
    assert job["seed"] == 7 and job["model"]["_target_"].endswith("CNNClassifier")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["-m", "sweep=mlp_digits", "hydra.sweeper.n_trials=-1"],
            "hydra.sweeper.n_trials=-1: expected a study total from 1 to 1,000,000,000",
        ),
        (
            ["-m", "sweep=mlp_digits", "model.hiden_dim=choice(1,2)"],
            "'model.hiden_dim' is not a key of the composed config. Did you mean model.hidden_dim?",
        ),
        (
            ["model._target_=hydratune.models.MLP", "trainer.max_epochs=1"],
            "model._target_: hydratune.models moved to hydratune.training.models",
        ),
        (
            ["objective.metric=val/nope", "trainer.max_epochs=1", "logger=none"],
            "objective.metric 'val/nope' was not logged by the end of the first validation epoch",
        ),
    ],
    ids=["setting", "key", "moved-target", "metric"],
)
def test_a_config_error_is_one_line_naming_the_key_and_the_fix(tmp_path, argv, line):
    done = python_m_hydratune(tmp_path, *argv)
    assert done.returncode == 1
    assert line in done.stderr
    assert "Traceback" not in done.stderr and 'File "' not in done.stderr, done.stderr
    assert not (tmp_path / "outputs/hydratune.journal").exists()


@pytest.mark.slow
def test_a_sweep_stopped_by_failing_trials_ends_with_its_reason_not_the_sweepers_frames(tmp_path):
    argv = ["-m", "model=mlp", "model.n_layers=choice(1,2)", "model.optimizer.lr=-1"]
    argv += ["trainer.max_epochs=1", "hydra.sweeper.n_trials=2", "hydra.sweeper.max_failure_rate=0"]
    done = python_m_hydratune(tmp_path, *argv, timeout=300)
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    # the trial's own error is logged with its traceback as it fails; the end is the reason
    assert "trial #0 failed: ValueError: Invalid learning rate: -1" in said
    end = said[said.index("sweep stopped:") :]
    assert "trial #0: ValueError: Invalid learning rate: -1" in end
    assert "Traceback" not in end and 'File "' not in end, end
    assert 'sweeper.py", line' not in said, said


@pytest.mark.parametrize(
    ("storage", "said"),
    [
        ("postgresql:/db", "two slashes"),
        ("postgresql://tuner:pw@db:notaport/hydratune", "does not parse as a database URL"),
        ("postgres://tuner:pw@db/hydratune", "write postgresql://"),  # Heroku's spelling
    ],
)
def test_a_storage_that_does_not_parse_is_one_error_naming_the_fix(tmp_path, storage, said):
    result = hydratune("report", "--storage", storage, "--study", "s", "--out", tmp_path)
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)  # an error message, not a traceback
    assert said in result.output and len(result.output.splitlines()) == 1
    assert result.output.startswith(f"error: '{storage.replace(':pw@', ':***@')}'")
    assert "hydra.sweeper" not in result.output  # the setting given here is --storage
    assert ":pw@" not in result.output


@pytest.mark.parametrize(
    "command",
    [["report"], ["export"], ["rerun"], ["serve"], ["steer", "show"]],
    ids=lambda c: c[0],
)
@pytest.mark.parametrize(
    ("options", "sweep_dir", "said"),
    [
        (["--storage", "data.csv"], "{swept}", "data.csv' exists and is not an Optuna journal"),
        (["--study", "nope"], "{swept}", "no study 'nope' in "),
        (["--storage", "postgresql:/db"], "{swept}", "'postgresql:/db' looks like a URL but "),
        ([], "no/such/dir", "no directory no/such/dir; give the sweep's dir"),
    ],
    ids=["csv", "study", "url", "dir"],
)
def test_a_sweep_a_command_cannot_open_is_one_line_saying_why_and_nothing_is_written(
    swept, tmp_path, command, options, sweep_dir, said
):
    (tmp_path / "data.csv").write_bytes(b"a,b\n1,2\n")
    journal = tmp_path / "outputs" / "hydratune.journal"
    before = journal.read_bytes()
    # options first: steer reads every word after its sweep dir as its verb's
    result = hydratune(command[0], *options, sweep_dir.format(swept=swept), *command[1:])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert result.output.startswith("error: ") and said in result.output, result.output
    assert len(result.output.splitlines()) == 1  # no usage lines, no box wrapping its paths
    assert (tmp_path / "data.csv").read_bytes() == b"a,b\n1,2\n"
    assert journal.read_bytes() == before
    assert not (swept / command[0]).exists()


@pytest.mark.parametrize("command", ["export", "rerun"])
def test_export_or_rerun_without_the_sweep_dir_says_it_needs_it_in_one_line(
    swept, tmp_path, command
):
    result = hydratune(command, "--storage", "outputs/hydratune.journal", "--study", "quadratic")
    assert result.exit_code == 2
    assert result.output == f"error: {command} needs the sweep dir, for its trials' configs\n"


def test_init_where_nothing_can_be_written_is_one_error(tmp_path):
    result = hydratune("init", "/proc/hydratune-project")
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "cannot create the project in /proc/hydratune-project" in result.output


@pytest.mark.cli
def test_init_on_a_disk_with_no_room_is_one_error_and_leaves_nothing(tmp_path):
    done = python_m_hydratune(tmp_path, "init", "project", file_size_limit=300)
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr, done.stderr
    said = " ".join(done.stderr.split())
    assert said.startswith("cannot create the project in project:") and "File too large" in said
    assert not done.stdout
    assert list(tmp_path.iterdir()) == []  # what it wrote is taken back: init can run again


def test_report_refuses_a_top_k_below_1(swept):
    result = hydratune("report", swept, "--no-png", "--top-k", "-5")
    assert result.exit_code == 2
    assert "--top-k" in result.output
    assert not (swept / "report").exists()
