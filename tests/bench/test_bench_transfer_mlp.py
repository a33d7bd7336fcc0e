"""The MLP family of the transfer study scores the bundled MLP on a bundled data set: an error
its unrelated twin turns into the accuracy, and the same configuration the same value."""

from __future__ import annotations

import pytest
from bench.studies.transfer_mlp import mlp

GOOD = {"hidden_dim": 32, "n_layers": 1, "dropout": 0.1, "lr": 1e-2, "weight_decay": 1e-5}
BAD = {**GOOD, "lr": 1e-4, "n_layers": 0}


@pytest.mark.bench
def test_the_mlp_objective_is_the_validation_error_and_repeats_itself():
    error, accuracy = mlp("wine"), mlp("wine", -1)
    assert 0 <= error(GOOD) < error(BAD) <= 1  # 5 epochs at lr 1e-4 barely move a linear model
    assert error(GOOD) == error(GOOD)
    assert accuracy(BAD) == pytest.approx(1 - error(BAD))
