"""Hydra discovers the hydratune sweeper here (``hydra/sweeper: hydratune``)."""
