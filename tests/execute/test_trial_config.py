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
        _assert_equal(
            factory.make(overrides, job_num=5), loader.load_sweep_config(master, overrides)
        )


# (command line, a trial's overrides: the command line's fixed ones, then its parameters)
COMMAND_LINES = {
    "values and sweeps": (
        (TEST_CONF, "quadratic"),
        ["shape=steep", "y=2", "x=interval(-1, 1)", "kind=a,b"],
        ["shape=steep", "y=2", "x=0.25", "kind=b"],
    ),
    "the bundled sweep": (
        (REPO / "conf", "train"),
        ["sweep=mlp_digits", "trainer.max_epochs=2", "model.dropout=0.1"],
        ["sweep=mlp_digits", "trainer.max_epochs=2", "model.dropout=0.1", "model.hidden_dim=64"],
    ),
}


@pytest.mark.parametrize("case", list(COMMAND_LINES))
def test_a_trial_with_the_command_lines_choices_is_built_from_the_master_as_hydra_composes_it(
    case,
):
    (config_dir, config_name), command_line, overrides = COMMAND_LINES[case]
    with composed(config_dir, config_name, command_line) as (factory, loader, master):
        # built from the master: no second composition
        assert factory._master_as_job(_groups(factory, overrides)) is not None
        _assert_equal(
            factory.make(overrides, job_num=5), loader.load_sweep_config(master, overrides)
        )


@pytest.mark.parametrize(
    ("command_line", "overrides"),
    [
        (["+extra=1", "~fixed"], ["+extra=1", "~fixed", "x=0.5"]),  # applied twice, they fail
        (["kind=a,b"], ["kind=b", "shape=steep"]),  # a choice the command line did not make
    ],
)
def test_other_command_lines_are_composed_again(command_line, overrides):
    with composed(TEST_CONF, "quadratic", command_line) as (factory, loader, master):
        assert factory._master_as_job(_groups(factory, overrides)) is None
        _assert_equal(
            factory.make(overrides, job_num=5), loader.load_sweep_config(master, overrides)
        )


def _groups(factory, overrides):
    parsed = factory._parser.parse_overrides(overrides)
    return [o for o in parsed if factory.is_group(o.key_or_group)]


def _assert_equal(fast, slow):
    with open_dict(slow.hydra):
        slow.hydra.job.num = slow.hydra.job.id = 5
    assert OmegaConf.to_container(fast) == OmegaConf.to_container(slow)
    # Values resolve the same (timestamps included: both share the master's cache).
    assert OmegaConf.to_yaml(fast, resolve=False) == OmegaConf.to_yaml(slow, resolve=False)


LINES = [
    # the forms read without Hydra's parser: numbers and identifiers
    *["x=0", "x=1", "x=-3", "x=0.25", "x=-0.5", "x=1e-05", "x=2.5E+3", "x=12345678901234567890"],
    *["model.lr=0.001", "model=cnn", "a_b.c_d=relu", "kind=_b"],
    # the rest, which must go to Hydra's parser and keep its reading
    *["x=True", "x=false", "x=NULL", "x=inf", "x=NaN", "x=1_000", "x=.5", "x=1.", "x=007"],
    *["x='0.25'", "x=a-b", "+x=1", "~x", "++x=1", "x=${y}", "x=[1,2]", "x=choice(1,2)"],
    *["model/opt=adam", "x=a b", "x=1.0.0", "db@pkg=mysql"],
    *["x=-nan", "x=é", "x=1=2"],
]


def _read(parse, line):
    try:
        override = parse(line)
    except Exception as error:
        return type(error)
    return repr(override), type(override.value())  # repr: nan equals nan


@pytest.fixture(scope="module")
def factory():
    """One factory for the tests that only read overrides with it."""
    with composed(TEST_CONF, "quadratic") as (factory, _, _):
        return factory


@pytest.mark.parametrize("line", LINES)
def test_a_trials_override_is_read_as_hydra_reads_it(factory, line):
    assert _read(factory.parse, line) == _read(factory._parser.parse_override, line)


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


def test_a_job_run_now_reuses_the_hydra_node_and_builds_what_a_fresh_build_gives():
    """``build(reuse_hydra=True)``: a launcher's job, run before the next is built."""
    subdir = "hydra.sweep.subdir=${hydra.job.num}_${x}"  # from hydra into a trial's own key
    with composed(TEST_CONF, "quadratic", [subdir]) as (factory, _, _):
        jobs = [
            factory.job(["x=1", "kind=b"], 0, {"RUN_ID": "a", "ONLY_FIRST": "1"}),
            factory.job(["x=2"], 1, {"RUN_ID": "b"}),
            factory.job(["x=3", "shape=steep"], 2),  # another base
            factory.job(["x=4"], 3),
        ]
        for job in jobs:
            reused = job.build(reuse_hydra=True)
            assert OmegaConf.to_yaml(reused) == OmegaConf.to_yaml(job.build())
            assert reused.hydra.sweep.subdir == f"{job.number}_{job.number + 1}"
            assert dict(reused.hydra.job.env_set) == job.env
        assert reused.hydra is jobs[1].build(reuse_hydra=True).hydra  # not unpickled again


def test_a_sweep_with_hydra_callbacks_gets_a_fresh_hydra_node_for_each_job():
    """A Hydra callback may keep a job's config after the job: it must stay that job's."""
    callback = "+hydra.callbacks.log._target_=hydra.experimental.callbacks.LogJobReturnCallback"
    with composed(TEST_CONF, "quadratic", [callback]) as (factory, _, _):
        first = factory.job(["x=1"], 0).build(reuse_hydra=True)
        factory.job(["x=2"], 1).build(reuse_hydra=True)
        assert first.hydra.job.num == 0


def test_keys_are_checked_against_every_group_option():
    with composed(REPO / "conf", "train") as (factory, _, _):
        factory.check_keys(["model.channels"], ["model=cnn"])  # only cnn has channels
        with pytest.raises(UnknownKeyError, match="Did you mean model.dropout"):
            factory.check_keys(["model.drpout"], ["model=cnn"])
