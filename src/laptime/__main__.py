"""``python -m laptime``: the same as the ``laptime`` command (laptime.console)."""

from laptime.console import main

main()
