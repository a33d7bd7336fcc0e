"""The database password, audited: after a sweep, its report, export, rerun and a second run of
the same command, with the password in each URL form, no file under the project and no console
line holds it; the commands that reopen the study read it from the environment.

The libpq form, which nothing masks, runs the README's Lightning sweep and every command; the
other forms sweep the quadratic test app. The URL reaches Hydra's files, the sweep's lines and
the report, which any app's sweep writes; Lightning's training never sees it, and each process
that imports Lightning costs about 10 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from helpers import APPS, TINY_SWEEP

pytestmark = pytest.mark.postgres


def hydratune(cwd: Path, *args: str, env: dict[str, str] | None = None, ok: bool = True) -> str:
    """``python -m hydratune *args``: its console output (stdout and stderr)."""
    return python(cwd, "-m", "hydratune", *args, env=env, ok=ok)


def python(cwd: Path, *argv: str, env: dict[str, str] | None = None, ok: bool = True) -> str:
    """``python *argv``: its console output (stdout and stderr)."""
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert (done.returncode == 0) == ok, output[-4000:]
    return output


def files_under(root: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def url_forms(url: str) -> dict[str, tuple[str, str]]:
    """The README's plain URL with the password as user:pw@, as libpq's ?password= and as an
    ${oc.env:PGPASSWORD} interpolation; each with its password."""
    head, rest = url.split("://")
    credentials, host = rest.split("@")
    user, password = credentials.split(":")
    return {
        "userinfo": (url, password),
        "libpq": (f"{head}://{user}@{host}?password={password}", password),
        "env": (f"{head}://{user}:${{oc.env:PGPASSWORD}}@{host}", password),
    }


@pytest.mark.parametrize("form", ["userinfo", "libpq", "env"])
def test_no_file_or_console_line_holds_the_database_password(tmp_path, postgres_url, form):
    url, password = url_forms(postgres_url)[form]
    study = f"audit_{form}"
    sweep_dir = tmp_path / "outputs" / "sweeps" / study
    if form == "libpq":
        app = ["-m", "hydratune", "-m", *TINY_SWEEP, "hydra.sweeper.report_png=false"]
        app.append("hydra.sweeper.export_best=true")  # into this project's conf/
    else:  # no export: the test app's would go to its own conf/, in this repository
        app = [str(APPS / "quadratic_app.py"), "-m", f"hydra.sweep.dir={sweep_dir}"]
    sweep = [
        *app,
        "hydra.sweeper.n_trials=2",
        f"hydra.sweeper.storage='{url}'",
        f"hydra.sweeper.study_name={study}",
    ]
    # the sweep itself has the password only where the URL has it
    in_env = {"PGPASSWORD": password} if form == "env" else {}
    console = [python(tmp_path, *sweep, env=in_env)]
    assert (sweep_dir / "0" / ".hydra" / "hydra.yaml").is_file()
    written = yaml.safe_load((sweep_dir / "multirun.yaml").read_text())["hydra"]["sweeper"]
    if form == "env":
        assert written["storage"] == url  # the interpolation as written, unresolved

    # The report reopens the study without the password on disk: libpq reads PGPASSWORD, or
    # ~/.pgpass (here through PGPASSFILE)
    if form == "libpq":
        passfile = tmp_path.parent / f"{form}.pgpass"
        passfile.write_text(f"*:*:*:*:{password}\n")
        passfile.chmod(0o600)
        reopen = {"PGPASSFILE": str(passfile)}
    else:
        reopen = {"PGPASSWORD": password}
    if form == "userinfo":  # without the password in this shell: said how to give it
        console.append(hydratune(tmp_path, "report", str(sweep_dir), "--no-png", ok=False))
        assert "PGPASSWORD" in console[-1]
    console.append(hydratune(tmp_path, "report", str(sweep_dir), "--no-png", env=reopen))
    assert (sweep_dir / "report" / "report.md").is_file()
    if form == "libpq":  # the form nothing was masked in: every command
        export = tmp_path / "exported" / "experiment" / "best.yaml"
        console.append(
            hydratune(tmp_path, "export", str(sweep_dir), "--to", str(export), env=reopen)
        )
        console.append(
            hydratune(tmp_path, "rerun", str(sweep_dir), "--top-k", "1", "--seeds", "1", env=reopen)
        )
        assert export.is_file() and (sweep_dir / "rerun" / "rerun_results.yaml").is_file()
        assert (tmp_path / "conf" / "experiment" / f"{study}_best.yaml").is_file()

    if form == "libpq":  # the same command again: the study is complete, nothing is written
        before = files_under(tmp_path)
        console.append(python(tmp_path, *sweep, env=in_env))
        assert files_under(tmp_path) == before
        assert "nothing to run" in console[-1]

    leaks = [str(p) for p in files_under(tmp_path) if password.encode() in p.read_bytes()]
    assert not leaks, f"password written to {leaks}"
    assert not [out for out in console if password in out]


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher", ["submitit_local", pytest.param("submitit_slurm", marks=pytest.mark.slurm)]
)
def test_submitit_jobs_get_the_password_from_the_environment_never_from_a_file(
    tmp_path, postgres_url, launcher, request
):
    """submitit pickles each job's config and the sweep's state into <trial dir>/.submitit
    (mode 0644, on a shared filesystem): with the password in the URL on the command line,
    the jobs still reach the database, and no file (pickles included) holds the password."""
    from helpers import REPO, start_quadratic_app
    from hydratune.storage import open_storage

    if launcher == "submitit_slurm":
        request.getfixturevalue("slurm_cluster")
    password = url_forms(postgres_url)["userinfo"][1]
    sweep = start_quadratic_app(
        tmp_path,
        f"hydra/launcher={launcher}",
        "hydra.launcher.timeout_min=5",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=3",
        "curve_steps=2",  # each job opens the study to report its curve
        f"hydra.sweeper.storage={postgres_url}",
        f"hydra.sweeper.study_name=pickled_{launcher}",
        # the job unpickles the app's task, which imports the tests' helpers.py
        env={
            "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])
        },
    )
    console, _ = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, console[-4000:]
    study = optuna.load_study(study_name=f"pickled_{launcher}", storage=open_storage(postgres_url))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert all(t.intermediate_values for t in study.trials)  # reported from inside the jobs
    pickles = list(tmp_path.rglob(".submitit/*.pkl"))
    assert len(pickles) >= 6  # each job's submitted and result pickles
    leaks = [str(p) for p in files_under(tmp_path) if password.encode() in p.read_bytes()]
    assert not leaks, f"password written to {leaks}"
    assert password not in console
