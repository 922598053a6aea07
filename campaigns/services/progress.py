"""Progress samples: an element's quanta counts over time, for the shifter pages' plots.

A sample is written only when an element's counts differ from its latest sample (or, for an
element never sampled, once any count is nonzero), so a step's history is a row per change,
not a row per poll. ``record`` costs three queries per call (current counts, unless the
caller holds them; latest samples; one insert) whatever the number of elements; the poll
calls it once per level, inside its transaction, after the rollup.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import OuterRef, Subquery

from campaigns.bulk import insert
from campaigns.models import Campaign, Group, ProgressSample, QuantumCounts, Step, Workflow

Scope = ProgressSample.Scope
COUNTS = QuantumCounts.COUNT_FIELDS
Sampled = Campaign | Step | Group | Workflow
SCOPES: dict[type[Sampled], str] = {
    Campaign: Scope.CAMPAIGN,
    Step: Scope.STEP,
    Group: Scope.GROUP,
    Workflow: Scope.WORKFLOW,
}


def record(
    model: type[Sampled],
    ids: Iterable[int],
    now: datetime,
    counts: dict[int, tuple[int, ...]] | None = None,
) -> int:
    """Sample the ``model`` rows with these ids whose counts changed; returns how many.
    ``counts`` (``{id: counts}``) are the rows' counts when the caller holds them already
    (then they also say which rows, and ``ids`` may be empty)."""
    ids = list(counts) if counts is not None else list(ids)
    scope = SCOPES[model]
    if counts is None:
        stored = model.objects.filter(pk__any=ids).order_by().values_list("pk", *COUNTS)
        counts = {pk: tuple(values) for pk, *values in stored}
    latest = _latest(model, scope, ids)
    samples = [
        (scope, pk, now, *values)
        for pk, values in counts.items()
        if values != latest.get(pk, (0,) * len(COUNTS))
    ]
    insert(ProgressSample, ["scope", "object_id", "at", *COUNTS], samples)
    return len(samples)


def _latest(model: type[Sampled], scope: str, ids: list[int]) -> dict[int, tuple[int, ...]]:
    """Each element's latest sample's counts, in one query.

    The element table drives it: one index seek (scope, object_id, at) per element for its
    newest sample, rather than reading every sample of every element.
    """
    newest = ProgressSample.objects.filter(scope=scope, object_id=OuterRef("pk")).order_by(
        "-at", "-pk"
    )
    newest_ids = (
        model.objects.filter(pk__any=ids)
        .order_by()  # no join for the models' default ordering
        .annotate(sample=Subquery(newest.values("pk")[:1]))
        .values("sample")
    )
    rows = ProgressSample.objects.filter(pk__in=Subquery(newest_ids)).values_list(
        "object_id", *COUNTS
    )
    return {object_id: tuple(counts) for object_id, *counts in rows}


def record_polled(workflows: list[Workflow], rolled: dict[type, set[int]], now: datetime) -> int:
    """Sample the polled workflows (with the counts just stored on them) and the groups,
    steps and campaigns the rollup went through (``rollup.rollup``'s answer)."""
    counts = {w.pk: tuple(getattr(w, name) for name in COUNTS) for w in workflows}
    return record(Workflow, (), now, counts) + sum(
        record(model, rolled[model], now) for model in (Group, Step, Campaign)
    )


def samples(scope: str, object_id: int, since: datetime | None = None) -> list[ProgressSample]:
    """An element's samples, oldest first; with ``since``, those after it.

    The last sample before ``since`` comes first when there is one, so a plot of a window
    starts at the level the element had then rather than at zero.
    """
    own = ProgressSample.objects.filter(scope=scope, object_id=object_id)
    if since is None:
        return list(own.order_by("at", "pk"))
    before = own.filter(at__lt=since).order_by("-at", "-pk").first()
    after = list(own.filter(at__gte=since).order_by("at", "pk"))
    return [before, *after] if before else after


def samples_of(element: Sampled, since: datetime | None = None) -> list[ProgressSample]:
    """``samples`` of a campaign, step, group or workflow."""
    return samples(SCOPES[type(element)], element.pk, since)
