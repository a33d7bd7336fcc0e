"""Architecture spaces: blocks of variable count and cells of edge operations, searched as
conditional parameters, handed to the model as one list, refused before any trial when they
cannot work."""

from __future__ import annotations

import subprocess
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from helpers import hydratune_here, load
from hydratune.space.architecture import check_architecture
from hydratune.space.grammar import SearchSpaceError, make_parser
from hydratune.space.search_space import parse_search_space
from hydratune.training.models import CNNClassifier, MLPClassifier

LAYERS = {"depth": "range(1, 4)", "each": {"width": "choice(16, 32)", "dropout": "interval(0, 1)"}}
CELL = {"nodes": 4, "ops": ["conv3x3", "skip", "none"], "edges": {"e0-3": ["conv3x3", "skip"]}}


def test_block_k_is_searched_only_while_the_depth_exceeds_k_and_becomes_one_list():
    space = parse_search_space({}, [], blocks={"model.layers": LAYERS})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    depths = set()
    for _ in range(12):
        trial = study.ask()
        params = space.suggest(trial)
        depth = params["model.layers.depth"]
        depths.add(depth)
        assert sorted(params) == sorted(
            ["model.layers.depth"]
            + [f"model.layers.{k}.{s}" for k in range(depth) for s in ("width", "dropout")]
        )
        [line] = space.overrides(params)
        blocks = [
            f"{{width:{params[f'model.layers.{k}.width']},dropout:"
            f"{params[f'model.layers.{k}.dropout']}}}"
            for k in range(depth)
        ]
        assert line == f"model.layers=[{','.join(blocks)}]"
        assert space.misfit(params) is None
        study.tell(trial, 0.0)
    assert depths == {1, 2, 3}
    assert space.config_keys() == ["model.layers"]


def test_a_cell_is_one_choice_per_edge_in_nas_bench_201_order():
    space = parse_search_space({}, [], cells={"model.cell": CELL})
    edges = ["e0-1", "e0-2", "e1-2", "e0-3", "e1-3", "e2-3"]
    ops = ["skip", "none", "skip", "conv3x3", "none", "conv3x3"]
    assert list(space.distributions) == [f"model.cell.{e}" for e in edges]
    assert space.distributions["model.cell.e0-3"].choices == ("conv3x3", "skip")
    params = {f"model.cell.{e}": op for e, op in zip(edges, ops, strict=True)}
    assert space.misfit(params) is None
    assert space.overrides(params) == ["model.cell=[skip,none,skip,conv3x3,none,conv3x3]"]


def test_every_architecture_parameter_is_a_key_the_override_grammar_parses():
    """So the command line, ``hydratune steer`` and a ``{...}`` value all take them."""
    space = parse_search_space({}, [], blocks={"model.layers": LAYERS}, cells={"model.cell": CELL})
    parser = make_parser()
    for name in space.distributions:
        assert parser.parse_override(f"{name}=skip").get_key_element() == name
        assert parser.parse_override(f"{name}=choice(skip, none)").is_sweep_override()
        assert name in parser.parse_override(f"x={{{name}: [skip]}}").value()


def test_the_command_line_wins_over_a_block_or_edge_entry():
    arguments = [
        "model.layers.depth=choice(2, 5)",  # block 4 exists: the command line's depth counts
        "model.layers.4.width=choice(64)",
        "model.cell.e0-1=choice(skip)",
    ]
    space = parse_search_space(
        {"model.cell.e1-2": "conv3x3"},  # one value in params: the edge always takes it
        arguments,
        blocks={"model.layers": LAYERS},
        cells={"model.cell": CELL},
    )
    dists = space.distributions
    assert dists["model.layers.depth"].choices == (2, 5)
    assert dists["model.layers.4.width"].choices == (64,)
    assert dists["model.layers.3.width"].choices == (16, 32)
    assert space.conditions["model.layers.4.width"].values == (5,)
    assert (dists["model.cell.e0-1"].choices, dists["model.cell.e1-2"].choices) == (
        ("skip",),
        ("conv3x3",),
    )
    assert space.fixed == []  # none of them reaches the job as a key of its own


def test_a_fixed_list_on_the_command_line_wins_over_the_blocks_search_and_says_so(caplog):
    space = parse_search_space(
        {},
        ["model.layers=[{width:8}]"],
        blocks={"model.layers": LAYERS},
        cells={"model.cell": CELL},
    )
    assert not any(n.startswith("model.layers.") for n in space.distributions)
    assert list(space.architectures) == ["model.cell"]
    params = {n: "skip" for n in space.distributions}
    assert [o for o in space.overrides(params) if o.startswith("model.layers")] == [
        "model.layers=[{width:8}]"
    ]
    assert "model.layers=[{width:8}] is fixed: it wins over hydra.sweeper.blocks.model.layers" in (
        caplog.text
    )


