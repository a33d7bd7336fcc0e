"""LightningModules for the training task; pick one with ``model=mlp`` or ``model=cnn``."""

from hydratune.models.base import SupervisedModule, make_activation
from hydratune.models.cnn import CNNClassifier
from hydratune.models.mlp import MLPClassifier

__all__ = ["CNNClassifier", "MLPClassifier", "SupervisedModule", "make_activation"]
