"""Workflow > Job, and per-task-label counts: what the WMS executes, as cm tracks it."""

from django.db import models

from campaigns.models.base import Element, QuantumCounts, validate_name
from campaigns.models.hierarchy import Group, SpecFields


class Workflow(Element, QuantumCounts, SpecFields):
    """One BPS submission for a group: attempt 1, or a later retry/rescue."""

    # Indexed first in workflow_unique_attempt: a single-column index would only cost writes.
    group = models.ForeignKey(
        Group, on_delete=models.PROTECT, related_name="workflows", db_index=False
    )
    attempt = models.PositiveIntegerField()
    wms = models.CharField(max_length=32, default="local", help_text="Which WMS runs it.")
    wms_id = models.CharField(max_length=200, blank=True, help_text="The WMS's id for the run.")
    output_run = models.CharField(
        max_length=1000, unique=True, help_text="RUN collection the attempt writes."
    )
    run_registered_at = models.DateTimeField(
        null=True, blank=True, help_text="When its RUN collection was seen in the butler."
    )
    run_removed_at = models.DateTimeField(
        null=True, blank=True, help_text="When its RUN collection was deleted (invalidation)."
    )
    submit_dir = models.CharField(max_length=1000, blank=True, help_text="BPS's submit directory.")
    overrides = models.JSONField(
        default=dict, blank=True, help_text="BPS settings for this attempt only (a retry's)."
    )
    poll_failures = models.PositiveIntegerField(
        default=0, help_text="WMS look-ups failed in a row; reset by a successful one."
    )
    next_check_at = models.DateTimeField(
        null=True, blank=True, help_text="Not polled before this (back-off after failures)."
    )
    auto_retry_rule = models.CharField(
        max_length=100, blank=True, help_text="The error rule that launched this attempt by itself."
    )
    archived_files = models.JSONField(
        default=list, blank=True, help_text="Its logs and reports, relative to the PanDA archive."
    )
    submit_config = models.ForeignKey(
        "campaigns.ArchivedConfig",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The archived BPS config it was submitted with.",
    )

    class Meta:
        ordering = ["group_id", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["group", "attempt"], name="workflow_unique_attempt"),
            models.CheckConstraint(
                condition=models.Q(attempt__gte=1), name="workflow_attempt_positive"
            ),
        ]
        indexes = [
            # The poll's workflows, without the columns each look rewrites (last look, next
            # look, counts): a pass over ten thousand then updates their rows in place (HOT)
            # rather than adding an entry to every index of the table for each.
            models.Index(
                fields=["id"],
                condition=models.Q(status__in=["running", "blocked"]),
                name="workflow_polled",
            ),
            models.Index(fields=["wms", "wms_id"], name="workflow_wms_id"),
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def name(self) -> str:
        return f"attempt_{self.attempt}"

    @property
    def path(self) -> str:
        return f"{self.group.path}/{self.name}"


class Job(Element):
    """A WMS job: one or more quanta clustered together by BPS."""

    workflow = models.ForeignKey(  # indexed first in job_unique_name
        Workflow, on_delete=models.CASCADE, related_name="jobs", db_index=False
    )
    name = models.CharField(max_length=200, validators=[validate_name])
    wms_job_id = models.CharField(max_length=200, blank=True)
    task_labels = models.JSONField(default=list, help_text="The pipeline task labels it runs.")
    attempts = models.PositiveIntegerField(default=0, help_text="Tries made by the WMS.")
    error = models.TextField(blank=True)
    # Resource use, where the WMS reports it (PanDA does; the local WMS does not).
    wall_seconds = models.FloatField(null=True, blank=True, help_text="Run time of its last try.")
    max_rss_mb = models.FloatField(null=True, blank=True, help_text="Peak memory, MB.")

    class Meta:
        ordering = ["workflow_id", "name"]
        constraints = [models.UniqueConstraint(fields=["workflow", "name"], name="job_unique_name")]
        # No index on status: jobs are read a workflow at a time (job_unique_name), and a
        # poll pass inserts tens of thousands, each one more entry in every index.
        indexes = [models.Index(fields=["wms_job_id"], name="job_wms_id")]

    def __str__(self) -> str:
        return f"{self.workflow_id}/{self.name}"

    @property
    def path(self) -> str:
        # Select the workflow's parents with the job (see admin.history.elements_with_paths).
        return f"{self.workflow.path}/{self.name}"


class TaskLabelCount(QuantumCounts):
    """Quanta counts of one task label in one workflow, as the WMS report gives them."""

    workflow = models.ForeignKey(  # indexed first in tasklabel_unique
        Workflow, on_delete=models.CASCADE, related_name="task_counts", db_index=False
    )
    task_label = models.CharField(max_length=200)

    class Meta:
        ordering = ["workflow_id", "task_label"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "task_label"], name="tasklabel_unique")
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id}/{self.task_label}"


class FailedQuantum(models.Model):
    """One quantum that failed in a workflow attempt, with its error as the WMS reported it."""

    workflow = models.ForeignKey(  # indexed first in failedquantum_task
        Workflow, on_delete=models.CASCADE, related_name="failed_quanta", db_index=False
    )
    task_label = models.CharField(max_length=200)
    data_id = models.JSONField(default=dict)
    error_type = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    rule = models.CharField(max_length=100, blank=True, help_text="The error rule it matched.")
    flavor = models.CharField(
        max_length=20, blank=True, help_text="infrastructure/configuration/pipelines"
    )
    action = models.CharField(max_length=20, blank=True, help_text="retry/review/fail")

    class Meta:
        ordering = ["workflow_id", "task_label", "id"]
        # With the id, the index gives the default order whole (no sort over a million rows).
        indexes = [models.Index(fields=["workflow", "task_label", "id"], name="failedquantum_task")]

    def __str__(self) -> str:
        return f"{self.workflow_id}/{self.task_label} {self.data_id}"


class PollRun(models.Model):
    """One pass of the WMS poll: when, how many workflows checked, changed, failed."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    checked = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the pass itself stopped, if it did.")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"poll {self.started_at:%Y-%m-%d %H:%M:%S}: {self.checked} checked"
