"""check{Group,Step,Campaign,Production}Status: roll statuses and quanta counts up, in bulk.

Counts are summed with one grouped query per level; statuses are derived from
the children's statuses and moved with ``transition`` (one batch per target
status), so a rollup of any number of elements costs a constant number of
queries per level.
"""

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import F, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from campaigns.bulk import bulk_update
from campaigns.models import Campaign, Group, Production, QuantumCounts, Step, Workflow
from campaigns.services.status import transition
from campaigns.states import Status, allowed_moves

ACTIVE = {Status.LAUNCH_REQUESTED, Status.PREPARED, Status.RUNNING}
DONE = {Status.SUCCEEDED, Status.ACCEPTED}
OUT = {Status.REJECTED, Status.SUPERSEDED}
COUNTS = QuantumCounts.COUNT_FIELDS


def derived_status(children: Iterable[str]) -> Status | None:
    """A parent's status from its children's, or None when they say nothing new."""
    statuses = {Status(s) for s in children} - OUT
    if not statuses:
        return None
    if statuses & ACTIVE:
        return Status.RUNNING
    if Status.BLOCKED in statuses:
        return Status.BLOCKED
    if statuses & {Status.WAITING, Status.READY, Status.PAUSED}:
        return Status.RUNNING if statuses & (DONE | {Status.FAILED, Status.REVIEWABLE}) else None
    if statuses <= DONE:
        return Status.SUCCEEDED
    if statuses == {Status.FAILED}:
        return Status.FAILED
    return Status.REVIEWABLE


def rollup_groups(ids: set[int]) -> set[int]:
    """Groups follow their current (newest, not superseded) attempt; counts are its counts.
    Done in the database, three statements whatever the number of groups (the poll rolls up
    ten thousand at a time); returns the groups' steps."""
    groups = Group.objects.filter(pk__any=ids)
    current = (
        Workflow.objects.filter(group=OuterRef("pk"))
        .exclude(status=Status.SUPERSEDED)
        .order_by("-attempt")
    )
    groups.update(**{name: Coalesce(Subquery(current.values(name)[:1]), 0) for name in COUNTS})
    moving = list(
        groups.annotate(follow=Subquery(current.values("status")[:1]))
        .exclude(follow__isnull=True)
        .exclude(follow__in=[Status.WAITING, Status.READY])
        .exclude(status=F("follow"))
        .only("status")
    )
    move_where_legal(moving, {g.pk: Status(g.follow) for g in moving}, "its current attempt")
    return set(groups.values_list("step_id", flat=True).distinct().order_by())


def rollup_parents(model, child_model, parent_field: str, ids: set[int], up: str = "") -> set:
    """Sum the children's counts into each parent (``ids``) and derive its status. Returns
    the parents' own parents (their ``up`` field), for the next level."""
    children = child_model.objects.filter(**{f"{parent_field}__in": ids})
    sums = {
        row[parent_field]: row
        for row in children.exclude(status__in=OUT)
        .values(parent_field)
        .annotate(**{name: Sum(name) for name in COUNTS})
        .order_by()
    }
    statuses: dict[int, list[str]] = defaultdict(list)
    for parent_id, status in children.values_list(parent_field, "status").order_by():
        statuses[parent_id].append(status)
    rows = list(model.objects.filter(pk__in=ids).only("status", *COUNTS, *([up] if up else [])))
    for row in rows:
        for name in COUNTS:
            setattr(row, name, (sums.get(row.pk) or {}).get(name) or 0)
    bulk_update(rows, COUNTS)
    move_where_legal(rows, {r.pk: derived_status(statuses[r.pk]) for r in rows}, "its children")
    return {getattr(row, up) for row in rows} if up else set()


def rollup(group_ids: Iterable[int]) -> dict[type, set[int]]:
    """Roll up from these groups to their steps, campaigns and productions, in a few queries
    per level whatever the number of groups; returns the ids it went through, per level."""
    groups = set(group_ids)
    steps = rollup_groups(groups)
    campaigns = rollup_parents(Step, Group, "step_id", steps, up="campaign_id")
    productions = rollup_parents(Campaign, Step, "campaign_id", campaigns, up="production_id")
    rollup_parents(Production, Campaign, "production_id", productions)
    return {Group: groups, Step: steps, Campaign: campaigns, Production: productions}


def move_where_legal(rows, targets: dict, source: str) -> None:
    """Apply each derived status where the table lets cm get there (directly, or by way of
    running when the children went through it between two rollups); skip the rest."""
    paths: dict[tuple[Status, ...], list] = defaultdict(list)
    for row in rows:
        target = targets.get(row.pk)
        if target is not None and target != row.status:
            path = _system_path(Status(row.status), target)
            if path:
                paths[path].append(row)
    for path, batch in paths.items():
        for step in path:
            transition(batch, step, reason=f"rollup: {source} {path[-1].label.lower()}")


def _system_path(source: Status, target: Status) -> tuple[Status, ...]:
    if _system_can(source, target):
        return (target,)
    if _system_can(source, Status.RUNNING) and _system_can(Status.RUNNING, target):
        return (Status.RUNNING, target)
    return ()


def _system_can(source: Status, target: Status) -> bool:
    move = allowed_moves(source).get(target)
    return move is not None and move.actor.allows(manual=False)
