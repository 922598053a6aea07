"""As-run configs: content-addressed, read-only on disk, immutable in the database."""

from django.conf import settings
from django.db import models


class ImmutableError(Exception):
    """Someone tried to change or delete an archived config."""


class ArchivedConfigQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ImmutableError("archived configs are immutable; archive a new config instead")

    def delete(self):
        raise ImmutableError("archived configs are immutable and are never deleted")


class ArchivedConfig(models.Model):
    """One archived file: a spec that created something, or a submitted BPS config.

    The file lives at ``CM_YAML_ARCHIVE_DIR/<relative_path>`` with mode 0444; its
    text is kept here as well so ``cm archive verify`` can tell which copy was
    tampered with. Rows are never updated or deleted.
    """

    class Kind(models.TextChoices):
        PRODUCTION = "production"
        CAMPAIGN = "campaign"
        STEP = "step"
        GROUP = "group"
        WORKFLOW = "workflow"
        BPS_SUBMIT = "bps_submit", "BPS submit config"

    sha256 = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    source_name = models.CharField(
        max_length=1000, help_text="The file name it was archived from, for people."
    )
    size = models.PositiveIntegerField()
    content = models.TextField()
    archived_at = models.DateTimeField(auto_now_add=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = ArchivedConfigQuerySet.as_manager()

    class Meta:
        ordering = ["-archived_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.sha256[:12]} ({self.source_name})"

    def save(self, *args, **kwargs):
        if self.pk is not None or not self._state.adding:
            raise ImmutableError(f"archived config {self.sha256[:12]} is immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableError(f"archived config {self.sha256[:12]} is never deleted")

    @property
    def relative_path(self) -> str:
        return f"sha256/{self.sha256[:2]}/{self.sha256}.yaml"
