"""Admin of the status history of every element: a read-only, filterable list."""

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.contrib.contenttypes.prefetch import GenericPrefetch

from campaigns.admin.badges import status_badge
from campaigns.admin.base import ViewOnly
from campaigns.admin.links import admin_link
from campaigns.models import LEVELS, Campaign, Group, Job, Production, StatusChange, Step, Workflow


def elements_with_paths() -> GenericPrefetch:
    # One query per level on a page fetches the elements with everything their paths need.
    return GenericPrefetch(
        "element",
        [
            Production.objects.all(),
            Campaign.objects.select_related("production"),
            Step.objects.select_related("campaign__production"),
            Group.objects.select_related("step__campaign__production"),
            Workflow.objects.select_related("group__step__campaign__production"),
            Job.objects.select_related("workflow__group__step__campaign__production"),
        ],
    )


class LevelFilter(admin.SimpleListFilter):
    """Which level the element is: production, campaign, ... job."""

    title = "level"
    parameter_name = "level"

    def lookups(self, request, model_admin):
        return [(model._meta.model_name, model._meta.verbose_name) for model in LEVELS]

    def queryset(self, request, queryset):
        models = {model._meta.model_name: model for model in LEVELS}
        if self.value() in models:
            content_type = ContentType.objects.get_for_model(models[self.value()])
            return queryset.filter(content_type=content_type)
        return queryset


class ActorFilter(admin.SimpleListFilter):
    """Who made the change: cm itself (a system move) or a person (a manual move)."""

    title = "actor"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        return [("cm", "cm (system)"), ("person", "a person")]

    def queryset(self, request, queryset):
        if self.value() in ("cm", "person"):
            return queryset.filter(user__isnull=self.value() == "cm")
        return queryset


@admin.register(StatusChange)
class StatusChangeAdmin(ViewOnly, admin.ModelAdmin):
    """Every status change; written only by ``transition``, so nothing here is editable."""

    list_display = ("at", "element_link", "from_badge", "to_badge", "actor", "reason")
    list_display_links = ("at",)
    list_filter = (LevelFilter, "to_status", "from_status", ActorFilter, "at")
    list_select_related = ("user", "content_type")
    search_fields = ("reason", "user__username")
    fields = ("element_link", "from_badge", "to_badge", "at", "actor", "reason")
    readonly_fields = fields
    # Millions of rows: order by the primary key and skip the unfiltered count and facets.
    ordering = ("-id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("user", "content_type")
            .prefetch_related(elements_with_paths())
        )

    @admin.display(description="element")
    def element_link(self, change):
        return admin_link(change.element, f"{change.content_type.model} {change.element}")

    @admin.display(description="from", ordering="from_status")
    def from_badge(self, change):
        return status_badge(change.from_status)

    @admin.display(description="to", ordering="to_status")
    def to_badge(self, change):
        return status_badge(change.to_status)
