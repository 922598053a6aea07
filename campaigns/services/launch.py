"""launchGroup and retryGroup: ask for a new attempt, then a worker prepares and submits it.

People (and retry rules) only record intent: ``request_launch`` makes the
group's next workflow in ``launch_requested``. A worker then ``process_launch``es
it: render and archive the BPS config (``prepared``), submit it (``running``).
Each step is claimed with a conditional status change, so any number of
workers is safe, and a launch that crashed half-way is simply processed again:
the config renders to the same archived bytes, and the WMS submission of the
same config is idempotent.
"""

import json

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from campaigns.errors import CampaignError, ConcurrentChangeError
from campaigns.models import Campaign, Group, Step, Workflow
from campaigns.services import bps_config
from campaigns.services.status import record_creation, transition
from campaigns.specs.names import fill
from campaigns.states import Status
from campaigns.wms import get as get_wms
from campaigns.wms.base import Submission, WmsRefused

# Groups in these statuses get a retry (a new attempt redoing only what failed).
RETRYABLE = {Status.FAILED, Status.REVIEWABLE}


def parse_overrides(items: list[str]) -> dict:
    """BPS settings for one attempt from ``KEY=VALUE`` items (the CLI's ``--override``, the
    retry page's lines); VALUE is JSON where it parses (``requestMemory=8192`` is a number)."""
    overrides = {}
    for item in items:
        key, equals, value = item.strip().partition("=")
        if not equals or not key.strip():
            raise CampaignError(f"override {item!r}: write KEY=VALUE, e.g. requestMemory=8192")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value.strip()
    return overrides


def request_launch(
    group: Group, *, user: User | None, reason: str, overrides: dict | None = None
) -> Workflow:
    """Make the group's next attempt, waiting for a worker; a retry if the group failed.

    A retry skips the quanta that earlier attempts completed (``--skip-existing-in``
    their RUNs), marks those attempts superseded, and may carry BPS overrides
    (memory, retries, clustering) for this attempt only.
    """
    return request_launches([group], user=user, reason=reason, overrides=overrides)[0]


def request_launches(
    groups: list[Group],
    *,
    user: User | None,
    reason: str,
    overrides: dict | None = None,
    auto_retry_rule: str = "",
) -> list[Workflow]:
    """``request_launch`` for many groups at once, in one transaction and a constant number
    of queries (the poll's automatic retries, a campaign's auto_launch, bulk actions);
    returns the new attempts in the order of ``groups``. ``auto_retry_rule`` names the error
    rule that asked for these retries (it counts them against its ``max_retries``)."""
    groups = list({group.pk: group for group in groups}.values())  # each group once
    if not groups:
        return []
    retrying = {g.pk for g in groups if g.status in RETRYABLE}
    # This block is the boundary: a refusal or a race inside rolls it back whole.
    with transaction.atomic():
        transition(groups, Status.LAUNCH_REQUESTED, user=user, reason=reason, savepoint=False)
        earlier = list(
            Workflow.objects.filter(group__any=[g.pk for g in groups]).only(
                "group_id", "attempt", "status"
            )
        )
        superseded = [w for w in earlier if w.group_id in retrying and w.status in RETRYABLE]
        transition(superseded, Status.SUPERSEDED, reason=f"retried: {reason}", savepoint=False)
        last: dict[int, int] = {}
        for workflow in earlier:
            last[workflow.group_id] = max(last.get(workflow.group_id, 0), workflow.attempt)
        try:
            return _new_attempts(_with_parents(groups), last, overrides or {}, auto_retry_rule)
        except IntegrityError as error:
            names = ", ".join(g.name for g in groups[:3])
            raise ConcurrentChangeError(f"{names} was launched by someone else") from error


