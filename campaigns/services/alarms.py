"""Open, refresh, clear and acknowledge alarms; one open alarm per kind and element."""

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from campaigns.models import Alarm, Campaign, Element, Group, Job, Step, Workflow


def placement(element: Element) -> dict[str, int | None]:
    """The group and campaign an element belongs to (ids), for ``Alarm.group``/``campaign``."""
    if isinstance(element, Job):
        element = element.workflow
    if isinstance(element, Workflow):
        element = element.group
    if isinstance(element, Group):
        return {"group_id": element.pk, "campaign_id": element.step.campaign_id}
    if isinstance(element, Step):
        return {"group_id": None, "campaign_id": element.campaign_id}
    if isinstance(element, Campaign):
        return {"group_id": None, "campaign_id": element.pk}
    return {"group_id": None, "campaign_id": None}


def raise_alarm(element: Element, kind: str, severity: str, message: str, **measurement) -> Alarm:
    """Open the alarm, or refresh the open one (its message, time and ``measurement``:
    variable, algorithm, value, limits, details, rules_version): never a second one."""
    content_type = ContentType.objects.get_for_model(type(element))
    now = timezone.now()
    with transaction.atomic():
        alarm, created = Alarm.objects.select_for_update().get_or_create(
            content_type=content_type,
            object_id=element.pk,
            kind=kind,
            cleared_at=None,
            defaults={
                "severity": severity,
                "message": message,
                "opened_at": now,
                "updated_at": now,
                **placement(element),
                **measurement,
            },
        )
        if not created:
            Alarm.objects.filter(pk=alarm.pk).update(
                severity=severity, message=message, updated_at=now, **measurement
            )
    return alarm


def clear_alarms(elements: Iterable[Element], kind: str) -> int:
    """Close the open alarms of ``kind`` on these elements (one query per level)."""
    by_type: dict[type, list[int]] = {}
    for element in elements:
        by_type.setdefault(type(element), []).append(element.pk)
    cleared = 0
    for model, ids in by_type.items():
        cleared += Alarm.objects.filter(
            content_type=ContentType.objects.get_for_model(model),
            object_id__in=ids,
            kind=kind,
            cleared_at__isnull=True,
        ).update(cleared_at=timezone.now())
    return cleared


def acknowledge(alarms: Iterable[Alarm], *, user: User) -> int:
    """A person has seen these alarms ("reviewed"): who and when."""
    ids = [a.pk for a in alarms]
    return Alarm.objects.filter(pk__in=ids, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=user
    )
