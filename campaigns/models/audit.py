"""Who asked for what, through which door, and how it ended; and the API's repeat-safe answers."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    """One action a person took on one element (launch, retry, validate, invalidate,
    acknowledge), whatever the outcome. Written only by ``campaigns.services.audit``.

    Where ``StatusChange`` records what moved, this records what was asked: refusals and
    dry runs too, with the parameters and the answer. ``element_path`` and ``level`` are kept
    as text so an entry reads the same after its element is renamed; an action that matched
    no element (an empty bulk selection) has no element.
    """

    class Via(models.TextChoices):
        API = "api"
        PAGE = "page"
        ADMIN = "admin"
        CLI = "cli"

    class Result(models.TextChoices):
        OK = "ok"
        REFUSED = "refused", "refused (nothing changed)"
        ERROR = "error"
        DRY_RUN = "dry_run", "dry run"

    at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    via = models.CharField(max_length=8, choices=Via.choices)
    action = models.CharField(max_length=32)
    content_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    element = GenericForeignKey("content_type", "object_id")
    element_path = models.CharField(max_length=1000, blank=True)
    level = models.CharField(max_length=16, blank=True)
    parameters = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    result = models.CharField(max_length=8, choices=Result.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name_plural = "audit entries"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "at"], name="audit_element")]

    def __str__(self) -> str:
        return f"{self.action} {self.element_path or self.level} by {self.actor}: {self.result}"

    @property
    def actor(self) -> str:
        return self.user.get_username() if self.user is not None else "cm"


class IdempotentRequest(models.Model):
    """A POST made with an ``Idempotency-Key`` header, and the answer it got.

    The row is inserted (and committed) before the action runs, so a repeat finds it: while
    ``completed_at`` is empty the first request is still running; afterwards the stored
    answer is replayed. Rows older than ``CM_IDEMPOTENCY_HOURS`` are ignored and purged
    (``campaigns.api.idempotency.purge_expired``).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=2000)
    request_hash = models.CharField(max_length=64, help_text="sha256 of method, path and body.")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotent_request_unique_key")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotent_request_created")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"