def test_an_entry_split_at_its_dots_is_refused_saying_how_to_give_it_whole():
    nested = {"model": {"layers": {"when": "model=mlp"}}}  # +hydra.sweeper.blocks.model.layers.when
    with pytest.raises(SearchSpaceError, match=r"blocks\.model\.layers: Hydra reads .* nesting"):
        parse_search_space({}, [], blocks={"model.layers": LAYERS, **nested})


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        (
            "model.layers.3.width=choice(8)",
            r"'model.layers.3.width' .* is not a parameter of "
            r"hydra.sweeper.blocks.model.layers; its parameters are model.layers.depth, "
            r"model.layers.<k>.<width\|dropout> \(k < 3\)",
        ),
        (
            "model.cell.e0-4=choice(skip)",
            r"'model.cell.e0-4' .* not a parameter of hydra.sweeper"
            r".cells.model.cell; its parameters are model.cell.e0-1, ",
        ),
        ("model.cell.e0-3=interval(0, 1)", r"model.cell.e0-3=interval\(0, 1\): an edge takes"),
        ("model.cell.e0-3=choice(none, skip)", r"the cell can disconnect"),
    ],
)
def test_a_command_line_entry_an_architecture_cannot_take_is_refused(argument, message):
    with pytest.raises(SearchSpaceError, match=message):
        parse_search_space(
            {}, [argument], blocks={"model.layers": LAYERS}, cells={"model.cell": CELL}
        )


def test_blocks_under_when_exist_only_for_that_model():
    space = parse_search_space(
        {"model": "choice(mlp, cnn)"}, [], blocks={"model.layers": {**LAYERS, "when": "model=mlp"}}
    )
    assert space.active({"model": "cnn"}) == ["model"]
    assert space.overrides({"model": "cnn"}) == ["model=cnn"]
    assert "model.layers.0.width" in space.active({"model": "mlp", "model.layers.depth": 1})


@pytest.mark.parametrize(
    ("kind", "spec", "message"),
    [
        ("blocks", {**LAYERS, "depth": "range(3, 3)"}, r"blocks\.model\.layers \(depth\).*empty"),
        ("blocks", {**LAYERS, "depth": "choice(0)"}, r"no block count >= 1"),
        ("blocks", {**LAYERS, "depth": "interval(1.0, 3.0)"}, r"no block count >= 1"),
        ("blocks", {"depth": "range(1, 3)"}, r"give depth: .* and each:"),
        ("blocks", {**LAYERS, "deep": 1}, r"blocks\.model\.layers\.deep: unknown"),
        ("cells", {**CELL, "edges": {}}, r"the cell can disconnect.*node 3 \(the output\)"),
        ("cells", {**CELL, "edges": {"e1-3": ["skip"]}}, r"can disconnect"),
        ("cells", {**CELL, "edges": {"e0-4": ["skip"]}}, r"'e0-4' is not an edge of a 4-node"),
        ("cells", {**CELL, "nodes": 1}, r"cells\.model\.cell\.nodes: give the number"),
        ("cells", {"nodes": 3}, r"give the operations"),
    ],
)
def test_an_architecture_that_cannot_work_is_refused_naming_the_key(kind, spec, message):
    with pytest.raises(SearchSpaceError, match=message):
        parse_search_space(
            {}, [], **{kind: {"model.layers" if kind == "blocks" else "model.cell": spec}}
        )


def test_a_cell_with_a_never_none_path_through_middle_nodes_is_accepted():
    path = {"e0-1": ["skip"], "e1-2": ["conv3x3"], "e2-3": ["skip", "conv1x1"]}
    space = parse_search_space({}, [], cells={"model.cell": {**CELL, "edges": path}})
    assert len(space.distributions) == 6


def test_block_keys_and_cell_ops_the_model_lacks_are_refused():
    blocks = parse_search_space({}, [], blocks={"model.layers": LAYERS}).architectures
    check_architecture(blocks["model.layers"], [MLPClassifier])
    with pytest.raises(SearchSpaceError, match=r"'width' is not a block key of CNNClassifier"):
        check_architecture(blocks["model.layers"], [CNNClassifier])
    cell = parse_search_space({}, [], cells={"model.cell": CELL}).architectures["model.cell"]
    check_architecture(cell, [CNNClassifier])
    with pytest.raises(SearchSpaceError, match=r"'conv3x3' is not an operation of MLPClassifier"):
        check_architecture(cell, [MLPClassifier])
    check_architecture(cell, [object])  # a model that declares nothing is not checked


TINY = ["trainer.max_epochs=1", "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=1"]
QUIET = ["hydra.sweeper.report=false", "hydra.sweeper.progress=false"]


