"""``python -m hydratune`` is the ``hydratune`` command."""

from hydratune.app import main

main()
