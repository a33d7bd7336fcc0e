"""Makes conf/ importable as ``hydratune.conf`` (through the src/hydratune/conf link).

Hydra reads a package's configs only if it has an ``__init__.py``; without it ``hydratune`` fails
with "Primary config module 'hydratune.conf' not found".
"""
