"""Where a sweep's files go and what they show: HTML in parameter values stays text in the
Markdown report, and an export never lands in an installed package."""

from __future__ import annotations

import pytest

from helpers import REPO, TINY_SWEEP, load, multirun
from hydratune.insight.export import default_target, in_installed_package
from hydratune.insight.report import write_report
from hydratune.training.task import train

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def test_html_in_parameter_values_is_text_in_the_markdown_report(sweep, tmp_path):
    sweep(
        [
            "hydra.sweeper.n_trials=4",
            f"kind=choice('{SCRIPT}', '{IMG}', b)",
            f"hydra.sweeper.enqueue=[{{kind: '{SCRIPT}'}}, {{kind: '{IMG}'}}]",
        ]
    )
    study = load("quadratic", tmp_path)
    assert {SCRIPT, IMG} <= {t.params["kind"] for t in study.trials}
    files = write_report(study, tmp_path / "report", png=False, top_k=10)
    markdown = files.markdown.read_text()
    assert "<script" not in markdown and "<img" not in markdown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown


def test_the_package_conf_is_installed_and_a_project_conf_is_not(tmp_path):
    assert in_installed_package(REPO / "conf")  # src/hydratune/conf links to it
    assert in_installed_package(REPO / "src" / "hydratune" / "conf" / "experiment")
    assert not in_installed_package(tmp_path / "conf")


def sweep_the_bundled_configs(tmp_path) -> None:
    """A Lightning sweep of hydratune's own configs from ``tmp_path``, exporting its best; it
    must add nothing to the package's ``conf/experiment`` (removed again if it did)."""
    bundled = REPO / "conf" / "experiment"
    before = set(bundled.iterdir())
    try:
        multirun(
            [*TINY_SWEEP, "hydra.sweeper.export_best=true", "hydra.sweeper.report=false"],
            task=train,
            config_name="train",
            config_dir=REPO / "conf",
        )
        assert set(bundled.iterdir()) == before
    finally:
        for added in set(bundled.iterdir()) - before:  # never leave a file in the repository
            added.unlink()


@pytest.mark.slow
def test_a_sweep_of_the_bundled_configs_exports_into_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep_the_bundled_configs(tmp_path)
    exported = tmp_path / "conf" / "experiment" / "mlp_digits_best.yaml"
    assert exported.is_file()
    # the header says how to run it: the project's conf/ is not the app's, so --config-dir
    # relative to where it ran, before the overrides (a user's own ones can follow)
    assert "hydratune --config-dir conf experiment=mlp_digits_best\n" in exported.read_text()
    study = load("mlp_digits", tmp_path)
    sweep_dir = tmp_path / "outputs" / "sweeps" / "mlp_digits"
    assert default_target(study, sweep_dir) == tmp_path / "conf" / "experiment" / exported.name


@pytest.mark.slow
def test_a_sweep_in_hydratunes_checkout_exports_into_its_sweep_dir(tmp_path, monkeypatch):
    """From the checkout's root (``make sweep``), ``./conf`` is the package's conf: an export
    there would shadow every project's export of the same name."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").symlink_to(REPO / "conf")  # the working directory's conf/ is hydratune's
    sweep_the_bundled_configs(tmp_path)
    sweep_dir = tmp_path / "outputs" / "sweeps" / "mlp_digits"
    exported = sweep_dir / "conf" / "experiment" / "mlp_digits_best.yaml"
    command = "hydratune --config-dir outputs/sweeps/mlp_digits/conf experiment=mlp_digits_best"
    assert f"{command}\n" in exported.read_text()
    assert default_target(load("mlp_digits", tmp_path), sweep_dir) == exported
