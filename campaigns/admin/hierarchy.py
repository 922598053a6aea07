"""Admin of the levels cm manages itself: campaign type, production, campaign, step, group."""

from django.contrib import admin

from campaigns.admin.actions import StatusActionsMixin
from campaigns.admin.base import ChildInline, ElementAdmin, StatusHistoryInline, element_fieldsets
from campaigns.admin.filters import ParentFilter, SelectedParentFilter
from campaigns.admin.links import admin_link, children_link
from campaigns.models import Campaign, CampaignType, Group, Production, Step, Workflow

COUNT_COLUMNS = ("quanta_expected", "quanta_succeeded", "quanta_failed")


@admin.register(CampaignType)
class CampaignTypeAdmin(admin.ModelAdmin):
    """Kinds of campaign; new kinds are added here as rows."""

    list_display = ("name", "description")
    search_fields = ("name", "description")


class CampaignInline(ChildInline):
    model = Campaign
    fields = ("name", "status_badge", "status_since", *COUNT_COLUMNS)
    path_related = ("production",)


@admin.register(Production)
class ProductionAdmin(StatusActionsMixin, ElementAdmin):
    list_display = (
        "name",
        "campaign_type",
        "status_badge",
        "status_since",
        *COUNT_COLUMNS,
        "campaigns",
    )
    list_filter = ("status", "campaign_type")
    list_select_related = ("campaign_type",)
    search_fields = ("name", "description")
    fieldsets = element_fieldsets("name", "campaign_type", "description")
    inlines = (CampaignInline, StatusHistoryInline)

    @admin.display(description="campaigns")
    def campaigns(self, production):
        return children_link(Campaign, "production", production.pk)


class StepInline(ChildInline):
    model = Step
    fields = ("order", "name", "status_badge", "status_since", *COUNT_COLUMNS)
    path_related = ("campaign__production",)


@admin.register(Campaign)
class CampaignAdmin(StatusActionsMixin, ElementAdmin):
    list_display = (
        "name",
        "production_link",
        "status_badge",
        "status_since",
        *COUNT_COLUMNS,
        "steps",
    )
    list_filter = (
        "status",
        ("production__campaign_type", ParentFilter),
        ("production", ParentFilter),
    )
    list_select_related = ("production",)
    search_fields = ("name", "production__name", "description", "output_collection")
    fieldsets = element_fieldsets(
        "production",
        "name",
        "description",
        "butler_repo",
        "input_collections",
        "data_query",
        "pipeline",
        "lsst_version",
        "output_root",
        "output_collection",
        "collection_templates",
    )
    inlines = (StepInline, StatusHistoryInline)

    @admin.display(description="production", ordering="production__name")
    def production_link(self, campaign):
        return admin_link(campaign.production)

    @admin.display(description="steps")
    def steps(self, campaign):
        return children_link(Step, "campaign", campaign.pk)


class GroupInline(ChildInline):
    model = Group
    fields = ("name", "status_badge", "status_since", *COUNT_COLUMNS)
    path_related = ("step__campaign__production",)


@admin.register(Step)
class StepAdmin(StatusActionsMixin, ElementAdmin):
    list_display = (
        "name",
        "campaign_link",
        "order",
        "status_badge",
        "status_since",
        *COUNT_COLUMNS,
        "groups",
    )
    list_filter = (
        "status",
        ("campaign__production__campaign_type", ParentFilter),
        ("campaign", ParentFilter),
    )
    list_select_related = ("campaign__production",)
    search_fields = ("name", "campaign__name", "pipeline_subset")
    raw_id_fields = ("campaign", "prerequisites")
    fieldsets = element_fieldsets(
        "campaign",
        "name",
        "order",
        "pipeline_subset",
        "prerequisites",
        "data_query",
        "split",
        "bps",
        "output_collection",
    )
    inlines = (GroupInline, StatusHistoryInline)

    @admin.display(description="campaign", ordering="campaign")
    def campaign_link(self, step):
        return admin_link(step.campaign)

    @admin.display(description="groups")
    def groups(self, step):
        return children_link(Group, "step", step.pk)


class WorkflowInline(ChildInline):
    model = Workflow
    fields = ("attempt", "wms", "wms_id", "status_badge", "status_since", *COUNT_COLUMNS)
    path_related = ("group__step__campaign__production",)


@admin.register(Group)
class GroupAdmin(StatusActionsMixin, ElementAdmin):
    list_display = (
        "name",
        "step_link",
        "status_badge",
        "status_since",
        *COUNT_COLUMNS,
        "workflows",
    )
    list_filter = (
        "status",
        ("step__campaign__production__campaign_type", ParentFilter),
        ("step__campaign", ParentFilter),
        ("step", SelectedParentFilter),
    )
    list_select_related = ("step__campaign__production",)
    search_fields = ("name", "step__name", "step__campaign__name", "data_query")
    raw_id_fields = ("step",)
    fieldsets = element_fieldsets(
        "step", "name", "data_query", "input_collection", "output_collection"
    )
    inlines = (WorkflowInline, StatusHistoryInline)

    @admin.display(description="step", ordering="step")
    def step_link(self, group):
        return admin_link(group.step)

    @admin.display(description="workflows")
    def workflows(self, group):
        return children_link(Workflow, "group", group.pk)
