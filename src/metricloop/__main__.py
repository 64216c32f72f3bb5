"""``python -m metricloop`` is the ``metricloop`` command."""

from metricloop.cli.entry import main

main()
