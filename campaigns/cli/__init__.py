"""Subcommands of ``python manage.py cm``; each module adds its own parser.

A module here defines ``register(subparsers)``, which adds a subparser whose
default ``handler`` is called as ``handler(options, stdout, stderr)`` and
returns an exit code.
"""

SUBCOMMAND_MODULES = [
    "campaigns.cli.create",
    "campaigns.cli.archive",
    "campaigns.cli.states",
    "campaigns.cli.demo",
    "campaigns.cli.butler",
    "campaigns.cli.judge",
    "campaigns.cli.run",
    "campaigns.cli.alarms",
    "campaigns.cli.apitoken",
    # Named, not imported: monitoring builds on campaigns, never the reverse.
    "monitoring.export",
]
