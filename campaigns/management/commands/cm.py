"""``python manage.py cm ...``: the operator's command line (create, archive, states, ...)."""

import importlib

from django.core.management.base import BaseCommand, CommandError

from campaigns.cli import SUBCOMMAND_MODULES
from campaigns.errors import CampaignError


class Command(BaseCommand):
    help = "Campaign management: cm create|archive|states ... (cm SUBCOMMAND --help for more)"

    def add_arguments(self, parser):
        subparsers = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
        for module_name in SUBCOMMAND_MODULES:
            importlib.import_module(module_name).register(subparsers)

    def handle(self, *args, **options):
        try:
            code = options["handler"](options, self.stdout, self.stderr)
        except CampaignError as error:
            raise CommandError(str(error)) from error
        if code:
            raise CommandError(f"cm {options['subcommand']} failed", returncode=code)
