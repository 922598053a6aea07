"""Admin of what the WMS executes: workflows, their jobs and per-task-label counts."""

from django.contrib import admin

from campaigns.admin.actions import StatusActionsMixin
from campaigns.admin.base import (
    QUANTA_FIELDS,
    SPEC_FIELDS,
    STATUS_FIELDS,
    ElementAdmin,
    StatusHistoryInline,
    element_fieldsets,
)
from campaigns.admin.filters import SelectedParentFilter
from campaigns.admin.hierarchy import COUNT_COLUMNS
from campaigns.admin.links import admin_link, children_link
from campaigns.models import Job, TaskLabelCount, Workflow

WORKFLOW_PATH = ("group__step__campaign__production",)


class TaskLabelCountInline(admin.TabularInline):
    model = TaskLabelCount
    fields = ("task_label", *QUANTA_FIELDS)
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Workflow)
class WorkflowAdmin(StatusActionsMixin, ElementAdmin):
    # Validation is of groups; a workflow is only paused and resumed on its own.
    actions = ("pause", "resume")
    list_display = (
        "path",
        "group_link",
        "wms",
        "wms_id",
        "status_badge",
        "status_since",
        *COUNT_COLUMNS,
        "jobs",
    )
    list_filter = ("status", "wms", ("group", SelectedParentFilter))
    list_select_related = WORKFLOW_PATH
    search_fields = ("=wms_id", "output_run", "group__name")
    raw_id_fields = ("group",)
    readonly_fields = (*STATUS_FIELDS, *QUANTA_FIELDS, *SPEC_FIELDS, "submit_config", "jobs")
    fieldsets = (
        *element_fieldsets("group", "attempt", "wms", "wms_id", "output_run"),
        ("Execution", {"fields": ("submit_config", "jobs")}),
    )
    inlines = (TaskLabelCountInline, StatusHistoryInline)

    @admin.display(description="group", ordering="group")
    def group_link(self, workflow):
        return admin_link(workflow.group)

    @admin.display(description="jobs")
    def jobs(self, workflow):
        # Jobs can number millions: a link to their filtered list, never an inline.
        return children_link(Job, "workflow", workflow.pk)


@admin.register(Job)
class JobAdmin(ElementAdmin):
    list_display = (
        "name",
        "workflow_link",
        "status_badge",
        "status_since",
        "attempts",
        "wms_job_id",
    )
    list_filter = ("status", ("workflow", SelectedParentFilter))
    list_select_related = ("workflow__" + WORKFLOW_PATH[0],)
    search_fields = ("=wms_job_id", "name")
    raw_id_fields = ("workflow",)
    readonly_fields = STATUS_FIELDS
    fieldsets = element_fieldsets(
        "workflow",
        "name",
        "wms_job_id",
        "task_labels",
        "attempts",
        "error",
        quanta=False,
        spec=False,
    )
    inlines = (StatusHistoryInline,)
    # Millions of rows: order by the primary key and skip the unfiltered count and facets.
    ordering = ("-id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    @admin.display(description="workflow", ordering="workflow")
    def workflow_link(self, job):
        return admin_link(job.workflow)


@admin.register(TaskLabelCount)
class TaskLabelCountAdmin(admin.ModelAdmin):
    """Quanta counts per task label, as the WMS reports them (the rollup sums them upward)."""

    list_display = ("task_label", "workflow_link", *QUANTA_FIELDS)
    list_filter = (("workflow", SelectedParentFilter),)
    list_select_related = ("workflow__" + WORKFLOW_PATH[0],)
    search_fields = ("task_label",)
    raw_id_fields = ("workflow",)

    # Rows come from WMS reports: corrected here if need be, never added or removed.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="workflow", ordering="workflow")
    def workflow_link(self, count):
        return admin_link(count.workflow)
