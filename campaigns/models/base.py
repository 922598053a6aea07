"""Fields shared by every level of the hierarchy."""

import re

from django.core.exceptions import ValidationError
from django.db import models

from campaigns.states import Status

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NAME_RULE = "1-64 characters: letters, digits, '_', '.', '-', starting with a letter or digit"


def validate_name(value: str) -> None:
    # Names are joined with '/' into paths and butler collection names, so no slashes.
    if not NAME_PATTERN.match(value):
        raise ValidationError(f"{value!r} is not a valid name ({NAME_RULE})")


class Element(models.Model):
    """Status and timestamps common to production, campaign, step, group, workflow and job.

    ``status`` only changes through ``campaigns.services.status.transition``,
    which also records a ``StatusChange`` row; ``status_since`` and
    ``status_reason`` repeat the latest one so pages need no extra query to
    show how long an element has been in its state and why.
    """

    status = models.CharField(max_length=24, choices=Status.choices, default=Status.WAITING)
    status_since = models.DateTimeField(auto_now_add=True)
    status_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class QuantumCounts(models.Model):
    """Quanta counts; on a workflow per task label, rolled up on every level above.

    Progress is counted on inputs (quanta), not jobs, as in DIRAC's TS.
    """

    quanta_expected = models.PositiveIntegerField(default=0)
    quanta_succeeded = models.PositiveIntegerField(default=0)
    quanta_failed = models.PositiveIntegerField(default=0)
    quanta_running = models.PositiveIntegerField(default=0)
    quanta_pending = models.PositiveIntegerField(default=0)
    quanta_held = models.PositiveIntegerField(default=0)

    COUNT_FIELDS = (
        "quanta_expected",
        "quanta_succeeded",
        "quanta_failed",
        "quanta_running",
        "quanta_pending",
        "quanta_held",
    )

    class Meta:
        abstract = True
