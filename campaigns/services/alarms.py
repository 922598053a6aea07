"""Open, refresh, clear and acknowledge alarms; one open alarm per kind and element."""

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from campaigns.models import Alarm, Element


def raise_alarm(element: Element, kind: str, severity: str, message: str) -> Alarm:
    """Open the alarm, or refresh the open one (its message and time): never a second one."""
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
            },
        )
        if not created:
            Alarm.objects.filter(pk=alarm.pk).update(
                severity=severity, message=message, updated_at=now
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
