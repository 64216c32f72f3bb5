"""``python -m metricloop`` is the ``metricloop`` command."""

from metricloop.cli.main import main

main()