def hydratune(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``hydratune -m *args`` in ``cwd``, in this process (``helpers.hydratune_here``): the
    same entry point and argv, without a Lightning import per command."""
    return hydratune_here(cwd, "-m", *args)


@pytest.mark.slow
def test_a_block_space_sweep_trains_through_the_cli_and_the_study_holds_only_active_params(
    tmp_path,
):
    done = hydratune(tmp_path, "sweep=mlp_blocks", "hydra.sweeper.n_trials=6", *TINY, *QUIET)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = load("mlp_blocks", tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    for trial in trials:
        depth = trial.params["model.layers.depth"]
        blocks = {
            k.split(".")[2]
            for k in trial.params
            if k.startswith("model.layers.") and k[13].isdigit()
        }
        assert blocks == {str(k) for k in range(depth)}
        assert set(trial.distributions) == set(trial.params)
        [layers] = [o for o in trial.user_attrs["overrides"] if o.startswith("model.layers=")]
        assert layers.count("{width:") == depth


@pytest.mark.slow
def test_a_block_key_the_model_lacks_stops_the_sweep_before_any_trial(tmp_path):
    sweep = tmp_path / "conf" / "sweep"
    sweep.mkdir(parents=True)
    yaml = (Path(__file__).parents[2] / "conf" / "sweep" / "mlp_blocks.yaml").read_text()
    (sweep / "bad_blocks.yaml").write_text(yaml.replace("width: choice", "widht: choice"))
    done = hydratune(tmp_path, "--config-dir", "conf", "sweep=bad_blocks", *TINY, *QUIET)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()
    assert (
        "hydra.sweeper.blocks.model.layers: 'widht' is not a block key of MLPClassifier's layers;"
        " expected one of width, activation, dropout" in last
    )
    assert (
        not (tmp_path / "outputs" / "hydratune.journal").exists()
        or not load("bad_blocks", tmp_path).trials
    )


@pytest.mark.slow
def test_a_cell_sweep_of_the_cnn_trains_through_the_cli_with_one_operation_per_edge(tmp_path):
    done = hydratune(tmp_path, "sweep=cnn_cell", "hydra.sweeper.n_trials=2", *TINY, *QUIET)
    assert done.returncode == 0, done.stderr[-3000:]
    for trial in load("cnn_cell", tmp_path).trials:
        assert trial.state == TrialState.COMPLETE
        edges = ["e0-1", "e0-2", "e1-2", "e0-3", "e1-3", "e2-3"]
        ops = [trial.params[f"model.cell.{e}"] for e in edges]
        assert f"model.cell=[{','.join(ops)}]" in trial.user_attrs["overrides"]
        assert trial.params["model.cell.e0-3"] != "none"


@pytest.mark.slow
def test_cell_and_block_parameters_go_through_the_command_line_steer_rerun_and_export(tmp_path):
    searched = [
        "sweep=mlp_blocks",
        "model.cell.e0-1=choice(skip)",
        "model.layers.depth=choice(1,2)",
    ]
    first = hydratune(tmp_path, *searched, "hydra.sweeper.n_trials=1", *TINY, *QUIET)
    assert first.returncode == 0, first.stderr[-3000:]
    sweep_dir = tmp_path / "outputs" / "sweeps" / "mlp_blocks"
    for words in (
        ["fix", "model.cell.e1-2=none"],
        ["enqueue", "model.cell.e0-2=linear", "model.layers.depth=1", "model.layers.0.width=32"],
        ["narrow", "model.layers.0.dropout=interval(0.1, 0.2)"],
    ):
        steered = hydratune_here(tmp_path, "steer", str(sweep_dir), *words)
        assert steered.returncode == 0 and "recorded: " in steered.stdout, steered.stdout
    again = hydratune(tmp_path, *searched, "hydra.sweeper.n_trials=3", *TINY, *QUIET)
    assert again.returncode == 0, again.stderr[-3000:]

    trials = load("mlp_blocks", tmp_path).trials
    assert {t.params["model.cell.e0-1"] for t in trials} == {"skip"}
    assert {t.params["model.layers.depth"] for t in trials} <= {1, 2}
    enqueued = trials[1].params
    assert (enqueued["model.cell.e0-2"], enqueued["model.layers.depth"]) == ("linear", 1)
    assert enqueued["model.layers.0.width"] == 32
    for trial in trials[1:]:
        assert trial.params["model.cell.e1-2"] == "none"
        assert 0.1 <= trial.params["model.layers.0.dropout"] <= 0.2
        cell = [trial.params[f"model.cell.{e}"] for e in ("e0-1", "e0-2", "e1-2")]
        assert f"model.cell=[{','.join(cell)}]" in trial.user_attrs["overrides"]

    best = max(trials, key=lambda t: t.value)
    rerun = hydratune_here(tmp_path, "rerun", str(sweep_dir), "--top-k", "1", "--seeds", "1")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    [again] = yaml.safe_load((sweep_dir / "rerun" / "rerun_results.yaml").read_text())[
        "configurations"
    ]
    assert (again["trial"], again["values"]) == (best.number, [[best.value]])  # same seed
    exported = hydratune_here(tmp_path, "export", str(sweep_dir), "--to", "exp/best.yaml")
    assert exported.returncode == 0, exported.stdout[-3000:]
    model = yaml.safe_load((tmp_path / "exp" / "best.yaml").read_text())["model"]
    depth = best.params["model.layers.depth"]
    assert [b["width"] for b in model["layers"]] == [
        best.params[f"model.layers.{k}.width"] for k in range(depth)
    ]
    assert model["cell"] == [best.params[f"model.cell.{e}"] for e in ("e0-1", "e0-2", "e1-2")]


@pytest.mark.slow
def test_a_fixed_list_on_the_command_line_wins_over_the_blocks_search_through_the_cli(tmp_path):
    fixed = "model.layers=[{width:16},{width:8}]"
    done = hydratune(tmp_path, "sweep=mlp_blocks", fixed, "hydra.sweeper.n_trials=2", *TINY, *QUIET)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{fixed} is fixed: it wins over hydra.sweeper.blocks.model.layers" in done.stdout
    sweep_dir = tmp_path / "outputs" / "sweeps" / "mlp_blocks"
    for trial in load("mlp_blocks", tmp_path).trials:
        assert trial.state == TrialState.COMPLETE
        assert not any(n.startswith("model.layers.") for n in trial.params)
        assert [o for o in trial.user_attrs["overrides"] if o.startswith("model.layers")] == [fixed]
        assert "model.cell.e0-2" in trial.params  # the cell is still searched
        config = yaml.safe_load(
            (sweep_dir / str(trial.number) / ".hydra" / "config.yaml").read_text()
        )
        assert config["model"]["layers"] == [{"width": 16}, {"width": 8}]


WHEN_BLOCKS = (
    '++hydra.sweeper.blocks={model.layers: {depth: "range(1, 3)", each: {width: "choice(16, 32)"},'
    ' when: "model=mlp"}}'
)
WHEN_CELLS = (
    '++hydra.sweeper.cells={model.cell: {nodes: 3, ops: "choice(conv1x1, skip, none)",'
    ' edges: {e0-2: [skip, conv1x1]}, when: "model=cnn"}}'
)


@pytest.mark.slow
def test_blocks_and_cells_with_when_on_the_command_line_exist_only_for_their_model(tmp_path):
    done = hydratune(
        tmp_path,
        "sweep=digits_models",
        WHEN_BLOCKS,
        WHEN_CELLS,
        "hydra.sweeper.enqueue=[{model: mlp}, {model: cnn}]",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.export_best=false",
        *TINY,
        *QUIET,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    mlp, cnn = load("digits_models", tmp_path).trials
    assert (mlp.params["model"], cnn.params["model"]) == ("mlp", "cnn")
    assert not any(n.startswith("model.cell.") for n in mlp.params)
    assert [b for b in mlp.params if b.startswith("model.layers.")] == [
        "model.layers.depth",
        *[f"model.layers.{k}.width" for k in range(mlp.params["model.layers.depth"])],
    ]
    assert not any(n.startswith("model.layers.") for n in cnn.params)
    assert sorted(n for n in cnn.params if n.startswith("model.cell.")) == [
        "model.cell.e0-1",
        "model.cell.e0-2",
        "model.cell.e1-2",
    ]
    assert cnn.params["model.cell.e0-2"] in ("skip", "conv1x1")
    for trial, has, lacks in (
        (mlp, "model.layers=", "model.cell="),
        (cnn, "model.cell=", "model.layers="),
    ):
        overrides = trial.user_attrs["overrides"]
        assert any(o.startswith(has) for o in overrides)
        assert not any(o.startswith(lacks) for o in overrides)
        assert trial.state == TrialState.COMPLETE


@pytest.mark.slow
def test_a_dotted_entry_key_split_into_nested_keys_on_the_command_line_says_how_to_give_it(
    tmp_path,
):
    nested = '+hydra.sweeper.blocks.model.layers.when="model=mlp"'
    done = hydratune(tmp_path, "sweep=mlp_blocks", nested, *TINY, *QUIET)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[0] == (
        "hydra.sweeper.blocks.model.layers: Hydra reads a command-line key's dots as nesting, and "
        "'model.layers' is one entry: give it whole, '++hydra.sweeper.blocks={model.layers: "
        "{when: ...}}'"
    )
    assert not (tmp_path / "outputs" / "hydratune.journal").exists()
