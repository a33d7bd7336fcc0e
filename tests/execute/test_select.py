"""The launcher contract: a selected launcher is driven by hydratune, or refused by name."""

from __future__ import annotations

import pytest

from helpers import TEST_CONF
from hydratune.errors import StudyConfigError
from hydratune.execute.select import BASIC, SUBMITIT_SLURM, SUPPORTED, plan_launch


def test_a_launcher_hydratune_does_not_drive_is_refused_before_any_trial(sweep, tmp_path):
    assert (TEST_CONF / "hydra/launcher/ray_cluster_plugin.yaml").is_file()
    with pytest.raises(StudyConfigError) as error:
        sweep(["hydra/launcher=ray_cluster_plugin", "hydra.sweeper.n_trials=2"])
    message = str(error.value)
    assert "hydra/launcher=ray_cluster_plugin" in message
    assert "RayLocalLauncher" in message
    for name in SUPPORTED:
        assert f"hydra/launcher={name}" in message
    assert "hydra/launcher=hydratune_ray" in message.split("For Ray")[1]
    assert not (tmp_path / "outputs").exists()  # no study, no trial: nothing ran locally
    assert not (tmp_path / "sweeps").exists()


def test_submitit_slots_come_from_n_jobs_or_a_set_array_parallelism():
    from omegaconf import OmegaConf

    def config(launcher: dict) -> object:
        return OmegaConf.create({"hydra": {"launcher": launcher, "runtime": {"choices": {}}}})

    slurm = {"_target_": SUBMITIT_SLURM, "array_parallelism": 256}
    assert plan_launch(config(slurm), n_jobs=3).slots == 3
    assert plan_launch(config(slurm), n_jobs=1).slots == 1  # the plugin's default is no choice
    assert plan_launch(config({**slurm, "array_parallelism": 4}), n_jobs=1).slots == 4
    assert plan_launch(config({"_target_": BASIC}), n_jobs=1).kind == "basic"
    assert plan_launch(config({"_target_": SUBMITIT_SLURM}), n_jobs=2).shares_storage


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, {"no_requeue": True}),
        ({"comment": "x"}, {"comment": "x", "no_requeue": True}),
        ({"requeue": True}, {"requeue": True}),  # the user keeps Slurm's requeue
    ],
)
def test_slurm_jobs_are_not_requeued_by_slurm_unless_asked(extra, expected):
    from omegaconf import OmegaConf

    from hydratune.execute.submitit_launcher import executor_parameters

    settings = OmegaConf.create({"timeout_min": 5, "additional_parameters": extra})
    assert executor_parameters(settings, "slurm")["slurm_additional_parameters"] == expected
    assert "local_additional_parameters" not in executor_parameters(
        OmegaConf.create({"timeout_min": 5}), "local"
    )
