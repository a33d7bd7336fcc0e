"""Datamodules and models: shapes, classes, seeded splits, and what a training run logs."""

from __future__ import annotations

import functools

import lightning as L
import pytest
import torch

from hydratune.training.data import (
    BreastCancerDataModule,
    DigitsDataModule,
    SyntheticDataModule,
    WineDataModule,
)
from hydratune.training.models import CNNClassifier, MLPClassifier

# Lightning 2.6 on torch 2.13: a deprecation inside Lightning, nothing these tests can act on.
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")

SMALL_SYNTHETIC = {"n_samples": 300, "n_features": 6, "n_informative": 4}
# (factory, input_shape, num_classes, number of examples)
DATAMODULES = {
    "digits": (DigitsDataModule, (1, 8, 8), 10, 1797),
    "wine": (WineDataModule, (13,), 3, 178),
    "breast_cancer": (BreastCancerDataModule, (30,), 2, 569),
    "synthetic_classification": (
        functools.partial(SyntheticDataModule, n_classes=3, **SMALL_SYNTHETIC),
        (6,),
        3,
        300,
    ),
    "synthetic_regression": (
        functools.partial(SyntheticDataModule, task="regression", **SMALL_SYNTHETIC),
        (6,),
        0,
        300,
    ),
}


def fit_briefly(model: L.LightningModule, datamodule: L.LightningDataModule) -> L.Trainer:
    trainer = L.Trainer(
        fast_dev_run=2,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=datamodule)
    return trainer


# --- datamodules -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATAMODULES)
def test_datamodule_exposes_shape_and_classes_right_after_construction(name):
    factory, input_shape, num_classes, n = DATAMODULES[name]
    dm = factory(val_fraction=0.25)
    assert dm.input_shape == input_shape
    assert dm.num_classes == num_classes
    assert len(dm.train_set) + len(dm.val_set) == n
    assert len(dm.val_set) == pytest.approx(0.25 * n, abs=1)
    x, y = dm.train_set.tensors
    assert x.shape[1:] == input_shape and x.dtype == torch.float32
    assert y.dtype == (torch.long if num_classes else torch.float32)
    if num_classes:
        assert set(y.tolist()) == set(range(num_classes))


@pytest.mark.parametrize("name", DATAMODULES)
def test_split_is_reproducible_for_a_seed_and_changes_with_it(name):
    factory = DATAMODULES[name][0]
    val_a, val_b = factory(seed=3).val_set.tensors[0], factory(seed=3).val_set.tensors[0]
    assert torch.equal(val_a, val_b)
    assert not torch.equal(val_a, factory(seed=4).val_set.tensors[0])


def test_digits_are_images_in_unit_range_not_standardised():
    x = DigitsDataModule().train_set.tensors[0]
    assert x.min() == 0.0 and x.max() == 1.0


@pytest.mark.parametrize("name", ["wine", "breast_cancer", "synthetic_regression"])
def test_tabular_data_is_standardised_with_train_split_statistics(name):
    dm = DATAMODULES[name][0]()
    x_train, x_val = dm.train_set.tensors[0], dm.val_set.tensors[0]
    assert torch.allclose(x_train.mean(0), torch.zeros(x_train.shape[1]), atol=1e-4)
    assert torch.allclose(x_train.std(0, unbiased=False), torch.ones(x_train.shape[1]), atol=1e-4)
    # The validation split is scaled with the train statistics, not its own.
    assert not torch.allclose(x_val.mean(0), torch.zeros(x_val.shape[1]), atol=1e-4)


def test_regression_targets_are_standardised():
    y = DATAMODULES["synthetic_regression"][0]().train_set.tensors[1]
    assert abs(y.mean().item()) < 1e-4
    assert y.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-4)


def test_train_loader_serves_whole_shuffled_batches_and_val_loader_a_fixed_order():
    dm = WineDataModule(batch_size=32)
    batches = list(dm.train_dataloader())
    assert [len(y) for _, y in batches] == [32, 32, 32, 32, len(dm.train_set) - 128]
    first_epoch = torch.cat([y for _, y in batches])
    second_epoch = torch.cat([y for _, y in dm.train_dataloader()])
    assert not torch.equal(first_epoch, second_epoch)
    assert sorted(first_epoch.tolist()) == sorted(dm.train_set.tensors[1].tolist())
    val_order = [torch.cat([y for _, y in dm.val_dataloader()]) for _ in range(2)]
    assert torch.equal(val_order[0], dm.val_set.tensors[1]) and torch.equal(*val_order)


def test_invalid_data_settings_are_rejected():
    with pytest.raises(ValueError, match="val_fraction"):
        DigitsDataModule(val_fraction=1.0)
    with pytest.raises(ValueError, match="task must be one of"):
        SyntheticDataModule(task="ranking")


# --- models ----------------------------------------------------------------------------------


@pytest.mark.parametrize("model_cls", [MLPClassifier, CNNClassifier])
@pytest.mark.parametrize("num_classes", [10, 0, None])
def test_model_outputs_one_column_per_class_or_one_for_regression(model_cls, num_classes):
    model = model_cls(input_shape=(1, 8, 8), num_classes=num_classes)
    out = model(torch.rand(5, 1, 8, 8))
    assert out.shape == (5, num_classes or 1)


