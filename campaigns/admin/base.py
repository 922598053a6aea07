"""What every element admin shares: read-only status fields, history, child inlines."""

import json

from django.contrib import admin
from django.contrib.contenttypes.admin import GenericTabularInline
from django.utils.html import format_html

from campaigns.admin.badges import status_badge
from campaigns.models import QuantumCounts, StatusChange

# Status only changes through the actions (which call the services); the rest
# is written by cm itself: timestamps by transition, counts by the rollup,
# specs and archived configs by ``cm create`` and the launch.
STATUS_FIELDS = (
    "status_badge",
    "status_since",
    "status_reason",
    "created_at",
    "started_at",
    "finished_at",
    "last_checked_at",
)
QUANTA_FIELDS = QuantumCounts.COUNT_FIELDS
SPEC_FIELDS = ("spec_display", "spec_config")


def element_fieldsets(*fields: str, quanta: bool = True, spec: bool = True) -> tuple:
    """The change page of an element: its own fields, then status, quanta and spec."""
    fieldsets = [(None, {"fields": fields}), ("Status", {"fields": STATUS_FIELDS})]
    if quanta:
        fieldsets.append(("Quanta", {"fields": QUANTA_FIELDS}))
    if spec:
        fieldsets.append(("Spec", {"fields": SPEC_FIELDS, "classes": ["collapse"]}))
    return tuple(fieldsets)


class StatusBadgeMixin:
    """The status column of every list, inline and change page."""

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return status_badge(obj.status)


class ViewOnly:
    """For records nobody edits here (history, archived configs): they can only be viewed."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class StatusHistoryInline(ViewOnly, GenericTabularInline):
    """An element's status changes, newest first; written only by ``transition``."""

    model = StatusChange
    fields = ("from_badge", "to_badge", "at", "actor", "reason")
    readonly_fields = fields
    ordering = ("-at", "-id")
    extra = 0
    can_delete = False
    verbose_name = "status change"
    verbose_name_plural = "status history"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    @admin.display(description="from")
    def from_badge(self, change):
        return status_badge(change.from_status)

    @admin.display(description="to")
    def to_badge(self, change):
        return status_badge(change.to_status)


class ChildInline(StatusBadgeMixin, admin.TabularInline):
    """Children listed on their parent's page: links and badges, not a bulk editor.

    Children are created from specs (``cm create``) or by the launch and WMS
    poll, so none are added or deleted here; each row links to its own page.
    """

    extra = 0
    can_delete = False
    show_change_link = True
    #: The joins that make each row's ``str()`` (its path) free.
    path_related: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset.select_related(*self.path_related) if self.path_related else queryset

    def has_add_permission(self, request, obj=None):
        return False


IDENTITY_FIELDS = (
    "name",
    "production",
    "campaign",
    "step",
    "group",
    "workflow",
    "attempt",
    "order",
    "output_root",
    "output_collection",
    "input_collection",
    "output_run",
    "collection_templates",
    "split",
    "bps",
)


class ElementAdmin(StatusBadgeMixin, admin.ModelAdmin):
    """The admin of one level of the hierarchy (production down to job).

    Elements are not added or deleted here: they come from specs or the WMS,
    and an invalidated element stays, with its history, for the record.
    """

    readonly_fields = STATUS_FIELDS + QUANTA_FIELDS + SPEC_FIELDS
    list_per_page = 50

    def get_readonly_fields(self, request, obj=None):
        # Names and parents make an element's path, from which its butler collection
        # names were derived at creation: changing them here would orphan those collections.
        model_fields = {f.name for f in self.model._meta.get_fields()}
        identity = tuple(f for f in IDENTITY_FIELDS if f in model_fields)
        return (*super().get_readonly_fields(request, obj), *identity)

    def get_queryset(self, request):
        # The list's joins (each row's path) serve the change page and actions too.
        queryset = super().get_queryset(request)
        related = self.list_select_related
        return queryset.select_related(*related) if related else queryset

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Write only what the form changed, so a status, timestamp or count that a
        # worker wrote meanwhile is never overwritten by this page's stale copy.
        names = {f.name for f in obj._meta.concrete_fields}
        changed = [name for name in form.changed_data if name in names]
        if changed:
            obj.save(update_fields=changed)

    @admin.display(description="spec")
    def spec_display(self, obj):
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.spec, indent=2, sort_keys=True, default=str)
        )