def _with_parents(groups: list[Group]) -> list[Group]:
    """The groups with their step, campaign and production loaded (the run name needs them):
    as given when the caller selected them (a page, the API), else read in one query."""

    def loaded(group: Group) -> bool:
        return (
            Group.step.is_cached(group)
            and Step.campaign.is_cached(group.step)
            and Campaign.production.is_cached(group.step.campaign)
        )

    missing = [g.pk for g in groups if not loaded(g)]
    placed = Group.objects.select_related("step__campaign__production").in_bulk(missing)
    return [placed.get(g.pk, g) for g in groups]


def _new_attempts(
    groups: list[Group], last: dict[int, int], overrides: dict, rule: str
) -> list[Workflow]:
    workflows = []
    for group in groups:
        attempt = last.get(group.pk, 0) + 1
        campaign = group.step.campaign
        run = fill(
            campaign.collection_templates["workflow_run"],
            {
                "production": campaign.production.name,
                "campaign": campaign.name,
                "output_root": campaign.output_root,
                "step": group.step.name,
                "group": group.name,
                "attempt": attempt,
            },
        )
        workflows.append(
            Workflow(
                group=group,
                attempt=attempt,
                wms=group.step.wms,
                output_run=run,
                overrides=overrides,
                auto_retry_rule=rule,
                status=Status.LAUNCH_REQUESTED,
                spec={"group": group.path, "bps_overrides": overrides},
            )
        )
    Workflow.objects.bulk_create(workflows)
    record_creation(workflows, reason="launch requested")
    return workflows


def pending_launches() -> list[int]:
    """Workflows a worker should process now."""
    return list(
        Workflow.objects.filter(status__in=[Status.LAUNCH_REQUESTED, Status.PREPARED])
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def process_launch(workflow_id: int) -> Workflow:
    """Prepare (render + archive) and submit one workflow; safe to call again after a crash."""
    workflow = Workflow.objects.select_related("group__step__campaign__production").get(
        pk=workflow_id
    )
    if workflow.status == Status.LAUNCH_REQUESTED:
        _prepare(workflow)
    if workflow.status == Status.PREPARED:
        _submit(workflow)
    return workflow


def _prepare(workflow: Workflow) -> None:
    earlier = list(
        workflow.group.workflows.filter(
            attempt__lt=workflow.attempt, run_registered_at__isnull=False
        )
        .exclude(run_removed_at__isnull=False)
        .values_list("output_run", flat=True)
    )
    path, config = bps_config.write(workflow, skip_existing_in=earlier)
    updated = Workflow.objects.filter(pk=workflow.pk, status=Status.LAUNCH_REQUESTED).update(
        submit_config=config, submit_dir=str(path.parent / "submit")
    )
    if updated != 1:
        raise ConcurrentChangeError(f"{workflow.path} was prepared by another worker")
    workflow.submit_config, workflow.submit_dir = config, str(path.parent / "submit")
    transition(workflow, Status.PREPARED, reason="submit config rendered and archived")


def _submit(workflow: Workflow) -> None:
    config = bps_config.launch_dir(workflow) / "submit.yaml"
    # On WmsUnavailable the workflow stays prepared, and the next pass submits it again.
    try:
        submission: Submission = get_wms(workflow.wms).submit(config)
    except WmsRefused as error:
        with transaction.atomic():
            transition(workflow, Status.FAILED, reason=f"submission refused: {error}"[:500])
            group = Group.objects.get(pk=workflow.group_id)
            if group.status == Status.LAUNCH_REQUESTED:
                transition(group, Status.FAILED, reason=f"attempt {workflow.attempt} refused")
        raise
    with transaction.atomic():
        Workflow.objects.filter(pk=workflow.pk).update(
            wms_id=submission.wms_id, submit_dir=submission.submit_dir
        )
        workflow.wms_id, workflow.submit_dir = submission.wms_id, submission.submit_dir
        transition(workflow, Status.RUNNING, reason=f"submitted to {workflow.wms}")
        group = Group.objects.get(pk=workflow.group_id)
        if group.status == Status.LAUNCH_REQUESTED:
            transition(group, Status.RUNNING, reason=f"attempt {workflow.attempt} submitted")
