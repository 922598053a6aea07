"""``cm launch|retry GROUP...``, ``cm poll``, ``cm process-launches``: run things by hand.

Launch and retry only record the request, as the pages and the API do; a worker
(or ``cm process-launches``) prepares and submits.
"""

from campaigns.cli.judge import _common, _user
from campaigns.errors import CampaignError
from campaigns.models import Group
from campaigns.services import audit, launch, polling
from campaigns.services.lookup import element_by_path


def register(subparsers) -> None:
    for name, text in (("launch", "launch groups"), ("retry", "retry failed or reviewable groups")):
        parser = subparsers.add_parser(name, help=f"{text} (a worker submits them)")
        _common(parser)
        parser.add_argument(
            "--override",
            action="append",
            default=[],
            metavar="KEY=JSON",
            help="a BPS setting for this attempt only, e.g. requestMemory=8192",
        )
        parser.set_defaults(handler=handle_launch)
    poll = subparsers.add_parser("poll", help="one pass of checkWorkflowStatus and the rollup")
    poll.set_defaults(handler=handle_poll)
    process = subparsers.add_parser(
        "process-launches", help="prepare and submit requested launches"
    )
    process.set_defaults(handler=handle_process)


def handle_launch(options, stdout, stderr) -> int:
    user = _user(options["username"])
    for path in options["paths"]:
        group = element_by_path(path)
        if not isinstance(group, Group):
            raise CampaignError(f"{path}: only groups are launched")
        if options["subcommand"] == "retry" and group.status not in launch.RETRYABLE:
            raise CampaignError(f"{path} is {group.status}: only failed or reviewable groups retry")
        overrides = launch.parse_overrides(options["override"])
        parameters = {"reason": options["reason"], "overrides": overrides}
        with audit.audited(
            options["subcommand"], group, user=user, via=audit.Via.CLI, parameters=parameters
        ) as outcome:
            workflow = launch.request_launch(
                group, user=user, reason=options["reason"], overrides=overrides
            )
            outcome.parameters["attempt"] = workflow.attempt
        stdout.write(f"requested {workflow.path}")
    return 0


def handle_poll(options, stdout, stderr) -> int:
    run = polling.poll()
    stdout.write(f"checked {run.checked}, changed {run.changed}, failed {run.failed}")
    return 0


def handle_process(options, stdout, stderr) -> int:
    for workflow_id in launch.pending_launches():
        workflow = launch.process_launch(workflow_id)
        stdout.write(f"{workflow.path}: {workflow.status} ({workflow.wms} {workflow.wms_id})")
    return 0
