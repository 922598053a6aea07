"""The status history of every element of every level."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models

from campaigns.states import Status


class StatusChange(models.Model):
    """One status change: who, when, from, to, why. Written only by ``transition``.

    ``from_status`` is empty for the row that records an element's creation.
    """

    # content_type leads two indexes below; user is indexed only where there is one (most
    # changes are cm's own): the history takes tens of thousands of rows a poll pass, and
    # each index is written for each row.
    content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    object_id = models.PositiveBigIntegerField()
    element = GenericForeignKey("content_type", "object_id")
    from_status = models.CharField(max_length=24, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=24, choices=Status.choices)
    at = models.DateTimeField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["content_type", "object_id", "at"], name="statuschange_element"),
            # The newest changes first, of every element or of one level, without sorting the
            # whole history (millions of rows): the API's history list and its level filter.
            models.Index(fields=["at", "id"], name="statuschange_at"),
            models.Index(fields=["content_type", "at", "id"], name="statuschange_level_at"),
            models.Index(
                fields=["user"], condition=models.Q(user__isnull=False), name="statuschange_person"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_status or '(created)'} → {self.to_status}"

    @property
    def actor(self) -> str:
        return self.user.get_username() if self.user is not None else "cm"
