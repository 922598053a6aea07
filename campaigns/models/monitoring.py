"""What the shifter pages plot and list, recorded as processing goes."""

from django.db import models

from campaigns.models.base import QuantumCounts
from campaigns.models.execution import Workflow


class ProgressSample(QuantumCounts):
    """An element's quanta counts at one time; written only when they change.

    Progress plots read these: one row per change of a campaign, step or workflow,
    so a step's history is hundreds of rows, not one per poll.
    """

    class Scope(models.TextChoices):
        CAMPAIGN = "campaign"
        STEP = "step"
        GROUP = "group"
        WORKFLOW = "workflow"

    scope = models.CharField(max_length=10, choices=Scope.choices)
    object_id = models.PositiveBigIntegerField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["scope", "object_id", "at"]
        indexes = [models.Index(fields=["scope", "object_id", "at"], name="progress_sample")]

    def __str__(self) -> str:
        return f"{self.scope} {self.object_id} at {self.at:%Y-%m-%d %H:%M}"


class DataProduct(models.Model):
    """One dataset type in a workflow's output RUN, counted once the run is recorded."""

    workflow = models.ForeignKey(  # indexed first in dataproduct_unique_type
        Workflow, on_delete=models.CASCADE, related_name="data_products", db_index=False
    )
    dataset_type = models.CharField(max_length=200)
    storage_class = models.CharField(max_length=200, blank=True)
    dimensions = models.JSONField(default=list, blank=True)
    count = models.PositiveIntegerField(default=0)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True, help_text="Where known.")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["workflow_id", "dataset_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "dataset_type"], name="dataproduct_unique_type"
            )
        ]

    def __str__(self) -> str:
        return f"{self.dataset_type} x{self.count}"
