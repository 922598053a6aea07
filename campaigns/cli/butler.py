"""``cm butler check|sync PATH...``: compare cm's bookkeeping with the butler, or repair it."""

from campaigns.models import Production
from campaigns.services import collections
from campaigns.services.lookup import element_by_path


def register(subparsers) -> None:
    parser = subparsers.add_parser("butler", help="cm's butler collections")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="report collections missing, extra or out of order (the drift check)"
    )
    check.add_argument("paths", nargs="+", metavar="PATH", help="a production or campaign")
    check.set_defaults(handler=handle_check)
    sync = actions.add_parser(
        "sync", help="make the butler match cm (idempotent; finishes interrupted changes)"
    )
    sync.add_argument("paths", nargs="+", metavar="PATH", help="a production or campaign")
    sync.set_defaults(handler=handle_sync)


def campaigns_at(paths: list[str]):
    for path in paths:
        element = element_by_path(path)
        if isinstance(element, Production):
            yield from element.campaigns.order_by("name")
        elif hasattr(element, "output_root"):
            yield element
        else:
            from campaigns.errors import CampaignError

            raise CampaignError(f"{path}: give a production or a campaign")


def handle_check(options, stdout, stderr) -> int:
    failed = 0
    for campaign in campaigns_at(options["paths"]):
        drifts = collections.check(campaign)
        for drift in drifts:
            stderr.write(f"{campaign.path}: {drift}")
        if drifts:
            failed += 1
        else:
            stdout.write(f"{campaign.path}: butler matches cm ({campaign.butler_repo})")
    return 1 if failed else 0


def handle_sync(options, stdout, stderr) -> int:
    for campaign in campaigns_at(options["paths"]):
        report = collections.sync(campaign)
        stdout.write(
            f"{campaign.path}: registered {len(report.registered)}, redefined "
            f"{len(report.chains_defined)} chain(s), built {len(report.inputs_built)} input(s)"
        )
    return 0
