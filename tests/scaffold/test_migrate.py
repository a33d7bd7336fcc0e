"""``hydratune migrate``: it rewrites only a hydra-optuna-sweeper config it has proved is one,
says only what is true for the version the config was written for (1.3 or main/1.4), and never
leaves a file half written or changed beyond the intended lines."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from helpers import small_disk
from hydratune.cli import app
from hydratune.scaffold.migrate import MOTPE_NOTE, RANGE_NOTE, STORAGE_NOTE

RUNNER = CliRunner()

HEAD_13 = (
    "defaults:\n"
    "  - override /hydra/sweeper: optuna\n"
    "hydra:\n"
    "  sweeper:\n"
    "    _target_: hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper\n"
    "    storage: null\n"
)
# 1.3's deprecated search_space: the file says it was written for 1.3
UPSTREAM_13 = HEAD_13 + (
    "    search_space:\n      lr:\n        type: float\n        low: 0.001\n        high: 0.1\n"
)
# the params form (lightning-hydra-template's): which version, --from says
PARAMS_13 = HEAD_13 + "    params:\n      x: range(1, 4)\n"


def migrate(*args: object):
    return RUNNER.invoke(app, ["migrate", *(str(a) for a in args)])


def write(tmp_path, text: str, name: str = "sweep.yaml"):
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def test_a_13_config_gets_its_range_note_and_a_14_config_does_not(tmp_path):
    old = write(tmp_path, PARAMS_13, "old.yaml")
    assert migrate(old, "--from", "1.3").exit_code == 0
    assert f"x: range(1, 4)  {RANGE_NOTE}" in old.read_text()

    main = PARAMS_13.replace(
        "    params:\n", "    sampler:\n      constant_liar: false\n    params:\n"
    )
    new = write(tmp_path, main, "new.yaml")
    result = migrate(new)
    assert result.exit_code == 0, result.output
    assert "x: range(1, 4)\n" in new.read_text()  # main's range excludes its stop: no note
    assert "1.3 included" not in new.read_text() + result.output


def test_motpe_which_optuna_removed_becomes_tpe_saying_so(tmp_path):
    # 1.3's multi-objective example selects motpe; Optuna 4 removed it, TPE takes several
    motpe = "  - override /hydra/sweeper/sampler: motpe\n"
    config = write(tmp_path, HEAD_13.replace("defaults:\n", f"defaults:\n{motpe}", 1))
    result = migrate(config)
    assert result.exit_code == 0, result.output
    assert "hydra/sweeper/sampler: motpe -> tpe" in result.output
    text = config.read_text()
    assert f"  - override /hydra/sweeper/sampler: tpe  {MOTPE_NOTE}\n" in text
    defaults = yaml.safe_load(text)["defaults"]
    assert {"override /hydra/sweeper/sampler": "tpe"} in defaults


def test_a_config_that_does_not_tell_its_version_is_refused_until_told(tmp_path):
    text = "defaults:\n  - override /hydra/sweeper: optuna\nhydra:\n  sweeper:\n    params:\n"
    path = write(tmp_path, text + "      x: range(1, 4)\n")
    result = migrate(path)
    assert result.exit_code == 2
    assert "rerun with --from 1.3 or --from 1.4" in result.output
    assert path.read_text() == text + "      x: range(1, 4)\n"
    assert migrate(path, "--from", "1.4").exit_code == 0
    assert "hydratune\n" in path.read_text() and RANGE_NOTE not in path.read_text()


def test_crlf_line_endings_are_kept(tmp_path):
    path = write(tmp_path, UPSTREAM_13.replace("\n", "\r\n"))
    assert migrate(path).exit_code == 0
    data = path.read_bytes()
    assert data.count(b"\r\n") == data.count(b"\n")  # every line still ends in CRLF
    assert b"override /hydra/sweeper: hydratune\r\n" in data
    assert b"lr: tag(log, interval(0.001, 0.1))" not in data  # log unset: a plain interval
    assert yaml.safe_load(data)["hydra"]["sweeper"]["params"]["lr"] == "interval(0.001, 0.1)"


def test_a_linked_config_is_migrated_where_it_lies_and_stays_linked(tmp_path):
    """A config linked into the project from a shared repository: the file it names is
    rewritten, and the link is still a link to it."""
    shared = write(tmp_path, UPSTREAM_13, "shared.yaml")
    (tmp_path / "conf").mkdir()
    link = tmp_path / "conf" / "sweep.yaml"
    link.symlink_to(shared)
    result = migrate(link)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.resolve() == shared
    assert "override /hydra/sweeper: hydratune\n" in shared.read_text()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["conf", "shared.yaml", "sweep.yaml"]


def test_optuna_custom_stays_optuna_custom(tmp_path):
    text = (
        "defaults:\n  - override /hydra/sweeper: optuna-custom\nhydra:\n  sweeper:\n"
        "    n_trials: 3\n"
    )
    path = write(tmp_path, text)
    result = migrate(path)
    assert result.exit_code == 0 and "nothing to change" in result.output
    assert path.read_text() == text


def test_the_users_comments_stay_and_hydratunes_notes_follow_them(tmp_path):
    text = (
        PARAMS_13.replace("storage: null\n", "storage: null   # my storage comment\n")
        + "      y: range(0, 9, 3)  # my comment about y\n"
    )
    path = write(tmp_path, text)
    assert migrate(path, "--from", "1.3").exit_code == 0
    lines = path.read_text().splitlines()
    assert f"    storage: null   # my storage comment  {STORAGE_NOTE}" in lines
    assert f"      y: range(0, 9, 3)  # my comment about y  {RANGE_NOTE}" in lines
    assert yaml.safe_load(path.read_text())["hydra"]["sweeper"]["params"]["y"] == "range(0, 9, 3)"
    again = migrate(path, "--from", "1.3")  # the notes are seen: none is added twice
    assert again.exit_code == 0 and "nothing to change" in again.output


def test_a_hash_inside_a_quoted_string_on_a_range_line_stays_in_the_string(tmp_path):
    line = "      w: 'range(1, 4) # not a comment'  # a comment\n"
    path = write(tmp_path, PARAMS_13 + line)
    assert migrate(path, "--from", "1.3").exit_code == 0
    params = yaml.safe_load(path.read_text())["hydra"]["sweeper"]["params"]
    assert params["w"] == "range(1, 4) # not a comment"


def test_an_anchor_inside_search_space_is_refused_with_the_file_untouched(tmp_path):
    text = UPSTREAM_13.replace("      lr:\n", "      lr: &lr\n") + "copy: *lr\n"
    path = write(tmp_path, text)
    result = migrate(path)
    assert result.exit_code == 2
    assert "the file is unchanged" in result.output and "undefined alias" in result.output
    assert path.read_bytes() == text.encode()


def test_a_search_space_that_is_not_the_sweepers_stays_as_the_user_wrote_it(tmp_path):
    # the model's own search_space, above the sweeper's in the file: hydra-optuna-sweeper
    # reads hydra.sweeper.search_space alone, and so does migrate
    mine = "model:\n  # my model's own space\n  search_space:\n    width: {type: int, low: 8}\n"
    path = write(tmp_path, mine + UPSTREAM_13)
    result = migrate(path)
    assert result.exit_code == 0, result.output
    migrated = yaml.safe_load(path.read_text())
    assert migrated["model"] == {"search_space": {"width": {"type": "int", "low": 8}}}
    assert migrated["hydra"]["sweeper"]["params"] == {"lr": "interval(0.001, 0.1)"}
    assert path.read_text().startswith(mine)


def test_a_search_space_only_elsewhere_is_not_converted_nor_named(tmp_path):
    text = HEAD_13 + "    n_trials: 3\nmodel:\n  search_space:\n    blocks: [conv, skip]\n"
    path = write(tmp_path, text)
    result = migrate(path)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(path.read_text())["model"] == {
        "search_space": {"blocks": ["conv", "skip"]}
    }


def test_a_sweeper_config_extending_optuna_extends_hydratune(tmp_path):
    text = (
        "# @package hydra.sweeper\ndefaults:\n  - optuna  # the plugin's own\n"
        "study_name: mysweep\nn_trials: 3\nsearch_space:\n  x: {type: float, low: 0.0, high: 1.0}\n"
    )
    path = write(tmp_path, text)
    result = migrate(path)
    assert result.exit_code == 0, result.output
    migrated = yaml.safe_load(path.read_text())
    assert (
        migrated["defaults"] == ["hydratune"]
        and "  - hydratune  # the plugin's own\n" in path.read_text()
    )
    assert migrated["params"] == {"x": "interval(0.0, 1.0)"} and "search_space" not in migrated
    assert "nothing to change" in migrate(path).output


@pytest.mark.parametrize(
    "params",
    ["    params: {x: choice(1, 2)}\n", "    params:\n      x: choice(1, 2)\n"],
    ids=["flow", "block"],
)
def test_search_space_beside_params_is_refused_as_1_3_searched_params_alone(tmp_path, params):
    text = UPSTREAM_13 + params
    path = write(tmp_path, text)
    result = migrate(path)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "hydra.sweeper.params and hydra.sweeper.search_space are both set" in lines[0]
    assert "as in hydra-optuna-sweeper 1.3" in lines[0]
    assert path.read_bytes() == text.encode()


def test_no_config_is_written_with_a_key_twice_which_hydra_cannot_load(tmp_path):
    text, key = UPSTREAM_13 + "    n_trials: 3\n    n_trials: 5\n", "n_trials"
    path = write(tmp_path, text)
    result = migrate(path)
    assert result.exit_code == 2
    assert f"found duplicate key {key}" in result.output, result.output
    assert "the file is unchanged" in result.output
    assert path.read_bytes() == text.encode()


def run_migrate(path, *, file_size_limit: int | None = None) -> subprocess.CompletedProcess:
    """``python -m hydratune migrate PATH`` as a user runs it, its files optionally capped
    (``small_disk``: a write past the limit fails with EFBIG, as on a full disk)."""
    return subprocess.run(
        [sys.executable, "-m", "hydratune", "migrate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        **small_disk(file_size_limit),
    )


@pytest.mark.cli
def test_a_full_disk_leaves_the_file_as_it_was(tmp_path):
    path = write(tmp_path, UPSTREAM_13)
    done = run_migrate(path, file_size_limit=64)  # the rewrite is ~500 bytes
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot write" in done.stderr and "the file is unchanged" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert path.read_bytes() == UPSTREAM_13.encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.yaml"]  # no temporary left


@pytest.mark.cli
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(range(256)) * 4, "is not a text file"),
        (b"a,b\n1,2\n", "is not a hydra-optuna-sweeper config"),
        (b"x: [1, 2\n", "is not YAML"),
        (b"defaults: 5\nhydra:\n  sweeper:\n    storage: null\n", "defaults must be a list"),
    ],
)
def test_a_binary_file_or_a_non_config_gets_a_one_line_error(tmp_path, content, message):
    path = tmp_path / "input.yaml"
    path.write_bytes(content)
    done = run_migrate(path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and not done.stdout, done.stdout + done.stderr
    assert path.read_bytes() == content
