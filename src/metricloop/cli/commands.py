"""CLI commands; each module registers its commands on metricloop.cli.main.app."""
