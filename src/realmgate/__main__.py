"""``python -m realmgate`` is the ``realmgate`` command."""

from realmgate.cli.main import main

main()
