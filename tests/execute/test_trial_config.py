"""Trial configs built from a cached composition equal what Hydra composes from scratch."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf, open_dict

from helpers import REPO, TEST_CONF, composed
from hydratune.errors import UnknownKeyError


@pytest.mark.parametrize(
    ("config_dir", "config_name", "overrides"),
    [
        (TEST_CONF, "quadratic", ["x=0.25", "kind=b", "shape=steep", "+extra=1", "~fixed"]),
        (REPO / "conf", "train", ["model=cnn", "model.dropout=0.3", "trainer.max_epochs=2"]),
        (REPO / "conf", "train", ["data=wine", "model.hidden_dim=16", "seed=3"]),
    ],
)
def test_trial_config_equals_hydras_own_composition(config_dir, config_name, overrides):
    with composed(config_dir, config_name) as (factory, loader, master):
        fast = factory.make(overrides, job_num=5)
        slow = loader.load_sweep_config(master, overrides)
        with open_dict(slow.hydra):
            slow.hydra.job.num = slow.hydra.job.id = 5
        assert OmegaConf.to_container(fast) == OmegaConf.to_container(slow)
        # Values resolve the same (timestamps included: both share the master's cache).
        assert OmegaConf.to_yaml(fast, resolve=False) == OmegaConf.to_yaml(slow, resolve=False)


def test_each_set_of_group_choices_is_composed_once():
    with composed(TEST_CONF, "quadratic") as (factory, _, _):
        for x in range(5):
            factory.make([f"x={x}", "shape=steep"], job_num=x)
            factory.make([f"x={x}"], job_num=x)
        assert len(factory._bases) == 2


def test_copies_are_independent():
    with composed(TEST_CONF, "quadratic") as (factory, _, _):
        first = factory.make(["x=1"], job_num=0)
        second = factory.make(["x=2"], job_num=1)
        assert (first.x, second.x) == (1, 2)
        assert (first.hydra.job.num, second.hydra.job.num) == (0, 1)


def test_keys_are_checked_against_every_group_option():
    with composed(REPO / "conf", "train") as (factory, _, _):
        factory.check_keys(["model.channels"], ["model=cnn"])  # only cnn has channels
        with pytest.raises(UnknownKeyError, match="Did you mean model.dropout"):
            factory.check_keys(["model.drpout"], ["model=cnn"])
