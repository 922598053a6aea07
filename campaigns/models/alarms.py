"""Alarms: something about an element that a shifter must see, until it clears."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


class Alarm(models.Model):
    """One alarm of one kind on one element; at most one is open per kind and element.

    Opened and cleared by cm (``campaigns.services.alarms``); a person acknowledges it
    ("reviewed"), which keeps it visible but marks it handled.
    """

    class Severity(models.TextChoices):
        # Fermi's alarm pages count checks by these four; "undefined" means the rule could not
        # judge (too little statistics), "clean" checks leave no row at all.
        ERROR = "error"
        WARNING = "warning"
        UNDEFINED = "undefined"

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.PositiveBigIntegerField()
    element = GenericForeignKey("content_type", "object_id")
    kind = models.CharField(max_length=64, help_text="What is wrong, e.g. wms-unreachable.")
    severity = models.CharField(max_length=10, choices=Severity.choices)
    message = models.TextField()
    # Where the element sits, so pages find a group's or a campaign's alarms in one query.
    group = models.ForeignKey(
        "campaigns.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="alarms"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # What a rule saw (empty for alarms cm raises by itself, such as wms-unreachable).
    variable = models.CharField(max_length=64, blank=True, help_text="The metric judged.")
    algorithm = models.CharField(max_length=64, blank=True, help_text="How it was judged.")
    value = models.FloatField(null=True, blank=True)
    warning_limit = models.FloatField(null=True, blank=True)
    error_limit = models.FloatField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True, help_text="What the plot shows.")
    rules_version = models.CharField(max_length=40, blank=True)
    opened_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_id", "kind"],
                condition=models.Q(cleared_at__isnull=True),
                name="alarm_one_open_per_kind",
            )
        ]
        indexes = [
            models.Index(fields=["cleared_at", "severity"], name="alarm_open"),
            models.Index(fields=["group", "cleared_at"], name="alarm_group"),
            models.Index(fields=["campaign", "cleared_at"], name="alarm_campaign"),
        ]
        permissions = [("acknowledge_alarm", "Can acknowledge alarms (mark them reviewed)")]

    def __str__(self) -> str:
        return f"{self.severity} {self.kind}: {self.message[:60]}"
