"""LightningModules for the training task; pick one with ``model=mlp`` or ``model=cnn``."""

from hydratune.training.models.base import SupervisedModule, make_activation
from hydratune.training.models.cnn import CNNClassifier
from hydratune.training.models.mlp import MLPClassifier

__all__ = ["CNNClassifier", "MLPClassifier", "SupervisedModule", "make_activation"]
