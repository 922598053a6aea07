"""Queries behind the pages: a constant number per page, whatever the size of the data.

Each helper answers one question for every row of a page at once (``{row id: answer}``),
with one grouped query; views call them with the ids of the page's rows only.
"""

from collections import defaultdict

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum

from campaigns.models import (
    Alarm,
    Campaign,
    DataProduct,
    FailedQuantum,
    Group,
    Production,
    Step,
    Workflow,
)
from campaigns.states import Status

DONE = [Status.SUCCEEDED, Status.ACCEPTED]


def productions_with_counts() -> QuerySet[Production]:
    return Production.objects.select_related("campaign_type").annotate(
        campaign_count=Count("campaigns", distinct=True)
    )


def campaigns_with_counts() -> QuerySet[Campaign]:
    return Campaign.objects.select_related("production__campaign_type").annotate(
        step_count=Count("steps", distinct=True)
    )


def steps_of(campaign: Campaign) -> QuerySet[Step]:
    return campaign.steps.annotate(group_count=Count("groups")).prefetch_related("prerequisites")


def by_status(model, parent_field: str, parent_ids: list[int]) -> dict[int, dict[str, int]]:
    """``{parent id: {status: number of children}}`` for children of ``model``."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        model.objects.filter(**{f"{parent_field}__in": parent_ids})
        .values_list(parent_field, "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for parent, status, n in rows:
        counts[parent][status] = n
    return counts


def group_counts(campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """``{campaign id: {status: number of groups}}``."""
    return by_status(Group, "step__campaign", campaign_ids)


def data_ids(parent_field: str, parent_ids: list[int]) -> dict[int, tuple[int, int]]:
    """``{parent id: (data IDs in finished groups, data IDs in all groups)}``: progress
    counted on inputs. ``parent_field`` is a path from Group, e.g. ``step__campaign``."""
    rows = (
        Group.objects.filter(**{f"{parent_field}__in": parent_ids})
        .values_list(parent_field)
        .annotate(done=Sum("data_id_count", filter=Q(status__in=DONE)), total=Sum("data_id_count"))
        .order_by()
    )
    return {parent: (done or 0, total or 0) for parent, done, total in rows}


def open_alarms(field: str, ids: list[int]) -> dict[int, dict[str, int]]:
    """``{group or campaign id: {severity: open alarms}}``; ``field`` is group or campaign."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        Alarm.objects.filter(**{f"{field}__in": ids}, cleared_at__isnull=True)
        .values_list(field, "severity")
        .annotate(n=Count("id"))
        .order_by()
    )
    for key, severity, n in rows:
        counts[key][severity] = n
    return counts


def current_workflows(group_ids: list[int]) -> dict[int, Workflow]:
    """Each group's newest attempt, in one query for the whole page."""
    newest = (
        Workflow.objects.filter(group=OuterRef("group")).order_by("-attempt").values("attempt")[:1]
    )
    rows = Workflow.objects.filter(group__in=group_ids, attempt=Subquery(newest))
    return {w.group_id: w for w in rows}


def datasets_produced(group_ids: list[int]) -> dict[int, int]:
    """``{group id: datasets in its attempts' RUNs}``, from the recorded data products."""
    rows = (
        DataProduct.objects.filter(workflow__group__in=group_ids)
        .values_list("workflow__group")
        .annotate(n=Sum("count"))
        .order_by()
    )
    return dict(rows)


def failed_quanta_counts(workflow_ids: list[int]) -> dict[int, int]:
    rows = (
        FailedQuantum.objects.filter(workflow__in=workflow_ids)
        .values_list("workflow")
        .annotate(n=Count("id"))
        .order_by()
    )
    return dict(rows)
