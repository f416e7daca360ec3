"""``python -m laptime``: the same as the ``laptime`` command."""

from laptime.cli import main

main()
