"""Queries behind the pages: a constant number per page, whatever the size of the data."""

from collections import defaultdict

from django.db.models import Count, QuerySet

from campaigns.models import Campaign, Group


def campaigns_with_counts() -> QuerySet[Campaign]:
    return Campaign.objects.select_related("production__campaign_type").annotate(
        step_count=Count("steps", distinct=True)
    )


def group_counts(campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """``{campaign id: {status: number of groups}}``, in one grouped query for all of them."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        Group.objects.filter(step__campaign__in=campaign_ids)
        .values_list("step__campaign_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for campaign_id, status, n in rows:
        counts[campaign_id][status] = n
    return counts