def test_mlp_layers_follow_n_layers_and_zero_is_a_linear_model():
    def linear_layers(n_layers):
        model = MLPClassifier((13,), 3, hidden_dim=7, n_layers=n_layers)
        return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]

    assert [(m.in_features, m.out_features) for m in linear_layers(2)] == [(13, 7), (7, 7), (7, 3)]
    assert [(m.in_features, m.out_features) for m in linear_layers(0)] == [(13, 3)]


def test_cnn_rejects_data_that_is_not_image_like():
    with pytest.raises(ValueError, match=r"image-like.*input_shape=\(13,\).*model=mlp"):
        CNNClassifier(input_shape=(13,), num_classes=3)


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'.*'gelu'.*'relu'"):
        MLPClassifier((4,), 2, activation="swish")


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_training_step_returns_a_differentiable_scalar_loss():
    model = CNNClassifier((1, 8, 8), 10, channels=4)
    x, y = next(iter(DigitsDataModule(batch_size=16).train_dataloader()))
    loss = model.training_step((x, y), 0)
    assert loss.ndim == 0 and loss.requires_grad
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("model_cls", [MLPClassifier, CNNClassifier])
def test_classifier_logs_epoch_loss_and_accuracy(model_cls):
    trainer = fit_briefly(model_cls((1, 8, 8), 10), DigitsDataModule())
    assert set(trainer.callback_metrics) == {"train/loss", "val/loss", "val/acc"}
    assert 0.0 <= float(trainer.callback_metrics["val/acc"]) <= 1.0


def test_regressor_logs_mse_and_no_accuracy():
    dm = DATAMODULES["synthetic_regression"][0]()
    trainer = fit_briefly(MLPClassifier(dm.input_shape, dm.num_classes), dm)
    assert set(trainer.callback_metrics) == {"train/loss", "val/loss"}


def test_optimizer_and_scheduler_factories_are_used():
    model = MLPClassifier(
        (4,),
        2,
        optimizer=functools.partial(torch.optim.SGD, lr=0.5, momentum=0.9),
        scheduler=functools.partial(torch.optim.lr_scheduler.StepLR, step_size=3),
    )
    config = model.configure_optimizers()
    assert isinstance(config["optimizer"], torch.optim.SGD)
    assert config["optimizer"].param_groups[0]["lr"] == 0.5
    assert isinstance(config["lr_scheduler"]["scheduler"], torch.optim.lr_scheduler.StepLR)
    assert isinstance(MLPClassifier((4,), 2).configure_optimizers(), torch.optim.Adam)


def test_hyperparameters_record_architecture_but_not_the_optimizer_factory():
    sgd = functools.partial(torch.optim.SGD, lr=0.1)
    model = CNNClassifier((1, 8, 8), 10, channels=4, optimizer=sgd)
    assert dict(model.hparams) == {
        "input_shape": [1, 8, 8],
        "num_classes": 10,
        "channels": 4,
        "kernel_size": 3,
        "dropout": 0.1,
        "activation": "relu",
        "layers": None,  # the architecture, when a search gives one (hydra.sweeper.blocks)
        "cell": None,
    }


def test_mlp_layers_list_gives_each_hidden_layer_its_own_width_activation_and_dropout():
    model = MLPClassifier(
        (13,), 3, layers=[{"width": 5, "activation": "tanh"}, {"width": 4, "dropout": 0.3}]
    )
    linears = [
        (m.in_features, m.out_features) for m in model.modules() if isinstance(m, torch.nn.Linear)
    ]
    assert linears == [(13, 5), (5, 4), (4, 3)]
    kinds = [type(m).__name__ for m in model.net][1:7]
    assert kinds == ["Linear", "Tanh", "Dropout", "Linear", "ReLU", "Dropout"]
    assert [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)] == [0.1, 0.3]
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['widht'\]"):
        MLPClassifier((13,), 3, layers=[{"widht": 5}])


def test_a_cell_sums_its_edges_and_a_none_edge_passes_nothing():
    from hydratune.training.models.cell import Cell

    ops = {"double": lambda: _Scale(2.0), "skip": torch.nn.Identity}
    x = torch.ones(2, 3)
    # node1 = 2x; node2 = skip(x) + double(node1) = 5x
    assert torch.equal(Cell(["double", "skip", "double"], ops)(x), 5 * x)
    # node1 = nothing (zeros); node2 = x + 0
    assert torch.equal(Cell(["none", "skip", "double"], ops)(x), x)
    with pytest.raises(ValueError, match=r"n\(n-1\)/2\), got 4"):
        Cell(["skip"] * 4, ops)
    with pytest.raises(ValueError, match=r"unknown cell operation\(s\) \['conv9'\]"):
        Cell(["conv9"], ops)


class _Scale(torch.nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return self.factor * x


@pytest.mark.parametrize(
    ("model_cls", "ops"),
    [
        (MLPClassifier, ["linear", "skip", "none"]),
        (CNNClassifier, ["conv3x3", "conv1x1", "avgpool", "skip", "none", "conv3x3"]),
    ],
)
def test_both_bundled_models_take_a_cell_and_a_layers_list(model_cls, ops):
    sub = {"width": 16} if model_cls is MLPClassifier else {"channels": 4, "kernel_size": 5}
    model = model_cls((1, 8, 8), 10, layers=[sub, sub], cell=ops)
    assert model(torch.rand(3, 1, 8, 8)).shape == (3, 10)
    assert set(ops) - {"none"} <= set(model_cls.CELL_OPS["cell"])
    assert set(sub) <= set(model_cls.BLOCK_KEYS["layers"])
