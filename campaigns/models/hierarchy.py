"""Production > Campaign > Step > Group: the levels cm defines and manages itself."""

from django.db import models

from campaigns.models.base import Element, QuantumCounts, validate_name


class CampaignType(models.Model):
    """A kind of campaign (DataProc, SimProc, CalibProc, ...); new kinds are added as rows."""

    name = models.CharField(max_length=64, unique=True, validators=[validate_name])
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SpecFields(models.Model):
    """Where an element came from: its archived spec and its resolved spec fragment.

    ``spec`` is the element's own part of the spec after inheritance, without its
    children; ``cm create`` compares it to tell an identical spec (nothing to do)
    from a conflicting one (refused).
    """

    spec = models.JSONField(default=dict, blank=True)
    spec_config = models.ForeignKey(
        "campaigns.ArchivedConfig",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The archived spec this was created from.",
    )

    class Meta:
        abstract = True


class Production(Element, QuantumCounts, SpecFields):
    """Related campaigns, e.g. DP0.2 test and DP0.2 production."""

    name = models.CharField(max_length=64, unique=True, validators=[validate_name])
    campaign_type = models.ForeignKey(
        CampaignType, on_delete=models.PROTECT, related_name="productions"
    )
    description = models.TextField(blank=True)
    output_collection = models.CharField(
        max_length=1000,
        unique=True,
        help_text="CHAINED, in each repository its campaigns use: its validated campaigns.",
    )

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["status"], name="production_status")]

    def __str__(self) -> str:
        return self.name

    @property
    def path(self) -> str:
        return self.name


class Campaign(Element, QuantumCounts, SpecFields):
    """Workflows that together are one complete processing of a data set."""

    production = models.ForeignKey(Production, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=64, validators=[validate_name])
    description = models.TextField(blank=True)
    butler_repo = models.CharField(max_length=1000)
    input_collections = models.JSONField(default=list)
    data_query = models.TextField(blank=True)
    pipeline = models.CharField(max_length=1000, help_text="Pipeline YAML (path or URI).")
    lsst_version = models.CharField(max_length=100)
    output_root = models.CharField(max_length=500)
    output_collection = models.CharField(
        max_length=1000, unique=True, help_text="CHAINED: the steps' outputs."
    )
    collection_templates = models.JSONField(default=dict)

    class Meta:
        ordering = ["production__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["production", "name"], name="campaign_unique_name")
        ]
        indexes = [models.Index(fields=["production", "status"], name="campaign_status")]
        permissions = [
            ("operate_campaign", "Can launch, retry, validate and invalidate at every level")
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def path(self) -> str:
        return f"{self.production.name}/{self.name}"

    @property
    def campaign_type(self) -> CampaignType:
        return self.production.campaign_type


class Step(Element, QuantumCounts, SpecFields):
    """A part of a campaign: a pipeline subset; all its workflows share one BPS template."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="steps")
    name = models.CharField(max_length=64, validators=[validate_name])
    order = models.PositiveIntegerField(help_text="Position of the step in its campaign.")
    pipeline_subset = models.CharField(max_length=200)
    prerequisites = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="dependents"
    )
    data_query = models.TextField(blank=True, help_text="ANDed with the campaign's data query.")
    input_collection = models.CharField(
        max_length=1000,
        unique=True,
        help_text="CHAINED: its prerequisites' validated outputs, or the campaign's inputs.",
    )
    split = models.JSONField(default=dict, help_text="How the step's data is split into groups.")
    bps = models.JSONField(
        default=dict, help_text="The step's BPS template, after inheritance from the campaign."
    )
    wms = models.CharField(
        max_length=32, default="local", help_text="Which WMS runs its workflows."
    )
    output_collection = models.CharField(
        max_length=1000, unique=True, help_text="CHAINED: validated groups."
    )

    class Meta:
        ordering = ["campaign_id", "order"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "name"], name="step_unique_name"),
            models.UniqueConstraint(fields=["campaign", "order"], name="step_unique_order"),
        ]
        indexes = [models.Index(fields=["campaign", "status"], name="step_status")]

    def __str__(self) -> str:
        return self.path

    @property
    def path(self) -> str:
        return f"{self.campaign.path}/{self.name}"


class Group(Element, QuantumCounts, SpecFields):
    """A subset of a step's data (a TAGGED input collection) and the workflows that process it."""

    step = models.ForeignKey(  # indexed first in group_unique_name
        Step, on_delete=models.PROTECT, related_name="groups", db_index=False
    )
    name = models.CharField(max_length=64, validators=[validate_name])
    data_query = models.TextField(blank=True, help_text="Selects this group's share of the step.")
    input_collection = models.CharField(
        max_length=1000, unique=True, help_text="TAGGED: the group's inputs."
    )
    output_collection = models.CharField(
        max_length=1000, unique=True, help_text="CHAINED: its attempts' RUNs."
    )
    data_id_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Data IDs in its input collection, once built."
    )
    dataset_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Datasets in its input collection, once built."
    )
    inputs_built_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["step_id", "name"]
        constraints = [models.UniqueConstraint(fields=["step", "name"], name="group_unique_name")]
        indexes = [
            models.Index(fields=["step", "status"], name="group_status"),
            models.Index(fields=["status", "status_since"], name="group_status_since"),
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def path(self) -> str:
        return f"{self.step.path}/{self.name}"
