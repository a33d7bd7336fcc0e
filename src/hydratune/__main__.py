"""``python -m hydratune`` is the ``hydratune`` command."""

from hydratune.cli import main

main()
